package intermediary_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func TestOpenWallet(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	idForm := regexp.MustCompile(`^bank-a\.[a-z2-7]{10}$`)

	tests := []struct {
		name   string
		ctx    context.Context
		owner  string
		code   errcode.Code
		status int
	}{
		{"own credential", as("bank-a"), "alice", "", 0},
		{"empty owner", as("bank-a"), "", errcode.Malformed, http.StatusBadRequest},
		{"blank owner", as("bank-a"), "   ", errcode.Malformed, http.StatusBadRequest},
		{"no credential", context.Background(), "alice", errcode.Unauthorized, http.StatusUnauthorized},
		{"another bank's credential", as("bank-b"), "alice", errcode.Unauthorized, http.StatusForbidden},
		{"the issuer", asIssuer, "alice", errcode.Unauthorized, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := a.OpenWallet(tc.ctx, unlimited(tc.owner))
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.status)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !idForm.MatchString(w.ID) {
				t.Fatalf("wallet id %q: want bank-a.<10 base32 chars>", w.ID)
			}
			got, err := a.Wallet(as("bank-a"), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Owner != tc.owner || got.Balance != 0 || got.Notes != 0 || got.Lock != w.Lock || !got.Created.Equal(w.Created) {
				t.Fatalf("wallet %+v, opened as %+v", got, w)
			}
			lock, err := e.bank("bank-b").ReceiveLock(as("bank-a"), w.ID)
			if err == nil || lock == w.Lock {
				t.Fatalf("bank-b gave a lock for bank-a's wallet: %v %v", lock, err)
			}
			lock, err = a.ReceiveLock(as("bank-b"), w.ID)
			if err != nil || lock != w.Lock {
				t.Fatalf("receive lock %v, %v; want %v", lock, err, w.Lock)
			}
		})
	}

	// Two wallets never share an ID or a key.
	w1, _ := a.OpenWallet(as("bank-a"), unlimited("carol"))
	w2, _ := a.OpenWallet(as("bank-a"), unlimited("carol"))
	if w1.ID == w2.ID || w1.Lock == w2.Lock {
		t.Fatalf("two wallets share an id or lock: %+v %+v", w1, w2)
	}

	tr, err := a.Wallet(as("bank-a"), "bank-a.treasury")
	if err != nil || tr.Owner != "bank-a" || tr.Balance != 0 {
		t.Fatalf("treasury %+v, %v", tr, err)
	}
	if _, err := a.Wallet(as("bank-a"), "bank-a.nosuchwall"); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("unknown wallet: %v", err)
	}
}

func TestFundTreasuryBalanceIsSumOfNotes(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	tr := a.Treasury()

	e.mint("bank-a", 100, 250, 650)
	w, err := a.Wallet(as("bank-a"), tr)
	if err != nil {
		t.Fatal(err)
	}
	if w.Balance != 1000 || w.Notes != 3 {
		t.Fatalf("treasury after mint: balance %d in %d notes, want 1000 in 3", w.Balance, w.Notes)
	}
	h := e.history(tr)
	if len(h) != 1 || h[0].Direction != "in" || h[0].Amount != 1000 || h[0].Reference != "mint" || h[0].Batch == 0 {
		t.Fatalf("treasury history %+v", h)
	}

	alice := e.wallet("bank-a", "alice", 0)
	res, err := a.Pay(as("bank-a"), roles.Payment{From: tr, To: alice, Amount: 300, Reference: "till"})
	if err != nil {
		t.Fatal(err)
	}
	// The smallest note covering 300 is the 650: 350 comes back as change.
	w, _ = a.Wallet(as("bank-a"), tr)
	if w.Balance != 700 || w.Notes != 3 {
		t.Fatalf("treasury after paying 300: balance %d in %d notes, want 700 in 3 (100, 250, change 350)", w.Balance, w.Notes)
	}
	if got := e.balance(alice); got != 300 {
		t.Fatalf("alice %d, want 300", got)
	}
	info, err := e.ledger.Tx(context.Background(), res.TxID)
	if err != nil || info.Status != "committed" || info.Header.Seq != res.Receipt.Batch {
		t.Fatalf("ledger has payment as %+v, %v; receipt %+v", info, err, res.Receipt)
	}
	e.checkConservation(tr, alice)
}

