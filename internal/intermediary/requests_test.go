package intermediary_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// reqClock is a clock the test moves forward.
type reqClock struct{ off atomic.Int64 }

func (c *reqClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *reqClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// newRequestEnv is bank-a and bank-b on a clock the test moves.
func newRequestEnv(t testing.TB) (*env, *reqClock) {
	e := newEnv(t)
	c := &reqClock{}
	e.now = c.Now
	e.open("bank-a")
	e.open("bank-b")
	return e, c
}

// request creates a request of payee to payer for amount (0: open),
// expiring in an hour.
func (e *env) request(payee, payer string, amount uint64) roles.PaymentRequest {
	e.t.Helper()
	name := roles.IntermediaryOf(payee)
	r, err := e.bank(name).CreateRequest(as(name), roles.RequestSpec{Payee: payee, Payer: payer, Amount: amount,
		Reference: "invoice 42", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		e.t.Fatalf("create request: %v", err)
	}
	return r
}

// requestAt is request id as the intermediary of wallet sees it.
func (e *env) requestAt(wallet, id string) roles.PaymentRequest {
	e.t.Helper()
	name := roles.IntermediaryOf(wallet)
	r, err := e.bank(name).Request(as(name), id)
	if err != nil {
		e.t.Fatalf("request %s at %s: %v", id, name, err)
	}
	return r
}

func (e *env) accept(id, payer string, amount uint64) (roles.PaymentRequest, error) {
	name := roles.IntermediaryOf(payer)
	return e.bank(name).AcceptRequest(as(name), id, payer, amount)
}

// TestRequestPaidOnce pins that a request, fixed or open, to a payer at
// the same or another intermediary, is paid exactly once however often
// it is accepted, and that both sides see it paid by the same transaction.
func TestRequestPaidOnce(t *testing.T) {
	for _, tc := range []struct {
		name          string
		payerBank     string
		amount, given uint64
	}{
		{"same bank fixed", "bank-a", 2_500, 0},
		{"same bank fixed, amount given", "bank-a", 2_500, 2_500},
		{"cross bank fixed", "bank-b", 2_500, 0},
		{"cross bank open", "bank-b", 0, 1_234},
		{"same bank open", "bank-a", 0, 1_234},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newRequestEnv(t)
			payee := e.wallet("bank-a", "shop", 0)
			payer := e.wallet(tc.payerBank, "alice", 10_000)
			r := e.request(payee, payer, tc.amount)
			if r.State != roles.RequestPending || roles.IntermediaryOf(r.ID) != "bank-a" {
				t.Fatalf("created %+v", r)
			}
			// The payer's intermediary shows it to the payer.
			list, err := e.bank(tc.payerBank).WalletRequests(as(tc.payerBank), payer, roles.RequestAsPayer)
			if err != nil || len(list) != 1 || list[0].ID != r.ID || list[0].State != roles.RequestPending {
				t.Fatalf("payer's requests: %+v, %v", list, err)
			}
			want := tc.amount
			if want == 0 {
				want = tc.given
			}
			var txid money.TxID
			for i := range 3 { // the first accept and two retries
				got, err := e.accept(r.ID, payer, tc.given)
				if err != nil {
					t.Fatalf("accept %d: %v", i, err)
				}
				if got.State != roles.RequestPaid || got.Paid != want {
					t.Fatalf("accept %d: %+v", i, got)
				}
				if i == 0 {
					txid = got.TxID
				} else if got.TxID != txid {
					t.Fatalf("accept %d paid %s, first %s", i, got.TxID, txid)
				}
			}
			if got := e.balance(payee); got != want {
				t.Fatalf("payee balance %d, want %d", got, want)
			}
			if got := e.balance(payer); got != 10_000-want {
				t.Fatalf("payer balance %d, want %d", got, 10_000-want)
			}
			for _, w := range []string{payee, payer} {
				got := e.requestAt(w, r.ID)
				if got.State != roles.RequestPaid || got.TxID != txid || got.Paid != want {
					t.Fatalf("request at %s: %+v; want paid by %s", roles.IntermediaryOf(w), got, txid)
				}
			}
			h := e.history(payee)
			if len(h) != 1 || h[0].TxID != txid || h[0].Reference != "invoice 42" || h[0].Counterparty != payer {
				t.Fatalf("payee history %+v", h)
			}
			list, err = e.bank("bank-a").WalletRequests(as("bank-a"), payee, roles.RequestAsPayee)
			if err != nil || len(list) != 1 || list[0].State != roles.RequestPaid {
				t.Fatalf("payee's requests: %+v, %v", list, err)
			}
		})
	}
}

