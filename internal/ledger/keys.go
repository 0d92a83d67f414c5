package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Officer key rotation (roles.KeyRotator). The ledger starts with the
// founding key set of its Config (MintKeys, MintQuorum: version 1). A
// rotation is a policy.SignedKeySet approved by the quorum of the set the
// ledger applies now; the ledger checks that, records it in its store as
// an epoch (the set, with the first batch it applies to: the next one)
// and applies it between two batches, under stepMu, so that which keys
// authorise a mint in batch k is a function of the recorded epochs and k
// alone. Every epoch is kept and served (Info.KeySets), so an auditor
// re-verifies the chain from the founding set and each mint against the
// set of its batch.
//
// Store layout: prefixKeySet + version (8 bytes) -> roles.KeyEpoch (JSON),
// written synced.
const prefixKeySet = 'k'

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

// founding is version 1, the configured key set.
func (l *Ledger) founding() policy.KeySet {
	return policy.KeySet{Network: l.net.ID, Version: 1, Keys: l.cfg.MintKeys, Quorum: l.cfg.MintQuorum}
}

// loadKeySets re-verifies the recorded epochs from the founding set and
// applies the last. Called by Open; a chain that does not verify (a record
// edited on disk) stops the open.
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
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	l.epochs = epochs
	l.auth.Store(newMintAuth(cur))
	return nil
}

// RotateMintKeys applies s from the next batch on, once its approvals are
// the quorum of the set in force. The same set again answers its epoch;
// any other set that does not follow the one in force is a conflict, and
// one without the quorum's approvals is unauthorized. Not supported on a
// replicated ledger yet: the epoch would have to travel through raft.
func (l *Ledger) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	if err := l.stopped(); err != nil {
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "ledger stopped: %v", err)
	}
	if l.replicator() != nil {
		return roles.KeyEpoch{}, errcode.New(errcode.Conflict, "key rotation is not supported on a replicated ledger yet")
	}
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	cur := l.auth.Load().set
	if s.KeySet.Version <= cur.Version {
		l.mu.RLock()
		defer l.mu.RUnlock()
		for _, e := range l.epochs {
			if e.KeySet.KeySet.Version == s.KeySet.Version && e.KeySet.KeySet.Hash() == s.KeySet.Hash() {
				return e, nil
			}
		}
		return roles.KeyEpoch{}, errcode.New(errcode.Conflict, "officer key set version %d is in force: version %d does not follow it", cur.Version, s.KeySet.Version)
	}
	if s.KeySet.Version != cur.Version+1 {
		return roles.KeyEpoch{}, errcode.New(errcode.Conflict, "officer key set version %d is in force: version %d does not follow it", cur.Version, s.KeySet.Version)
	}
	if s.KeySet.Quorum > money.MaxAuth {
		return roles.KeyEpoch{}, errcode.New(errcode.Malformed, "quorum %d exceeds %d signatures per transaction", s.KeySet.Quorum, money.MaxAuth)
	}
	if err := s.Verify(&cur); err != nil {
		if !errors.Is(err, policy.ErrKeySet) {
			return roles.KeyEpoch{}, errcode.New(errcode.Malformed, "%v", err)
		}
		return roles.KeyEpoch{}, errcode.New(errcode.Unauthorized, "%v", err)
	}
	l.mu.RLock()
	from := l.meta.seq + 1
	l.mu.RUnlock()
	e := roles.KeyEpoch{FromBatch: from, KeySet: s}
	v, err := json.Marshal(e)
	if err != nil {
		return roles.KeyEpoch{}, errcode.New(errcode.Internal, "encode key set: %v", err)
	}
	b := l.db.NewBatch()
	b.Set(keySetKey(s.KeySet.Version), v)
	if err := b.Commit(true); err != nil {
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "record key set version %d: %v", s.KeySet.Version, err)
	}
	l.mu.Lock()
	l.epochs = append(l.epochs, e)
	l.mu.Unlock()
	l.auth.Store(newMintAuth(s.KeySet))
	l.log.Info("officer key set applied", "version", s.KeySet.Version, "from_batch", from, "keys", len(s.KeySet.Keys), "quorum", s.KeySet.Quorum)
	return e, nil
}

var _ roles.KeyRotator = (*Ledger)(nil)

// mintAuthorised checks a mint's approvals against the key set in force:
// every key one of its officers', at least its quorum of them.
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
