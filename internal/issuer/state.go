package issuer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Store layout. Every change that moves money is one atomic, synced batch.
//
//	init              opening reserves have been written
//	r/<name>          reserve balance, 8 bytes big-endian
//	p/<txid>          proposal record (JSON)
//	q/<txid>          index of proposals still open (pending or submitting)
//	i/<txid>          redemption at the ledger, not yet credited (JSON)
//	d/<txid>          redemption credited to a reserve (JSON)
//	o/<txid>          outbox: a committed mint not yet delivered; value = intermediary
var (
	keyInit    = []byte("init")
	prefReserv = []byte("r/")
	prefProp   = []byte("p/")
	prefOpen   = []byte("q/")
	prefRedeem = []byte("d/")
	prefIntent = []byte("i/")
	prefOutbox = []byte("o/")
)

func key(prefix []byte, s []byte) []byte {
	return append(append(make([]byte, 0, len(prefix)+len(s)), prefix...), s...)
}

// statusSubmitting marks a proposal whose quorum is reached and whose
// transaction may be at the ledger. It is reported as pending: nothing has
// moved that the desk knows of.
const statusSubmitting = "submitting"

// proposal is a mint proposal as stored.
type proposal struct {
	To        string         `json:"to"`
	Amount    uint64         `json:"amount"`
	Status    string         `json:"status"`
	Tx        []byte         `json:"tx"` // canonical encoding; carries Auth once submitting
	Approvals []approval     `json:"approvals"`
	Receipt   *roles.Receipt `json:"receipt,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Created   time.Time      `json:"created"`
}

type approval struct {
	Key crypto.PublicKey `json:"key"`
	Sig []byte           `json:"sig"`
}

// redemption is a redeem as stored: under i/ while it may be at the ledger
// (no receipt), under d/ once the reserve has been credited.
type redemption struct {
	Intermediary string         `json:"intermediary"`
	Amount       uint64         `json:"amount"`
	Receipt      *roles.Receipt `json:"receipt,omitempty"`
}

// storeErr answers a failed read or write of the desk's store: unavailable
// when the disk is full (retry once there is space) or when an earlier
// failure stopped the store (this write reached nothing; retry once the
// desk is restarted), internal for any other failure. Either way nothing
// was reported done that is not on disk.
func storeErr(err error, format string, a ...any) error {
	code := errcode.Internal
	if store.Retryable(err) {
		code = errcode.Unavailable
	}
	return errcode.New(code, "%s: %v", fmt.Sprintf(format, a...), err)
}

func encodeU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("reserve value has %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// load writes the opening reserves at first use and reads the reserves and
// open proposals into memory.
func (is *Issuer) load() error {
	initDone, err := is.db.Has(keyInit)
	if err != nil {
		return err
	}
	if !initDone {
		b := is.db.NewBatch()
		for name, bal := range is.cfg.Reserves {
			b.Set(key(prefReserv, []byte(name)), encodeU64(bal))
		}
		b.Set(keyInit, []byte{1})
		if err := b.Commit(true); err != nil {
			return fmt.Errorf("write opening reserves: %w", err)
		}
		is.log.Info("opening reserves written", "accounts", len(is.cfg.Reserves))
	}
	is.reserves = make(map[string]uint64)
	err = is.db.Scan(prefReserv, nil, func(k, v []byte) error {
		bal, err := decodeU64(v)
		if err != nil {
			return err
		}
		is.reserves[string(k[len(prefReserv):])] = bal
		return nil
	})
	if err != nil {
		return fmt.Errorf("read reserves: %w", err)
	}
	for name := range is.cfg.Reserves {
		if _, ok := is.reserves[name]; !ok {
			is.log.Warn("configured intermediary has no reserve account (reserves are written at first open only)", "intermediary", name)
		}
	}
	is.open = make(map[money.TxID]openProposal)
	var ids []money.TxID
	err = is.db.Scan(prefOpen, nil, func(k, _ []byte) error {
		var id money.TxID
		if len(k) != len(prefOpen)+len(id) {
			return fmt.Errorf("bad open-proposal key %x", k)
		}
		copy(id[:], k[len(prefOpen):])
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read open proposals: %w", err)
	}
	for _, id := range ids {
		p, err := is.getProposal(id)
		if err != nil {
			return err
		}
		is.open[id] = openProposal{to: p.To, amount: p.Amount}
	}
	return is.loadPolicy()
}

func (is *Issuer) getProposal(id money.TxID) (*proposal, error) {
	v, err := is.db.Get(key(prefProp, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errcode.New(errcode.NotFound, "no mint proposal %s", id)
	}
	if err != nil {
		return nil, errcode.New(errcode.Internal, "read proposal %s: %v", id, err)
	}
	p := new(proposal)
	if err := json.Unmarshal(v, p); err != nil {
		return nil, errcode.New(errcode.Internal, "decode proposal %s: %v", id, err)
	}
	return p, nil
}

func putProposal(b *store.Batch, id money.TxID, p *proposal) error {
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode proposal %s: %w", id, err)
	}
	b.Set(key(prefProp, id[:]), v)
	return nil
}

// saveProposal writes p alone, keeping the open index in step with its
// status, and updates the in-memory index once it is durable. Caller holds mu.
func (is *Issuer) saveProposal(id money.TxID, p *proposal) error {
	b := is.db.NewBatch()
	if err := putProposal(b, id, p); err != nil {
		b.Discard()
		return errcode.New(errcode.Internal, "%v", err)
	}
	isOpen := p.Status == roles.MintPending || p.Status == statusSubmitting
	if isOpen {
		b.Set(key(prefOpen, id[:]), nil)
	} else {
		b.Delete(key(prefOpen, id[:]))
	}
	if err := b.Commit(true); err != nil {
		return storeErr(err, "save proposal %s", id)
	}
	if isOpen {
		is.open[id] = openProposal{to: p.To, amount: p.Amount}
	} else {
		delete(is.open, id)
	}
	return nil
}

// getRedemption reads a redemption under prefix (prefRedeem or prefIntent);
// nil when there is none.
func (is *Issuer) getRedemption(prefix []byte, id money.TxID) (*redemption, error) {
	v, err := is.db.Get(key(prefix, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, errcode.New(errcode.Internal, "read redemption %s: %v", id, err)
	}
	r := new(redemption)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, errcode.New(errcode.Internal, "decode redemption %s: %v", id, err)
	}
	return r, nil
}

// txOf decodes a stored transaction.
func txOf(id money.TxID, p *proposal) (*money.Tx, error) {
	tx := new(money.Tx)
	if err := tx.UnmarshalBinary(p.Tx); err != nil {
		return nil, errcode.New(errcode.Internal, "decode mint %s: %v", id, err)
	}
	return tx, nil
}

// view turns a stored proposal into the contract's Mint.
func (is *Issuer) view(id money.TxID, p *proposal) (roles.Mint, error) {
	tx, err := txOf(id, p)
	if err != nil {
		return roles.Mint{}, err
	}
	m := roles.Mint{
		ID:      id,
		To:      p.To,
		Amount:  p.Amount,
		Status:  p.Status,
		Quorum:  is.cfg.MintQuorum,
		Reason:  p.Reason,
		Tx:      tx,
		Created: p.Created,
	}
	if m.Status == statusSubmitting {
		m.Status = roles.MintPending
	}
	if p.Receipt != nil {
		r := *p.Receipt
		m.Receipt = &r
	}
	m.Approvers = make([]crypto.PublicKey, 0, len(p.Approvals))
	m.Approvals = make([]money.KeySig, 0, len(p.Approvals))
	for _, a := range p.Approvals {
		m.Approvers = append(m.Approvers, a.Key)
		ks := money.KeySig{Key: a.Key}
		copy(ks.Sig[:], a.Sig)
		m.Approvals = append(m.Approvals, ks)
	}
	return m, nil
}

// authOf returns the approvals as a transaction's Auth, sorted ascending by
// key as the canonical encoding requires.
func authOf(as []approval) []money.KeySig {
	out := make([]money.KeySig, len(as))
	for i, a := range as {
		out[i].Key = a.Key
		copy(out[i].Sig[:], a.Sig)
	}
	slices.SortFunc(out, func(a, b money.KeySig) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	return out
}