// TestRequestRefused pins every transition a request may not make: each
// is refused with its code, and neither money nor the request changes.
func TestRequestRefused(t *testing.T) {
	type world struct {
		e                   *env
		clock               *reqClock
		payee, payer, other string
		id                  string
	}
	cancel := func(w *world) error {
		_, err := w.e.bank("bank-a").CancelRequest(as("bank-a"), w.id, w.payee)
		return err
	}
	decline := func(w *world) error {
		name := roles.IntermediaryOf(w.payer)
		_, err := w.e.bank(name).DeclineRequest(as(name), w.id, w.payer)
		return err
	}
	accept := func(amount uint64) func(w *world) error {
		return func(w *world) error { _, err := w.e.accept(w.id, w.payer, amount); return err }
	}
	must := func(f func(*world) error) func(*world) {
		return func(w *world) {
			if err := f(w); err != nil {
				w.e.t.Fatalf("setup: %v", err)
			}
		}
	}
	expire := func(w *world) { w.clock.advance(2 * time.Hour) }
	for _, payerBank := range []string{"bank-a", "bank-b"} {
		for _, tc := range []struct {
			name   string
			amount uint64 // of the request; 0 open
			setup  func(*world)
			act    func(*world) error
			code   errcode.Code
			status int
			state  roles.RequestState
		}{
			{"accept expired", 100, expire, accept(0), errcode.Conflict, http.StatusConflict, roles.RequestExpired},
			{"decline expired", 100, expire, decline, errcode.Conflict, http.StatusConflict, roles.RequestExpired},
			{"cancel expired", 100, expire, cancel, errcode.Conflict, http.StatusConflict, roles.RequestExpired},
			{"accept declined", 100, must(decline), accept(0), errcode.Conflict, http.StatusConflict, roles.RequestDeclined},
			{"cancel declined", 100, must(decline), cancel, errcode.Conflict, http.StatusConflict, roles.RequestDeclined},
			{"accept cancelled", 100, must(cancel), accept(0), errcode.Conflict, http.StatusConflict, roles.RequestCancelled},
			{"decline cancelled", 100, must(cancel), decline, errcode.Conflict, http.StatusConflict, roles.RequestCancelled},
			{"decline paid", 100, must(accept(0)), decline, errcode.Conflict, http.StatusConflict, roles.RequestPaid},
			{"cancel paid", 100, must(accept(0)), cancel, errcode.Conflict, http.StatusConflict, roles.RequestPaid},
			{"wrong wallet accepts", 100, nil, func(w *world) error {
				_, err := w.e.accept(w.id, w.other, 0)
				return err
			}, errcode.Unauthorized, http.StatusForbidden, roles.RequestPending},
			{"wrong wallet cancels", 100, nil, func(w *world) error {
				_, err := w.e.bank("bank-a").CancelRequest(as("bank-a"), w.id, w.payer)
				return err
			}, errcode.Unauthorized, http.StatusForbidden, roles.RequestPending},
			{"fixed accepted for another amount", 100, nil, accept(99), errcode.Conflict, http.StatusConflict, roles.RequestPending},
			{"open accepted without amount", 0, nil, accept(0), errcode.Malformed, http.StatusBadRequest, roles.RequestPending},
			{"accept beyond the balance", 50_000, nil, accept(0), errcode.InsufficientFunds, 0, roles.RequestPending},
			{"unknown request", 100, nil, func(w *world) error {
				_, err := w.e.accept("bank-a.rqnosuchone", w.payer, 100)
				return err
			}, errcode.NotFound, http.StatusNotFound, roles.RequestPending},
			{"another bank's customer accepts", 100, nil, func(w *world) error {
				name := roles.IntermediaryOf(w.payer)
				_, err := w.e.bank(name).AcceptRequest(as("bank-c"), w.id, w.payer, 0)
				return err
			}, errcode.Unauthorized, http.StatusForbidden, roles.RequestPending},
		} {
			t.Run(payerBank+"/"+tc.name, func(t *testing.T) {
				e, clock := newRequestEnv(t)
				w := &world{e: e, clock: clock, payee: e.wallet("bank-a", "shop", 0), payer: e.wallet(payerBank, "alice", 10_000),
					other: e.wallet(payerBank, "mallory", 10_000)}
				w.id = e.request(w.payee, w.payer, tc.amount).ID
				if tc.setup != nil {
					tc.setup(w)
				}
				before := e.snapshot(w.payee, w.payer, w.other)
				reqBefore := [2]roles.PaymentRequest{e.requestAt(w.payee, w.id), e.requestAt(w.payer, w.id)}
				wantCode(t, tc.act(w), tc.code, tc.status)
				e.unchanged(t, before, w.payee, w.payer, w.other)
				for i, wl := range []string{w.payee, w.payer} {
					got := e.requestAt(wl, w.id)
					if got.State != tc.state || got.Amount != reqBefore[i].Amount || got.Paid != reqBefore[i].Paid || got.TxID != reqBefore[i].TxID {
						t.Fatalf("request at %s: %+v; before %+v, want state %s", roles.IntermediaryOf(wl), got, reqBefore[i], tc.state)
					}
				}
			})
		}
	}
}

