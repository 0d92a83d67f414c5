package replica

import (
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/specie/specie/money"
)

// CrashBeforeNextBatch makes the replica stop, as if killed, at the next
// batch entry raft has logged and hands it to apply: the entry is on disk,
// the ledger has not applied it. The channel gets that batch's number.
func (r *Replica) CrashBeforeNextBatch() <-chan uint64 {
	ch := make(chan uint64, 1)
	h := func(e *pb.Entry) error {
		h, _, err := r.led.EntryHead(e.GetData()[propIDSize:])
		if err != nil {
			return err
		}
		if s, _ := r.led.Head(); h.Seq <= s {
			return nil // a stale entry, skipped: not the crash wanted
		}
		ch <- h.Seq
		return errors.New("crashed before applying the batch (test)")
	}
	r.beforeApply.Store(&h)
	return ch
}

// CatchUpFrom runs the catch-up a snapshot naming batch seq with head hash
// head starts, fetching from sources only: for tests of refused transfers.
func (r *Replica) CatchUpFrom(sources []string, seq uint64, head money.Hash) error {
	return r.catchUp(&snapData{seq: seq, head: head, peers: map[uint64]string{}}, sources)
}

// EntriesMAC is entriesMAC, for tests that play a peer.
func EntriesMAC(key, req, answer []byte) []byte { return entriesMAC(key, req, answer) }

// DecodeSnapData and EncodeSnapData expose the snapshot data codec to the
// fuzz test.
func DecodeSnapData(b []byte) (uint64, money.Hash, map[uint64]string, error) {
	d, err := decodeSnapData(b)
	return d.seq, d.head, d.peers, err
}

func EncodeSnapData(seq uint64, head money.Hash, peers map[uint64]string) []byte {
	d := snapData{seq: seq, head: head, peers: peers}
	return d.encode()
}

// DecodeEntryFrames exposes the EntriesPath answer decoder to the fuzz test.
func DecodeEntryFrames(b []byte, fn func(seq uint64, e []byte) error) error {
	return decodeEntryFrames(b, fn)
}

// FetchStateFrom runs one state transfer from base for a snapshot naming
// batch seq with head hash head: for tests of refused transfers.
func (r *Replica) FetchStateFrom(base string, seq uint64, head money.Hash) error {
	return r.fetchStateFrom(base, &snapData{seq: seq, head: head, peers: map[uint64]string{}})
}

// StateMAC is the MAC a StatePath answer carries, for tests that play a
// peer.
func StateMAC(key, req, answer []byte) []byte {
	m := stateMAC(key, req)
	m.Write(answer)
	return m.Sum(nil)
}

// SetReadWait sets how long a read waits for its read index for the rest
// of the test. Call it before any replica starts.
func SetReadWait(t *testing.T, d time.Duration) {
	old := readWait
	readWait = d
	t.Cleanup(func() { readWait = old })
}