func TestPayWithinBank(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 500)
	bob := e.wallet("bank-a", "bob", 0)

	res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 200, Reference: "lunch"})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != alice || res.To != bob || res.Amount != 200 || res.TxID != res.Receipt.TxID || res.Receipt.Batch == 0 {
		t.Fatalf("result %+v", res)
	}
	if got := e.balance(alice); got != 300 {
		t.Fatalf("alice %d, want 300", got)
	}
	if got := e.balance(bob); got != 200 {
		t.Fatalf("bob %d, want 200", got)
	}
	ha, hb := e.history(alice), e.history(bob)
	last := ha[len(ha)-1]
	if last.TxID != res.TxID || last.Direction != "out" || last.Amount != 200 || last.Counterparty != bob || last.Reference != "lunch" || last.Batch != res.Receipt.Batch {
		t.Fatalf("alice's last entry %+v", last)
	}
	if len(hb) != 1 || hb[0].TxID != res.TxID || hb[0].Direction != "in" || hb[0].Amount != 200 || hb[0].Counterparty != alice || hb[0].Reference != "lunch" {
		t.Fatalf("bob's history %+v", hb)
	}
	if len(ha) != 2 || ha[0].Direction != "in" || ha[0].Amount != 500 || !ha[0].Time.Before(ha[1].Time) {
		t.Fatalf("alice's history, oldest first: %+v", ha)
	}

	// Bob pays everything back: no change output.
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: bob, To: alice, Amount: 200}); err != nil {
		t.Fatal(err)
	}
	if e.balance(alice) != 500 || e.balance(bob) != 0 {
		t.Fatalf("after paying back: alice %d bob %d", e.balance(alice), e.balance(bob))
	}
	e.checkConservation(a.Treasury(), alice, bob)
}

func TestPayAcrossIntermediaries(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a, b := e.bank("bank-a"), e.bank("bank-b")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), b.Treasury(), alice, bob}

	res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 123, Reference: "invoice 7"})
	if err != nil {
		t.Fatal(err)
	}
	if e.balance(alice) != 877 || e.balance(bob) != 123 {
		t.Fatalf("alice %d (want 877), bob %d (want 123)", e.balance(alice), e.balance(bob))
	}
	hb := e.history(bob)
	if len(hb) != 1 || hb[0].TxID != res.TxID || hb[0].Direction != "in" || hb[0].Amount != 123 || hb[0].Batch != res.Receipt.Batch {
		t.Fatalf("bob's history %+v", hb)
	}
	ha := e.history(alice)
	if out := ha[len(ha)-1]; out.Direction != "out" || out.Counterparty != bob || out.Amount != 123 || out.Reference != "invoice 7" {
		t.Fatalf("alice's last entry %+v", out)
	}

	// And back, from bank-b with bank-b's credential.
	if _, err := b.Pay(as("bank-b"), roles.Payment{From: bob, To: alice, Amount: 23}); err != nil {
		t.Fatal(err)
	}
	if e.balance(alice) != 900 || e.balance(bob) != 100 {
		t.Fatalf("alice %d (want 900), bob %d (want 100)", e.balance(alice), e.balance(bob))
	}
	s := e.snapshot(all...)
	if s.Outbox != 0 || s.Pending != 0 {
		t.Fatalf("left over: %d undelivered, %d pending", s.Outbox, s.Pending)
	}
	e.checkConservation(all...)
}