// TestRequestDeclineAndCancelSeenByBoth pins that the payee sees a
// decline, and the payer a cancel, across intermediaries.
func TestRequestDeclineAndCancelSeenByBoth(t *testing.T) {
	e, _ := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 1_000)
	r1, r2 := e.request(payee, payer, 100), e.request(payee, payer, 200)
	if _, err := e.bank("bank-b").DeclineRequest(as("bank-b"), r1.ID, payer); err != nil {
		t.Fatal(err)
	}
	if _, err := e.bank("bank-a").CancelRequest(as("bank-a"), r2.ID, payee); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{payee, payer} {
		if got := e.requestAt(w, r1.ID).State; got != roles.RequestDeclined {
			t.Fatalf("r1 at %s: %s", w, got)
		}
		if got := e.requestAt(w, r2.ID).State; got != roles.RequestCancelled {
			t.Fatalf("r2 at %s: %s", w, got)
		}
	}
	list, err := e.bank("bank-a").WalletRequests(as("bank-a"), payee, roles.RequestEither)
	if err != nil || len(list) != 2 || list[0].ID != r1.ID || list[1].ID != r2.ID {
		t.Fatalf("payee's list %+v, %v", list, err)
	}
	_, err = e.bank("bank-a").WalletRequests(as("bank-a"), payee, "owner")
	wantCode(t, err, errcode.Malformed, http.StatusBadRequest)
}

