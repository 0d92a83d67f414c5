package intermediary

import (
	"context"
	"slices"
	"sync"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// batcher gathers work from concurrent callers and hands whatever is
// queued, at most max items, to run in one call, from up to workers
// goroutines at once: under load many callers share one call (one
// request, one sync at the other end); alone, an item goes at once. When
// ctx ends the workers stop and fail whatever is still queued, and add
// fails at once.
type batcher[T any] struct {
	max  int
	run  func(ctx context.Context, items []T)
	fail func(item T, err error)

	mu      sync.Mutex
	items   []T
	closed  bool
	running int // workers not yet stopped
	wake    chan struct{}
}

// newBatcher starts the workers, counted in wg.
func newBatcher[T any](ctx context.Context, wg *sync.WaitGroup, workers, max int,
	run func(context.Context, []T), fail func(T, error)) *batcher[T] {
	b := &batcher[T]{max: max, run: run, fail: fail, running: workers, wake: make(chan struct{}, 1)}
	if ctx.Err() != nil {
		b.running, b.closed = 0, true
		return b
	}
	wg.Add(workers)
	for range workers {
		go b.work(ctx, wg)
	}
	return b
}

func (b *batcher[T]) add(item T) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.fail(item, errcode.New(errcode.Unavailable, "intermediary is closing"))
		return
	}
	b.items = append(b.items, item)
	b.mu.Unlock()
	b.poke()
}

func (b *batcher[T]) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take removes up to max queued items and reports whether more remain.
func (b *batcher[T]) take() ([]T, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.items), b.max)
	out := slices.Clone(b.items[:n])
	b.items = slices.Delete(b.items, 0, n)
	return out, len(b.items) > 0
}

func (b *batcher[T]) work(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	defer b.stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		for {
			items, more := b.take()
			if len(items) == 0 {
				break
			}
			if more {
				b.poke() // another worker takes the rest now
			}
			b.run(ctx, items)
		}
	}
}

// stop, called by each worker as it ends, fails what is still queued and
// refuses more once the last has ended.
func (b *batcher[T]) stop() {
	b.mu.Lock()
	if b.running--; b.running > 0 {
		b.mu.Unlock()
		return
	}
	items := b.items
	b.items, b.closed = nil, true
	b.mu.Unlock()
	for _, it := range items {
		b.fail(it, errcode.New(errcode.Unavailable, "intermediary is closing"))
	}
}

// submission is one transaction waiting to go to the ledger in a batch.
type submission struct {
	tx   *money.Tx
	done chan roles.Result // buffered: the worker never waits
}

// maxSubmitBatch bounds the transactions of one SubmitBatch (the API's
// batch limit is 10,000).
const maxSubmitBatch = 1000

// submitWorkers is how many SubmitBatch calls may be in flight at once.
const submitWorkers = 4

// submit sends tx to the ledger with whatever other spends are waiting,
// in one SubmitBatch (a lone one goes alone, as Submit), and waits for
// its result or for ctx: then the outcome is unknown, and the spend stays
// pending until settled.
func (in *Intermediary) submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	s := &submission{tx: tx, done: make(chan roles.Result, 1)}
	in.submitter.add(s)
	select {
	case r := <-s.done:
		return r.Receipt, r.Err
	case <-ctx.Done():
		return roles.Receipt{}, errcode.New(errcode.Unavailable, "waiting for the ledger: %v", ctx.Err())
	}
}

// submitBatch is the submitter's run: one Submit for one transaction,
// else one SubmitBatch; a failure of the whole call is every one's.
func (in *Intermediary) submitBatch(ctx context.Context, items []*submission) {
	ctx = in.asSelf(ctx)
	if len(items) == 1 {
		r, err := in.ledger.Submit(ctx, items[0].tx)
		items[0].done <- roles.Result{Receipt: r, Err: err}
		return
	}
	txs := make([]*money.Tx, len(items))
	for i, s := range items {
		txs[i] = s.tx
	}
	rs, err := in.ledger.SubmitBatch(ctx, txs)
	if err == nil && len(rs) != len(items) {
		err = errcode.New(errcode.Internal, "ledger answered %d results for %d transactions", len(rs), len(items))
	}
	for i, s := range items {
		if err != nil {
			s.done <- roles.Result{Err: err}
			continue
		}
		s.done <- rs[i]
	}
}