func TestPayRejectedChangesNothing(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a, b := e.bank("bank-a"), e.bank("bank-b")
	alice := e.wallet("bank-a", "alice", 500)
	carol := e.wallet("bank-a", "carol", 0)
	bob := e.wallet("bank-b", "bob", 300)
	all := []string{a.Treasury(), b.Treasury(), alice, carol, bob}

	tests := []struct {
		name   string
		bank   *intermediary.Intermediary
		ctx    context.Context
		p      roles.Payment
		code   errcode.Code
		status int
	}{
		{"insufficient funds", a, as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 501}, errcode.InsufficientFunds, http.StatusUnprocessableEntity},
		{"insufficient funds across banks", a, as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 501}, errcode.InsufficientFunds, 0},
		{"empty wallet", a, as("bank-a"), roles.Payment{From: carol, To: alice, Amount: 1}, errcode.InsufficientFunds, 0},
		{"unknown local destination", a, as("bank-a"), roles.Payment{From: alice, To: "bank-a.aaaaaaaaaa", Amount: 1}, errcode.NotFound, http.StatusNotFound},
		{"unknown destination at a peer", a, as("bank-a"), roles.Payment{From: alice, To: "bank-b.aaaaaaaaaa", Amount: 1}, errcode.NotFound, http.StatusNotFound},
		{"unknown intermediary", a, as("bank-a"), roles.Payment{From: alice, To: "bank-z.aaaaaaaaaa", Amount: 1}, errcode.NotFound, http.StatusNotFound},
		{"destination without intermediary", a, as("bank-a"), roles.Payment{From: alice, To: "nobody", Amount: 1}, errcode.NotFound, 0},
		{"unknown source wallet", a, as("bank-a"), roles.Payment{From: "bank-a.aaaaaaaaaa", To: carol, Amount: 1}, errcode.NotFound, http.StatusNotFound},
		{"bank-a's caller on bank-b's wallet", b, as("bank-a"), roles.Payment{From: bob, To: alice, Amount: 1}, errcode.Unauthorized, http.StatusForbidden},
		{"bank-a paying from bank-b's wallet", a, as("bank-a"), roles.Payment{From: bob, To: alice, Amount: 1}, errcode.Unauthorized, http.StatusForbidden},
		{"issuer credential", a, asIssuer, roles.Payment{From: alice, To: carol, Amount: 1}, errcode.Unauthorized, http.StatusForbidden},
		{"no credential", a, context.Background(), roles.Payment{From: alice, To: carol, Amount: 1}, errcode.Unauthorized, http.StatusUnauthorized},
		{"zero amount", a, as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 0}, errcode.Malformed, http.StatusBadRequest},
		{"pay itself", a, as("bank-a"), roles.Payment{From: alice, To: alice, Amount: 1}, errcode.Malformed, http.StatusBadRequest},
		{"no destination", a, as("bank-a"), roles.Payment{From: alice, Amount: 1}, errcode.Malformed, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(all...)
			_, err := tc.bank.Pay(tc.ctx, tc.p)
			wantCode(t, err, tc.code, tc.status)
			e.unchanged(t, before, all...)
		})
	}

	// Reading another bank's wallets is refused the same way.
	if _, err := b.Wallet(as("bank-a"), bob); errcode.HTTPStatus(err) != http.StatusForbidden {
		t.Fatalf("bank-a reading bank-b's wallet: %v", err)
	}
	if _, err := b.History(as("bank-a"), bob); errcode.HTTPStatus(err) != http.StatusForbidden {
		t.Fatalf("bank-a reading bank-b's history: %v", err)
	}
	if _, err := a.Wallet(as("bank-a"), bob); errcode.HTTPStatus(err) != http.StatusForbidden {
		t.Fatalf("bank-a reading bank-b's wallet through itself: %v", err)
	}
	if _, err := a.ReceiveLock(context.Background(), alice); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("receive lock without credential: %v", err)
	}
	e.checkConservation(all...)
}

