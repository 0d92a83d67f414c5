package ledger

import (
	"sync"
	"sync/atomic"

	"github.com/specie/specie/errcode"
)

// Stats are the ledger's running counters for operators (exported as
// Prometheus metrics by the process that runs it).
type Stats struct {
	Batches   uint64            // batches committed since start
	Committed uint64            // transactions committed since start
	Rejected  map[string]uint64 // by error code, since start
	LastBatch int               // transactions in the last committed batch
	Queued    int               // validated transactions waiting to commit
	// Verified is how many signatures the verifiers checked since start:
	// one per owner key and transaction (its inputs locked to one key share
	// a signature), plus the authority signatures of mints and redeems.
	Verified uint64
}

type counters struct {
	mu        sync.Mutex
	batches   uint64
	committed uint64
	lastBatch int
	rejected  map[string]uint64
	verified  atomic.Uint64 // outside mu: the verifiers add to it
}

func (c *counters) batch(n int, batch []*checked) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > 0 {
		c.batches++
		c.committed += uint64(n)
		c.lastBatch = n
	}
	for _, t := range batch {
		if t.err != nil {
			c.reject(t.err)
		}
	}
}

func (c *counters) reject(err error) {
	if c.rejected == nil {
		c.rejected = map[string]uint64{}
	}
	c.rejected[string(errcode.Of(err))]++
}

// Stats returns a snapshot of the counters.
func (l *Ledger) Stats() Stats {
	c := &l.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Batches: c.batches, Committed: c.committed, LastBatch: c.lastBatch, Queued: int(l.queued.Load()), Rejected: map[string]uint64{}, Verified: c.verified.Load()}
	for k, v := range c.rejected {
		s.Rejected[k] = v
	}
	return s
}
