package intermediary_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// outs counts a wallet's outgoing history entries.
func (e *env) outs(id string) int {
	e.t.Helper()
	n := 0
	for _, h := range e.history(id) {
		if h.Direction == "out" {
			n++
		}
	}
	return n
}

// Paying twice with one idempotency key pays once: the retry answers the
// first result (same txid and receipt), whether the payee is here or at
// another intermediary, and the key does not block other payments.
func TestIdempotentPayTwice(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 1000)
	carol := e.wallet("bank-a", "carol", 0)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, carol, bob}

	for i, to := range []string{carol, bob} {
		p := roles.Payment{From: alice, To: to, Amount: 100, Reference: "invoice 7", IdempotencyKey: fmt.Sprintf("order-%d", i)}
		first, err := a.Pay(as("bank-a"), p)
		if err != nil {
			t.Fatal(err)
		}
		if first.Receipt.TxID != first.TxID || first.Receipt.Batch == 0 {
			t.Fatalf("first result %+v", first)
		}
		before := e.snapshot(all...)
		again, err := a.Pay(as("bank-a"), p)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if again != first {
			t.Fatalf("retry answered %+v, first answer was %+v", again, first)
		}
		if after := e.snapshot(all...); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("retry changed state:\nbefore %+v\nafter  %+v", before, after)
		}
		if got := e.balance(to); got != 100 {
			t.Fatalf("payee %s holds %d, want 100", to, got)
		}
		if h := e.history(to); len(h) != 1 || h[0].TxID != first.TxID {
			t.Fatalf("payee history %+v", h)
		}
	}
	if got, n := e.balance(alice), e.outs(alice); got != 800 || n != 2 {
		t.Fatalf("alice holds %d with %d payments out, want 800 and 2", got, n)
	}
	// Without a key, or with a fresh one, the same payment is paid again.
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 100, Reference: "invoice 7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 100, Reference: "invoice 7", IdempotencyKey: "order-2"}); err != nil {
		t.Fatal(err)
	}
	if got := e.balance(carol); got != 300 {
		t.Fatalf("carol holds %d, want 300", got)
	}
	e.checkConservation(all...)
}

// Retries racing with one key make exactly one payment: every caller gets
// the same result.
func TestIdempotentPayConcurrent(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	p := roles.Payment{From: alice, To: bob, Amount: 250, IdempotencyKey: "2b7c9a4e-0d1f-4c55-9a8b-3f0e6d2c1a90"}

	const n = 8
	res := make([]roles.PaymentResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i], errs[i] = a.Pay(as("bank-a"), p)
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		if res[i] != res[0] {
			t.Fatalf("attempt %d answered %+v, attempt 0 %+v", i, res[i], res[0])
		}
	}
	if got, outs := e.balance(alice), e.outs(alice); got != 750 || outs != 1 {
		t.Fatalf("alice holds %d after %d payments out, want 750 after 1", got, outs)
	}
	if got := e.balance(bob); got != 250 {
		t.Fatalf("bob holds %d, want 250", got)
	}
	e.checkConservation(a.Treasury(), e.bank("bank-b").Treasury(), alice, bob)
}

// The key is remembered durably: a retry after a restart answers the
// original result and pays nothing.
func TestIdempotentPayAfterReopen(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	p := roles.Payment{From: alice, To: bob, Amount: 300, Reference: "rent", IdempotencyKey: "rent-2026-03"}
	first, err := e.bank("bank-a").Pay(as("bank-a"), p)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{e.bank("bank-a").Treasury(), e.bank("bank-b").Treasury(), alice, bob}
	before := e.snapshot(all...)

	e.close("bank-a")
	a := e.open("bank-a")
	again, err := a.Pay(as("bank-a"), p)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("after restart answered %+v, first answer was %+v", again, first)
	}
	if after := e.snapshot(all...); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("retry after restart changed state:\nbefore %+v\nafter  %+v", before, after)
	}
	p.Amount = 301
	_, err = a.Pay(as("bank-a"), p)
	wantCode(t, err, errcode.Conflict, http.StatusConflict)
}

