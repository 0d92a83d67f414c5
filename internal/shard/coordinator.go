package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Log is the coordinator's decision log: a ledger group (replicated in
// production) that keeps its archive, so a recovering coordinator can read
// the transactions it began from the batches.
type Log interface {
	Group
	roles.BatchSource
}

// Phase is a point of the protocol at which Config.Crash is asked.
type Phase string

// The protocol's phases, in order.
const (
	PhaseBegun    Phase = "begun"    // begin logged, no prepare sent
	PhasePrepared Phase = "prepared" // one group's prepare logged (its index is passed)
	PhaseDecided  Phase = "decided"  // the decision logged, no commit or abort sent
	PhaseApplied  Phase = "applied"  // one group's commit or abort logged (its index is passed)
)

// Config sets up a coordinator.
type Config struct {
	Network money.Network
	Log     Log
	Groups  []Group
	Logger  *slog.Logger
	// Crash, when set (tests), is asked at each phase with the group it
	// concerns (-1 for none); an error stops the transaction there as a
	// crash of the coordinator would: nothing more is sent for it, and
	// Submit returns unavailable.
	Crash func(p Phase, group int) error
	// Retry bounds how long a decided transaction's commits or aborts are
	// retried before Submit gives up and leaves it to Resolve; default 10 s.
	Retry time.Duration
}

// Coordinator runs two-phase commit for transactions that span groups. Any
// number of coordinators may share one log (a restarted one, a second
// router): every step is idempotent and the decision is logged once.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	stuck map[money.TxID]*plan // given up on here, not finished (a group or the log down)
}

// NewCoordinator returns a coordinator over cfg's groups and log. Call
// Recover before the first Submit after a restart.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if cfg.Log == nil || len(cfg.Groups) < 2 {
		return nil, fmt.Errorf("coordinator: want a log and at least 2 groups, have %d", len(cfg.Groups))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry == 0 {
		cfg.Retry = 10 * time.Second
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger, stuck: make(map[money.TxID]*plan)}, nil
}

func (c *Coordinator) id(step string, t money.TxID) money.Hash {
	return stepID(c.cfg.Network, step, t)
}

func (c *Coordinator) crash(p Phase, g int) error {
	if c.cfg.Crash == nil {
		return nil
	}
	if err := c.cfg.Crash(p, g); err != nil {
		return errcode.New(errcode.Unavailable, "coordinator stopped at %s (group %d): %v; the transaction is resolved by recovery", p, g, err)
	}
	return nil
}

// Submit commits tx, whose notes span several groups, atomically: every
// group applies it or none does. It returns the receipt of the first
// group's commit (each group's log holds tx under its txid), or the first
// refusal of a prepare (double_spend for a note spent or locked by another
// transaction in flight, bad_signature, ...: nothing changed anywhere), or
// unavailable when the outcome is not known yet (a group or the log could
// not be reached after the decision; Resolve finishes it).
func (c *Coordinator) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	p, err := planOf(c.cfg.Network, tx, len(c.cfg.Groups))
	if err != nil {
		return roles.Receipt{}, err
	}
	return c.run(ctx, p)
}

func (c *Coordinator) run(ctx context.Context, p *plan) (roles.Receipt, error) {
	// Begin: validated in full by the log's ledger, and archived.
	if _, err := c.cfg.Log.SubmitPart(ctx, ledger.Part{Tx: p.tx, ID: c.id(stepBegin, p.id)}); err != nil {
		return roles.Receipt{}, c.begun(ctx, p, err)
	}
	if err := c.crash(PhaseBegun, -1); err != nil {
		return roles.Receipt{}, err
	}
	var refusal error
	refused := -1 // a group that refused its prepare for good: nothing to abort there
	for _, g := range p.groups {
		if len(p.ins[g]) == 0 {
			continue
		}
		if err := c.prepare(ctx, p, g); err != nil {
			refusal = err
			if final(err) {
				refused = g
			}
			break
		}
		if err := c.crash(PhasePrepared, g); err != nil {
			return roles.Receipt{}, err
		}
	}
	commit, err := c.decide(ctx, p, refusal == nil)
	if err != nil {
		c.park(p) // Resolve decides it (abort, unless commit was logged)
		return roles.Receipt{}, err
	}
	if err := c.crash(PhaseDecided, -1); err != nil {
		return roles.Receipt{}, err
	}
	r, err := c.finish(ctx, p, commit, refused)
	if err != nil {
		return roles.Receipt{}, err
	}
	if !commit {
		if refusal == nil {
			refusal = errcode.New(errcode.Conflict, "transaction %s was aborted by a recovering coordinator", p.id)
		}
		return roles.Receipt{}, refusal
	}
	return r, nil
}