// TestRequestRefusedPaymentReleased pins that a payment refused for want
// of funds leaves the request pending (the payee may cancel it again)
// and a later accept, once funded, pays it once.
func TestRequestRefusedPaymentReleased(t *testing.T) {
	e, _ := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 100)
	r := e.request(payee, payer, 500)
	_, err := e.accept(r.ID, payer, 0)
	wantCode(t, err, errcode.InsufficientFunds, 0)
	for _, w := range []string{payee, payer} {
		if got := e.requestAt(w, r.ID).State; got != roles.RequestPending {
			t.Fatalf("after a refused payment, at %s: %s", w, got)
		}
	}
	e.issue("bank-b", 1_000)
	if _, err := e.bank("bank-b").Pay(as("bank-b"), roles.Payment{From: e.bank("bank-b").Treasury(), To: payer, Amount: 1_000}); err != nil {
		t.Fatal(err)
	}
	got, err := e.accept(r.ID, payer, 0)
	if err != nil || got.State != roles.RequestPaid {
		t.Fatalf("accept once funded: %+v, %v", got, err)
	}
	if e.balance(payee) != 500 || e.balance(payer) != 600 {
		t.Fatalf("balances payee %d payer %d", e.balance(payee), e.balance(payer))
	}
}

// crashLedger is the ledger behind a link on which the payer's
// intermediary dies right after a submission committed: after runs (a
// crash image is taken) and the answer is lost.
type crashLedger struct {
	roles.Ledger
	after func()
	armed atomic.Bool
}

func (c *crashLedger) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	r, err := c.Ledger.Submit(ctx, tx)
	if err == nil && c.armed.CompareAndSwap(true, false) {
		c.after()
		return roles.Receipt{}, errcode.New(errcode.Unavailable, "connection reset")
	}
	return r, err
}

func (c *crashLedger) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	out := make([]roles.Result, len(txs))
	for i, tx := range txs {
		out[i].Receipt, out[i].Err = c.Submit(ctx, tx)
	}
	return out, nil
}

// TestRequestCrashBetweenPaymentAndMark pins that a payer's intermediary
// that dies after the ledger committed a request's payment, before it
// recorded it, marks the request paid when it opens again, on both sides,
// and that accepting again answers that payment and pays nothing more.
func TestRequestCrashBetweenPaymentAndMark(t *testing.T) {
	for _, payerBank := range []string{"bank-a", "bank-b"} {
		t.Run(payerBank, func(t *testing.T) {
			e, _ := newRequestEnv(t)
			e.close(payerBank)
			mem := vfs.NewCrashableMem()
			var crashed vfs.FS
			var once sync.Once
			link := &crashLedger{Ledger: e.link, after: func() { once.Do(func() { crashed = mem.CrashClone(vfs.CrashCloneCfg{}) }) }}
			cfg := e.config(payerBank)
			cfg.FS = mem
			b, err := intermediary.Open(filepath.Join(e.root, payerBank), cfg, link, e.issuer, e.directory)
			if err != nil {
				t.Fatal(err)
			}
			e.mu.Lock()
			e.banks[payerBank] = b
			e.mu.Unlock()
			payee, payer := e.wallet("bank-a", "shop", 0), e.wallet(payerBank, "alice", 10_000)
			r := e.request(payee, payer, 700)

			link.armed.Store(true)
			_, err = e.accept(r.ID, payer, 0)
			wantCode(t, err, errcode.Unavailable, 0)
			if crashed == nil {
				t.Fatal("no crash image taken")
			}
			e.openOn(payerBank, crashed) // Open settles the spend with the ledger
			if err := e.bank(payerBank).RetryDeliveries(context.Background()); err != nil {
				t.Fatal(err)
			}
			paid := e.requestAt(payer, r.ID)
			if paid.State != roles.RequestPaid {
				t.Fatalf("payer's side after the restart: %+v", paid)
			}
			if got := e.requestAt(payee, r.ID); got.State != roles.RequestPaid || got.TxID != paid.TxID {
				t.Fatalf("payee's side after the restart: %+v, payer's %+v", got, paid)
			}
			again, err := e.accept(r.ID, payer, 0)
			if err != nil || again.TxID != paid.TxID {
				t.Fatalf("accept again: %+v, %v; want %s", again, err, paid.TxID)
			}
			if e.balance(payee) != 700 || e.balance(payer) != 9_300 {
				t.Fatalf("balances payee %d payer %d", e.balance(payee), e.balance(payer))
			}
			if _, err := e.ledger.Tx(context.Background(), paid.TxID); err != nil {
				t.Fatalf("paying tx on the ledger: %v", err)
			}
		})
	}
}

