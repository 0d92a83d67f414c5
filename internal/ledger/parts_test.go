package ledger_test

import (
	"crypto/sha256"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestPartRules checks what a part of a cross-group transaction may do:
// spend exactly the notes it names and create the ones it names, once; be
// refused with an exact code (nothing changed) when a note is not unspent,
// its txid is logged, an excluded txid is logged, or a signature fails; and
// count value entering or leaving as minted or redeemed, so conservation
// holds. Its effects survive a restart like a batch's.
func TestPartRules(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 100_00))
	mustSubmit(t, l, mint)
	note := n.Notes(mint)[0]
	noteID := n.Network.NoteID(&note)
	tx := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(bob, 100_00))
	name := func(s string) money.Hash { return sha256.Sum256([]byte(s)) }
	lock := ledger.NoteValue{ID: name("lock"), Value: 100_00}
	prepare := ledger.Part{Tx: tx, ID: name("prepare"), Spend: []ledger.NoteValue{{ID: noteID, Value: 100_00}},
		Create: []ledger.NoteValue{lock}, Excludes: []money.TxID{name("abort")}}

	refused := func(what string, p ledger.Part, code errcode.Code) {
		t.Helper()
		before, hb := snap(t, l), stateHash(l)
		if _, err := l.SubmitPart(ctx, p); !errcode.Is(err, code) {
			t.Fatalf("%s: %v, want %s", what, err, code)
		}
		if after := snap(t, l); after != before || stateHash(l) != hb {
			t.Fatalf("%s: refused, yet the ledger changed: %+v -> %+v", what, before, after)
		}
	}
	bad := *tx
	bad.InputSigs = append([]money.Sig(nil), tx.InputSigs...)
	bad.InputSigs[0][0] ^= 1
	badPrepare := prepare
	badPrepare.Tx = &bad
	refused("a bad signature", badPrepare, errcode.BadSignature)
	wrong := prepare
	wrong.Spend = []ledger.NoteValue{{ID: noteID, Value: 99_00}}
	refused("a note presented with another value", wrong, errcode.DoubleSpend)

	if _, err := l.SubmitPart(ctx, prepare); err != nil {
		t.Fatal(err)
	}
	if ni, _ := l.Note(ctx, noteID); ni.Status != roles.NoteUnknown {
		t.Fatalf("locked input: %+v", ni)
	}
	if ni, _ := l.Note(ctx, lock.ID); ni.Status != roles.NoteUnspent || ni.Value != 100_00 {
		t.Fatalf("lock note: %+v", ni)
	}
	if _, err := l.Tx(ctx, prepare.ID); err != nil {
		t.Fatalf("the part is not in the log: %v", err)
	}
	refused("the same part again", prepare, errcode.DoubleSpend)
	refused("an abort excluding the logged prepare",
		ledger.Part{Tx: tx, ID: name("abort"), Excludes: []money.TxID{prepare.ID}, Verified: true}, errcode.Conflict)
	// A transaction spending the locked note: double spend.
	before := snap(t, l)
	other := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 100_00))
	if _, err := l.Submit(ctx, other); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("spend of a locked note: %v", err)
	}
	if snap(t, l) != before {
		t.Fatal("a refused spend changed the ledger")
	}

	// Commit here: the lock's value leaves for another group but 30.00,
	// which stays as a new note: 70.00 counted as redeemed here.
	kept := ledger.NoteValue{ID: name("kept"), Value: 30_00}
	if _, err := l.SubmitPart(ctx, ledger.Part{Tx: tx, ID: name("commit"), Spend: []ledger.NoteValue{lock}, Create: []ledger.NoteValue{kept}, Verified: true}); err != nil {
		t.Fatal(err)
	}
	// Value arriving from another group: counted as minted here.
	came := ledger.NoteValue{ID: name("came"), Value: 5_00}
	if _, err := l.SubmitPart(ctx, ledger.Part{Tx: tx, ID: name("arrive"), Create: []ledger.NoteValue{came}, Verified: true}); err != nil {
		t.Fatal(err)
	}
	s, _ := l.Supply(ctx)
	if s.Minted != 105_00 || s.Redeemed != 70_00 || s.Outstanding != 35_00 {
		t.Fatalf("supply %+v", s)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	seq, hash := l.StateHash()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, n, dir)
	defer l.Close()
	if s2, h2 := l.StateHash(); s2 != seq || h2 != hash {
		t.Fatalf("after a restart: batch %d state %x, want %d %x", s2, h2, seq, hash)
	}
	if ni, _ := l.Note(ctx, kept.ID); ni.Status != roles.NoteUnspent || ni.Value != 30_00 {
		t.Fatalf("created note after a restart: %+v", ni)
	}
	refused("a part logged before the restart", ledger.Part{Tx: tx, ID: name("arrive"), Create: []ledger.NoteValue{came}, Verified: true}, errcode.DoubleSpend)
	refused("a zero-valued creation", ledger.Part{Tx: tx, ID: name("zero"), Create: []ledger.NoteValue{{ID: name("z")}}, Verified: true}, errcode.Malformed)
}

func stateHash(l *ledger.Ledger) [32]byte {
	_, h := l.StateHash()
	return h
}
