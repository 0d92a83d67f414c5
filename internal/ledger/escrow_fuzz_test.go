package ledger

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

// FuzzEscrowValidate runs arbitrary transactions through the ledger's
// validation (prepare, batch signature verification) and its state
// machine step (apply, at a fuzzed batch number, with every input
// unspent), and checks the outcome against the rules spelled out one by
// one with single signature verification: a plain input needs its key's
// signature; an escrowed one the payer's and, on the joint path, the
// payee's; a refund commits only in a batch above the expiry. The seeds
// are valid escrow spends; the fuzzer breaks signatures, terms, paths and
// the batch number.
func FuzzEscrowValidate(f *testing.F) {
	net := money.Network{ID: "fuzz", Currency: money.Currency{Code: "USD", Exponent: 2}}
	keys := make([]*crypto.PrivateKey, 3)
	for i := range keys {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		keys[i], _ = crypto.KeyFromSeed(seed)
	}
	payer, payee, plain := keys[0], keys[1], keys[2]
	for _, c := range []struct {
		path   uint8
		expiry uint64
		seq    uint64
	}{{money.PathJoint, 10, 3}, {money.PathRefund, 10, 10}, {money.PathRefund, 10, 9}, {money.PathRefund, 0, 0}} {
		t := money.Escrow{Payer: payer.Public(), Payee: payee.Public(), Expiry: c.expiry}
		tx := &money.Tx{
			Kind: money.Transfer,
			Inputs: []money.Note{
				{TxID: money.Hash{1}, Output: money.Output{Value: 5, Lock: money.KeyLock(plain.Public())}},
				{TxID: money.Hash{2}, Output: money.Output{Value: 95, Lock: t.Lock()}},
			},
			Outputs:   []money.Output{{Value: 100, Lock: money.KeyLock(payee.Public())}},
			InputSigs: make([]money.Sig, 2),
			Witnesses: []money.Witness{{Escrow: t, Path: c.path}},
		}
		id := net.TxID(tx)
		tx.InputSigs[0] = plain.Sign(crypto.Spend, net.ID, id)
		tx.InputSigs[1] = payer.Sign(crypto.Spend, net.ID, id)
		if c.path == money.PathJoint {
			tx.Witnesses[0].PayeeSig = payee.Sign(crypto.Spend, net.ID, id)
		}
		b, _ := tx.MarshalBinary()
		f.Add(b, c.seq)
	}
	l := &Ledger{net: net}
	f.Fuzz(func(t *testing.T, b []byte, seq uint64) {
		tx := new(money.Tx)
		if tx.UnmarshalBinary(b) != nil || tx.Kind != money.Transfer || seq == ^uint64(0) {
			return // authority rules are the mint and redeem tests' business
		}
		c := l.prepare(tx)
		if c.err != nil {
			t.Fatalf("a decoded transfer fails preparation: %v", c.err)
		}
		l.verifySigs(crypto.NewBatch(4), []*checked{c})

		// The rules, one by one.
		id := net.TxID(tx)
		sigsOK, late := true, true
		w := 0
		for i, in := range tx.Inputs {
			if in.Lock.Kind == money.LockEd25519 {
				sigsOK = sigsOK && crypto.Verify(crypto.PublicKey(in.Lock.Key), crypto.Spend, net.ID, id, tx.InputSigs[i])
				continue
			}
			wt := tx.Witnesses[w]
			w++
			sigsOK = sigsOK && crypto.Verify(crypto.PublicKey(wt.Payer), crypto.Spend, net.ID, id, tx.InputSigs[i])
			if wt.Path == money.PathJoint {
				sigsOK = sigsOK && crypto.Verify(crypto.PublicKey(wt.Payee), crypto.Spend, net.ID, id, wt.PayeeSig)
			} else if seq+1 <= wt.Expiry {
				late = false
			}
		}
		if !sigsOK {
			if !errcode.Is(c.err, errcode.BadSignature) {
				t.Fatalf("bad signatures, validation says %v", c.err)
			}
			return
		}
		if c.err != nil {
			t.Fatalf("good signatures, validation says %v", c.err)
		}
		in, _ := tx.Sums()
		before := meta{seq: seq, minted: in, unspent: uint64(len(tx.Inputs)), unspentSum: in}
		v := view{unspent: func(*money.NoteID, uint64) bool { return true }}
		out, err := apply(&before, []*checked{c}, v)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		switch {
		case late && out.errs[0] != nil:
			t.Fatalf("valid in batch %d, refused: %v", seq+1, out.errs[0])
		case !late && !errcode.Is(out.errs[0], errcode.Conflict):
			t.Fatalf("a refund before its expiry, in batch %d: %v", seq+1, out.errs[0])
		case !late && (len(out.ids) != 0 || out.after != before):
			t.Fatal("a refused refund changed the state")
		}
	})
}