// A payment the ledger rejects returns the ledger's error unchanged and
// leaves every wallet as it was, its notes free to spend again.
func TestPayLedgerRejectionChangesNothing(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 800)
	bob := e.wallet("bank-a", "bob", 0)
	dave := e.wallet("bank-b", "dave", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, bob, dave}

	for _, to := range []string{bob, dave} {
		before := e.snapshot(all...)
		e.link.tamper.Store(true)
		_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: to, Amount: 300})
		e.link.tamper.Store(false)
		wantCode(t, err, errcode.BadSignature, http.StatusBadRequest)
		e.unchanged(t, before, all...)
	}
	// The notes were released, not lost: all of it can be paid.
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: dave, Amount: 800}); err != nil {
		t.Fatal(err)
	}
	if e.balance(alice) != 0 || e.balance(dave) != 800 {
		t.Fatalf("alice %d dave %d", e.balance(alice), e.balance(dave))
	}
}

// A link that retries a submission gets double_spend for a transaction
// that did commit; the payment is committed, not released.
func TestPayCommittedDespiteDoubleSpendAnswer(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 800)
	bob := e.wallet("bank-a", "bob", 0)
	e.link.resubmit.Store(true)
	defer e.link.resubmit.Store(false)
	res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 300})
	if err != nil {
		t.Fatal(err)
	}
	if e.balance(alice) != 500 || e.balance(bob) != 300 || res.Receipt.Batch == 0 {
		t.Fatalf("alice %d bob %d receipt %+v", e.balance(alice), e.balance(bob), res.Receipt)
	}
	e.link.resubmit.Store(false)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 500}); err != nil {
		t.Fatalf("the change note must be spendable: %v", err)
	}
	e.checkConservation(a.Treasury(), alice, bob)
}

// A wallet whose money sits in more than money.MaxInputs small notes cannot
// pay it in one transaction; it says so and nothing changes.
func TestPayTooManyNotes(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	values := make([]uint64, (money.MaxInputs+6)/2)
	for i := range values {
		values[i] = 10
	}
	e.mint("bank-a", values...) // a mint has at most money.MaxOutputs outputs
	e.mint("bank-a", values...)
	carol := e.wallet("bank-a", "carol", 0)
	all := []string{a.Treasury(), carol}

	before := e.snapshot(all...)
	_, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: carol, Amount: 10 * (money.MaxInputs + 1)})
	wantCode(t, err, errcode.InsufficientFunds, 0)
	e.unchanged(t, before, all...)
	// Exactly MaxInputs notes still pay.
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: carol, Amount: 10 * money.MaxInputs}); err != nil {
		t.Fatal(err)
	}
	if e.balance(carol) != 10*money.MaxInputs || e.balance(a.Treasury()) != 60 {
		t.Fatalf("carol %d, treasury %d", e.balance(carol), e.balance(a.Treasury()))
	}
}

// Sixteen goroutines pay from one wallet at once. No note is ever selected
// twice (the ledger would reject a double spend), none of the payments
// fails for want of change still in flight, and the totals are exact.
func TestConcurrentPaysFromOneWallet(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 0)
	e.mint("bank-a", 10_000, 2_000, 3_000)
	for _, v := range []uint64{10_000, 2_000, 3_000} {
		if _, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: alice, Amount: v}); err != nil {
			t.Fatal(err)
		}
	}
	bobA := e.wallet("bank-a", "bob", 0)
	bobB := e.wallet("bank-b", "bob", 0)

	const workers, each, amount = 16, 4, 37
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	txids := make(chan money.TxID, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := bobA
			if w%2 == 1 {
				to = bobB
			}
			for range each {
				res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: to, Amount: amount})
				if err != nil {
					errs <- err
					return
				}
				txids <- res.TxID
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(txids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[money.TxID]bool{}
	for id := range txids {
		if seen[id] {
			t.Fatalf("txid %s reported twice", id)
		}
		seen[id] = true
	}
	const total = workers * each * amount
	if got := e.balance(alice); got != 15_000-total {
		t.Fatalf("alice %d, want %d", got, 15_000-total)
	}
	if got := e.balance(bobA) + e.balance(bobB); got != total {
		t.Fatalf("bobs hold %d, want %d", got, total)
	}
	if got := len(e.history(alice)); got != 3+workers*each {
		t.Fatalf("alice has %d history entries, want %d", got, 3+workers*each)
	}
	e.checkConservation(a.Treasury(), e.bank("bank-b").Treasury(), alice, bobA, bobB)
}