// begun answers a begin that was refused: tx is invalid (the log's ledger
// says why), or it was submitted before, when its outcome decides.
func (c *Coordinator) begun(ctx context.Context, p *plan, err error) error {
	if !errcode.Is(err, errcode.DoubleSpend) {
		return err
	}
	ok, lerr := logged(ctx, c.cfg.Log, c.id(stepBegin, p.id))
	if lerr != nil || !ok {
		return err
	}
	commit, err := c.resolve(ctx, p)
	if err != nil {
		return err
	}
	if commit {
		return errcode.New(errcode.DoubleSpend, "transaction %s was already committed", p.id)
	}
	return errcode.New(errcode.Conflict, "transaction %s was submitted before and aborted; sign a new one", p.id)
}

// prepare locks p's inputs in group g.
func (c *Coordinator) prepare(ctx context.Context, p *plan, g int) error {
	part := ledger.Part{
		Tx:       p.tx,
		ID:       c.id(stepPrepare, p.id),
		Spend:    p.ins[g],
		Create:   []ledger.NoteValue{{ID: LockNote(c.cfg.Network, p.id), Value: sum(p.ins[g])}},
		Excludes: []money.TxID{c.id(stepAbort, p.id)},
		Expiry:   true,
	}
	if _, err := submitStep(ctx, c.cfg.Groups[g], part); err != nil {
		return fmt.Errorf("prepare in group %d: %w", g, err)
	}
	return nil
}

// decide logs the decision (commit when want says so) unless the other
// one is logged already, and returns the decision in the log.
//
// The log's answer to the decision's part says which one is logged, and
// nothing else may: logged (or already logged, double_spend) is this one,
// conflict is the other (the only txid the part excludes). A read of the
// log after it could be served by a replica that has not applied the
// decision yet (a leader just elected), and would then turn a logged
// commit into an abort driven to the groups.
func (c *Coordinator) decide(ctx context.Context, p *plan, want bool) (bool, error) {
	yes, no := c.id(stepDecideCommit, p.id), c.id(stepDecideAbort, p.id)
	part := ledger.Part{Tx: p.tx, ID: no, Excludes: []money.TxID{yes}, Verified: true}
	if want {
		part = ledger.Part{Tx: p.tx, ID: yes, Excludes: []money.TxID{no}, Verified: true}
		if m := p.moved(); m > 0 {
			part.Create = []ledger.NoteValue{{ID: c.id(noteMoved, p.id), Value: m}}
		}
	}
	decision := want
	err := c.retry(ctx, func() error {
		_, err := submitStep(ctx, c.cfg.Log, part)
		switch {
		case err == nil, errcode.Is(err, errcode.DoubleSpend):
			decision = want // this decision is logged
			return nil
		case errcode.Is(err, errcode.Conflict):
			decision = !want // the other one is
			return nil
		}
		return err
	})
	if err != nil {
		return false, errcode.New(errcode.Unavailable, "transaction %s: decision not logged: %v", p.id, err)
	}
	return decision, nil
}

// finish applies the decision in every group concerned and logs the end.
// It returns the first group's commit receipt. On an abort, group skip
// (-1 for none) refused its prepare, so it needs no abort: the prepare is
// not in flight and can never be logged.
func (c *Coordinator) finish(ctx context.Context, p *plan, commit bool, skip int) (roles.Receipt, error) {
	var first roles.Receipt
	for _, g := range p.groups {
		var err error
		switch {
		case !commit && g == skip:
			continue
		case commit:
			var r roles.Receipt
			r, err = c.commitIn(ctx, p, g)
			if first.TxID == (money.TxID{}) {
				first = r
			}
		case len(p.ins[g]) > 0:
			err = c.abortIn(ctx, p, g)
		default:
			continue
		}
		if err != nil {
			c.park(p)
			return roles.Receipt{}, errcode.New(errcode.Unavailable, "transaction %s is decided (commit %v) but group %d has not applied it yet: %v", p.id, commit, g, err)
		}
		if err := c.crash(PhaseApplied, g); err != nil {
			return roles.Receipt{}, err
		}
	}
	if err := c.retry(ctx, func() error {
		_, err := submitStep(ctx, c.cfg.Log, ledger.Part{Tx: p.tx, ID: c.id(stepEnd, p.id), Verified: true})
		return err
	}); err != nil {
		// Applied everywhere; only recovery's shortcut is missing.
		c.log.Warn("2pc: end not logged", "tx", p.id, "err", err)
	}
	c.mu.Lock()
	delete(c.stuck, p.id)
	c.mu.Unlock()
	return first, nil
}

// commitIn spends g's lock note (if g held inputs) and creates p's outputs
// there, logged under p's txid.
func (c *Coordinator) commitIn(ctx context.Context, p *plan, g int) (roles.Receipt, error) {
	part := ledger.Part{Tx: p.tx, ID: p.id, Create: p.outs[g], Verified: true}
	if len(p.ins[g]) > 0 {
		part.Spend = []ledger.NoteValue{{ID: LockNote(c.cfg.Network, p.id), Value: sum(p.ins[g])}}
	}
	var r roles.Receipt
	err := c.retry(ctx, func() error {
		var err error
		r, err = submitStep(ctx, c.cfg.Groups[g], part)
		return err
	})
	return r, err
}

