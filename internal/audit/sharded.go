package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// ShardedSummary is what the verified logs of a sharded network show
// (docs/scale-out.md): each group's chain, the coordinator's decision log,
// and the network's published supply, which the groups' add up to.
type ShardedSummary struct {
	Groups      []Summary // by group index
	Coordinator Summary
	// Network is the supply the network's API publishes (the sum over the
	// groups, with the value moved between groups taken off minted and
	// redeemed), verified against the groups' and the coordinator's logs.
	Network roles.LedgerSupply
}

// VerifySharded verifies a sharded network whose API (l) lists, in info,
// where each group's log and the coordinator's are served: every group's
// chain and the coordinator's with VerifyLog (each against the supply that
// log's server publishes), then that the network's published supply is
// what those logs commit to. A group counts value that entered it from
// another group as minted and value that left as redeemed, and the
// coordinator's log mints the total so moved, so the network's minted is
// the groups' minted less the moved value, its redeemed likewise, its
// outstanding the groups' sum and its batches theirs. open gives the
// ledger served at a base URL. The network's supply is read first; a
// network that commits while it runs can fail the sum (run it again).
func VerifySharded(ctx context.Context, l roles.Ledger, info roles.LedgerInfo, open func(url string) (roles.Ledger, error)) (ShardedSummary, error) {
	var out ShardedSummary
	s, err := l.Supply(ctx)
	if err != nil {
		return out, fmt.Errorf("verify log: supply: %w", err)
	}
	out.Network = s
	if len(info.Coordinator) == 0 {
		return out, fmt.Errorf("verify log: the network lists %d groups and no coordinator's log", len(info.Groups))
	}
	var sum roles.LedgerSupply
	for i, g := range info.Groups {
		if g.Index != i {
			return out, fmt.Errorf("verify log: the network lists group %d in place %d", g.Index, i)
		}
		gs, ps, err := verifyAt(ctx, g.URLs, open)
		if err != nil {
			return out, fmt.Errorf("group %d %w", i, err)
		}
		out.Groups = append(out.Groups, gs)
		sum.Minted += ps.Minted
		sum.Redeemed += ps.Redeemed
		sum.Outstanding += ps.Outstanding
		sum.Batches += ps.Batches
	}
	cs, moved, err := verifyAt(ctx, info.Coordinator, open)
	if err != nil {
		return out, fmt.Errorf("coordinator %w", err)
	}
	out.Coordinator = cs
	// Value moved arrived in one group (minted there) and left another
	// (redeemed there), so an honest network has moved no more than
	// either total; Router.Supply's floor at zero would hide it.
	if moved.Minted > sum.Minted || moved.Minted > sum.Redeemed {
		return out, fmt.Errorf("verify log: the coordinator's log says %d moved between groups, more than the groups' logs minted (%d) or redeemed (%d)", moved.Minted, sum.Minted, sum.Redeemed)
	}
	sum.Minted -= moved.Minted
	sum.Redeemed -= moved.Minted
	if s.Minted != sum.Minted || s.Redeemed != sum.Redeemed || s.Outstanding != sum.Outstanding || s.Batches != sum.Batches {
		return out, fmt.Errorf("verify log: published supply (minted %d, redeemed %d, outstanding %d, %d batches) differs from the %d groups' logs (minted %d, redeemed %d, outstanding %d, %d batches, with %d moved between groups)",
			s.Minted, s.Redeemed, s.Outstanding, s.Batches, len(info.Groups), sum.Minted, sum.Redeemed, sum.Outstanding, sum.Batches, moved.Minted)
	}
	return out, nil
}

// verifyAt verifies the log served at the first of urls that answers: a
// replica that cannot be reached is passed over, one that serves a log
// that does not verify is the finding. Its error reads "at URL: ...".
func verifyAt(ctx context.Context, urls []string, open func(string) (roles.Ledger, error)) (Summary, roles.LedgerSupply, error) {
	if len(urls) == 0 {
		return Summary{}, roles.LedgerSupply{}, errors.New("lists no URL serving its log")
	}
	var last error
	for _, u := range urls {
		l, err := open(u)
		if err != nil {
			return Summary{}, roles.LedgerSupply{}, fmt.Errorf("at %s: %w", u, err)
		}
		s, ps, err := verifyLog(ctx, l)
		if err == nil {
			return s, ps, nil
		}
		last = fmt.Errorf("at %s: %w", u, err)
		if !errcode.Is(err, errcode.Unavailable) {
			return s, ps, last
		}
	}
	return Summary{}, roles.LedgerSupply{}, last
}