func TestDeliver(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	b := e.bank("bank-b")
	bob := e.wallet("bank-b", "bob", 0)
	bobLock, err := b.ReceiveLock(as("bank-a"), bob)
	if err != nil {
		t.Fatal(err)
	}

	// A self-custody key holds minted notes and pays bob from outside any
	// intermediary: the payer then delivers the transaction to bank-b.
	payer := ledgertest.MustKey()
	mint := e.net.Mint([]int{0, 1}, ledgertest.To(payer, 1000))
	if _, err := e.ledger.Submit(asIssuer, mint); err != nil {
		t.Fatal(err)
	}
	stranger := ledgertest.MustKey()
	pay := e.net.Spend(money.Transfer, e.net.Notes(mint), []*crypto.PrivateKey{payer},
		money.Output{Value: 400, Lock: bobLock}, ledgertest.To(stranger, 600))

	t.Run("uncommitted credits nothing", func(t *testing.T) {
		before := e.snapshot(bob)
		err := b.Deliver(as("bank-a"), pay)
		wantCode(t, err, errcode.NotFound, http.StatusNotFound)
		e.unchanged(t, before, bob)
	})

	rejected := []struct {
		name string
		ctx  context.Context
		tx   *money.Tx
		code errcode.Code
	}{
		{"no credential", context.Background(), pay, errcode.Unauthorized},
		{"caller without a role", roles.WithCaller(context.Background(), roles.Principal{Name: "mallory"}), pay, errcode.Unauthorized},
		{"no transaction", as("bank-a"), nil, errcode.Malformed},
		{"malformed transaction", as("bank-a"), &money.Tx{Kind: money.Transfer}, errcode.Malformed},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(bob)
			wantCode(t, b.Deliver(tc.ctx, tc.tx), tc.code, 0)
			e.unchanged(t, before, bob)
		})
	}

	if _, err := e.ledger.Submit(context.Background(), pay); err != nil {
		t.Fatal(err)
	}
	t.Run("twice credits once", func(t *testing.T) {
		for range 2 {
			if err := b.Deliver(as("bank-a"), pay); err != nil {
				t.Fatal(err)
			}
		}
		// And many at once.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := b.Deliver(asIssuer, pay); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		w, _ := b.Wallet(as("bank-b"), bob)
		if w.Balance != 400 || w.Notes != 1 {
			t.Fatalf("bob %d in %d notes, want 400 in 1", w.Balance, w.Notes)
		}
		if h := e.history(bob); len(h) != 1 || h[0].Amount != 400 || h[0].Direction != "in" {
			t.Fatalf("bob's history %+v", h)
		}
	})
	t.Run("spent notes are not credited again", func(t *testing.T) {
		if _, err := b.Pay(as("bank-b"), roles.Payment{From: bob, To: b.Treasury(), Amount: 400}); err != nil {
			t.Fatal(err)
		}
		if err := b.Deliver(as("bank-a"), pay); err != nil {
			t.Fatal(err)
		}
		if got := e.balance(bob); got != 0 {
			t.Fatalf("bob %d after spending everything and a redelivery, want 0", got)
		}
	})
	t.Run("outputs for other locks are ignored", func(t *testing.T) {
		before := e.snapshot(bob, b.Treasury())
		if err := e.bank("bank-a").Deliver(as("bank-b"), pay); err != nil {
			t.Fatal(err)
		}
		if after := e.snapshot(bob, b.Treasury()); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

func TestReopenResumes(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 900)
	bob := e.wallet("bank-a", "bob", 0)
	dave := e.wallet("bank-b", "dave", 0)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 250}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: dave, Amount: 50}); err != nil {
		t.Fatal(err)
	}
	all := []string{a.Treasury(), alice, bob, dave}
	before := e.snapshot(all...)
	wBefore, _ := a.Wallet(as("bank-a"), alice)
	hBefore := e.history(alice)

	e.close("bank-a")
	a = e.open("bank-a")
	if after := e.snapshot(all...); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("reopen changed state:\nbefore %+v\nafter  %+v", before, after)
	}
	wAfter, _ := a.Wallet(as("bank-a"), alice)
	if wAfter.Lock != wBefore.Lock || wAfter.Owner != "alice" || !wAfter.Created.Equal(wBefore.Created) {
		t.Fatalf("wallet after reopen %+v, before %+v", wAfter, wBefore)
	}
	hAfter := e.history(alice)
	for i := range hBefore {
		if hAfter[i].TxID != hBefore[i].TxID || !hAfter[i].Time.Equal(hBefore[i].Time) {
			t.Fatalf("history entry %d: %+v, before %+v", i, hAfter[i], hBefore[i])
		}
	}
	// The keys survived: the reopened bank still spends its wallets' notes.
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 600}); err != nil {
		t.Fatal(err)
	}
	if e.balance(alice) != 0 || e.balance(bob) != 850 || e.balance(dave) != 50 {
		t.Fatalf("alice %d bob %d dave %d", e.balance(alice), e.balance(bob), e.balance(dave))
	}
	e.checkConservation(append(all, e.bank("bank-b").Treasury())...)
}

