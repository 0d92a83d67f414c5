package ledger_test

// Requests the ledger must refuse or reject, and what it promises about
// them: the exact error code, and that a refused or rejected request
// changes nothing a user can see (DESIGN.md invariants 1, 5 and 6). Failed
// and malformed genesis, calls after Close, a nil transaction, spends whose
// fate depends on their order in a batch, a reopen under another network,
// and every authority and double-spend rule.

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

// openClosed opens a ledger in dir that is closed when the test ends.
func openClosed(t *testing.T, n *ledgertest.Net, dir string) *ledger.Ledger {
	t.Helper()
	l := open(t, n, dir)
	t.Cleanup(func() { l.Close() })
	return l
}

// Invariants 1 and 5: a Genesis that fails (here its total overflows)
// leaves the ledger as it was: no batch, no supply, and none of the notes
// it was building can be spent (unknown_note), so no money appears that no
// batch minted.
func TestFailedGenesisLeavesNothingSpendable(t *testing.T) {
	n := ledgertest.New()
	l := openClosed(t, n, t.TempDir())
	ctx := context.Background()
	k := ledgertest.MustKey()
	outs := []money.Output{ledgertest.To(k, 1), ledgertest.To(k, 1), ledgertest.To(k, math.MaxUint64)}
	if err := l.Genesis(uint64(len(outs)), func(i uint64) money.Output { return outs[i] }, nil); err == nil {
		t.Fatal("genesis whose total overflows accepted")
	}
	if s := snap(t, l); s != (snapshot{}) {
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

// Invariant 6 and input checks: Genesis refuses what no mint could
// create: zero notes (an empty batch 1, which audit.VerifyLog rejects), zero
// values (0 also marks an empty slot of the note index) and unknown lock
// kinds (notes that could never be spent yet would count in the supply).
func TestGenesisRefusesWhatNoMintCouldCreate(t *testing.T) {
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
			l := openClosed(t, n, t.TempDir())
			err := l.Genesis(c.n, func(uint64) money.Output { return c.out }, nil)
			if err == nil {
				_, aerr := audit.VerifyLog(context.Background(), l)
				t.Errorf("genesis accepted; ledger now %+v; audit: %v", snap(t, l), aerr)
			}
		})
	}
}

// Liveness, and "every rejected request changes nothing": Submit after
// Close returns unavailable at once, every time. (A submission must never
// be queued to a commit loop that has exited: it would wait forever, as
// its ctx is ignored once queued; when both the queue and Close are ready,
// Go's select picks at random, so 16 tries.)
func TestSubmitAfterCloseIsUnavailable(t *testing.T) {
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

// No panics on any input: a nil transaction in a submission is malformed,
// and the others in it are decided as if it were not there.
func TestNilTransactionIsMalformed(t *testing.T) {
	n := ledgertest.New()
	l := openClosed(t, n, t.TempDir())
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
// by timing): a transaction spends outputs created earlier in the same
// submission whether or not the commit loop cuts a batch between them; a
// second spend of that output is double_spend, and a spend placed before
// the transaction creating its note is unknown_note.
func TestBatchOrderDecidesChainedSpends(t *testing.T) {
	n := ledgertest.New()
	l := openClosed(t, n, t.TempDir())
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

// The network is pinned at first open: reopening a data directory under
// another network ID is refused, since every note ID and the log's hash
// chain are bound to the network it was written under.
func TestReopenUnderAnotherNetworkIsRefused(t *testing.T) {
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

// No panics: Note after Close is unavailable, never a read of the note
// index, whose memory Close unmapped (a SIGSEGV that no recover catches).
func TestNoteAfterCloseIsUnavailable(t *testing.T) {
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
	if _, err := l.Note(context.Background(), money.NoteID{1, 2, 3}); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("Note after Close: %v, want unavailable", err)
	}
}

// Every authority and double-spend rule rejects with its documented code
// (checked exactly, so a case cannot pass for the wrong reason), and a
// rejection changes nothing a user can see.
func TestRejectionsHaveExactCodesAndChangeNothing(t *testing.T) {
	n := ledgertest.New()
	l := openClosed(t, n, t.TempDir())
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
	spent := note
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
		// The ledger keeps no spent notes: it explains a missing input from
		// the transaction that created it (roles.NoteUnknown's doc).
		{"transfer of a spent note", []*money.Tx{n.Spend(money.Transfer, []money.Note{spent}, []*crypto.PrivateKey{alice}, ledgertest.To(mallory, 1000))}, errcode.DoubleSpend},
		{"transfer of a real output with a forged value", []*money.Tx{func() *money.Tx {
			forged := note
			forged.Value = 999
			return n.Spend(money.Transfer, []money.Note{forged}, []*crypto.PrivateKey{alice}, ledgertest.To(mallory, 999))
		}()}, errcode.DoubleSpend},
		{"transfer of a real output under another lock", []*money.Tx{func() *money.Tx {
			forged := note
			forged.Lock = money.KeyLock(mallory.Public())
			return n.Spend(money.Transfer, []money.Note{forged}, []*crypto.PrivateKey{mallory}, ledgertest.To(mallory, 1000))
		}()}, errcode.DoubleSpend},
		{"transfer of an output index its transaction does not have", []*money.Tx{func() *money.Tx {
			beyond := note
			beyond.Index = 1 // pay has one output
			return n.Spend(money.Transfer, []money.Note{beyond}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 1000))
		}()}, errcode.UnknownNote},
		{"transfer of an output index a transaction earlier in the submission does not have", func() []*money.Tx {
			m := n.Mint([]int{0, 1}, ledgertest.To(mallory, 5))
			beyond := n.Notes(m)[0]
			beyond.Index = 3
			return []*money.Tx{m, n.Spend(money.Transfer, []money.Note{beyond}, []*crypto.PrivateKey{mallory}, ledgertest.To(mallory, 5))}
		}(), errcode.UnknownNote},
		{"transfer of a forged value of an output created earlier in the submission", func() []*money.Tx {
			m := n.Mint([]int{0, 1}, ledgertest.To(mallory, 5))
			forged := n.Notes(m)[0]
			forged.Value = 6
			return []*money.Tx{m, n.Spend(money.Transfer, []money.Note{forged}, []*crypto.PrivateKey{mallory}, ledgertest.To(mallory, 6))}
		}(), errcode.DoubleSpend},
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
			before := snap(t, l)
			rs, err := l.SubmitBatch(ctx, c.txs)
			if err != nil {
				t.Fatal(err)
			}
			got := rs[len(rs)-1].Err
			if !errcode.Is(got, c.want) {
				t.Fatalf("got %v, want %s", got, c.want)
			}
			if len(rs) == 1 {
				if after := snap(t, l); after != before {
					t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
				}
			}
			if ni, _ := l.Note(ctx, net.NoteID(&note)); len(rs) == 1 && ni.Status != roles.NoteUnspent {
				t.Fatalf("alice's note is %s after a rejected spend", ni.Status)
			}
		})
	}
	// A note ID alone says unspent or unknown, never "spent".
	for _, id := range []money.NoteID{net.NoteID(&spent), net.NoteID(&note), {7}} {
		if ni, err := l.Note(ctx, id); err != nil || ni.Status != roles.NoteUnknown || ni.Value != 0 {
			t.Errorf("spent or never-created note %s: %+v, %v; want unknown", id, ni, err)
		}
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyLog(ctx, l); err != nil {
		t.Fatal(err)
	}
}
