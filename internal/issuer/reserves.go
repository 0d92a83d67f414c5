package issuer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// Reserve accounts move three ways: a credit from the settlement system
// (funding, CreditReserve, exactly once by its reference), a debit by a
// committed mint and a credit by a committed redeem. Each movement is also
// written, in the same batch as the balance, to the reserve journal that
// statements are built from:
//
//	f/<ref>                         funding record (JSON ReserveEntry)
//	j/<name> 0x00 <nanos u64 BE>    journal entry (JSON ReserveEntry)
var (
	prefFunding = []byte("f/")
	prefJournal = []byte("j/")
)

// Reserve movement kinds in the journal.
const (
	ReserveFunding = "funding" // credited from the settlement system (pacs.009 in)
	ReserveMint    = "mint"    // debited by a committed mint
	ReserveRedeem  = "redeem"  // credited by a committed redeem (pacs.009 out)
)

// MaxReserveRef bounds a funding reference in bytes (an ISO message ID and
// end-to-end ID together fit).
const MaxReserveRef = 128

// ReserveEntry is one movement of a reserve account, as the central bank's
// books (and a camt.053 of the account) show it.
type ReserveEntry struct {
	Intermediary string    `json:"intermediary"`
	Kind         string    `json:"kind"` // ReserveFunding, ReserveMint, ReserveRedeem
	Ref          string    `json:"ref"`  // funding reference, or the mint's or redeem's txid
	Credit       bool      `json:"credit"`
	Amount       uint64    `json:"amount"`
	Balance      uint64    `json:"balance"` // the reserve after this entry
	Time         time.Time `json:"time"`
}

func journalKey(name string, t time.Time) []byte {
	k := append(append(append([]byte{}, prefJournal...), name...), 0)
	return binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
}

// journalTime hands out strictly increasing times for journal keys, so no
// two entries of one account collide. Caller holds mu.
func (is *Issuer) journalTime() time.Time {
	n := time.Now().UnixNano()
	if n <= is.jlast {
		n = is.jlast + 1
	}
	is.jlast = n
	return time.Unix(0, n).UTC()
}

// journal adds e to b under its account. Caller holds mu.
func (is *Issuer) journal(b *store.Batch, e ReserveEntry) error {
	e.Time = is.journalTime()
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode reserve entry: %w", err)
	}
	b.Set(journalKey(e.Intermediary, e.Time), v)
	return nil
}

// CreditReserve credits amount to intermediary's reserve account for a
// transfer received from the settlement system (an RTGS pacs.009), exactly
// once per ref: the same ref again returns the first entry and credits
// nothing; the same ref for another account or amount is a conflict. Only
// the issuer's staff (or its gateway acting for them) may call it.
func (is *Issuer) CreditReserve(ctx context.Context, ref, intermediary string, amount uint64) (ReserveEntry, error) {
	if err := requireIssuerTo(ctx, "credit reserves"); err != nil {
		return ReserveEntry{}, err
	}
	if ref == "" || len(ref) > MaxReserveRef || !utf8.ValidString(ref) {
		return ReserveEntry{}, errcode.New(errcode.Malformed, "a funding reference of 1 to %d bytes of UTF-8 is required", MaxReserveRef)
	}
	if amount == 0 {
		return ReserveEntry{}, errcode.New(errcode.Malformed, "amount must be positive")
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return ReserveEntry{}, err
	}
	prev, err := is.funding(ref)
	if err != nil {
		return ReserveEntry{}, err
	}
	if prev != nil {
		if prev.Intermediary != intermediary || prev.Amount != amount {
			return ReserveEntry{}, errcode.New(errcode.Conflict, "funding %q already credited %d to %s", ref, prev.Amount, prev.Intermediary)
		}
		return *prev, nil
	}
	bal, ok := is.reserves[intermediary]
	if !ok {
		return ReserveEntry{}, errcode.New(errcode.NotFound, "no intermediary %q with a reserve account", intermediary)
	}
	if bal, err = money.Add(bal, amount); err != nil {
		return ReserveEntry{}, errcode.New(errcode.LimitExceeded, "reserve of %s would overflow", intermediary)
	}
	e := ReserveEntry{Intermediary: intermediary, Kind: ReserveFunding, Ref: ref, Credit: true, Amount: amount, Balance: bal}
	b := is.db.NewBatch()
	if err := is.journal(b, e); err != nil {
		b.Discard()
		return ReserveEntry{}, errcode.New(errcode.Internal, "%v", err)
	}
	e.Time = time.Unix(0, is.jlast).UTC()
	v, err := json.Marshal(e)
	if err != nil {
		b.Discard()
		return ReserveEntry{}, errcode.New(errcode.Internal, "encode funding %q: %v", ref, err)
	}
	b.Set(key(prefFunding, []byte(ref)), v)
	b.Set(key(prefReserv, []byte(intermediary)), encodeU64(bal))
	if err := b.Commit(true); err != nil {
		return ReserveEntry{}, storeErr(err, "credit funding %q", ref)
	}
	is.reserves[intermediary] = bal
	is.log.Info("reserve funded", "ref", ref, "intermediary", intermediary,
		"amount", is.cfg.Network.Currency.Format(amount), "reserve", is.cfg.Network.Currency.Format(bal))
	return e, nil
}

// funding reads the funding recorded under ref; nil if none. Caller holds mu.
func (is *Issuer) funding(ref string) (*ReserveEntry, error) {
	v, err := is.db.Get(key(prefFunding, []byte(ref)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err, "read funding %q", ref)
	}
	e := new(ReserveEntry)
	if err := json.Unmarshal(v, e); err != nil {
		return nil, errcode.New(errcode.Internal, "decode funding %q: %v", ref, err)
	}
	return e, nil
}

// ReserveJournal lists the movements of intermediary's reserve account
// from from (inclusive) to to (exclusive), oldest first, with the balance
// before the first of them (opening) and after the last (closing). Only
// the issuer's staff may read it. Movements from before the journal
// existed are in the opening balance.
func (is *Issuer) ReserveJournal(ctx context.Context, intermediary string, from, to time.Time) (opening, closing uint64, entries []ReserveEntry, err error) {
	if err := requireIssuerTo(ctx, "read reserve accounts"); err != nil {
		return 0, 0, nil, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return 0, 0, nil, err
	}
	cur, ok := is.reserves[intermediary]
	if !ok {
		return 0, 0, nil, errcode.New(errcode.NotFound, "no intermediary %q with a reserve account", intermediary)
	}
	prefix := append(append(append([]byte{}, prefJournal...), intermediary...), 0)
	var before, after *ReserveEntry // the last entry before from, the first at or after to
	err = is.db.Scan(prefix, nil, func(_, v []byte) error {
		var e ReserveEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		switch {
		case e.Time.Before(from):
			before = &e
		case e.Time.Before(to):
			entries = append(entries, e)
		case after == nil:
			after = &e
		}
		return nil
	})
	if err != nil {
		return 0, 0, nil, storeErr(err, "read reserve journal of %s", intermediary)
	}
	// unwind is the balance before e.
	unwind := func(e ReserveEntry) uint64 {
		if e.Credit {
			return e.Balance - e.Amount
		}
		return e.Balance + e.Amount
	}
	switch {
	case before != nil:
		opening = before.Balance
	case len(entries) > 0:
		opening = unwind(entries[0])
	case after != nil:
		opening = unwind(*after)
	default:
		opening = cur
	}
	closing = opening
	if len(entries) > 0 {
		closing = entries[len(entries)-1].Balance
	}
	return opening, closing, entries, nil
}
