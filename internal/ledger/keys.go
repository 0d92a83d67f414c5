package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Officer key rotation (roles.KeyRotator). The ledger starts with the
// founding key set of its Config (MintKeys, MintQuorum: version 1). A
// rotation is a policy.SignedKeySet approved by the quorum of the set in
// force, and it is committed as a batch of its own, through the same
// commit loop (and, replicated, the same consensus log and ApplyRecord) as
// a batch of transactions: a rotation batch, whose one txid is the
// rotation's ID (policy.RotationID of its rotation record) and whose log
// record carries the rotation record (format.go, version 2). So the
// rotation is in the header hash chain and in the log-wide Merkle tree the
// checkpoints sign, with an inclusion proof like any transaction (Tx of
// its ID), and which keys authorise a mint of batch k is a function of
// batches 1..k-1 alone. An auditor re-verifies each rotation from the log
// (GET /v1/log/batches/{seq} serves its rotation record) against the set
// before it.
//
// Store layout: prefixRotation + seq (8) -> the rotation record of batch
// seq, written with the batch's other keys (storeRecord) and, like its
// header, kept when the log is cut behind the snapshots: Open rebuilds the
// set in force from these, each checked against its batch's header and
// against the set before it.
//
// Stores written before rotations were batches hold epochs beside the log
// (prefixKeySet + version (8) -> roles.KeyEpoch, JSON). They are still
// read, verified as a chain from the founding set and applied, served with
// Batch 0, but no new one is written: such a rotation is not in the hash
// chain, and an auditor that trusts only the log does not follow it.
const (
	prefixKeySet   = 'k'
	prefixRotation = 'r'
)

// kindRotation is the kind a rotation's ID has in its batch's record and
// in its txid place: no transaction kind (money.Kind counts from 1).
const kindRotation money.Kind = 0xFF

// mintAuth is the key set a mint is checked against now.
type mintAuth struct {
	set  policy.KeySet
	keys map[[32]byte]bool
}

func newMintAuth(set policy.KeySet) *mintAuth {
	return &mintAuth{set: set, keys: keySet(set.Keys)}
}

func keySetKey(version uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixKeySet}, version)
}

func rotationKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixRotation}, seq)
}

// founding is version 1, the configured key set.
func (l *Ledger) founding() policy.KeySet {
	return policy.KeySet{Network: l.net.ID, Version: 1, Keys: l.cfg.MintKeys, Quorum: l.cfg.MintQuorum}
}

// loadKeySets rebuilds the key set in force: the epochs of an old store
// (see above), then every rotation batch, each re-verified against the set
// before it and checked to be what its batch's header commits to. Called
// by Open after recovery (which redoes the store keys of the batches the
// log holds); a rotation that does not verify (a record edited on disk)
// stops the open.
func (l *Ledger) loadKeySets() error {
	cur := l.founding()
	var epochs []roles.KeyEpoch
	err := l.db.Scan([]byte{prefixKeySet}, nil, func(k, v []byte) error {
		var e roles.KeyEpoch
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("key set %x: %w", k, err)
		}
		if err := e.KeySet.Verify(&cur); err != nil {
			return fmt.Errorf("key set version %d: %w", e.KeySet.KeySet.Version, err)
		}
		if n := len(epochs); n > 0 && e.FromBatch < epochs[n-1].FromBatch {
			return fmt.Errorf("key set version %d applies from batch %d, before version %d", e.KeySet.KeySet.Version, e.FromBatch, epochs[n-1].KeySet.KeySet.Version)
		}
		epochs = append(epochs, e)
		cur = e.KeySet.KeySet
		return nil
	})
	if err == nil {
		err = l.db.Scan([]byte{prefixRotation}, nil, func(k, v []byte) error {
			if len(k) != 9 {
				return fmt.Errorf("rotation key %x", k)
			}
			seq := binary.BigEndian.Uint64(k[1:])
			if seq > l.meta.seq {
				return fmt.Errorf("rotation of batch %d, past the head %d", seq, l.meta.seq)
			}
			_, ids, err := l.batch(seq)
			if err != nil {
				return fmt.Errorf("rotation of batch %d: %w", seq, err)
			}
			if len(ids) != 1 || ids[0] != policy.RotationID(v) {
				return fmt.Errorf("rotation of batch %d is not what its header commits to", seq)
			}
			var s policy.SignedKeySet
			if err := s.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("rotation of batch %d: %w", seq, err)
			}
			if err := s.Verify(&cur); err != nil {
				return fmt.Errorf("rotation of batch %d: %w", seq, err)
			}
			epochs = append(epochs, roles.KeyEpoch{FromBatch: seq + 1, Batch: seq, KeySet: s})
			cur = s.KeySet
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	l.epochs = epochs
	l.auth.Store(newMintAuth(cur))
	return nil
}

// rotation is a key set on its way to the commit loop, and where its
// outcome goes.
type rotation struct {
	s    policy.SignedKeySet
	rec  []byte // s.MarshalBinary()
	done chan rotated
}

type rotated struct {
	epoch roles.KeyEpoch
	err   error
}

// RotateMintKeys commits s as a rotation batch, the next batch of the
// log, once its approvals are the quorum of the set in force; mints of the
// batches after it need the new set. The same set again answers its
// epoch, so the issuer may retry; any other set that does not follow the
// one in force is a conflict, and one without the quorum's approvals is
// unauthorized. On a replicated ledger the rotation goes through
// consensus like any batch: a follower answers not_leader.
func (l *Ledger) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	if err := l.stopped(); err != nil {
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "ledger stopped: %v", err)
	}
	if r := l.replicator(); r != nil {
		if err := r.Lead(); err != nil {
			return roles.KeyEpoch{}, err
		}
	}
	rec, err := s.MarshalBinary()
	if err != nil {
		return roles.KeyEpoch{}, errcode.New(errcode.Malformed, "%v", err)
	}
	rot := &rotation{s: s, rec: rec, done: make(chan rotated, 1)}
	l.gate.RLock()
	select {
	case <-l.closed:
		l.gate.RUnlock()
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "ledger is shutting down")
	default:
	}
	select {
	case l.rotq <- rot:
	case <-ctx.Done():
		l.gate.RUnlock()
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "rotate: %v", ctx.Err())
	}
	l.gate.RUnlock()
	// Once queued the commit loop decides; wait for it even if ctx ends.
	out := <-rot.done
	return out.epoch, out.err
}