// One key, a different payment: conflict, and nothing changes. The key
// space is the intermediary's, shared by its wallets.
func TestIdempotencyKeyConflict(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 1000)
	carol := e.wallet("bank-a", "carol", 500)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, carol, bob}
	orig := roles.Payment{From: alice, To: bob, Amount: 100, Reference: "x", IdempotencyKey: "k1"}
	first, err := a.Pay(as("bank-a"), orig)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		change func(p *roles.Payment)
	}{
		{"different amount", func(p *roles.Payment) { p.Amount = 101 }},
		{"different payee", func(p *roles.Payment) { p.To = carol }},
		{"different reference", func(p *roles.Payment) { p.Reference = "y" }},
		{"no reference", func(p *roles.Payment) { p.Reference = "" }},
		{"another wallet of the same bank", func(p *roles.Payment) { p.From = carol }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := orig
			tc.change(&p)
			before := e.snapshot(all...)
			_, err := a.Pay(as("bank-a"), p)
			wantCode(t, err, errcode.Conflict, http.StatusConflict)
			if !strings.Contains(err.Error(), "idempotency key reused for a different payment") {
				t.Fatalf("message %q", err)
			}
			e.unchanged(t, before, all...)
		})
	}
	// The original request still answers its result.
	again, err := a.Pay(as("bank-a"), orig)
	if err != nil || again != first {
		t.Fatalf("original retried: %+v, %v; want %+v", again, err, first)
	}
	// The same key at another intermediary is another key.
	if _, err := e.bank("bank-b").Pay(as("bank-b"), roles.Payment{From: bob, To: alice, Amount: 50, IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
}

// A payment rejected under a key stays rejected under it: a retry gets the
// same code and message and changes nothing, even once it could succeed.
func TestIdempotentPayRejected(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 500)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, bob}

	tests := []struct {
		name   string
		amount uint64
		fault  func(on bool)
		code   errcode.Code
	}{
		{"insufficient funds", 501, func(bool) {}, errcode.InsufficientFunds},
		{"ledger rejects a bad signature", 100, func(on bool) { e.link.tamper.Store(on) }, errcode.BadSignature},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := roles.Payment{From: alice, To: bob, Amount: tc.amount, IdempotencyKey: fmt.Sprintf("rejected-%d", i)}
			before := e.snapshot(all...)
			tc.fault(true)
			_, first := a.Pay(as("bank-a"), p)
			tc.fault(false)
			wantCode(t, first, tc.code, 0)
			for range 2 {
				_, err := a.Pay(as("bank-a"), p)
				wantCode(t, err, tc.code, errcode.HTTPStatus(first))
				if err.Error() != first.Error() {
					t.Fatalf("retry answered %q, first %q", err, first)
				}
				e.unchanged(t, before, all...)
			}
		})
	}
	// Money arrives; the rejected key still answers its rejection, a new
	// key pays.
	e.issue("bank-a", 1)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: alice, Amount: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 501, IdempotencyKey: "rejected-0"})
	wantCode(t, err, errcode.InsufficientFunds, 0)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 501, IdempotencyKey: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if e.balance(bob) != 501 || e.balance(alice) != 0 {
		t.Fatalf("alice %d bob %d", e.balance(alice), e.balance(bob))
	}
	e.checkConservation(all...)
}

// Requests refused before any money could move are not remembered: the
// key stays free for the corrected request.
func TestIdempotencyKeyNotTakenByRefusals(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 500)
	carol := e.wallet("bank-a", "carol", 0)
	_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: "bank-a.nosuchwlt", Amount: 100, IdempotencyKey: "k"})
	wantCode(t, err, errcode.NotFound, 0)
	_, err = a.Pay(asIssuer, roles.Payment{From: alice, To: carol, Amount: 100, IdempotencyKey: "k"})
	wantCode(t, err, errcode.Unauthorized, 0)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 100, IdempotencyKey: "k"}); err != nil {
		t.Fatalf("the corrected request: %v", err)
	}
	if e.balance(carol) != 100 {
		t.Fatalf("carol %d", e.balance(carol))
	}
}

func TestIdempotencyKeyFormat(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 500)
	carol := e.wallet("bank-a", "carol", 0)
	all := []string{a.Treasury(), alice, carol}
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"128 characters", strings.Repeat("k", 128), true},
		{"every printable character", " !\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~", true},
		{"129 characters", strings.Repeat("k", 129), false},
		{"newline", "a\nb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "clé", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(all...)
			_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 1, IdempotencyKey: tc.key})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, errcode.Malformed, http.StatusBadRequest)
			e.unchanged(t, before, all...)
		})
	}
}

