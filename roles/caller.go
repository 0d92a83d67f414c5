package roles

import "context"

// Principal kinds.
const (
	RoleIssuer       = "issuer"
	RoleIntermediary = "intermediary"
	// RoleRouter is the router of a sharded network (internal/shard): the
	// only principal a ledger group takes the steps of a cross-group
	// transaction from (POST /v1/parts).
	RoleRouter = "router"
)

// Principal is who is calling: the API edge sets it from the credential,
// and a service sets its own when it calls another role in process.
type Principal struct {
	Name string // "issuer", "bank-a", ...
	Role string // RoleIssuer, RoleIntermediary or RoleRouter
}

type callerKey struct{}

// WithCaller returns ctx carrying p as the caller.
func WithCaller(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, callerKey{}, p)
}

// Caller returns the caller carried by ctx, if any.
func Caller(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(callerKey{}).(Principal)
	return p, ok
}
