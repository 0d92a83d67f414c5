package ledger

import (
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/codec"
	"github.com/specie/specie/money"
)

// The wire form of a Part, for a router whose ledger groups run as their
// own processes (POST /v1/parts, internal/api). One version, one reader,
// one writer; every count is bounded by what SubmitPart accepts, so a
// decoded part is never larger than one the ledger would take.
//
//	[version u8 = 1][flags u8: bit 0 Expiry, bit 1 Verified]
//	[ID 32]
//	[tx length u32 BE][tx: money's canonical encoding, signatures included]
//	[spends u8]   ([note ID 32][value u64 BE]) * spends
//	[creates u8]  ([note ID 32][value u64 BE]) * creates
//	[excludes u8] [txid 32] * excludes
//
// Unknown versions and flag bits, short input and trailing bytes are
// refused: whatever decodes re-encodes to the same bytes.

// partVersion is the wire form's version byte.
const partVersion = 1

const (
	partExpiry   = 1 << 0
	partVerified = 1 << 1
)

// Bounds of a part on the wire; SubmitPart refuses anything larger.
const (
	maxPartSpends   = money.MaxInputs + 1
	maxPartCreates  = money.MaxOutputs + 1
	maxPartExcludes = 4
	noteValueSize   = 32 + 8
)

// MarshalBinary is the part's wire form. A part without a transaction,
// or with more notes than SubmitPart takes, does not encode.
func (p Part) MarshalBinary() ([]byte, error) {
	if p.Tx == nil {
		return nil, errcode.New(errcode.Malformed, "part %s: no transaction", p.ID)
	}
	if len(p.Spend) > maxPartSpends || len(p.Create) > maxPartCreates || len(p.Excludes) > maxPartExcludes {
		return nil, errcode.New(errcode.Malformed, "part %s: %d spends, %d creations, %d exclusions: too many", p.ID, len(p.Spend), len(p.Create), len(p.Excludes))
	}
	tx, err := p.Tx.MarshalBinary()
	if err != nil {
		return nil, errcode.New(errcode.Malformed, "part %s: %v", p.ID, err)
	}
	var flags uint8
	if p.Expiry {
		flags |= partExpiry
	}
	if p.Verified {
		flags |= partVerified
	}
	size := 2 + 32 + 4 + len(tx) + 3 + (len(p.Spend)+len(p.Create))*noteValueSize + len(p.Excludes)*32
	w := codec.NewWriter(make([]byte, 0, size)).U8(partVersion).U8(flags).Put(p.ID[:])
	w = w.U32(uint32(len(tx))).Put(tx)
	for _, ns := range [][]NoteValue{p.Spend, p.Create} {
		w = w.U8(uint8(len(ns)))
		for _, n := range ns {
			w = w.Put(n.ID[:]).U64(n.Value)
		}
	}
	w = w.U8(uint8(len(p.Excludes)))
	for _, x := range p.Excludes {
		w = w.Put(x[:])
	}
	return w.Bytes(), nil
}

// DecodePart reads a part's wire form. It never panics; every failure is
// an *errcode.Error with code malformed. The transaction is checked for
// format (money's decoder); SubmitPart validates the rest.
func DecodePart(b []byte) (Part, error) {
	bad := func(format string, a ...any) (Part, error) {
		return Part{}, errcode.New(errcode.Malformed, "part: "+format, a...)
	}
	d := codec.NewReader(b)
	if v := d.U8(); v != partVersion {
		if d.Err() != nil {
			return bad("%v", d.Err())
		}
		return bad("unknown version %d", v)
	}
	flags := d.U8()
	if flags&^(partExpiry|partVerified) != 0 {
		return bad("unknown flags %#x", flags)
	}
	p := Part{Expiry: flags&partExpiry != 0, Verified: flags&partVerified != 0}
	d.Copy(p.ID[:])
	raw := d.Take(d.Count(uint64(d.U32()), 1))
	if d.Err() != nil {
		return bad("%v", d.Err())
	}
	p.Tx = new(money.Tx)
	if err := p.Tx.UnmarshalBinary(raw); err != nil {
		return bad("transaction: %v", err)
	}
	notes := func(limit int, what string) ([]NoteValue, error) {
		n := int(d.U8())
		if n > limit {
			return nil, fmt.Errorf("%d %s exceeds %d", n, what, limit)
		}
		var out []NoteValue
		if n > 0 {
			out = make([]NoteValue, d.Count(uint64(n), noteValueSize))
		}
		for i := range out {
			d.Copy(out[i].ID[:])
			out[i].Value = d.U64()
		}
		return out, d.Err()
	}
	var err error
	if p.Spend, err = notes(maxPartSpends, "spends"); err != nil {
		return bad("%v", err)
	}
	if p.Create, err = notes(maxPartCreates, "creations"); err != nil {
		return bad("%v", err)
	}
	n := int(d.U8())
	if n > maxPartExcludes {
		return bad("%d exclusions exceeds %d", n, maxPartExcludes)
	}
	if n > 0 {
		p.Excludes = make([]money.TxID, d.Count(uint64(n), 32))
	}
	for i := range p.Excludes {
		d.Copy(p.Excludes[i][:])
	}
	if err := d.End(); err != nil {
		return bad("%v", err)
	}
	return p, nil
}
