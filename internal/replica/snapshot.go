package replica

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/codec"
	"github.com/specie/specie/money"
)

// Raft snapshots and log compaction.
//
// A raft snapshot here carries no state: its Data (snapData) names the
// ledger's state at the snapshot's raft index by its last batch and that
// batch's header hash, and lists the members' URLs (the conf change
// entries that carried them are compacted away; the ConfState in the
// metadata carries the IDs). The state itself is the ledger's, already
// durable on every replica that applied that far. A follower that is sent
// a snapshot fetches the batches it lacks, from its own head to the
// snapshot's batch, from a peer's ledger (POST EntriesPath: the replicated
// entries its log and archive hold, with a MAC of the answer), checks that
// they chain from its own head to the snapshot's head hash before it
// applies any, applies them with ledger.ApplyRecord as it would from the
// raft log, and only then lets raft have the snapshot. A transfer that
// does not check out is refused: the replica's ledger and raft log are
// left as they were; after catchUpTries tries the replica stops with the
// error (a restart tries again).
//
// The peer serves batches from the log its ledger's batches are durable in
// (its raft log, or the ledger's own), which holds every batch since its
// oldest shard snapshot: a replica further behind than that takes the
// peer's whole state instead (state.go; docs/architecture.md,
// "Replication").
//
// Compaction: each time the applied index passes the last candidate by
// LogRetention entries, a new candidate is taken at the applied index, and
// the newest older candidate whose batch is at or behind the ledger's
// Durable batch becomes the compaction point (raftLog.compact). So
// between LogRetention and twice that many entries stay behind the applied
// index, and a follower briefly behind catches up from the log. Nothing
// this replica's restart needs is dropped: with one durable log, the raft
// log is the only copy of the batches after Durable, and the candidate's
// ConfState and URLs stand in for the compacted conf changes. Durable, the
// ledger's oldest shard snapshot, trails the head by about Shards x
// SnapshotEvery bytes of records, so that, not LogRetention, bounds the
// log on a busy group; keeping a candidate every LogRetention entries (not
// one at a time) lets the log be cut as soon as Durable passes one,
// rather than wait a further round of shard snapshots for a candidate
// taken only when the previous one was compacted.

// EntriesPath is where a replica serves its ledger's batches to a peer
// catching up by snapshot: POST, body EntriesRequest, MAC'd like every
// /raft/ request that reads or changes replica internals.
const EntriesPath = "/raft/entries"

// EntriesRequest is the body of POST EntriesPath: batches From to To.
type EntriesRequest struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// entriesChunk bounds one EntriesPath answer; the receiver asks again for
// the rest.
const entriesChunk = 4 << 20

// maxEntriesBody bounds what a receiver reads of one answer: a chunk may
// overshoot entriesChunk by one entry (at most a full batch with its
// archive).
const maxEntriesBody = 256 << 20

// catchUpTries and catchUpPause bound how long a follower tries to fetch
// a snapshot's batches before it stops with the error.
const (
	catchUpTries = 5
	catchUpPause = time.Second
)

// snapData is a snapshot's Data.
//
//	| version u8 (1) | seq u64 | head [32] | peers u16 | per peer: id u64, url len u16, url |
type snapData struct {
	seq   uint64
	head  money.Hash
	peers map[uint64]string
}

const snapDataVersion = 1

func (d *snapData) encode() []byte {
	ids := make([]uint64, 0, len(d.peers))
	for id := range d.peers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	w := codec.NewWriter(nil).U8(snapDataVersion).U64(d.seq).Put(d.head[:]).U16(uint16(len(ids)))
	for _, id := range ids {
		w = w.U64(id).U16(uint16(len(d.peers[id]))).Put([]byte(d.peers[id]))
	}
	return w.Bytes()
}