func TestRedeem(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-c") // bank-c has no reserve account at the issuer
	a := e.bank("bank-a")
	tr := a.Treasury()
	e.issue("bank-a", 400)
	e.issue("bank-a", 600)
	reserve := func() uint64 {
		r, ok := e.issuer.Reserve("bank-a")
		if !ok {
			t.Fatal("bank-a has no reserve account")
		}
		return r
	}
	if got := reserve(); got != openingReserve-1000 {
		t.Fatalf("reserve after minting 1000: %d", got)
	}

	red, err := a.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 300})
	if err != nil {
		t.Fatal(err)
	}
	if red.Intermediary != "bank-a" || red.Amount != 300 || red.Receipt.Batch == 0 {
		t.Fatalf("redemption %+v", red)
	}
	if got := e.balance(tr); got != 700 {
		t.Fatalf("treasury %d, want 700", got)
	}
	if got := reserve(); got != openingReserve-700 {
		t.Fatalf("reserve %d after redeeming 300, want %d", got, openingReserve-700)
	}
	sup, _ := e.ledger.Supply(context.Background())
	if sup.Redeemed != 300 || sup.Outstanding != 700 {
		t.Fatalf("ledger supply %+v", sup)
	}
	h := e.history(tr)
	if last := h[len(h)-1]; last.Direction != "out" || last.Amount != 300 || last.TxID != red.Receipt.TxID {
		t.Fatalf("treasury's last entry %+v", last)
	}

	e.mint("bank-c", 500)
	rejected := []struct {
		name   string
		bank   string
		ctx    context.Context
		amount uint64
		code   errcode.Code
		status int
	}{
		{"more than the treasury holds", "bank-a", as("bank-a"), 701, errcode.InsufficientFunds, http.StatusUnprocessableEntity},
		{"zero", "bank-a", as("bank-a"), 0, errcode.Malformed, http.StatusBadRequest},
		{"another bank's credential", "bank-a", as("bank-c"), 100, errcode.Unauthorized, http.StatusForbidden},
		{"no credential", "bank-a", context.Background(), 100, errcode.Unauthorized, http.StatusUnauthorized},
		{"issuer refuses: no reserve account", "bank-c", as("bank-c"), 100, errcode.Unauthorized, http.StatusForbidden},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			ids := []string{tr, e.bank("bank-c").Treasury()}
			before, rBefore := e.snapshot(ids...), reserve()
			_, err := e.bank(tc.bank).Redeem(tc.ctx, roles.RedeemRequest{Amount: tc.amount})
			wantCode(t, err, tc.code, tc.status)
			if after := e.snapshot(ids...); fmt.Sprint(after) != fmt.Sprint(before) || reserve() != rBefore {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	// bank-c's notes were released: it can still pay with them.
	c := e.bank("bank-c")
	carol := e.wallet("bank-c", "carol", 0)
	if _, err := c.Pay(as("bank-c"), roles.Payment{From: c.Treasury(), To: carol, Amount: 500}); err != nil {
		t.Fatal(err)
	}

	// All of it: no change note.
	if _, err := a.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 700}); err != nil {
		t.Fatal(err)
	}
	if w, _ := a.Wallet(as("bank-a"), tr); w.Balance != 0 || w.Notes != 0 {
		t.Fatalf("treasury %+v after redeeming everything", w)
	}
	if got := reserve(); got != openingReserve {
		t.Fatalf("reserve %d after redeeming all, want %d", got, openingReserve)
	}
	e.checkConservation(tr, c.Treasury(), carol)
}

