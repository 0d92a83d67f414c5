package shard

import (
	"context"
	"sync"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Router is the ledger of a sharded network as its users see it: a
// roles.Ledger that sends a transaction whose notes all live in one group
// to that group, and one that spans groups through the coordinator, so the
// issuer and the intermediaries work unchanged.
type Router struct {
	net    money.Network
	groups []Group
	coord  *Coordinator
	// logs and coordLog are where each group's log and the coordinator's
	// are served over HTTP (PublishLogs), listed by Info.
	logs     []roles.GroupLog
	coordLog []string
	// keyMu is held for writing while a rotation is applied across the
	// logs, for reading by a submission holding a mint (keys.go).
	keyMu sync.RWMutex
}

var _ roles.Ledger = (*Router)(nil)

// NewRouter routes over the coordinator's groups.
func NewRouter(c *Coordinator) *Router {
	return &Router{net: c.cfg.Network, groups: c.cfg.Groups, coord: c}
}

// Groups is how many groups the unspent set is split across.
func (r *Router) Groups() int { return len(r.groups) }

// Group returns group g, for reads of its own log.
func (r *Router) Group(g int) Group { return r.groups[g] }

// PublishLogs records the base URLs serving each group's log (groups[g]
// for group g) and the coordinator's, for Info to list: Headers serves
// only the coordinator's chain, so an auditor finds the groups' chains
// there. Call it before Info is served.
func (r *Router) PublishLogs(groups [][]string, coordinator []string) {
	r.logs = make([]roles.GroupLog, len(groups))
	for g, urls := range groups {
		r.logs[g] = roles.GroupLog{Index: g, URLs: urls}
	}
	r.coordLog = coordinator
}

// Info describes the network, which every group shares (Shards is each
// group's own partitioning of its unspent set in memory), and where each
// group's log and the coordinator's are served (PublishLogs). Its key sets
// are the rotations every group and the coordinator's log have applied
// (group 0's when one cannot be reached), so the issuer pushes a rotation
// again until every log has it.
func (r *Router) Info(ctx context.Context) (roles.LedgerInfo, error) {
	info, err := r.groups[0].Info(ctx)
	if err != nil {
		return roles.LedgerInfo{}, err
	}
	info.Groups, info.Coordinator = r.logs, r.coordLog
	// With a log unreachable, group 0's key sets are reported: Info stays
	// up for the payments that need it, and no mint is taken until every
	// log is reached and agrees (mintGate).
	_ = r.applied(ctx, &info)
	return info, nil
}

// Submit commits tx in its group, or across groups by two-phase commit. A
// mint waits for any officer key rotation under way (keys.go).
func (r *Router) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	p, err := planOf(r.net, tx, len(r.groups))
	if err != nil {
		return roles.Receipt{}, err
	}
	if holdsMint(tx) {
		release, err := r.mintGate(ctx)
		if err != nil {
			return roles.Receipt{}, err
		}
		defer release()
	}
	if g := p.single(); g >= 0 {
		return r.groups[g].Submit(ctx, tx)
	}
	return r.coord.run(ctx, p)
}

// SubmitBatch sends each group its single-group transactions as one batch
// and runs the cross-group ones through the coordinator, all at once;
// results are in txs' order, each with its txid. A group that cannot be
// reached fails its own transactions (its error in each result), not the
// batch: the other groups' commits are reported as such.
func (r *Router) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	if holdsMint(txs...) {
		release, err := r.mintGate(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	out := make([]roles.Result, len(txs))
	per := make([][]int, len(r.groups))
	var cross []*plan
	var crossAt []int
	for i, tx := range txs {
		p, err := planOf(r.net, tx, len(r.groups))
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Receipt.TxID = p.id
		if g := p.single(); g >= 0 {
			per[g] = append(per[g], i)
			continue
		}
		cross, crossAt = append(cross, p), append(crossAt, i)
	}
	var wg sync.WaitGroup
	for g, idx := range per {
		if len(idx) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]*money.Tx, len(idx))
			for k, i := range idx {
				batch[k] = txs[i]
			}
			rs, err := r.groups[g].SubmitBatch(ctx, batch)
			if err == nil && len(rs) != len(batch) {
				err = errcode.New(errcode.Internal, "group %d answered %d results for %d transactions", g, len(rs), len(batch))
			}
			if err != nil {
				// This group's transactions only: each is answered with the
				// group's error (unavailable: outcome unknown, to be asked
				// again by txid), and the other groups' results stand.
				for _, i := range idx {
					out[i].Err = err
				}
				return
			}
			for k, i := range idx {
				out[i] = rs[k]
			}
		}()
	}
	for k, p := range cross {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := r.coord.run(ctx, p)
			out[crossAt[k]] = roles.Result{Receipt: rc, Err: err}
			if err != nil {
				out[crossAt[k]].Receipt.TxID = p.id
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// Tx finds a committed transaction in the first group whose log holds it
// (a cross-group one is in each group it touched, under the same txid).
func (r *Router) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	var last error
	for _, g := range r.groups {
		info, err := g.Tx(ctx, id)
		if err == nil {
			return info, nil
		}
		if !errcode.Is(err, errcode.NotFound) {
			return roles.TxInfo{}, err
		}
		last = err
	}
	return roles.TxInfo{}, last
}

// Note asks the group that holds id. A note locked by a cross-group
// transaction in flight is not unspent (its value is in the lock note).
func (r *Router) Note(ctx context.Context, id money.NoteID) (roles.NoteInfo, error) {
	return r.groups[GroupOf(id, len(r.groups))].Note(ctx, id)
}

// Supply adds the groups' supplies. Each group counts value that entered it
// from another group as minted and value that left as redeemed; the
// coordinator's log holds the total so moved, which is taken off both, so
// minted and redeemed are the network's. Outstanding is the sum of the
// groups' (exact once no transaction is in flight: a decided transaction
// whose commits are not all applied is counted in some groups only).
func (r *Router) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	var s roles.LedgerSupply
	for _, g := range r.groups {
		gs, err := g.Supply(ctx)
		if err != nil {
			return roles.LedgerSupply{}, err
		}
		s.Minted += gs.Minted
		s.Redeemed += gs.Redeemed
		s.Outstanding += gs.Outstanding
		s.Unspent += gs.Unspent
		s.Batches += gs.Batches
	}
	moved, err := r.coord.Moved(ctx)
	if err != nil {
		return roles.LedgerSupply{}, err
	}
	s.Minted -= min(moved, s.Minted)
	s.Redeemed -= min(moved, s.Redeemed)
	return s, nil
}

// Headers serves the coordinator's log of decisions: a sharded network
// has one chain per group (Group(g).Headers) and this one, which says
// which cross-group transactions committed.
func (r *Router) Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	return r.coord.cfg.Log.Headers(ctx, from, limit)
}
