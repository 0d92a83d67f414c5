package intermediary

import "context"

// PruneRequests runs the background loop's pruning of finished payment
// requests once.
func PruneRequests(in *Intermediary) (int, error) { return in.pruneRequests(context.Background()) }