// Mints made through the issuer desk arrive in the treasury by Deliver.
func TestIssuedMintArrives(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	m := e.issue("bank-a", 12_345)
	w, err := a.Wallet(as("bank-a"), a.Treasury())
	if err != nil {
		t.Fatal(err)
	}
	if w.Balance != 12_345 || w.Notes != 1 {
		t.Fatalf("treasury %+v", w)
	}
	h := e.history(a.Treasury())
	if len(h) != 1 || h[0].TxID != m.ID || h[0].Direction != "in" || h[0].Amount != 12_345 || h[0].Reference != "mint" {
		t.Fatalf("treasury history %+v", h)
	}
	e.checkConservation(a.Treasury())
}

// When the ledger cannot be reached the payment's outcome is unknown: the
// notes stay reserved (not spendable, not counted) until the ledger says
// what happened, whether asked now, later, or after a restart.
func TestLedgerUnreachable(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, bob}

	t.Run("never reached the ledger", func(t *testing.T) {
		e.link.down.Store(true)
		_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 100})
		wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
		if w, err := a.Wallet(as("bank-a"), alice); err != nil || w.Balance != 0 || w.Pending != 1000 {
			t.Fatalf("alice %+v %v while her only note is reserved, want balance 0, pending 1000", w, err)
		}
		// The reserved note cannot be spent again meanwhile; the wallet is
		// not short of funds, its outcome is unknown: unavailable.
		_, err = a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 1})
		wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
		if s := e.snapshot(all...); s.Pending != 1 {
			t.Fatalf("%d pending, want 1", s.Pending)
		}
		// Still unreachable: nothing is decided.
		wantCode(t, a.ResolvePending(context.Background()), errcode.Unavailable, 0)

		e.link.down.Store(false)
		if err := a.ResolvePending(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := e.snapshot(all...)
		if s.Pending != 0 || e.balance(alice) != 1000 || e.balance(bob) != 0 {
			t.Fatalf("after settling: %+v", s)
		}
		if h := e.history(alice); len(h) != 1 {
			t.Fatalf("alice's history %+v: the failed payment must not appear", h)
		}
	})

	t.Run("committed but the answer was lost, settled at restart", func(t *testing.T) {
		e.link.lostReply.Store(true)
		res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 100, Reference: "rent"})
		e.link.lostReply.Store(false)
		wantCode(t, err, errcode.Unavailable, 0)
		if _, err := e.ledger.Tx(context.Background(), res.TxID); err != nil {
			t.Fatalf("the unknown-outcome result names txid %s, which the ledger does not have: %v", res.TxID, err)
		}
		if e.balance(bob) != 0 {
			t.Fatal("bob credited before the payment was settled")
		}

		e.close("bank-a")
		a = e.open("bank-a") // Open settles with the ledger

		if e.balance(alice) != 900 || e.balance(bob) != 100 {
			t.Fatalf("after restart: alice %d (want 900), bob %d (want 100)", e.balance(alice), e.balance(bob))
		}
		h := e.history(alice)
		if last := h[len(h)-1]; last.Direction != "out" || last.Amount != 100 || last.Counterparty != bob || last.Reference != "rent" {
			t.Fatalf("alice's last entry %+v", last)
		}
		if s := e.snapshot(all...); s.Pending != 0 || s.Outbox != 0 {
			t.Fatalf("left over after restart: %+v", s)
		}
	})

	t.Run("not found is final only after SettleAfter", func(t *testing.T) {
		e.close("bank-a")
		cfg := e.config("bank-a")
		cfg.SettleAfter = time.Hour
		a = e.openWith(cfg)
		e.link.down.Store(true)
		_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 100})
		e.link.down.Store(false)
		wantCode(t, err, errcode.Unavailable, 0)
		// The ledger has not seen it, but a copy could still be on its way.
		wantCode(t, a.ResolvePending(context.Background()), errcode.Unavailable, 0)
		if e.balance(alice) != 0 {
			t.Fatal("notes released before SettleAfter")
		}
		e.close("bank-a")
		a = e.open("bank-a") // SettleAfter -1: released at once
		if e.balance(alice) != 900 {
			t.Fatalf("alice %d after settling, want 900", e.balance(alice))
		}
	})
	e.checkConservation(all...)
}