// relayDown is a peer whose request relay is unreachable.
type relayDown struct {
	*intermediary.Intermediary
	down   atomic.Bool
	refuse atomic.Bool // offers are refused for good
}

func (r *relayDown) OfferRequest(ctx context.Context, p roles.PaymentRequest) error {
	if r.down.Load() {
		return errcode.New(errcode.Unavailable, "peer unreachable")
	}
	if r.refuse.Load() {
		return errcode.New(errcode.NotFound, "no wallet %s", p.Payer)
	}
	return r.Intermediary.OfferRequest(ctx, p)
}

func (r *relayDown) AnswerRequest(ctx context.Context, a roles.RequestAnswer) (roles.PaymentRequest, error) {
	if r.down.Load() {
		return roles.PaymentRequest{}, errcode.New(errcode.Unavailable, "peer unreachable")
	}
	return r.Intermediary.AnswerRequest(ctx, a)
}

// TestRequestOfferSurvivesPeerOutage pins that a request made while the
// payer's intermediary is down reaches it later, also across a restart of
// the payee's, and that a decline while the owner is down changes nothing.
func TestRequestOfferSurvivesPeerOutage(t *testing.T) {
	e, _ := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 1_000)
	b := &relayDown{Intermediary: e.bank("bank-b")}
	b.down.Store(true)
	e.mu.Lock()
	e.peers["bank-b"] = b
	e.mu.Unlock()
	r := e.request(payee, payer, 300)
	if _, err := e.bank("bank-b").Request(as("bank-b"), r.ID); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("payer's side while down: %v", err)
	}
	wantCode(t, e.bank("bank-a").RetryRequestOffers(context.Background()), errcode.Unavailable, 0)
	e.close("bank-a")
	e.open("bank-a")
	b.down.Store(false)
	if err := e.bank("bank-a").RetryRequestOffers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.requestAt(payer, r.ID); got.State != roles.RequestPending || got.Amount != 300 {
		t.Fatalf("payer's side: %+v", got)
	}
	// A cancel the payer's intermediary refuses for good is not offered
	// again and again.
	r5 := e.request(payee, payer, 5)
	b.refuse.Store(true)
	if _, err := e.bank("bank-a").CancelRequest(as("bank-a"), r5.ID, payee); err != nil {
		t.Fatal(err)
	}
	if err := e.bank("bank-a").RetryRequestOffers(context.Background()); err != nil {
		t.Fatalf("offers left after a definite refusal: %v", err)
	}
	b.refuse.Store(false)
	// The owner down: a decline is refused as unavailable, nothing changes.
	a := &relayDown{Intermediary: e.bank("bank-a")}
	a.down.Store(true)
	e.mu.Lock()
	e.peers["bank-a"] = a
	e.mu.Unlock()
	_, err := e.bank("bank-b").DeclineRequest(as("bank-b"), r.ID, payer)
	wantCode(t, err, errcode.Unavailable, 0)
	for _, w := range []string{payee, payer} {
		if got := e.requestAt(w, r.ID).State; got != roles.RequestPending {
			t.Fatalf("at %s after a decline that did not reach the owner: %s", w, got)
		}
	}
}

