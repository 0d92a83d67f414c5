package ledger_test

import (
	"context"
	"sync"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

var ctx = context.Background()

func open(t testing.TB, n *ledgertest.Net, dir string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// snapshot is everything a user could observe about the ledger.
type snapshot struct {
	supply  roles.LedgerSupply
	headers int
}

func snap(t testing.TB, l *ledger.Ledger) snapshot {
	t.Helper()
	s, err := l.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.Headers(ctx, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{s, len(h)}
}

func mustSubmit(t testing.TB, l *ledger.Ledger, tx *money.Tx) roles.Receipt {
	t.Helper()
	r, err := l.Submit(ctx, tx)
	if err != nil {
		t.Fatalf("submit %s: %v", tx.Kind, err)
	}
	return r
}

func TestMintPayRedeemWithProofs(t *testing.T) {
	n := ledgertest.New()
	l := open(t, n, t.TempDir())
	defer l.Close()
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()

	mint := n.Mint([]int{0, 2}, ledgertest.To(alice, 100_000_00))
	r := mustSubmit(t, l, mint)
	if r.Batch != 1 || r.Index != 0 || r.TxID != n.Network.TxID(mint) {
		t.Fatalf("receipt %+v", r)
	}
	note := n.Notes(mint)[0]
	pay := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice},
		ledgertest.To(bob, 30_000_00), ledgertest.To(alice, 70_000_00))
	mustSubmit(t, l, pay)
	if ni, _ := l.Note(ctx, n.Network.NoteID(&note)); ni.Status != roles.NoteUnknown {
		t.Fatalf("spent note reported %s", ni.Status)
	}
	bobNote := n.Notes(pay)[0]
	if ni, _ := l.Note(ctx, n.Network.NoteID(&bobNote)); ni.Status != roles.NoteUnspent || ni.Value != 30_000_00 {
		t.Fatalf("bob's note: %+v", ni)
	}
	red := n.Spend(money.Redeem, []money.Note{bobNote}, []*crypto.PrivateKey{bob}, ledgertest.To(bob, 5_000_00))
	mustSubmit(t, l, red)

	s, _ := l.Supply(ctx)
	want := roles.LedgerSupply{Minted: 100_000_00, Redeemed: 25_000_00, Outstanding: 75_000_00, Unspent: 2, Batches: 3}
	if s != want {
		t.Fatalf("supply %+v, want %+v", s, want)
	}
	for _, tx := range []*money.Tx{mint, pay, red} {
		info, err := l.Tx(ctx, n.Network.TxID(tx))
		if err != nil {
			t.Fatal(err)
		}
		if err := money.VerifyInclusion(info.TxID, uint64(info.Index), uint64(info.Header.TxCount), info.Proof, info.Header.TxRoot); err != nil {
			t.Fatalf("%s proof: %v", tx.Kind, err)
		}
		if info.Kind != tx.Kind.String() {
			t.Fatalf("kind %s, want %s", info.Kind, tx.Kind)
		}
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Tx(ctx, money.TxID{1}); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("unknown tx: %v", err)
	}

	// Locate says what Tx says of each, in order, without proofs.
	ids := []money.TxID{n.Network.TxID(red), {1}, n.Network.TxID(mint), n.Network.TxID(pay), n.Network.TxID(mint)}
	res, err := l.Locate(ctx, ids)
	if err != nil || len(res) != len(ids) {
		t.Fatalf("locate: %v %v", res, err)
	}
	for i, id := range ids {
		info, terr := l.Tx(ctx, id)
		if r := res[i]; errcode.Of(r.Err) != errcode.Of(terr) ||
			(terr == nil && r.Receipt != (roles.Receipt{TxID: id, Batch: info.Header.Seq, Index: info.Index})) {
			t.Errorf("locate %d: %+v, Tx says %+v %v", i, r, info, terr)
		}
	}
	if !errcode.Is(res[1].Err, errcode.NotFound) {
		t.Errorf("locate an unknown tx: %v", res[1].Err)
	}
}

func TestRejectionsChangeNothing(t *testing.T) {
	n := ledgertest.New()
	l := open(t, n, t.TempDir())
	defer l.Close()
	alice, bob, mallory := ledgertest.MustKey(), ledgertest.MustKey(), ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 500))
	mustSubmit(t, l, mint)
	note := n.Notes(mint)[0]

	forged := n.Mint([]int{0}, ledgertest.To(mallory, 1000))
	forged.Auth = append(forged.Auth, money.KeySig{Key: mallory.Public(), Sig: mallory.Sign(crypto.Mint, n.Network.ID, n.Network.TxID(forged))})
	ledgertest.SortAuth(forged)

	badSigMint := n.Mint([]int{0, 1}, ledgertest.To(mallory, 1000))
	badSigMint.Auth[0].Sig[5] ^= 1

	wrongOwner := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{mallory}, ledgertest.To(mallory, 500))
	wrongDomain := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(bob, 500))
	wrongDomain.InputSigs[0] = alice.Sign(crypto.Mint, n.Network.ID, n.Network.TxID(wrongDomain))
	otherNet := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(bob, 500))
	otherNet.InputSigs[0] = alice.Sign(crypto.Spend, "another-network", n.Network.TxID(otherNet))

	ghost := note
	ghost.Index = 7
	unknown := n.Spend(money.Transfer, []money.Note{ghost}, []*crypto.PrivateKey{alice}, ledgertest.To(bob, 500))
	inflate := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(bob, 501))
	noAck := n.Spend(money.Redeem, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 100))
	noAck.Auth = nil
	fakeAck := n.Spend(money.Redeem, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 100))
	fakeAck.Auth = []money.KeySig{{Key: mallory.Public(), Sig: mallory.Sign(crypto.Redeem, n.Network.ID, n.Network.TxID(fakeAck))}}

	cases := []struct {
		name string
		tx   *money.Tx
		code errcode.Code
	}{
		{"mint with one approval", n.Mint([]int{1}, ledgertest.To(mallory, 1000)), errcode.Unauthorized},
		{"mint signed by a non-issuer key", forged, errcode.Unauthorized},
		{"mint with a corrupted approval", badSigMint, errcode.BadSignature},
		{"spend signed by the wrong key", wrongOwner, errcode.BadSignature},
		{"spend signature for another purpose", wrongDomain, errcode.BadSignature},
		{"spend signature from another network", otherNet, errcode.BadSignature},
		{"spend of a note never created", unknown, errcode.UnknownNote},
		{"transfer creating money", inflate, errcode.Malformed},
		{"redeem without the issuer", noAck, errcode.Unauthorized},
		{"redeem acknowledged by a stranger", fakeAck, errcode.Unauthorized},
		{"mint replayed", mint, errcode.DoubleSpend},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, l)
			_, err := l.Submit(ctx, tc.tx)
			if !errcode.Is(err, tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if after := snap(t, l); after != before {
				t.Fatalf("state changed: %+v -> %+v", before, after)
			}
			if ni, _ := l.Note(ctx, n.Network.NoteID(&note)); ni.Status != roles.NoteUnspent {
				t.Fatalf("alice's note is %s", ni.Status)
			}
		})
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentDoubleSpendExactlyOneCommits(t *testing.T) {
	n := ledgertest.New()
	l := open(t, n, t.TempDir())
	defer l.Close()
	alice := ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 1000))
	mustSubmit(t, l, mint)
	note := n.Notes(mint)[0]
	const tries = 32
	txs := make([]*money.Tx, tries)
	for i := range txs {
		txs[i] = n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(ledgertest.MustKey(), 1000))
	}
	before := snap(t, l)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range txs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = l.Submit(ctx, txs[i])
		}(i)
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("transactions %d and %d both spent the note", won, i)
			}
			won = i
		case !errcode.Is(err, errcode.DoubleSpend):
			t.Fatalf("tx %d: %v, want double_spend", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no spend committed")
	}
	after := snap(t, l)
	if after.supply.Outstanding != before.supply.Outstanding || after.supply.Unspent != 1 {
		t.Fatalf("supply %+v", after.supply)
	}
	for i, tx := range txs {
		out := n.Notes(tx)[0]
		ni, _ := l.Note(ctx, n.Network.NoteID(&out))
		if (ni.Status == roles.NoteUnspent) != (i == won) {
			t.Fatalf("tx %d output is %s", i, ni.Status)
		}
	}
	// Replaying the winner is rejected too.
	if _, err := l.Submit(ctx, txs[won]); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("replay: %v", err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchOrderDecidesConflicts(t *testing.T) {
	n := ledgertest.New()
	l := open(t, n, t.TempDir())
	defer l.Close()
	alice := ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 10), ledgertest.To(alice, 20))
	mustSubmit(t, l, mint)
	notes := n.Notes(mint)
	keys := []*crypto.PrivateKey{alice}
	a := n.Spend(money.Transfer, notes[:1], keys, ledgertest.To(alice, 10))
	b := n.Spend(money.Transfer, notes[:1], keys, ledgertest.To(ledgertest.MustKey(), 10))
	c := n.Spend(money.Transfer, notes[1:], keys, ledgertest.To(alice, 20))
	bad := n.Spend(money.Transfer, notes[1:], []*crypto.PrivateKey{ledgertest.MustKey()}, ledgertest.To(alice, 20))
	rs, err := l.SubmitBatch(ctx, []*money.Tx{bad, a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := []errcode.Code{errcode.BadSignature, "", errcode.DoubleSpend, ""}
	for i, r := range rs {
		if errcode.Of(r.Err) != wantCodes[i] {
			t.Fatalf("result %d: %v, want %q", i, r.Err, wantCodes[i])
		}
	}
	if rs[1].Receipt.Batch != rs[3].Receipt.Batch || rs[1].Receipt.Index+1 != rs[3].Receipt.Index {
		t.Fatalf("receipts %+v %+v", rs[1].Receipt, rs[3].Receipt)
	}
}

func TestRestartResumes(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	alice := ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 777))
	mustSubmit(t, l, mint)
	before := snap(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, n, dir)
	defer l.Close()
	if after := snap(t, l); after != before {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	note := n.Notes(mint)[0]
	mustSubmit(t, l, n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 777)))
	if _, err := l.Submit(ctx, mint); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("mint replay after restart: %v", err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestGenesisThenSpend(t *testing.T) {
	n := ledgertest.New()
	l := open(t, n, t.TempDir())
	defer l.Close()
	k := ledgertest.MustKey()
	var first *money.Tx
	err := l.Genesis(200, func(i uint64) money.Output { return ledgertest.To(k, i+1) }, func(tx *money.Tx, _ money.TxID) {
		if first == nil {
			first = &money.Tx{Kind: tx.Kind, Nonce: tx.Nonce, Outputs: append([]money.Output(nil), tx.Outputs...)}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s := snap(t, l)
	if s.supply.Minted != 200*201/2 || s.supply.Unspent != 200 || s.headers != 1 {
		t.Fatalf("after genesis %+v", s)
	}
	note := n.Notes(first)[3]
	mustSubmit(t, l, n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{k}, ledgertest.To(k, note.Value)))
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if err := l.Genesis(1, func(uint64) money.Output { return ledgertest.To(k, 1) }, nil); err == nil {
		t.Fatal("second genesis accepted")
	}
}

func TestOpenRejectsRepeatedMintKey(t *testing.T) {
	n := ledgertest.New()
	cfg := n.TestConfig()
	cfg.MintKeys[2] = cfg.MintKeys[0]
	if l, err := ledger.Open(t.TempDir(), cfg); err == nil {
		l.Close()
		t.Fatal("ledger opened with a repeated mint key")
	}
}

// TestOneKeysInputsVerifiedOnce: inputs locked to one key carry the same
// signature of the txid, and the ledger verifies that pair once. A
// payment from several of a wallet's notes commits; a corrupted signature
// on either input, the same corrupted signature on both, or one owner's
// signature put on another owner's input is still refused, and changes
// nothing.
func TestOneKeysInputsVerifiedOnce(t *testing.T) {
	n := ledgertest.New()
	l := open(t, n, t.TempDir())
	defer l.Close()
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 300), ledgertest.To(alice, 200), ledgertest.To(bob, 100))
	mustSubmit(t, l, mint)
	notes := n.Notes(mint)
	both := func() *money.Tx {
		return n.Spend(money.Transfer, notes[:2], []*crypto.PrivateKey{alice, alice}, ledgertest.To(bob, 500))
	}
	firstBad := both()
	firstBad.InputSigs[0][7] ^= 1
	secondBad := both()
	secondBad.InputSigs[1][7] ^= 1
	sameBad := both()
	sameBad.InputSigs[0][7] ^= 1
	sameBad.InputSigs[1] = sameBad.InputSigs[0]
	borrowed := n.Spend(money.Transfer, []money.Note{notes[0], notes[2]}, []*crypto.PrivateKey{alice, bob}, ledgertest.To(bob, 400))
	borrowed.InputSigs[1] = borrowed.InputSigs[0] // alice's signature on bob's note
	for name, tx := range map[string]*money.Tx{"first corrupted": firstBad, "second corrupted": secondBad,
		"both the same corrupted": sameBad, "one owner's signature on another's note": borrowed} {
		before := snap(t, l)
		if _, err := l.Submit(ctx, tx); !errcode.Is(err, errcode.BadSignature) {
			t.Fatalf("%s: got %v, want %s", name, err, errcode.BadSignature)
		}
		if after := snap(t, l); after != before {
			t.Fatalf("%s: state changed: %+v -> %+v", name, before, after)
		}
	}
	good := both()
	if good.InputSigs[0] != good.InputSigs[1] {
		t.Fatal("one key's signatures of one txid differ")
	}
	v0 := l.Stats().Verified
	mustSubmit(t, l, good)
	if n := l.Stats().Verified - v0; n != 1 {
		t.Fatalf("two inputs of one key: %d signatures verified, want 1", n)
	}
	// Two owners' inputs are two signatures.
	mint2 := n.Mint([]int{0, 1}, ledgertest.To(alice, 50), ledgertest.To(bob, 50))
	mustSubmit(t, l, mint2)
	two := n.Spend(money.Transfer, n.Notes(mint2), []*crypto.PrivateKey{alice, bob}, ledgertest.To(bob, 100))
	v0 = l.Stats().Verified
	mustSubmit(t, l, two)
	if n := l.Stats().Verified - v0; n != 2 {
		t.Fatalf("inputs of two owners: %d signatures verified, want 2", n)
	}
}