var _ roles.KeyRotator = (*Ledger)(nil)

// judgeRotation decides a rotation against the state after the last
// applied batch: an epoch already applied (the same set again), or the
// record of the rotation batch that would put it in force, or the error
// that refuses it. The caller holds stepMu.
func (l *Ledger) judgeRotation(rot *rotation) (*roles.KeyEpoch, *record, error) {
	if l.fatal != nil {
		return nil, nil, errcode.New(errcode.Unavailable, "ledger stopped after a storage failure: %v", l.fatal)
	}
	s := &rot.s
	cur := l.auth.Load().set
	if s.KeySet.Version <= cur.Version {
		l.mu.RLock()
		defer l.mu.RUnlock()
		for _, e := range l.epochs {
			if e.KeySet.KeySet.Version == s.KeySet.Version && e.KeySet.KeySet.Hash() == s.KeySet.Hash() {
				return &e, nil, nil
			}
		}
		return nil, nil, errcode.New(errcode.Conflict, "officer key set version %d is in force: version %d does not follow it", cur.Version, s.KeySet.Version)
	}
	if s.KeySet.Version != cur.Version+1 {
		return nil, nil, errcode.New(errcode.Conflict, "officer key set version %d is in force: version %d does not follow it", cur.Version, s.KeySet.Version)
	}
	if s.KeySet.Quorum > money.MaxAuth {
		return nil, nil, errcode.New(errcode.Malformed, "quorum %d exceeds %d signatures per transaction", s.KeySet.Quorum, money.MaxAuth)
	}
	if err := s.Verify(&cur); err != nil {
		if !errors.Is(err, policy.ErrKeySet) {
			return nil, nil, errcode.New(errcode.Malformed, "%v", err)
		}
		return nil, nil, errcode.New(errcode.Unauthorized, "%v", err)
	}
	l.mu.RLock()
	m := l.meta
	l.mu.RUnlock()
	id := policy.RotationID(rot.rec)
	r := &record{
		header: money.BatchHeader{
			Seq: m.seq + 1, Prev: m.head, TxRoot: money.MerkleRoot([]money.Hash{id}), TxCount: 1,
			Minted: m.minted, Redeemed: m.redeemed,
		},
		ids:        []money.Hash{id},
		unspent:    m.unspent,
		unspentSum: m.unspentSum,
		kinds:      []money.Kind{kindRotation},
		outputs:    []uint16{0},
		keySet:     rot.rec,
	}
	r.body = encodeBatch(&r.header, r.ids)
	return nil, r, nil
}