// A committed payment whose recipient's intermediary cannot be reached is
// kept in an outbox and delivered later, also across a restart.
func TestDeliveryRetried(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	link := &flakyPeer{Intermediary: e.bank("bank-b")}
	link.down.Store(true)
	e.mu.Lock()
	e.peers["bank-b"] = link
	e.mu.Unlock()

	a := e.bank("bank-a")
	res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 250})
	if err != nil {
		t.Fatalf("a committed payment must succeed even if delivery fails: %v", err)
	}
	if e.balance(alice) != 750 || e.balance(bob) != 0 {
		t.Fatalf("alice %d bob %d", e.balance(alice), e.balance(bob))
	}
	if ob, _ := a.Outbox(); len(ob) != 1 || ob[0] != res.TxID {
		t.Fatalf("outbox %v, want [%s]", ob, res.TxID)
	}
	wantCode(t, a.RetryDeliveries(context.Background()), errcode.Unavailable, 0)

	// Survives a restart, then the background loop delivers it.
	e.close("bank-a")
	cfg := e.config("bank-a")
	cfg.RetryInterval = 10 * time.Millisecond
	a = e.openWith(cfg)
	link.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for e.balance(bob) != 250 {
		if time.Now().After(deadline) {
			t.Fatal("background loop never delivered the payment")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		ob, _ := a.Outbox()
		if len(ob) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %v", ob)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := a.RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := e.history(bob); len(h) != 1 || h[0].TxID != res.TxID {
		t.Fatalf("bob's history %+v", h)
	}
	e.checkConservation(a.Treasury(), e.bank("bank-b").Treasury(), alice, bob)
}

func TestOpenRejectsBadConfig(t *testing.T) {
	e := newEnv(t)
	net := e.net.Network
	tests := []struct {
		name string
		cfg  intermediary.Config
	}{
		{"no name", intermediary.Config{Network: net}},
		{"dot in name", intermediary.Config{Name: "bank.a", Network: net}},
		{"no network", intermediary.Config{Name: "bank-a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := intermediary.Open(t.TempDir(), tc.cfg, e.link, e.issuer, e.directory); err == nil {
				b.Close()
				t.Fatal("opened")
			}
		})
	}
}
