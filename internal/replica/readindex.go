package replica

import (
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"time"

	"github.com/specie/specie/errcode"
)

// Linearizable reads on any replica (raft's read index, section 6.4 of the
// raft thesis): before a read of committed state, a replica asks the leader
// for its commit index, which the leader confirms is still current with a
// round of heartbeats to a quorum, then waits until it has applied that
// index itself. A read served after ReadIndex returns sees every batch
// committed before the read began, on a follower as on the leader: a
// client that was told "committed" by the leader and then asks a follower
// finds its transaction.

// readWait bounds how long a read waits for its read index: a replica that
// cannot reach a leader (a minority side, or no leader yet) answers
// unavailable rather than serve what may be stale. A variable only so a
// test can wait out a slow election (SetReadWait).
var readWait = 3 * time.Second

// readRetry is how often a read still waiting for its read index asks
// again.
const readRetry = 200 * time.Millisecond

// ReadIndex returns once this replica has applied every entry committed
// before the call, or unavailable.
func (r *Replica) ReadIndex(ctx context.Context) error {
	if p := r.fatal.Load(); p != nil {
		return errcode.New(errcode.Unavailable, "replica %d stopped: %v", r.id, *p)
	}
	ctx, cancel := context.WithTimeout(ctx, readWait)
	defer cancel()
	key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, r.boot), r.readN.Add(1))
	ch := make(chan uint64, 1)
	r.readMu.Lock()
	r.reads[string(key)] = ch
	r.readMu.Unlock()
	defer func() {
		r.readMu.Lock()
		delete(r.reads, string(key))
		r.readMu.Unlock()
	}()
	// A request raft sent to a leader that has just died, or dropped for
	// want of a leader during an election, is never answered: ask again
	// every readRetry (the same key; the first answer serves), so a read
	// begun in an election is answered once the new leader can, not after
	// readWait.
	retry := time.NewTicker(readRetry)
	defer retry.Stop()
	var index uint64
	for asked := false; ; {
		if !asked {
			if err := r.node.ReadIndex(ctx, key); err != nil {
				return errcode.New(errcode.Unavailable, "replica %d: read index: %v", r.id, err)
			}
			asked = true
		}
		select {
		case index = <-ch:
		case <-retry.C:
			asked = false
			continue
		case <-ctx.Done():
			return errcode.New(errcode.Unavailable, "replica %d: no leader confirmed a read index within %s; retry", r.id, readWait)
		case <-r.stop:
			return errcode.New(errcode.Unavailable, "replica %d is stopping", r.id)
		}
		break
	}
	for r.applied.Load() < index {
		select {
		case <-ctx.Done():
			return errcode.New(errcode.Unavailable, "replica %d: still applying up to log index %d; retry", r.id, index)
		case <-r.stop:
			return errcode.New(errcode.Unavailable, "replica %d is stopping", r.id)
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// readStates hands raft's answers to the reads waiting for them (the Ready
// loop calls it).
func (r *Replica) readStates(keys [][]byte, index []uint64) {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	for i, k := range keys {
		if ch := r.reads[string(k)]; ch != nil {
			select {
			case ch <- index[i]:
			default:
			}
		}
	}
}

// Reads serves h's reads of committed state (GET of transactions, notes,
// the log and the supply) only after ReadIndex, so any replica answers
// them as the leader would; a replica that cannot get a read index answers
// unavailable. Writes and everything else pass through.
func (r *Replica) Reads(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && committedRead(req.URL.Path) {
			if err := r.ReadIndex(req.Context()); err != nil {
				writeError(w, err)
				return
			}
		}
		h.ServeHTTP(w, req)
	})
}

func committedRead(p string) bool {
	for _, prefix := range []string{"/v1/transactions/", "/v1/notes/", "/v1/log/", "/v1/supply"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