// decodeSnapData parses a snapshot's Data strictly: it comes from a peer.
func decodeSnapData(b []byte) (snapData, error) {
	r := codec.NewReader(b)
	if v := r.U8(); r.Err() == nil && v != snapDataVersion {
		return snapData{}, fmt.Errorf("snapshot data: version %d", v)
	}
	d := snapData{seq: r.U64(), peers: map[uint64]string{}}
	r.Copy(d.head[:])
	n := int(r.U16())
	var last uint64 // peers come in ascending ID order, once each
	for i := 0; i < n && r.Err() == nil; i++ {
		id := r.U64()
		u := string(r.Take(int(r.U16())))
		if r.Err() != nil {
			break
		}
		if id == 0 || u == "" {
			return snapData{}, fmt.Errorf("snapshot data: peer %d at %q", id, u)
		}
		if id <= last {
			return snapData{}, fmt.Errorf("snapshot data: peer %d after peer %d", id, last)
		}
		d.peers[id], last = u, id
	}
	if err := r.End(); err != nil {
		return snapData{}, fmt.Errorf("snapshot data: %w", err)
	}
	return d, nil
}

// candidate is the snapshot at the applied index: the ledger's head, the
// members and their URLs. Caller: the Ready loop, after applying.
func (r *Replica) candidate() *pb.Snapshot {
	seq, head := r.led.Head()
	r.peersMu.RLock()
	d := snapData{seq: seq, head: head, peers: map[uint64]string{}}
	for id, u := range r.peers {
		d.peers[id] = u
	}
	r.peersMu.RUnlock()
	return &pb.Snapshot{
		Data: d.encode(),
		Metadata: &pb.SnapshotMetadata{
			Index:     ptr(r.applied.Load()),
			Term:      ptr(r.appliedTerm.Load()),
			ConfState: proto.Clone(r.confState).(*pb.ConfState),
		},
	}
}

// candSnap is a snapshot the log may be compacted at, and the ledger's
// batch there.
type candSnap struct {
	snap *pb.Snapshot
	seq  uint64
}

// maybeCompact runs after each Ready's committed entries are applied:
// see the comment at the top of this file.
func (r *Replica) maybeCompact() error {
	applied := r.applied.Load()
	if first, _ := r.store.FirstIndex(); first > 1 {
		// A follower behind the compaction point is sent the newest
		// state. (Before any compaction no snapshot is ever sent.)
		r.store.setLatest(r.candidate())
	}
	if applied < r.candAt+r.retention {
		return nil
	}
	// The newest candidate whose batches the ledger's own files hold:
	// the raft log is the one durable copy of those after it.
	durable, k := r.led.Durable(), -1
	for i, c := range r.cands {
		if c.seq <= durable {
			k = i
		}
	}
	if k >= 0 {
		c := r.cands[k].snap
		if err := r.store.compact(c); err != nil {
			return err
		}
		r.cands = slices.Delete(r.cands, 0, k+1)
		r.compactions.Add(1)
		r.log.Debug("raft log compacted", "through", c.GetMetadata().GetIndex(), "applied", applied)
	}
	seq, _ := r.led.Head()
	r.cands = append(r.cands, candSnap{r.candidate(), seq})
	r.candAt = applied
	return nil
}

// prefetch keeps a catch-up by snapshot out of the Ready loop. A snapshot
// message naming a batch this ledger does not hold yet is not stepped into
// raft: prefetch starts fetching the batches (or the whole state) in the
// background and reports true, and the message is dropped. The leader,
// told the message went out, probes this replica, finds it still behind
// its compaction point and sends the snapshot again; once the ledger holds
// the snapshot's batch (made durable in its own files: Checkpoint),
// prefetch reports false and raft takes the snapshot (the next one after a
// fetch in any case), and the Ready loop only checks it or fetches the few
// batches committed since. Meanwhile the Ready loop goes on answering heartbeats.
// It reports false too for a snapshot it cannot read (the Ready loop
// refuses it).
func (r *Replica) prefetch(snap *pb.Snapshot) bool {
	d, err := decodeSnapData(snap.GetData())
	if err != nil {
		return false
	}
	if r.fetching.Load() {
		return true
	}
	seq, _ := r.led.Head()
	if was := r.prefetched.Swap(false); seq >= d.seq || was {
		// Held already, or fetched just now up to an earlier snapshot:
		// raft takes this one, and the Ready loop fetches what the
		// group committed meanwhile (a few batches), rather than chase
		// the leader's newest snapshot from here.
		return false
	}
	if t := r.fetchFailed.Load(); t != 0 && time.Since(time.Unix(0, t)) < catchUpPause {
		return true // the last try just failed: not yet again
	}
	if !r.fetching.CompareAndSwap(false, true) {
		return true
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.fetching.Store(false)
		err := r.catchUp(&d, r.sources(&d))
		if err != nil {
			if serr := r.fetchState(&d, r.sources(&d)); serr != nil {
				err = errors.Join(err, serr)
			} else {
				err = nil
			}
		}
		if err == nil {
			if head, _ := r.led.Head(); r.led.Durable() < head {
				err = r.led.Checkpoint()
			}
		}
		if err != nil {
			r.fetchFailed.Store(time.Now().UnixNano())
			r.log.Warn("catch-up by snapshot failed; trying again when the leader sends it again", "index", snap.GetMetadata().GetIndex(), "err", err)
			return
		}
		r.fetchFailed.Store(0)
		r.prefetched.Store(true)
		r.log.Info("caught up ahead of a snapshot", "index", snap.GetMetadata().GetIndex(), "from_batch", seq+1, "to_batch", d.seq)
	}()
	return true
}

