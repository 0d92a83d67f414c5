package intermediary

import "context"

// ExpireAliasCodes runs the background loop's sweep of expired one-time
// codes once.
func ExpireAliasCodes(in *Intermediary) (int, error) { return in.expireAliasCodes() }

// AliasCodeRecords counts the one-time codes stored.
func AliasCodeRecords(in *Intermediary) int {
	n := 0
	_ = in.db.Scan(prefOTP, nil, func(_, _ []byte) error { n++; return nil })
	return n
}

// UnbindClosedAliases runs the background loop's unbinding of closed
// wallets' aliases once; it returns how many stay bound.
func UnbindClosedAliases(in *Intermediary) (int, error) {
	return in.unbindClosed(context.Background(), "")
}