// TestRequestCreateRefused pins malformed requests: nothing is made.
func TestRequestCreateRefused(t *testing.T) {
	e, _ := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 0)
	hour := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		s    roles.RequestSpec
		code errcode.Code
	}{
		{"no payer", as("bank-a"), roles.RequestSpec{Payee: payee, Amount: 1, Expires: hour}, errcode.Malformed},
		{"payer not a wallet id", as("bank-a"), roles.RequestSpec{Payee: payee, Payer: "alice", Amount: 1, Expires: hour}, errcode.Malformed},
		{"itself", as("bank-a"), roles.RequestSpec{Payee: payee, Payer: payee, Amount: 1, Expires: hour}, errcode.Malformed},
		{"past expiry", as("bank-a"), roles.RequestSpec{Payee: payee, Payer: payer, Amount: 1, Expires: time.Now().Add(-time.Second)}, errcode.Malformed},
		{"no expiry", as("bank-a"), roles.RequestSpec{Payee: payee, Payer: payer, Amount: 1}, errcode.Malformed},
		{"unknown payer", as("bank-a"), roles.RequestSpec{Payee: payee, Payer: "bank-b.nosuchwallet", Amount: 1, Expires: hour}, errcode.NotFound},
		{"unknown payer bank", as("bank-a"), roles.RequestSpec{Payee: payee, Payer: "bank-z.w", Amount: 1, Expires: hour}, errcode.NotFound},
		{"payee elsewhere", as("bank-a"), roles.RequestSpec{Payee: payer, Payer: payee, Amount: 1, Expires: hour}, errcode.Unauthorized},
		{"other bank's credential", as("bank-b"), roles.RequestSpec{Payee: payee, Payer: payer, Amount: 1, Expires: hour}, errcode.Unauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.bank("bank-a").CreateRequest(tc.ctx, tc.s)
			wantCode(t, err, tc.code, 0)
			for _, w := range []string{payee, payer} {
				name := roles.IntermediaryOf(w)
				if l, err := e.bank(name).WalletRequests(as(name), w, ""); err != nil || len(l) != 0 {
					t.Fatalf("requests of %s: %+v, %v", w, l, err)
				}
			}
		})
	}
}

// TestRequestBeingPaidCannotBeCancelled pins that once the payer accepted
// and the payment's outcome is unknown (the ledger unreachable), the payee
// cannot cancel nor the payer decline, and accepting again once the
// ledger is back pays exactly once.
func TestRequestBeingPaidCannotBeCancelled(t *testing.T) {
	for _, payerBank := range []string{"bank-a", "bank-b"} {
		t.Run(payerBank, func(t *testing.T) {
			e, _ := newRequestEnv(t)
			payee, payer := e.wallet("bank-a", "shop", 0), e.wallet(payerBank, "alice", 1_000)
			r := e.request(payee, payer, 400)
			e.link.down.Store(true)
			_, err := e.accept(r.ID, payer, 0)
			wantCode(t, err, errcode.Unavailable, 0)
			for _, w := range []string{payee, payer} {
				if got := e.requestAt(w, r.ID).State; got != roles.RequestAccepted {
					t.Fatalf("at %s while the payment is in flight: %s", roles.IntermediaryOf(w), got)
				}
			}
			_, err = e.bank("bank-a").CancelRequest(as("bank-a"), r.ID, payee)
			wantCode(t, err, errcode.Conflict, http.StatusConflict)
			_, err = e.bank(payerBank).DeclineRequest(as(payerBank), r.ID, payer)
			wantCode(t, err, errcode.Conflict, http.StatusConflict)
			e.link.down.Store(false)
			got, err := e.accept(r.ID, payer, 0)
			if err != nil || got.State != roles.RequestPaid {
				t.Fatalf("accept once the ledger is back: %+v, %v", got, err)
			}
			if err := e.bank(payerBank).RetryDeliveries(context.Background()); err != nil {
				t.Fatal(err)
			}
			if s := e.requestAt(payee, r.ID); s.State != roles.RequestPaid || s.TxID != got.TxID {
				t.Fatalf("payee's side: %+v", s)
			}
			if e.balance(payee) != 400 || e.balance(payer) != 600 {
				t.Fatalf("balances payee %d payer %d", e.balance(payee), e.balance(payer))
			}
		})
	}
}