// installSnapshot brings the ledger to the state snap names, fetching the
// batches it lacks from the peers (the leader first), before raft's log
// takes snap (see the comment at the top of this file). On an error
// nothing was applied, unless the error says the ledger failed part way
// (its batches applied so far are a checked prefix of the chain).
func (r *Replica) installSnapshot(snap *pb.Snapshot) error {
	d, err := decodeSnapData(snap.GetData())
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	seq, head := r.led.Head()
	switch {
	case seq == d.seq:
		if head != d.head {
			return fmt.Errorf("snapshot at %d: batch %d is %x here, %x in the snapshot: replicas diverged", snap.GetMetadata().GetIndex(), seq, head[:8], d.head[:8])
		}
	case seq > d.seq && d.seq == 0:
		// The snapshot was taken before any batch: nothing to check.
	case seq > d.seq:
		hs, err := r.led.Headers(context.Background(), d.seq, 1)
		if err != nil || len(hs) != 1 {
			return fmt.Errorf("snapshot at %d: header %d: %v", snap.GetMetadata().GetIndex(), d.seq, err)
		}
		if h := r.led.Config().Network.HeaderHash(&hs[0]); h != d.head {
			return fmt.Errorf("snapshot at %d: batch %d is %x here, %x in the snapshot: replicas diverged", snap.GetMetadata().GetIndex(), d.seq, h[:8], d.head[:8])
		}
	default:
		// A peer may be briefly unreachable (the leader busy, a link
		// down): try every source a few times before giving up.
		var err error
		for try := 0; try < catchUpTries; try++ {
			if try > 0 {
				r.log.Warn("catch-up by snapshot failed; trying again", "index", snap.GetMetadata().GetIndex(), "err", err)
				select {
				case <-r.stop:
					return fmt.Errorf("snapshot at %d: stopping: %w", snap.GetMetadata().GetIndex(), err)
				case <-time.After(catchUpPause):
				}
			}
			if err = r.catchUp(&d, r.sources(&d)); err == nil {
				break
			}
			// The peers' logs no longer hold the batches: take a whole
			// state instead (state.go).
			serr := r.fetchState(&d, r.sources(&d))
			if serr == nil {
				err = nil
				break
			}
			err = errors.Join(err, serr)
		}
		if err != nil {
			return fmt.Errorf("snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
		}
		r.log.Info("caught up by snapshot", "index", snap.GetMetadata().GetIndex(), "from_batch", seq+1, "to_batch", d.seq)
	}
	// The raft log is about to drop every entry it holds: what the ledger
	// applied must be durable in its own files first, or a crash would
	// find those batches in no log.
	if head, _ := r.led.Head(); r.led.Durable() < head {
		if err := r.led.Checkpoint(); err != nil {
			return fmt.Errorf("snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	return nil
}

// catchUp fetches the batches after this ledger's head up to d.seq from
// the first of sources (base URLs) that serves a chain ending at d.head,
// and applies them. It reads the peer's answer twice: first to check the
// chain, keeping only each batch's header hash (so a long catch-up is not
// held in memory), then again to apply each batch, checked against the
// first pass. A transfer whose chain does not check out applies nothing;
// one that fails in the second pass has applied a checked prefix of the
// chain, and the next try goes on from there.
func (r *Replica) catchUp(d *snapData, sources []string) error {
	seq, head := r.led.Head()
	var errs []error
	for _, u := range sources {
		hashes, err := r.checkChain(u, seq, head, d)
		if err == nil {
			err = r.applyChain(u, seq, hashes)
			if err == nil {
				return nil
			}
			if s, _ := r.led.Head(); s != seq {
				return fmt.Errorf("from %s: %w", u, err)
			}
		}
		errs = append(errs, fmt.Errorf("from %s: %w", u, err))
		select {
		case <-r.stop:
			return errors.Join(append(errs, errors.New("stopping"))...)
		default:
		}
	}
	return errors.Join(append(errs, fmt.Errorf("batches %d to %d: no peer served them", seq+1, d.seq))...)
}

// checkChain reads batches from+1 .. d.seq from one peer and returns their
// header hashes once they chain from head (this ledger's, at batch from)
// to d.head.
func (r *Replica) checkChain(base string, from uint64, head money.Hash, d *snapData) ([]money.Hash, error) {
	hashes := make([]money.Hash, 0, d.seq-from)
	prev := head
	err := r.walk(base, from+1, d.seq, func(seq uint64, h *money.BatchHeader, hash money.Hash, _ []byte) error {
		if h.Prev != prev {
			return fmt.Errorf("batch %d does not follow batch %d", seq, seq-1)
		}
		hashes = append(hashes, hash)
		prev = hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	if prev != d.head {
		return nil, fmt.Errorf("batch %d is %x as served, %x in the snapshot", d.seq, prev[:8], d.head[:8])
	}
	return hashes, nil
}

// applyChain reads the batches checkChain checked again and applies each
// that has the header hash checked.
func (r *Replica) applyChain(base string, from uint64, hashes []money.Hash) error {
	return r.walk(base, from+1, from+uint64(len(hashes)), func(seq uint64, _ *money.BatchHeader, hash money.Hash, e []byte) error {
		if hash != hashes[seq-from-1] {
			return fmt.Errorf("batch %d does not match the chain checked", seq)
		}
		got, ok, err := r.led.ApplyRecord(bytes.Clone(e))
		if err != nil {
			return fmt.Errorf("apply batch %d: %w", seq, err)
		}
		if !ok || got != seq {
			return fmt.Errorf("batch %d not applied (got %d)", seq, got)
		}
		return nil
	})
}

// walk reads batches lo..hi from one peer, in chunks, and hands fn each
// in order, decoded and checked (ledger.EntryHead).
func (r *Replica) walk(base string, lo, hi uint64, fn func(seq uint64, h *money.BatchHeader, hash money.Hash, e []byte) error) error {
	next := lo
	for next <= hi {
		body, err := r.postEntries(base, EntriesRequest{From: next, To: hi})
		if err != nil {
			return err
		}
		n := 0
		err = decodeEntryFrames(body, func(seq uint64, e []byte) error {
			h, hash, err := r.led.EntryHead(e)
			if err != nil {
				return fmt.Errorf("batch %d: %w", seq, err)
			}
			if seq != next || h.Seq != next {
				return fmt.Errorf("batch %d (header %d) does not follow batch %d", seq, h.Seq, next-1)
			}
			if err := fn(seq, &h, hash, e); err != nil {
				return err
			}
			next++
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no batches from %d", next)
		}
	}
	return nil
}

// snapshotApplied updates what the Ready loop tracks once raft's log holds
// snap: the applied index, the members and their URLs.
func (r *Replica) snapshotApplied(snap *pb.Snapshot) {
	d, _ := decodeSnapData(snap.GetData()) // installSnapshot checked it
	md := snap.GetMetadata()
	r.applied.Store(md.GetIndex())
	r.appliedTerm.Store(md.GetTerm())
	r.confState = proto.Clone(md.GetConfState()).(*pb.ConfState)
	r.setMembers(r.confState)
	for id, u := range d.peers {
		if slices.Contains(r.confState.GetVoters(), id) && r.peerURL(id) == "" {
			r.addPeer(id, u)
		}
	}
	r.snapshots.Add(1)
	// The next compaction candidate is taken from here.
	r.cands, r.candAt = nil, md.GetIndex()
}

// sources lists the base URLs to fetch from: the leader, then the other
// peers this replica knows, then those the snapshot names.
func (r *Replica) sources(d *snapData) []string {
	var out []string
	add := func(u string) {
		if u != "" && !slices.Contains(out, u) && u != r.peerURL(r.id) {
			out = append(out, u)
		}
	}
	add(r.peerURL(r.lead.Load()))
	r.peersMu.RLock()
	ids := make([]uint64, 0, len(r.peers))
	for id := range r.peers {
		ids = append(ids, id)
	}
	r.peersMu.RUnlock()
	slices.Sort(ids)
	for _, id := range ids {
		if id != r.id {
			add(r.peerURL(id))
		}
	}
	ids = ids[:0]
	for id := range d.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if id != r.id {
			add(d.peers[id])
		}
	}
	return out
}

// postEntries asks one peer for batches.
func (r *Replica) postEntries(base string, q EntriesRequest) ([]byte, error) {
	body, _ := json.Marshal(q)
	resp, cancel, err := r.raftPost(base, EntriesPath, body, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEntriesBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxEntriesBody {
		return nil, fmt.Errorf("answer over %d bytes", maxEntriesBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	got, err := hex.DecodeString(resp.Header.Get(MACHeader))
	if err != nil || !hmac.Equal(got, entriesMAC(r.key, body, b)) {
		return nil, fmt.Errorf("answer without a valid %s: not from a holder of the group key, or damaged on the way", MACHeader)
	}
	return b, nil
}

// raftPost POSTs body, MAC'd under the group key, to a peer's base+path;
// the request is cancelled when the replica stops, after timeout, or by
// the cancel func returned, which the caller calls once it has read the
// answer.
func (r *Replica) raftPost(base, path string, body []byte, timeout time.Duration) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(MACHeader, hex.EncodeToString(MAC(r.key, http.MethodPost, path, body)))
	resp, err := r.hc.Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

// entriesMAC authenticates an EntriesPath answer under the group's key,
// bound to the request it answers, so a receiver applies nothing that a
// holder of the key did not send, or that was damaged on the way: a
// record's spends and creations are not covered by the header chain.
func entriesMAC(key, req, answer []byte) []byte {
	return MAC(key, "ANSWER", EntriesPath, append(append(bytes.Clone(req), '\n'), answer...))
}

// An EntriesPath answer is a sequence of frames
//
//	[seq u64 BE][length u32 BE][replicated entry]

func appendEntryFrame(b []byte, seq uint64, e []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
	return append(b, e...)
}

// decodeEntryFrames splits an EntriesPath answer, strictly: it comes from
// a peer.
func decodeEntryFrames(b []byte, fn func(seq uint64, e []byte) error) error {
	for len(b) > 0 {
		if len(b) < 12 || uint64(len(b)-12) < uint64(binary.BigEndian.Uint32(b[8:])) {
			return fmt.Errorf("entries: truncated frame")
		}
		seq, n := binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])
		if err := fn(seq, b[12:12+n]); err != nil {
			return err
		}
		b = b[12+n:]
	}
	return nil
}

// serveEntries is POST EntriesPath (behind authed).
func (r *Replica) serveEntries(w http.ResponseWriter, req *http.Request) {
	var q EntriesRequest
	if err := json.Unmarshal(reqBody(req), &q); err != nil {
		writeError(w, errcode.New(errcode.Malformed, "entries: %v", err))
		return
	}
	if q.From == 0 || q.To < q.From {
		writeError(w, errcode.New(errcode.Malformed, "entries: from %d to %d", q.From, q.To))
		return
	}
	var out []byte
	_, err := r.led.Entries(q.From, q.To, entriesChunk, func(seq uint64, e []byte) error {
		out = appendEntryFrame(out, seq, e)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(MACHeader, hex.EncodeToString(entriesMAC(r.key, reqBody(req), out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// reportSnapshot tells raft how sending a snapshot message went, so the
// leader probes the follower again (or retries the snapshot).
func (r *Replica) reportSnapshot(m *pb.Message, err error) {
	if m.GetType() != pb.MessageType_MsgSnap {
		return
	}
	st := raft.SnapshotFinish
	if err != nil {
		st = raft.SnapshotFailure
	}
	r.node.ReportSnapshot(m.GetTo(), st)
}