// commitRotation is commit for a rotation: judged, then written as its
// own batch alone, or proposed through consensus when replicated.
func (l *Ledger) commitRotation(rot *rotation) {
	if r := l.replicator(); r != nil {
		l.proposeRotation(r, rot)
		return
	}
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	e, rec, err := l.judgeRotation(rot)
	if e != nil || err != nil {
		rot.done <- rotated{epoch: deref(e), err: err}
		return
	}
	seq := rec.header.Seq
	l.rec = rec.appendTo(l.rec[:0])
	if l.cfg.Archive {
		// A rotation batch has no archive entry; one left under its
		// number by a batch archived but never logged (see persist) goes
		// first, or Entries would pair it with the rotation.
		b := l.db.NewBatch()
		b.Delete(archiveKey(seq))
		if err := b.Commit(true); err != nil {
			l.stop(err)
			rot.done <- rotated{err: errcode.New(errcode.Internal, "commit failed: rotation batch %d: %v", seq, err)}
			return
		}
	}
	if err := l.wal.Append(seq, l.rec); err != nil {
		if errors.Is(err, store.ErrNotLogged) {
			rot.done <- rotated{err: errcode.New(errcode.Unavailable, "rotation not written, try again: %v", err)}
			return
		}
		l.stop(err)
		rot.done <- rotated{err: errcode.New(errcode.Internal, "commit failed: log rotation batch %d: %v", seq, err)}
		return
	}
	if err := l.wal.Sync(); err != nil {
		l.stop(err)
		rot.done <- rotated{err: errcode.New(errcode.Internal, "commit failed: sync rotation batch %d: %v", seq, err)}
		return
	}
	l.logBytes += int64(len(l.rec))
	// Durable: answered as committed whatever happens next; a restart
	// redoes the store from the log.
	after := rec.meta(l.net)
	b := l.db.NewBatch()
	l.storeRecord(b, rec, &after)
	if err := b.Commit(false); err != nil {
		l.log.Error("store update failed; ledger stopped", "err", err)
		l.stop(err)
	}
	ep := l.adopt(rec, &after)
	rot.done <- rotated{epoch: ep}
	l.snapshotTick()
}

// proposeRotation is commitRotation on a replicated ledger: judged under
// stepMu against the applied state, then carried through consensus and
// applied by ApplyRecord on every replica.
func (l *Ledger) proposeRotation(r Replicator, rot *rotation) {
	if err := r.Lead(); err != nil {
		rot.done <- rotated{err: err}
		return
	}
	l.stepMu.Lock()
	e, rec, err := l.judgeRotation(rot)
	l.stepMu.Unlock()
	if e != nil || err != nil {
		rot.done <- rotated{epoch: deref(e), err: err}
		return
	}
	seq, err := r.Propose(rec.appendTo(nil), l.closed)
	if err != nil {
		rot.done <- rotated{err: err}
		return
	}
	rot.done <- rotated{epoch: roles.KeyEpoch{FromBatch: seq + 1, Batch: seq, KeySet: rot.s}}
}

func deref(e *roles.KeyEpoch) roles.KeyEpoch {
	if e == nil {
		return roles.KeyEpoch{}
	}
	return *e
}

// adopt makes a logged rotation batch the head: the totals after it, its
// epoch, and its key set in force for the batches after it. The caller
// holds stepMu and has written the batch's store keys.
func (l *Ledger) adopt(rec *record, after *meta) roles.KeyEpoch {
	var s policy.SignedKeySet
	s.UnmarshalBinary(rec.keySet) // decodeRecord or judgeRotation checked it
	e := roles.KeyEpoch{FromBatch: rec.header.Seq + 1, Batch: rec.header.Seq, KeySet: s}
	l.mu.Lock()
	l.meta = *after
	l.epochs = append(l.epochs, e)
	l.mu.Unlock()
	l.auth.Store(newMintAuth(s.KeySet))
	l.log.Info("officer key set applied", "version", s.KeySet.Version, "batch", rec.header.Seq, "keys", len(s.KeySet.Keys), "quorum", s.KeySet.Quorum)
	return e
}

// verifyRotation checks a committed rotation record against the set in
// force, as ApplyRecord finds it: a leader judged it against the same
// state, so a failure means the replicas diverged. The caller holds
// stepMu.
func (l *Ledger) verifyRotation(rec *record) error {
	var s policy.SignedKeySet
	if err := s.UnmarshalBinary(rec.keySet); err != nil {
		return err
	}
	cur := l.auth.Load().set
	return s.Verify(&cur)
}

// check checks a mint's approvals against the key set in force: every
// key one of its officers', at least its quorum of them.
func (a *mintAuth) check(tx *money.Tx) error {
	for _, k := range tx.Auth {
		if !a.keys[k.Key] {
			return errcode.New(errcode.Unauthorized, "mint signed by %x, which is not an issuer key", k.Key[:4])
		}
	}
	if len(tx.Auth) < a.set.Quorum {
		return errcode.New(errcode.Unauthorized, "mint has %d issuer approvals, needs %d", len(tx.Auth), a.set.Quorum)
	}
	return nil
}

// recheckMints drops from batch, answering them unauthorized, the mints
// that the key set in force no longer authorises: they were validated
// before a rotation that came between their validation and this batch.
// The caller holds stepMu.
func (l *Ledger) recheckMints(batch []*checked) []*checked {
	a := l.auth.Load()
	if a.set.Version == 1 {
		return batch // no rotation: validation checked this very set
	}
	out := batch[:0]
	for _, c := range batch {
		if c.tx.Kind == money.Mint {
			if err := a.check(c.tx); err != nil {
				c.done <- result{err: err}
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// keysInfo is Info's copy of the epochs.
func (l *Ledger) keysInfo() []roles.KeyEpoch {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.epochs) == 0 {
		return nil
	}
	out := make([]roles.KeyEpoch, len(l.epochs))
	copy(out, l.epochs)
	return out
}
