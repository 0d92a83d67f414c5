package ledger_test

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestEscrowLifecycle is a reservation's life as a script, through the
// real submit path: reserve, the attempts that must fail (each with its
// exact code, leaving the supply, the log and the note as they were),
// a partial capture, a second capture, then a second reservation refunded
// by the payer alone: refused in the batch at its expiry, committed in the
// batch after.
func TestEscrowLifecycle(t *testing.T) {
	n := ledgertest.New()
	l := openClosed(t, n, t.TempDir())
	payer, payee, stranger := ledgertest.MustKey(), ledgertest.MustKey(), ledgertest.MustKey()
	submit := func(tx *money.Tx) error {
		t.Helper()
		_, err := l.Submit(ctx, tx)
		return err
	}
	mustCommit := func(what string, tx *money.Tx) {
		t.Helper()
		if err := submit(tx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	mint := n.Mint([]int{0, 1}, ledgertest.To(payer, 100_00))
	mustCommit("mint", mint)

	// Reserve 60.00 for the payee until two batches from now.
	terms := money.Escrow{Payer: payer.Public(), Payee: payee.Public(), Expiry: snap(t, l).supply.Batches + 2}
	reserve := n.Spend(money.Transfer, n.Notes(mint)[:1], []*crypto.PrivateKey{payer},
		money.Output{Value: 60_00, Lock: terms.Lock()}, ledgertest.To(payer, 40_00))
	mustCommit("reserve", reserve)
	held := n.Notes(reserve)[0]
	unspent(t, l, n, held, true)

	spend := func(w money.Escrow, path uint8, first, second *crypto.PrivateKey, outs ...money.Output) *money.Tx {
		return n.EscrowSpend(held, w, path, first, second, outs...)
	}
	all := []money.Output{ledgertest.To(payer, 60_00)}
	other := terms
	other.Payee = stranger.Public()
	for _, c := range []struct {
		name string
		tx   *money.Tx
		code errcode.Code
	}{
		{"the payee alone", spend(terms, money.PathRefund, payee, nil, ledgertest.To(payee, 60_00)), errcode.BadSignature},
		{"the payer alone on the joint path", spend(terms, money.PathJoint, payer, nil, all...), errcode.BadSignature},
		{"the payer signing twice", spend(terms, money.PathJoint, payer, payer, all...), errcode.BadSignature},
		{"the payer and a stranger", spend(terms, money.PathJoint, payer, stranger, ledgertest.To(stranger, 60_00)), errcode.BadSignature},
		{"a witness naming the stranger", spend(other, money.PathJoint, payer, stranger, ledgertest.To(stranger, 60_00)), errcode.Malformed},
		{"a refund before the expiry", spend(terms, money.PathRefund, payer, nil, all...), errcode.Conflict},
		{"no witness", n.Spend(money.Transfer, []money.Note{held}, []*crypto.PrivateKey{payer}, all...), errcode.Malformed},
	} {
		before := snap(t, l)
		if err := submit(c.tx); !errcode.Is(err, c.code) {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
		if after := snap(t, l); after != before {
			t.Errorf("%s changed the ledger: %+v -> %+v", c.name, before, after)
		}
		unspent(t, l, n, held, true)
	}

	// Capture 45.00; 15.00 goes back. Both sign.
	capture := spend(terms, money.PathJoint, payer, payee, ledgertest.To(payee, 45_00), ledgertest.To(payer, 15_00))
	mustCommit("capture", capture)
	unspent(t, l, n, held, false)
	unspent(t, l, n, n.Notes(capture)[0], true)
	again := spend(terms, money.PathJoint, payer, payee, ledgertest.To(payee, 60_00))
	if err := submit(again); !errcode.Is(err, errcode.DoubleSpend) {
		t.Errorf("a second capture: %v, want double_spend", err)
	}

	// A second reservation, from the change, expiring at the batch after
	// the one that creates it.
	change := n.Notes(reserve)[1]
	r2 := money.Escrow{Payer: payer.Public(), Payee: payee.Public(), Expiry: snap(t, l).supply.Batches + 2}
	reserve2 := n.Spend(money.Transfer, []money.Note{change}, []*crypto.PrivateKey{payer}, money.Output{Value: 40_00, Lock: r2.Lock()})
	mustCommit("second reserve", reserve2)
	held = n.Notes(reserve2)[0]
	refund := spend(r2, money.PathRefund, payer, nil, ledgertest.To(payer, 40_00))
	if err := submit(refund); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("refund in batch %d, the expiry: %v, want conflict", r2.Expiry, err)
	}
	// Any commit moves the ledger on: the payee's 45.00 to itself.
	p := n.Notes(capture)[0]
	mustCommit("an unrelated payment", n.Spend(money.Transfer, []money.Note{p}, []*crypto.PrivateKey{payee}, ledgertest.To(payee, p.Value)))
	if got := snap(t, l).supply.Batches; got != r2.Expiry {
		t.Fatalf("at batch %d, want the expiry %d", got, r2.Expiry)
	}
	mustCommit("refund after the expiry", refund)
	unspent(t, l, n, held, false)
	unspent(t, l, n, n.Notes(refund)[0], true)
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// unspent checks whether note is unspent on l.
func unspent(t *testing.T, l *ledger.Ledger, n *ledgertest.Net, note money.Note, want bool) {
	t.Helper()
	ni, err := l.Note(ctx, n.Network.NoteID(&note))
	if err != nil && want {
		t.Fatalf("note %d of %s: %v", note.Index, note.TxID, err)
	}
	if got := err == nil && ni.Status == roles.NoteUnspent; got != want {
		t.Fatalf("note %d of %s: unspent %v, want %v (%+v)", note.Index, note.TxID, got, want, ni)
	}
}
