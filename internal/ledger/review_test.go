package ledger_test

// Review tests: each TestReviewBug* test shows a defect found in review of
// validate.go, ledger.go, commit.go and genesis.go against DESIGN.md
// invariants 1-6; it fails until the defect is fixed (fixes are in the
// audit report). TestReviewChecked* pin what was checked and holds.

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func rvOpen(t *testing.T, n *ledgertest.Net, dir string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// rvState is what a user can observe of the whole ledger.
type rvState struct {
	supply  roles.LedgerSupply
	headers int
}

func rvSnap(t *testing.T, l *ledger.Ledger) rvState {
	t.Helper()
	s, err := l.Supply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hs, err := l.Headers(context.Background(), 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rvState{s, len(hs)}
}

// Invariants 1 and 5: a Genesis that fails must leave the ledger as it was.
// It puts each note into the in-memory index before checking the running
// total for overflow and never takes the notes out again on failure, so a
// failed genesis leaves spendable notes that no batch minted.
func TestReviewBugFailedGenesisLeavesSpendableNotes(t *testing.T) {
	n := ledgertest.New()
	l := rvOpen(t, n, t.TempDir())
	ctx := context.Background()
	k := ledgertest.MustKey()
	outs := []money.Output{ledgertest.To(k, 1), ledgertest.To(k, 1), ledgertest.To(k, math.MaxUint64)}
	if err := l.Genesis(uint64(len(outs)), func(i uint64) money.Output { return outs[i] }, nil); err == nil {
		t.Fatal("genesis whose total overflows accepted")
	}
	if s := rvSnap(t, l); s != (rvState{}) {
		t.Fatalf("failed genesis changed the ledger: %+v", s)
	}
	// The genesis transaction it was building: nonce 0, these outputs.
	gtx := &money.Tx{Kind: money.Mint, Outputs: outs}
	phantom := n.Notes(gtx)[2]
	spend := n.Spend(money.Transfer, []money.Note{phantom}, []*crypto.PrivateKey{k}, ledgertest.To(k, phantom.Value))
	if _, err := l.Submit(ctx, spend); err == nil {
		out := n.Notes(spend)[0]
		ni, _ := l.Note(ctx, n.Network.NoteID(&out))
		s, _ := l.Supply(ctx)
		t.Errorf("a note of a failed genesis was spent: new note %s holding %d while the supply is %+v", ni.Status, ni.Value, s)
	} else if !errcode.Is(err, errcode.UnknownNote) {
		t.Errorf("spend of a never-created note: %v, want unknown_note", err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Errorf("invariants after a failed genesis: %v", err)
	}
}

// Invariant 6 and input checks: Genesis must refuse what no mint could
// create. Zero notes make an empty batch 1 that audit.VerifyLog rejects;
// zero values (0 also marks an empty slot of the note index) and unknown
// lock kinds make notes that can never be spent (Tx.Check refuses them as
// inputs) yet count in the supply.
func TestReviewBugGenesisAcceptsWhatMintWouldNot(t *testing.T) {
	k := ledgertest.MustKey()
	cases := []struct {
		name string
		n    uint64
		out  money.Output
	}{
		{"no notes", 0, ledgertest.To(k, 1)},
		{"zero value", 2, ledgertest.To(k, 0)},
		{"unknown lock kind", 2, money.Output{Value: 5, Lock: money.Lock{Kind: 0, Key: k.Public()}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := ledgertest.New()
			l := rvOpen(t, n, t.TempDir())
			err := l.Genesis(c.n, func(uint64) money.Output { return c.out }, nil)
			if err == nil {
				_, aerr := audit.VerifyLog(context.Background(), l)
				t.Errorf("genesis accepted; ledger now %+v; audit: %v", rvSnap(t, l), aerr)
			}
		})
	}
}

// Liveness, and "every rejected request changes nothing": Submit after (or
// racing with) Close must return, not hang. SubmitBatch selects between
// l.queue and l.closed; when both are ready Go picks at random, so about
// half the submissions after Close are queued to a commit loop that has
// exited and wait forever on c.done (the ctx is ignored once queued).
func TestReviewBugSubmitAfterCloseHangs(t *testing.T) {
	n := ledgertest.New()
	l, err := ledger.Open(t.TempDir(), n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 16; i++ {
		tx := n.Mint([]int{0, 1}, ledgertest.To(ledgertest.MustKey(), 10))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		done := make(chan error, 1)
		go func() { _, err := l.Submit(ctx, tx); done <- err }()
		select {
		case err := <-done:
			cancel()
			if !errcode.Is(err, errcode.Unavailable) {
				t.Fatalf("submit %d after close: %v, want unavailable", i, err)
			}
		case <-time.After(5 * time.Second):
			cancel()
			t.Fatalf("submit %d after close still waiting 4s past its context deadline (goroutine leaked)", i)
		}
	}
}

// No panics on any input: a nil transaction is malformed, not a crash of
// the caller (tx.Check dereferences it in prepare).
func TestReviewBugNilTransactionPanics(t *testing.T) {
	n := ledgertest.New()
	l := rvOpen(t, n, t.TempDir())
	ok := n.Mint([]int{0, 1}, ledgertest.To(ledgertest.MustKey(), 10))
	var rs []roles.Result
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("SubmitBatch with a nil transaction panicked: %v", r)
			}
		}()
		rs, err = l.SubmitBatch(context.Background(), []*money.Tx{ok, nil})
	}()
	if err != nil || len(rs) != 2 || rs[0].Err != nil || !errcode.Is(rs[1].Err, errcode.Malformed) {
		t.Fatalf("results %+v, %v; want the mint committed and the nil one malformed", rs, err)
	}
}

// Determinism as users see it (DESIGN 4: outcomes decided by order, never
// by timing). SubmitBatch([mint, spend of the mint's output]) commits the
// spend if the commit loop happens to cut a batch between them and rejects
// it (unknown_note) if both land in one batch, which is nearly always. The
// fix lets a transaction spend outputs created earlier in the same batch.
func TestReviewBugChainedSpendDependsOnBatching(t *testing.T) {
	n := ledgertest.New()
	l := rvOpen(t, n, t.TempDir())
	k := ledgertest.MustKey()
	rejected := 0
	var last error
	for i := 0; i < 20; i++ {
		mint := n.Mint([]int{0, 1}, ledgertest.To(k, 10))
		spend := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{k}, ledgertest.To(k, 4), ledgertest.To(k, 6))
		rs, err := l.SubmitBatch(context.Background(), []*money.Tx{mint, spend})
		if err != nil || rs[0].Err != nil {
			t.Fatalf("mint: %v %v", err, rs[0].Err)
		}
		if rs[1].Err != nil {
			rejected++
			last = rs[1].Err
		}
	}
	if rejected > 0 {
		t.Errorf("%d of 20 spends of an output created just before them in the same submission were rejected (last: %v)", rejected, last)
	}
	// Order decides: a second spend of that output is a double spend, and a
	// spend submitted before the transaction creating its note is unknown.
	mint := n.Mint([]int{0, 1}, ledgertest.To(k, 10))
	spendA := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{k}, ledgertest.To(k, 10))
	spendB := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{k}, ledgertest.To(k, 5), ledgertest.To(k, 5))
	rs, err := l.SubmitBatch(context.Background(), []*money.Tx{mint, spendA, spendB})
	if err != nil || rs[0].Err != nil || rs[1].Err != nil || !errcode.Is(rs[2].Err, errcode.DoubleSpend) {
		t.Errorf("[mint, spend, spend again]: %v; %v, %v, %v; want ok, ok, double_spend", err, rs[0].Err, rs[1].Err, rs[2].Err)
	}
	mint = n.Mint([]int{0, 1}, ledgertest.To(k, 10))
	early := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{k}, ledgertest.To(k, 10))
	rs, err = l.SubmitBatch(context.Background(), []*money.Tx{early, mint})
	if err != nil || !errcode.Is(rs[0].Err, errcode.UnknownNote) || rs[1].Err != nil {
		t.Errorf("[spend, mint]: %v; %v, %v; want unknown_note, ok", err, rs[0].Err, rs[1].Err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Config says "Network and the authority keys must be the same on every
// restart", but Open does not check: reopened under another network ID the
// ledger starts, every existing note becomes unspendable (note IDs are
// bound to the network) and the log no longer chains.
func TestReviewBugReopenWithAnotherNetwork(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Submit(context.Background(), n.Mint([]int{0, 1}, ledgertest.To(ledgertest.MustKey(), 10))); err != nil {
		t.Fatal(err)
	}
	l.Close()
	cfg := n.TestConfig()
	cfg.Network.ID = "another-network"
	l2, err := ledger.Open(dir, cfg)
	if err == nil {
		t.Errorf("reopened under network %q; CheckInvariants: %v", cfg.Network.ID, l2.CheckInvariants())
		l2.Close()
	}
}

// No panics: a read after Close panics (index out of range in the note
// index, whose slots close() unmapped); a read racing with Close touches
// unmapped memory, a SIGSEGV that no recover catches.
func TestReviewBugNoteAfterClosePanics(t *testing.T) {
	n := ledgertest.New()
	l, err := ledger.Open(t.TempDir(), n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Note after Close panicked: %v", r)
		}
	}()
	_, _ = l.Note(context.Background(), money.NoteID{1, 2, 3})
}

// TestReviewCheckedRejections pins what review found correct: every
// authority and double-spend rule rejects with the documented code, and a
// rejection changes nothing a user can see.
func TestReviewCheckedRejections(t *testing.T) {
	n := ledgertest.New()
	l := rvOpen(t, n, t.TempDir())
	ctx := context.Background()
	alice, mallory := ledgertest.MustKey(), ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 1000))
	if _, err := l.Submit(ctx, mint); err != nil {
		t.Fatal(err)
	}
	note := n.Notes(mint)[0]
	pay := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1000))
	if _, err := l.Submit(ctx, pay); err != nil {
		t.Fatal(err)
	}
	note = n.Notes(pay)[0]
	net := n.Network

	sign := func(tx *money.Tx, d crypto.Domain, keys ...*crypto.PrivateKey) {
		id := net.TxID(tx)
		tx.Auth = nil
		for _, k := range keys {
			tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(d, net.ID, id)})
		}
		ledgertest.SortAuth(tx)
	}
	off := n.Officers
	mintWith := func(f func(tx *money.Tx)) *money.Tx {
		tx := &money.Tx{Kind: money.Mint, Nonce: ledgertest.Nonce(), Outputs: []money.Output{ledgertest.To(mallory, 5)}}
		f(tx)
		return tx
	}
	redeemWith := func(f func(tx *money.Tx)) *money.Tx {
		tx := n.Spend(money.Redeem, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1))
		f(tx)
		return tx
	}
	cases := []struct {
		name string
		txs  []*money.Tx // submitted together; the last one must be rejected
		want errcode.Code
	}{
		{"mint below quorum", []*money.Tx{mintWith(func(tx *money.Tx) { sign(tx, crypto.Mint, off[0]) })}, errcode.Unauthorized},
		{"mint quorum by one key twice", []*money.Tx{mintWith(func(tx *money.Tx) {
			sign(tx, crypto.Mint, off[0])
			tx.Auth = append(tx.Auth, tx.Auth[0])
		})}, errcode.Malformed},
		{"mint quorum with an unknown key", []*money.Tx{mintWith(func(tx *money.Tx) { sign(tx, crypto.Mint, off[0], off[1], mallory) })}, errcode.Unauthorized},
		{"mint quorum with the redeem key", []*money.Tx{mintWith(func(tx *money.Tx) { sign(tx, crypto.Mint, off[0], n.RedeemKey) })}, errcode.Unauthorized},
		{"mint signed for the redeem domain", []*money.Tx{mintWith(func(tx *money.Tx) { sign(tx, crypto.Redeem, off[0], off[1]) })}, errcode.BadSignature},
		{"mint signatures for another network", []*money.Tx{mintWith(func(tx *money.Tx) {
			id := net.TxID(tx)
			for _, k := range off[:2] {
				tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, "other", id)})
			}
			ledgertest.SortAuth(tx)
		})}, errcode.BadSignature},
		{"mint replayed", []*money.Tx{mint}, errcode.DoubleSpend},
		{"same mint twice in one submission", func() []*money.Tx {
			m := n.Mint([]int{1, 2}, ledgertest.To(mallory, 5))
			return []*money.Tx{m, m}
		}(), errcode.DoubleSpend},
		{"transfer replayed", []*money.Tx{pay}, errcode.DoubleSpend},
		{"transfer signed by someone else", []*money.Tx{n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{mallory}, ledgertest.To(mallory, 1000))}, errcode.BadSignature},
		{"transfer carrying authority", []*money.Tx{func() *money.Tx {
			tx := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1000))
			sign(tx, crypto.Mint, off[0], off[1])
			return tx
		}()}, errcode.Malformed},
		{"transfer creating money", []*money.Tx{n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1001))}, errcode.Malformed},
		{"transfer of a never-created note", []*money.Tx{func() *money.Tx {
			fake := money.Note{TxID: money.TxID{9}, Output: ledgertest.To(alice, 1000)}
			return n.Spend(money.Transfer, []money.Note{fake}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1000))
		}()}, errcode.UnknownNote},
		{"redeem without acknowledgement", []*money.Tx{redeemWith(func(tx *money.Tx) { tx.Auth = nil })}, errcode.Unauthorized},
		{"redeem acknowledged by a mint key", []*money.Tx{redeemWith(func(tx *money.Tx) { sign(tx, crypto.Redeem, off[0]) })}, errcode.Unauthorized},
		{"redeem acknowledged for the mint domain", []*money.Tx{redeemWith(func(tx *money.Tx) { sign(tx, crypto.Mint, n.RedeemKey) })}, errcode.BadSignature},
		{"redeem acknowledgement of another tx", []*money.Tx{redeemWith(func(tx *money.Tx) { tx.Auth[0].Sig = n.RedeemKey.Sign(crypto.Redeem, net.ID, money.TxID{1}) })}, errcode.BadSignature},
		{"redeem destroying nothing", []*money.Tx{n.Spend(money.Redeem, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1000))}, errcode.Malformed},
		// Last: it spends alice's note.
		{"same transfer twice in one submission", func() []*money.Tx {
			p := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(mallory, 1000))
			return []*money.Tx{p, p}
		}(), errcode.DoubleSpend},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := rvSnap(t, l)
			rs, err := l.SubmitBatch(ctx, c.txs)
			if err != nil {
				t.Fatal(err)
			}
			got := rs[len(rs)-1].Err
			if !errcode.Is(got, c.want) {
				t.Fatalf("got %v, want %s", got, c.want)
			}
			if len(rs) == 1 {
				if after := rvSnap(t, l); after != before {
					t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
				}
			}
			if ni, _ := l.Note(ctx, net.NoteID(&note)); len(rs) == 1 && ni.Status != roles.NoteUnspent {
				t.Fatalf("alice's note is %s after a rejected spend", ni.Status)
			}
		})
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyLog(ctx, l); err != nil {
		t.Fatal(err)
	}
}