// TestRequestOfferRefused pins what the payer's intermediary refuses of
// an offer, and that an older version never replaces a newer copy.
func TestRequestOfferRefused(t *testing.T) {
	e, _ := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 0)
	r := e.request(payee, payer, 100)
	if _, err := e.bank("bank-a").CancelRequest(as("bank-a"), r.ID, payee); err != nil {
		t.Fatal(err)
	}
	b := e.bank("bank-b")
	mod := func(f func(*roles.PaymentRequest)) roles.PaymentRequest { c := r; f(&c); return c }
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		offer  roles.PaymentRequest
		code   errcode.Code
		status int
	}{
		{"not the owner", as("bank-b"), r, errcode.Unauthorized, http.StatusForbidden},
		{"a customer's credential", roles.WithCaller(context.Background(), roles.Principal{Name: "alice", Role: "customer"}), r, errcode.Unauthorized, http.StatusForbidden},
		{"unknown payer", as("bank-a"), mod(func(p *roles.PaymentRequest) { p.Payer = "bank-b.nosuch"; p.ID += "x" }), errcode.NotFound, http.StatusNotFound},
		{"payer elsewhere", as("bank-a"), mod(func(p *roles.PaymentRequest) { p.Payer = "bank-a.x"; p.ID += "y" }), errcode.NotFound, http.StatusNotFound},
		{"unknown state", as("bank-a"), mod(func(p *roles.PaymentRequest) { p.State = "lost"; p.Version = 9 }), errcode.Malformed, http.StatusBadRequest},
		{"no version", as("bank-a"), mod(func(p *roles.PaymentRequest) { p.Version = 0 }), errcode.Malformed, http.StatusBadRequest},
		{"other wallets", as("bank-a"), mod(func(p *roles.PaymentRequest) { p.Payer = e.wallet("bank-b", "eve", 0); p.Version = 9 }), errcode.Conflict, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, b.OfferRequest(tc.ctx, tc.offer), tc.code, tc.status)
			if got := e.requestAt(payer, r.ID); got.State != roles.RequestCancelled {
				t.Fatalf("payer's copy after a refused offer: %+v", got)
			}
		})
	}
	// The first version again (a late retry): the cancelled copy stays.
	if err := b.OfferRequest(as("bank-a"), r); err != nil {
		t.Fatal(err)
	}
	if got := e.requestAt(payer, r.ID); got.State != roles.RequestCancelled || got.Version != 2 {
		t.Fatalf("payer's copy after a stale offer: %+v", got)
	}
}

// TestRequestToAlias pins that a request may name its payer by alias: the
// payee's intermediary resolves it through the alias directory, the
// request names the wallet, and the payer pays it; an alias bound to no
// wallet makes nothing.
func TestRequestToAlias(t *testing.T) {
	ae := newAliasEnv(t)
	payee, payer := ae.wallet("bank-a", "shop", 0), ae.wallet("bank-b", "alice", 1_000)
	ae.register("bank-b", payer, "+15550001111", false)
	r, err := ae.bank("bank-a").CreateRequest(as("bank-a"), roles.RequestSpec{Payee: payee, Payer: "+1 555 000 1111", Amount: 250,
		Expires: ae.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Payer != payer {
		t.Fatalf("request to the alias names payer %s, want %s", r.Payer, payer)
	}
	got, err := ae.accept(r.ID, payer, 0)
	if err != nil || got.State != roles.RequestPaid || ae.balance(payee) != 250 {
		t.Fatalf("accept: %+v, %v; payee holds %d", got, err, ae.balance(payee))
	}
	_, err = ae.bank("bank-a").CreateRequest(as("bank-a"), roles.RequestSpec{Payee: payee, Payer: "nobody@example.org", Amount: 1,
		Expires: ae.clock.Now().Add(time.Hour)})
	wantCode(t, err, errcode.NotFound, http.StatusNotFound)
	if l, err := ae.bank("bank-a").WalletRequests(as("bank-a"), payee, roles.RequestAsPayee); err != nil || len(l) != 1 {
		t.Fatalf("the shop's requests: %+v, %v", l, err)
	}
}
