package issuer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"sync"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Registry is the central bank's holding-limit registry (roles.Registry).
// A person may hold wallets at several intermediaries, but the holding
// limit is per person: each intermediary reserves the share of the
// person's limit its wallet uses, and the registry refuses a reservation
// that would take the sum of the person's shares over the limit.
//
// It knows a person only by roles.Pseudonym, a salted HMAC of an identity
// whose salt the intermediaries share and the central bank never has, and
// a wallet only by its ID. It stores no name, identity evidence or amount
// held: only shares and limits per (pseudonym, wallet).
//
// It runs in the issuer's process and store, under keys of its own, and
// does not take the desk's lock: reservations of one person are
// serialised by a lock of that person's stripe, so two intermediaries
// reserving for the same person at once are decided one after the other,
// each on what the other wrote, while other people's reservations go on.
type Registry struct {
	is   *Issuer
	gate sync.RWMutex // held shared by every call, exclusively by Close
	seed maphash.Seed
	mu   [64]sync.Mutex // stripes by person
}

// Store layout of the registry. One synced batch per change writes the
// share and its index together.
//
//	hl/<person>/<wallet>                 the reservation: share u64 BE, limit u64 BE
//	hi/<intermediary>/<person>/<wallet>  index of an intermediary's reservations (empty value)
//
// <person> is 64 lowercase hex digits; <wallet> and <intermediary> hold no
// '/' (see validWallet), so every key splits one way.
var (
	prefShare = []byte("hl/")
	prefIndex = []byte("hi/")
)

// reservationLen is the size of a stored reservation value.
const reservationLen = 16

// maxWalletID bounds a wallet ID in the registry.
const maxWalletID = 128

func encodeShare(share, limit uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, reservationLen), share), limit)
}

// decodeShare reads a stored reservation value: exactly 16 bytes.
func decodeShare(v []byte) (share, limit uint64, err error) {
	if len(v) != reservationLen {
		return 0, 0, fmt.Errorf("reservation value has %d bytes, want %d", len(v), reservationLen)
	}
	return binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:]), nil
}

// Registry returns the desk's holding-limit registry.
func (is *Issuer) Registry() *Registry { return is.reg }

