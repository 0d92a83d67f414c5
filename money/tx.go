package money

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/specie/specie/internal/codec"
)

// Kind says what a transaction does to the supply.
type Kind uint8

// Transaction kinds. Only Mint creates money and only Redeem destroys it.
const (
	Transfer Kind = 1 // inputs == outputs, signed by the input owners
	Mint     Kind = 2 // no inputs, signed by an issuer quorum
	Redeem   Kind = 3 // inputs > outputs, the difference destroyed; owners and an issuer key sign
)

func (k Kind) String() string {
	switch k {
	case Transfer:
		return "transfer"
	case Mint:
		return "mint"
	case Redeem:
		return "redeem"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits on a transaction's shape; decoders reject anything larger.
const (
	MaxInputs  = 64
	MaxOutputs = 64
	MaxAuth    = 16
	encVersion = 1
	inputSize  = 32 + 4 + 8 + 33
	outputSize = 8 + 33
	sigSize    = 64
	authSize   = 32 + sigSize
)

// Sig is an Ed25519 signature.
type Sig = [sigSize]byte

// KeySig is a signature by an authority key (an issuer key), carried with
// the key that made it.
type KeySig struct {
	Key [32]byte
	Sig Sig
}

// Tx is a transaction. Inputs are presented in full; InputSigs[i] is the
// signature of the owner of Inputs[i] (for an escrowed input, the payer's);
// Auth holds issuer signatures (a quorum for a mint, one for a redeem, none
// for a transfer); Witnesses holds one entry per escrowed input, in input
// order (none in a transaction without escrowed inputs).
type Tx struct {
	Kind      Kind
	Nonce     uint64 // makes otherwise equal transactions (mints) distinct
	Inputs    []Note
	Outputs   []Output
	InputSigs []Sig
	Auth      []KeySig
	Witnesses []Witness
}

// ErrMalformed wraps every reason a transaction is rejected before any
// signature or ledger state is consulted.
var ErrMalformed = errors.New("malformed transaction")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Check applies every rule that needs neither keys nor ledger state: counts,
// non-zero values, no overflow, no duplicate inputs, sums by kind, and
// canonical (strictly ascending) authority keys.
func (tx *Tx) Check() error {
	if len(tx.Inputs) > MaxInputs || len(tx.Outputs) > MaxOutputs || len(tx.Auth) > MaxAuth {
		return malformed("too many inputs, outputs or authority signatures")
	}
	if len(tx.InputSigs) != len(tx.Inputs) {
		return malformed("%d inputs but %d input signatures", len(tx.Inputs), len(tx.InputSigs))
	}
	var in, out uint64
	var err error
	escrowed := 0
	for i := range tx.Inputs {
		n := &tx.Inputs[i]
		if n.Value == 0 {
			return malformed("input %d has zero value", i)
		}
		if n.Lock.Kind != LockEd25519 {
			if n.Lock.Kind != LockEscrow {
				return malformed("input %d has unknown lock kind %d", i, n.Lock.Kind)
			}
			escrowed++
		}
		if in, err = Add(in, n.Value); err != nil {
			return malformed("input sum overflows")
		}
		for j := 0; j < i; j++ {
			if tx.Inputs[j].TxID == n.TxID && tx.Inputs[j].Index == n.Index {
				return malformed("input %d duplicates input %d", i, j)
			}
		}
	}
	for i := range tx.Outputs {
		o := &tx.Outputs[i]
		if o.Value == 0 {
			return malformed("output %d has zero value", i)
		}
		if o.Lock.Kind != LockEd25519 && o.Lock.Kind != LockEscrow {
			return malformed("output %d has unknown lock kind %d", i, o.Lock.Kind)
		}
		if out, err = Add(out, o.Value); err != nil {
			return malformed("output sum overflows")
		}
	}
	if escrowed != 0 || len(tx.Witnesses) != 0 {
		if err := tx.checkWitnesses(escrowed); err != nil {
			return err
		}
	}
	for i := 1; i < len(tx.Auth); i++ {
		if string(tx.Auth[i-1].Key[:]) >= string(tx.Auth[i].Key[:]) {
			return malformed("authority keys not strictly ascending")
		}
	}
	switch tx.Kind {
	case Transfer:
		if len(tx.Inputs) == 0 || len(tx.Outputs) == 0 {
			return malformed("transfer needs inputs and outputs")
		}
		if in != out {
			return malformed("transfer inputs %d != outputs %d", in, out)
		}
		if len(tx.Auth) != 0 {
			return malformed("transfer carries authority signatures")
		}
	case Mint:
		if len(tx.Inputs) != 0 || len(tx.Outputs) == 0 {
			return malformed("mint needs outputs and no inputs")
		}
	case Redeem:
		if len(tx.Inputs) == 0 {
			return malformed("redeem needs inputs")
		}
		if in <= out {
			return malformed("redeem destroys nothing: inputs %d, outputs %d", in, out)
		}
	default:
		return malformed("unknown kind %d", uint8(tx.Kind))
	}
	return nil
}

// Sums returns the input and output totals. Call it on a checked transaction.
func (tx *Tx) Sums() (in, out uint64) {
	for i := range tx.Inputs {
		in += tx.Inputs[i].Value
	}
	for i := range tx.Outputs {
		out += tx.Outputs[i].Value
	}
	return in, out
}

// AppendBody appends the canonical encoding without signatures: what the
// txid hashes.
func (tx *Tx) AppendBody(b []byte) []byte {
	b = append(b, encVersion, byte(tx.Kind))
	b = binary.BigEndian.AppendUint64(b, tx.Nonce)
	b = binary.BigEndian.AppendUint16(b, uint16(len(tx.Inputs)))
	for i := range tx.Inputs {
		n := &tx.Inputs[i]
		b = append(b, n.TxID[:]...)
		b = binary.BigEndian.AppendUint32(b, n.Index)
		b = appendOutput(b, &n.Output)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(tx.Outputs)))
	for i := range tx.Outputs {
		b = appendOutput(b, &tx.Outputs[i])
	}
	return b
}

func appendOutput(b []byte, o *Output) []byte {
	b = binary.BigEndian.AppendUint64(b, o.Value)
	b = append(b, o.Lock.Kind)
	return append(b, o.Lock.Key[:]...)
}

// AppendBinary appends the full canonical encoding:
//
//	version u8 (1) | kind u8 | nonce u64 BE
//	n_in u16 BE  | n_in  x [txid 32 | index u32 BE | value u64 BE | lock kind u8 | lock key 32]
//	n_out u16 BE | n_out x [value u64 BE | lock kind u8 | lock key 32]
//	n_in x input signature 64
//	n_auth u8    | n_auth x [key 32 | signature 64]
//	one witness per input with lock kind 3 (escrow), in input order:
//	  payer 32 | payee 32 | expiry u64 BE | path u8 (1 joint, 2 refund) | payee signature 64 (joint only)
//
// The body (everything before the input signatures) is what the txid
// hashes. A transaction without escrowed inputs has no witnesses, so its
// encoding is what it was before escrow locks existed.
func (tx *Tx) AppendBinary(b []byte) ([]byte, error) {
	b = tx.AppendBody(b)
	for i := range tx.InputSigs {
		b = append(b, tx.InputSigs[i][:]...)
	}
	b = append(b, byte(len(tx.Auth)))
	for i := range tx.Auth {
		b = append(b, tx.Auth[i].Key[:]...)
		b = append(b, tx.Auth[i].Sig[:]...)
	}
	for i := range tx.Witnesses {
		w := &tx.Witnesses[i]
		b = append(b, w.Payer[:]...)
		b = append(b, w.Payee[:]...)
		b = binary.BigEndian.AppendUint64(b, w.Expiry)
		b = append(b, w.Path)
		if w.Path == PathJoint {
			b = append(b, w.PayeeSig[:]...)
		}
	}
	return b, nil
}

// MarshalBinary returns the canonical encoding.
func (tx *Tx) MarshalBinary() ([]byte, error) {
	return tx.AppendBinary(make([]byte, 0, tx.EncodedSize()))
}

// EncodedSize is the length of the canonical encoding.
func (tx *Tx) EncodedSize() int {
	n := 2 + 8 + 2 + len(tx.Inputs)*(inputSize+sigSize) + 2 + len(tx.Outputs)*outputSize + 1 + len(tx.Auth)*authSize
	for i := range tx.Witnesses {
		n += witnessSize(tx.Witnesses[i].Path)
	}
	return n
}

// UnmarshalBinary decodes the canonical encoding into tx, reusing its slices,
// and runs Check. Anything that would not re-encode to the same bytes is
// rejected: unknown versions, short input, trailing bytes.
func (tx *Tx) UnmarshalBinary(b []byte) error {
	d := codec.NewReader(b)
	if v := d.U8(); v != encVersion {
		if d.Err() != nil {
			return malformed("%v", d.Err())
		}
		return malformed("unknown encoding version %d", v)
	}
	tx.Kind = Kind(d.U8())
	tx.Nonce = d.U64()
	nIn := int(d.U16())
	if nIn > MaxInputs {
		return malformed("%d inputs exceeds %d", nIn, MaxInputs)
	}
	tx.Inputs = resize(tx.Inputs, nIn)
	for i := range tx.Inputs {
		n := &tx.Inputs[i]
		d.Copy(n.TxID[:])
		n.Index = d.U32()
		readOutput(&d, &n.Output)
	}
	nOut := int(d.U16())
	if nOut > MaxOutputs {
		return malformed("%d outputs exceeds %d", nOut, MaxOutputs)
	}
	tx.Outputs = resize(tx.Outputs, nOut)
	for i := range tx.Outputs {
		readOutput(&d, &tx.Outputs[i])
	}
	tx.InputSigs = resize(tx.InputSigs, nIn)
	for i := range tx.InputSigs {
		d.Copy(tx.InputSigs[i][:])
	}
	nAuth := int(d.U8())
	if nAuth > MaxAuth {
		return malformed("%d authority signatures exceeds %d", nAuth, MaxAuth)
	}
	tx.Auth = resize(tx.Auth, nAuth)
	for i := range tx.Auth {
		d.Copy(tx.Auth[i].Key[:])
		d.Copy(tx.Auth[i].Sig[:])
	}
	tx.Witnesses = tx.Witnesses[:0]
	for i := range tx.Inputs {
		if tx.Inputs[i].Lock.Kind != LockEscrow {
			continue
		}
		var w Witness
		d.Copy(w.Payer[:])
		d.Copy(w.Payee[:])
		w.Expiry = d.U64()
		w.Path = d.U8()
		switch w.Path {
		case PathJoint:
			d.Copy(w.PayeeSig[:])
		case PathRefund:
		default:
			if d.Err() != nil {
				return malformed("%v", d.Err())
			}
			return malformed("witness for input %d: unknown path %d", i, w.Path)
		}
		tx.Witnesses = append(tx.Witnesses, w)
	}
	if len(tx.Witnesses) == 0 {
		tx.Witnesses = nil // as a transaction built without escrow has them
	}
	if err := d.End(); err != nil {
		return malformed("%v", err)
	}
	return tx.Check()
}

func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

func readOutput(d *codec.Reader, o *Output) {
	o.Value = d.U64()
	o.Lock.Kind = d.U8()
	d.Copy(o.Lock.Key[:])
}

// TxID computes the transaction's ID on this network.
func (n Network) TxID(tx *Tx) TxID {
	var buf [512]byte
	b := append(buf[:0], tagTxID...)
	b = append(b, byte(len(n.ID)))
	b = append(b, n.ID...)
	b = tx.AppendBody(b)
	return sha256.Sum256(b)
}

// OutputNotes names the notes a transaction creates, given its txid.
func (tx *Tx) OutputNotes(id TxID) []Note {
	notes := make([]Note, len(tx.Outputs))
	for i, o := range tx.Outputs {
		notes[i] = Note{TxID: id, Index: uint32(i), Output: o}
	}
	return notes
}