// When the first attempt's outcome is unknown, a retry never builds a
// second transaction: it settles the first with the ledger if it can,
// and otherwise answers unavailable naming the first txid.
func TestIdempotentPayOutcomeUnknown(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, bob}

	t.Run("committed, answer lost: the retry finds it", func(t *testing.T) {
		p := roles.Payment{From: alice, To: bob, Amount: 100, IdempotencyKey: "lost-reply"}
		e.link.lostReply.Store(true)
		first, err := a.Pay(as("bank-a"), p)
		e.link.lostReply.Store(false)
		wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
		if first.TxID == (money.TxID{}) || !strings.Contains(err.Error(), first.TxID.String()) {
			t.Fatalf("unknown outcome must name the txid: %+v, %v", first, err)
		}
		again, err := a.Pay(as("bank-a"), p)
		if err != nil {
			t.Fatal(err)
		}
		if again.TxID != first.TxID || again.Receipt.TxID != first.TxID || again.Receipt.Batch == 0 {
			t.Fatalf("retry answered %+v, first attempt was %s", again, first.TxID)
		}
		info, err := e.ledger.Tx(context.Background(), first.TxID)
		if err != nil || info.Header.Seq != again.Receipt.Batch || info.Index != again.Receipt.Index {
			t.Fatalf("ledger %+v %v, receipt %+v", info, err, again.Receipt)
		}
		third, err := a.Pay(as("bank-a"), p)
		if err != nil || third != again {
			t.Fatalf("third try %+v %v", third, err)
		}
		if e.balance(alice) != 900 || e.outs(alice) != 1 {
			t.Fatalf("alice %d, %d out", e.balance(alice), e.outs(alice))
		}
		if s := e.snapshot(all...); s.Pending != 0 {
			t.Fatalf("%d pending", s.Pending)
		}
	})

	t.Run("never reached the ledger: unavailable until certain, then paid once", func(t *testing.T) {
		e.close("bank-a")
		cfg := e.config("bank-a")
		cfg.SettleAfter = time.Hour
		a = e.openWith(cfg)
		p := roles.Payment{From: alice, To: bob, Amount: 100, IdempotencyKey: "never-arrived"}
		e.link.down.Store(true)
		first, err := a.Pay(as("bank-a"), p)
		wantCode(t, err, errcode.Unavailable, 0)
		for _, down := range []bool{true, false} {
			e.link.down.Store(down)
			before := e.snapshot(all...)
			res, err := a.Pay(as("bank-a"), p)
			wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
			if res.TxID != first.TxID || !strings.Contains(err.Error(), first.TxID.String()) {
				t.Fatalf("ledger down=%v: retry %+v %v, want txid %s", down, res, err, first.TxID)
			}
			if after := e.snapshot(all...); fmt.Sprint(after) != fmt.Sprint(before) || after.Pending != 1 {
				t.Fatalf("ledger down=%v: retry changed state or built a transaction:\nbefore %+v\nafter  %+v", down, before, after)
			}
		}
		// Once the ledger's "never heard of it" is final, the key is
		// released: the retry pays, once.
		e.close("bank-a")
		a = e.open("bank-a") // SettleAfter -1: settled at once
		if e.balance(alice) != 900 {
			t.Fatalf("alice %d after settling, want 900", e.balance(alice))
		}
		res, err := a.Pay(as("bank-a"), p)
		if err != nil {
			t.Fatal(err)
		}
		// (The rebuilt transaction may well be the first one again: same
		// notes, same outputs, deterministic signatures.)
		if _, err := e.ledger.Tx(context.Background(), res.TxID); err != nil || res.Receipt.Batch == 0 {
			t.Fatalf("paid %+v, but the ledger says %v", res, err)
		}
		again, err := a.Pay(as("bank-a"), p)
		if err != nil || again != res {
			t.Fatalf("retry %+v %v, want %+v", again, err, res)
		}
		if e.balance(alice) != 800 || e.outs(alice) != 2 {
			t.Fatalf("alice %d, %d out", e.balance(alice), e.outs(alice))
		}
	})

	t.Run("still in flight: the retry waits, or says unavailable with the txid", func(t *testing.T) {
		p := roles.Payment{From: alice, To: bob, Amount: 100, IdempotencyKey: "in-flight"}
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		hold := func() {
			once.Do(func() { close(entered) })
			<-release
		}
		e.link.hold.Store(&hold)
		type answer struct {
			res roles.PaymentResult
			err error
		}
		firstC := make(chan answer, 1)
		go func() {
			r, err := a.Pay(as("bank-a"), p)
			firstC <- answer{r, err}
		}()
		<-entered
		e.link.hold.Store(nil)

		// A retry whose patience runs out is told to come back, with the txid.
		ctx, cancel := context.WithTimeout(as("bank-a"), 50*time.Millisecond)
		res, err := a.Pay(ctx, p)
		cancel()
		wantCode(t, err, errcode.Unavailable, 0)
		pending, perr := a.Pending()
		if perr != nil || len(pending) != 1 || res.TxID != pending[0] || !strings.Contains(err.Error(), pending[0].String()) {
			t.Fatalf("impatient retry %+v %v; pending %v %v", res, err, pending, perr)
		}
		// A patient retry waits for the first attempt.
		waitC := make(chan answer, 1)
		go func() {
			r, err := a.Pay(as("bank-a"), p)
			waitC <- answer{r, err}
		}()
		time.Sleep(20 * time.Millisecond)
		close(release)
		first, waited := <-firstC, <-waitC
		if first.err != nil || waited.err != nil || waited.res != first.res || first.res.TxID != pending[0] {
			t.Fatalf("first %+v, waiting retry %+v", first, waited)
		}
		if e.balance(alice) != 700 || e.outs(alice) != 3 {
			t.Fatalf("alice %d, %d out", e.balance(alice), e.outs(alice))
		}
	})
	e.checkConservation(all...)
}