// abortIn gives g's locked inputs back, or, when g never prepared, logs
// the abort alone so that a prepare still on its way is refused.
func (c *Coordinator) abortIn(ctx context.Context, p *plan, g int) error {
	grp := c.cfg.Groups[g]
	return c.retry(ctx, func() error {
		prepared, err := logged(ctx, grp, c.id(stepPrepare, p.id))
		if err != nil {
			return err
		}
		part := ledger.Part{Tx: p.tx, ID: c.id(stepAbort, p.id), Verified: true}
		if prepared {
			part.Spend = []ledger.NoteValue{{ID: LockNote(c.cfg.Network, p.id), Value: sum(p.ins[g])}}
			part.Create = p.ins[g]
		} else {
			part.Excludes = []money.TxID{c.id(stepPrepare, p.id)}
		}
		_, err = submitStep(ctx, grp, part)
		if errcode.Is(err, errcode.Conflict) {
			// The prepare was logged between the look-up and the abort:
			// the next round releases its lock.
			return errcode.New(errcode.Unavailable, "prepare logged meanwhile: %v", err)
		}
		return err
	})
}

// retry runs op until it succeeds, fails with something other than
// unavailable or not_leader, or Config.Retry (or ctx) runs out.
func (c *Coordinator) retry(ctx context.Context, op func() error) error {
	deadline := time.Now().Add(c.cfg.Retry)
	wait := 20 * time.Millisecond
	for {
		err := op()
		if err == nil || !(errcode.Is(err, errcode.Unavailable) || errcode.Is(err, errcode.NotLeader)) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (c *Coordinator) park(p *plan) {
	c.mu.Lock()
	c.stuck[p.id] = p
	c.mu.Unlock()
}

// resolve drives a begun transaction to its end: the logged decision, or
// abort when none is logged. It returns the decision, as the log answers
// the decision's part (see decide), not as a read of the log says.
func (c *Coordinator) resolve(ctx context.Context, p *plan) (commit bool, err error) {
	if commit, err = c.decide(ctx, p, false); err != nil {
		return false, err
	}
	if ok, err := logged(ctx, c.cfg.Log, c.id(stepEnd, p.id)); err != nil || ok {
		return commit, err
	}
	_, err = c.finish(ctx, p, commit, -1)
	return commit, err
}

// Resolve retries the transactions this coordinator could not finish: a
// group was down after the decision, or the log when it was to be
// logged (then no decision may be logged yet, and Resolve logs abort).
// Safe to call at any time.
func (c *Coordinator) Resolve(ctx context.Context) error {
	c.mu.Lock()
	ps := make([]*plan, 0, len(c.stuck))
	for _, p := range c.stuck {
		ps = append(ps, p)
	}
	c.mu.Unlock()
	var errs []error
	for _, p := range ps {
		_, err := c.resolve(ctx, p)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Recover resolves every transaction the log holds as begun and not ended:
// each is driven to its logged decision, or aborted when none was logged.
// Call it when a coordinator starts, before it takes submissions (a
// transaction another live coordinator is running would be aborted; that
// is safe but needless). It reads the log from its first batch and returns
// how many transactions it resolved.
func (c *Coordinator) Recover(ctx context.Context) (int, error) {
	s, err := c.cfg.Log.Supply(ctx)
	if err != nil {
		return 0, fmt.Errorf("recover: read the log's head: %w", err)
	}
	seen := make(map[money.TxID]bool)
	n := 0
	for seq := uint64(1); seq <= s.Batches; seq++ {
		b, err := c.cfg.Log.Batch(ctx, seq)
		if err != nil {
			return n, fmt.Errorf("recover: batch %d: %w", seq, err)
		}
		for _, raw := range b.Txs {
			var tx money.Tx
			if err := tx.UnmarshalBinary(raw); err != nil {
				return n, fmt.Errorf("recover: batch %d: %w", seq, err)
			}
			p, err := planOf(c.cfg.Network, &tx, len(c.cfg.Groups))
			if err != nil {
				return n, fmt.Errorf("recover: batch %d: %w", seq, err)
			}
			if seen[p.id] {
				continue
			}
			seen[p.id] = true
			done, err := logged(ctx, c.cfg.Log, c.id(stepEnd, p.id))
			if err != nil {
				return n, fmt.Errorf("recover: %w", err)
			}
			if done {
				continue
			}
			if _, err := c.resolve(ctx, p); err != nil {
				return n, fmt.Errorf("recover %s: %w", p.id, err)
			}
			n++
		}
	}
	return n, nil
}

// Moved is the value committed cross-group transactions carried between
// groups, as logged with their decisions (see plan.moved).
func (c *Coordinator) Moved(ctx context.Context) (uint64, error) {
	s, err := c.cfg.Log.Supply(ctx)
	if err != nil {
		return 0, err
	}
	return s.Minted, nil
}