// validPerson reports whether p is a pseudonym: 64 lowercase hex digits.
func validPerson(p string) bool {
	if len(p) != 64 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validWallet reports whether w is a wallet ID the registry keys by:
// 1 to maxWalletID letters, digits, '.', '_' or '-', naming an
// intermediary before its first '.'.
func validWallet(w string) bool {
	if len(w) == 0 || len(w) > maxWalletID || roles.IntermediaryOf(w) == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// caller admits an intermediary only.
func (r *Registry) caller(ctx context.Context) (string, error) {
	return requireIntermediaryTo(ctx, "use the holding-limit registry")
}

// check validates a (person, wallet) pair for caller: well formed, and a
// wallet of the caller's.
func check(caller, person, wallet string) error {
	if !validPerson(person) {
		return errcode.New(errcode.Malformed, "person must be a pseudonym of 64 lowercase hex digits")
	}
	if !validWallet(wallet) {
		return errcode.New(errcode.Malformed, "wallet %q: want <intermediary>.<id>, at most %d letters, digits, '.', '_' or '-'", wallet, maxWalletID)
	}
	if owner := roles.IntermediaryOf(wallet); owner != caller {
		return errcode.Forbidden("wallet %s belongs to %s, not %s", wallet, owner, caller)
	}
	return nil
}

// enter admits a call while the desk is open; leave with r.gate.RUnlock.
func (r *Registry) enter() error {
	r.gate.RLock()
	r.is.mu.Lock()
	closed := r.is.closed
	r.is.mu.Unlock()
	if closed {
		r.gate.RUnlock()
		return errcode.New(errcode.Unavailable, "issuer is closed")
	}
	return nil
}

// lock takes the stripe of person and returns its unlock.
func (r *Registry) lock(person string) func() {
	m := &r.mu[maphash.String(r.seed, person)%uint64(len(r.mu))]
	m.Lock()
	return m.Unlock
}

func shareKey(person, wallet string) []byte {
	return fmt.Appendf(append([]byte(nil), prefShare...), "%s/%s", person, wallet)
}

func indexKey(inter, person, wallet string) []byte {
	return fmt.Appendf(append([]byte(nil), prefIndex...), "%s/%s/%s", inter, person, wallet)
}

// Reserve sets the share of res.Person's holding limit that wallet
// res.Wallet uses, replacing its earlier share. It is refused with
// errcode.LimitExceeded when the person's shares would then add up to more
// than the largest limit among their reservations (this one's included),
// unless it lowers the wallet's share: a person already over a limit (a
// new policy lowered it) can always give some back. A Limit of 0 is no
// limit. The answer's Used is the person's total after it.
func (r *Registry) Reserve(ctx context.Context, res roles.Reservation) (roles.Reservation, error) {
	caller, err := r.caller(ctx)
	if err != nil {
		return roles.Reservation{}, err
	}
	if err := check(caller, res.Person, res.Wallet); err != nil {
		return roles.Reservation{}, err
	}
	if err := r.enter(); err != nil {
		return roles.Reservation{}, err
	}
	defer r.gate.RUnlock()
	unlock := r.lock(res.Person)
	defer unlock()

	others, err := r.shares(res.Person)
	if err != nil {
		return roles.Reservation{}, err
	}
	used, err := decideReserve(others, res, r.is.cfg.Network.Currency)
	if err != nil {
		return roles.Reservation{}, err
	}
	b := r.is.db.NewBatch()
	b.Set(shareKey(res.Person, res.Wallet), encodeShare(res.Share, res.Limit))
	b.Set(indexKey(caller, res.Person, res.Wallet), nil)
	if err := b.Commit(true); err != nil {
		return roles.Reservation{}, storeErr(err, "save reservation of %s", res.Wallet)
	}
	res.Used = used
	return res, nil
}

// decideReserve is Reserve's decision, a pure function of the person's
// reservations (by wallet, res's own earlier one included) and the new
// one. It returns the person's total after it, or the refusal.
func decideReserve(have map[string]roles.Reservation, res roles.Reservation, cur money.Currency) (uint64, error) {
	limit, unlimited := res.Limit, res.Limit == 0
	var others uint64
	overflow := false
	for w, h := range have {
		if h.Limit == 0 {
			unlimited = true
		}
		limit = max(limit, h.Limit)
		if w == res.Wallet {
			continue
		}
		s, err := money.Add(others, h.Share)
		if err != nil {
			overflow = true
		}
		others = s
	}
	used, err := money.Add(others, res.Share)
	if err != nil {
		overflow = true
	}
	if unlimited {
		if overflow {
			return 0, errcode.New(errcode.Malformed, "shares of this person overflow")
		}
		return used, nil
	}
	grows := res.Share > have[res.Wallet].Share
	if grows && (overflow || used > limit) {
		left := uint64(0)
		if !overflow && others < limit {
			left = limit - others
		}
		return 0, errcode.New(errcode.LimitExceeded, "holding limit %s would be exceeded: %s used across intermediaries, %s left; cannot reserve %s for %s",
			cur.Format(limit), cur.Format(others), cur.Format(left), cur.Format(res.Share), res.Wallet)
	}
	return used, nil
}

// shares reads every reservation of person, by wallet. Caller holds the
// person's stripe.
func (r *Registry) shares(person string) (map[string]roles.Reservation, error) {
	out := map[string]roles.Reservation{}
	prefix := append(append([]byte(nil), prefShare...), person+"/"...)
	err := r.is.db.Scan(prefix, nil, func(k, v []byte) error {
		share, limit, err := decodeShare(v)
		if err != nil {
			return fmt.Errorf("reservation %q: %w", k, err)
		}
		w := string(k[len(prefix):])
		out[w] = roles.Reservation{Person: person, Wallet: w, Share: share, Limit: limit}
		return nil
	})
	if err != nil {
		return nil, storeErr(err, "read reservations")
	}
	return out, nil
}

// Release ends wallet's reservation for person. Releasing one that does
// not exist changes nothing and is not an error.
func (r *Registry) Release(ctx context.Context, person, wallet string) error {
	caller, err := r.caller(ctx)
	if err != nil {
		return err
	}
	if err := check(caller, person, wallet); err != nil {
		return err
	}
	if err := r.enter(); err != nil {
		return err
	}
	defer r.gate.RUnlock()
	unlock := r.lock(person)
	defer unlock()
	b := r.is.db.NewBatch()
	b.Delete(shareKey(person, wallet))
	b.Delete(indexKey(caller, person, wallet))
	if err := b.Commit(true); err != nil {
		return storeErr(err, "release reservation of %s", wallet)
	}
	return nil
}

// Reservations lists the caller's reservations, by person and wallet.
func (r *Registry) Reservations(ctx context.Context) ([]roles.Reservation, error) {
	caller, err := r.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.gate.RUnlock()
	prefix := append(append([]byte(nil), prefIndex...), caller+"/"...)
	var keys [][2]string
	err = r.is.db.Scan(prefix, nil, func(k, _ []byte) error {
		person, wallet, ok := bytes.Cut(k[len(prefix):], []byte("/"))
		if !ok || !validPerson(string(person)) {
			return fmt.Errorf("bad reservation index key %q", k)
		}
		keys = append(keys, [2]string{string(person), string(wallet)})
		return nil
	})
	if err != nil {
		return nil, storeErr(err, "list reservations")
	}
	out := make([]roles.Reservation, 0, len(keys))
	for _, pw := range keys {
		v, err := r.is.db.Get(shareKey(pw[0], pw[1]))
		if err != nil {
			// Released since the scan: not the caller's any more.
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, storeErr(err, "read reservation of %s", pw[1])
		}
		share, limit, err := decodeShare(v)
		if err != nil {
			return nil, errcode.New(errcode.Internal, "reservation of %s: %v", pw[1], err)
		}
		out = append(out, roles.Reservation{Person: pw[0], Wallet: pw[1], Share: share, Limit: limit})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Person != out[j].Person {
			return out[i].Person < out[j].Person
		}
		return out[i].Wallet < out[j].Wallet
	})
	return out, nil
}

var _ roles.Registry = (*Registry)(nil)
