package intermediary_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// batchIv is the batch interval the reservation tests assume: an expiry of
// 3*batchIv is three batches.
const batchIv = 10 * time.Millisecond

// resEnv is bank-a and bank-b, each with a treasury, reservations timed at
// batchIv a batch; the payer's wallet at bank-a holds 1000.
type resEnv struct {
	*env
	payer  string
	filler string // a wallet the ledger is advanced with
}

func newResEnv(t *testing.T) *resEnv {
	t.Helper()
	e := newEnv(t)
	for _, n := range []string{"bank-a", "bank-b"} {
		e.openRes(n)
	}
	r := &resEnv{env: e}
	r.payer = e.wallet("bank-a", "payer", 1000)
	r.filler = e.wallet("bank-a", "filler", 0)
	e.issue("bank-a", 1000)
	return r
}

func (e *env) openRes(name string) *intermediary.Intermediary {
	cfg := e.config(name)
	cfg.ReservationBatchInterval = batchIv
	return e.openWith(cfg)
}

// advance commits n payments, so the ledger's batch number moves on by n.
func (r *resEnv) advance(n int) {
	r.t.Helper()
	a := r.bank("bank-a")
	for range n {
		if _, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: r.filler, Amount: 1}); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *resEnv) reserve(t *testing.T, to string, amount uint64, in time.Duration) roles.FundsReservation {
	t.Helper()
	res, err := r.bank("bank-a").Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: to, Amount: amount, ExpiresIn: in, Reference: "room 12"})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != roles.ReservationActive {
		t.Fatalf("reservation %+v: want active", res)
	}
	return res
}

func (r *resEnv) wallet(t *testing.T, id string) roles.Wallet {
	t.Helper()
	name := roles.IntermediaryOf(id)
	w, err := r.bank(name).Wallet(as(name), id)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// show is reservation id as the intermediary of wallet sees it.
func (r *resEnv) show(t *testing.T, wallet, id string) roles.FundsReservation {
	t.Helper()
	name := roles.IntermediaryOf(wallet)
	res, err := r.bank(name).GetReservation(as(name), id)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (r *resEnv) all() []string {
	return []string{r.payer, r.filler, r.bank("bank-a").Treasury(), r.bank("bank-b").Treasury()}
}

// TestReservationFlows reserves 600 of the payer's 1000 for a payee at the
// same bank and at the other, then captures part, captures all, voids or
// lets it expire, and checks what each side's customer sees.
func TestReservationFlows(t *testing.T) {
	type want struct {
		state          string
		payer, payee   uint64
		captured       uint64
		payeeHistoryIn int
	}
	tests := []struct {
		name string
		bank string // the payee's
		act  func(t *testing.T, r *resEnv, id, payee string) (roles.FundsReservation, error)
		want want
	}{
		{"capture part, same bank", "bank-a", capture(250), want{roles.ReservationCaptured, 750, 250, 250, 1}},
		{"capture part, other bank", "bank-b", capture(250), want{roles.ReservationCaptured, 750, 250, 250, 1}},
		{"capture all, other bank", "bank-b", capture(600), want{roles.ReservationCaptured, 400, 600, 600, 1}},
		{"void, same bank", "bank-a", voidIt, want{roles.ReservationVoided, 1000, 0, 0, 0}},
		{"void, other bank", "bank-b", voidIt, want{roles.ReservationVoided, 1000, 0, 0, 0}},
		{"expiry refund, other bank", "bank-b", expire, want{roles.ReservationRefunded, 1000, 0, 0, 0}},
		{"expiry refund, same bank", "bank-a", expire, want{roles.ReservationRefunded, 1000, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newResEnv(t)
			payee := r.env.wallet(tc.bank, "hotel", 0)
			res := r.reserve(t, payee, 600, 3*batchIv)
			if roles.IntermediaryOf(res.ID) != "bank-a" || res.Side != "payer" || res.Expiry == 0 || res.CreateTx == (money.TxID{}) {
				t.Fatalf("reservation %+v", res)
			}
			if w := r.wallet(t, r.payer); w.Balance != 400 || w.Reserved != 600 {
				t.Fatalf("payer after reserving: balance %d reserved %d, want 400 and 600", w.Balance, w.Reserved)
			}
			if got := r.show(t, payee, res.ID); got.State != roles.ReservationActive || got.Amount != 600 || got.Payer != r.payer {
				t.Fatalf("payee's side after reserving: %+v", got)
			}
			if l := r.list(t, payee); len(l) != 1 || l[0].ID != res.ID {
				t.Fatalf("payee's list: %+v", l)
			}

			got, err := tc.act(t, r, res.ID, payee)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want.state || got.Captured != tc.want.captured {
				t.Fatalf("after: %+v, want %s of %d", got, tc.want.state, tc.want.captured)
			}
			if w := r.wallet(t, r.payer); w.Balance != tc.want.payer || w.Reserved != 0 {
				t.Fatalf("payer: balance %d reserved %d, want %d and 0", w.Balance, w.Reserved, tc.want.payer)
			}
			if b := r.balance(payee); b != tc.want.payee {
				t.Fatalf("payee: balance %d, want %d", b, tc.want.payee)
			}
			for _, w := range []string{r.payer, payee} {
				if s := r.show(t, w, res.ID); s.State != tc.want.state || s.Captured != tc.want.captured || s.SettleTx == (money.TxID{}) {
					t.Fatalf("%s's side: %+v", w, s)
				}
			}
			in := 0
			for _, e := range r.history(payee) {
				if e.Direction == "in" {
					in++
					if e.Counterparty != r.payer || e.Amount != tc.want.captured {
						t.Fatalf("payee history %+v", e)
					}
				}
			}
			if in != tc.want.payeeHistoryIn {
				t.Fatalf("payee history: %d credits, want %d", in, tc.want.payeeHistoryIn)
			}
			r.checkConservation(append(r.all(), payee)...)
			if n, err := r.bank("bank-a").SettleReservations(context.Background()); err != nil || n != 0 {
				t.Fatalf("open reservations left: %d, %v", n, err)
			}
		})
	}
}

func capture(amount uint64) func(*testing.T, *resEnv, string, string) (roles.FundsReservation, error) {
	return func(t *testing.T, r *resEnv, id, payee string) (roles.FundsReservation, error) {
		name := roles.IntermediaryOf(payee)
		return r.bank(name).Capture(as(name), id, amount)
	}
}

func voidIt(t *testing.T, r *resEnv, id, payee string) (roles.FundsReservation, error) {
	name := roles.IntermediaryOf(payee)
	return r.bank(name).Void(as(name), id)
}

// expire waits out the expiry (its time, then its batch) and lets the
// payer's intermediary's loop refund.
func expire(t *testing.T, r *resEnv, id, payee string) (roles.FundsReservation, error) {
	a := r.bank("bank-a")
	time.Sleep(4 * batchIv)
	r.advance(5)
	if n, err := a.SettleReservations(context.Background()); err != nil || n != 0 {
		t.Fatalf("settle: %d left, %v", n, err)
	}
	return a.GetReservation(as("bank-a"), id)
}

func (r *resEnv) list(t *testing.T, wallet string) []roles.FundsReservation {
	t.Helper()
	name := roles.IntermediaryOf(wallet)
	l, err := r.bank(name).WalletReservations(as(name), wallet)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReservationExactlyOnce settles a reservation and asks again, the
// same way and other ways: the same request answers the same outcome and
// moves nothing; anything else is conflict and moves nothing.
func TestReservationExactlyOnce(t *testing.T) {
	for _, bank := range []string{"bank-a", "bank-b"} {
		t.Run(bank, func(t *testing.T) {
			r := newResEnv(t)
			payee := r.env.wallet(bank, "pump", 0)
			cap := r.reserve(t, payee, 600, time.Hour)
			first, err := r.bank(bank).Capture(as(bank), cap.ID, 250)
			if err != nil {
				t.Fatal(err)
			}
			void := r.reserve(t, payee, 100, time.Hour)
			if _, err := r.bank(bank).Void(as(bank), void.ID); err != nil {
				t.Fatal(err)
			}
			ids := append(r.all(), payee)
			before := r.snapshot(ids...)
			again, err := r.bank(bank).Capture(as(bank), cap.ID, 250)
			if err != nil || again.SettleTx != first.SettleTx || again.Captured != 250 {
				t.Fatalf("capture again: %+v, %v; first %+v", again, err, first)
			}
			if _, err := r.bank(bank).Void(as(bank), void.ID); err != nil {
				t.Fatalf("void again: %v", err)
			}
			r.unchanged(t, before, ids...)
			for _, tc := range []struct {
				name string
				do   func() error
			}{
				{"capture another amount", func() error { _, err := r.bank(bank).Capture(as(bank), cap.ID, 100); return err }},
				{"void after capture", func() error { _, err := r.bank(bank).Void(as(bank), cap.ID); return err }},
				{"capture after void", func() error { _, err := r.bank(bank).Capture(as(bank), void.ID, 50); return err }},
				{"refund after capture", func() error { _, err := r.bank("bank-a").Refund(as("bank-a"), cap.ID); return err }},
				{"refund after void", func() error { _, err := r.bank("bank-a").Refund(as("bank-a"), void.ID); return err }},
			} {
				wantCode(t, tc.do(), errcode.Conflict, 409)
				r.unchanged(t, before, ids...)
			}
		})
	}
}

// TestReservationCaptureAfterRefund: once the payer's intermediary has
// refunded an expired reservation, the payee's capture is conflict.
func TestReservationCaptureAfterRefund(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	res := r.reserve(t, payee, 600, 2*batchIv)
	if _, err := expire(t, r, res.ID, payee); err != nil {
		t.Fatal(err)
	}
	ids := append(r.all(), payee)
	before := r.snapshot(ids...)
	_, err := r.bank("bank-b").Capture(as("bank-b"), res.ID, 100)
	wantCode(t, err, errcode.Conflict, 409)
	r.unchanged(t, before, ids...)
	if s := r.show(t, payee, res.ID); s.State != roles.ReservationRefunded {
		t.Fatalf("payee's side after the refused capture: %+v", s)
	}
}

// TestReservationRefusals: every request refused leaves everything as it
// was, with its exact code.
func TestReservationRefusals(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	res := r.reserve(t, payee, 600, time.Hour)
	a, b := r.bank("bank-a"), r.bank("bank-b")
	ids := append(r.all(), payee)
	before := r.snapshot(ids...)
	tests := []struct {
		name string
		do   func() error
		code errcode.Code
	}{
		{"capture over the amount", func() error { _, err := b.Capture(as("bank-b"), res.ID, 601); return err }, errcode.InsufficientFunds},
		{"capture nothing", func() error { _, err := b.Capture(as("bank-b"), res.ID, 0); return err }, errcode.Malformed},
		{"reserved funds paid elsewhere", func() error {
			_, err := a.Pay(as("bank-a"), roles.Payment{From: r.payer, To: r.filler, Amount: 401})
			return err
		}, errcode.InsufficientFunds},
		{"reserve more than the balance", func() error {
			_, err := a.Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: payee, Amount: 401, ExpiresIn: time.Hour})
			return err
		}, errcode.InsufficientFunds},
		{"refund before the expiry", func() error { _, err := a.Refund(as("bank-a"), res.ID); return err }, errcode.Conflict},
		{"capture at the payer's bank", func() error { _, err := a.Capture(as("bank-a"), res.ID, 10); return err }, errcode.NotFound},
		{"refund at the payee's bank", func() error { _, err := b.Refund(as("bank-b"), res.ID); return err }, errcode.NotFound},
		{"capture with another bank's credential", func() error { _, err := b.Capture(as("bank-a"), res.ID, 10); return err }, errcode.Unauthorized},
		{"unknown reservation", func() error { _, err := b.Capture(as("bank-b"), "bank-a.nope", 10); return err }, errcode.NotFound},
		{"malformed id", func() error { _, err := b.Capture(as("bank-b"), "no-dot", 10); return err }, errcode.Malformed},
		{"reserve for itself", func() error {
			_, err := a.Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: r.payer, Amount: 1, ExpiresIn: time.Hour})
			return err
		}, errcode.Malformed},
		{"reserve with no expiry", func() error {
			_, err := a.Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: payee, Amount: 1})
			return err
		}, errcode.Malformed},
		{"reserve for an unknown payee", func() error {
			_, err := a.Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: "bank-b.nobody", Amount: 1, ExpiresIn: time.Hour})
			return err
		}, errcode.NotFound},
		{"reserve with a bad key", func() error {
			_, err := a.Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: payee, Amount: 1, ExpiresIn: time.Hour, Key: "Not OK"})
			return err
		}, errcode.Malformed},
		{"a peer's settle with a forged signature", func() error {
			_, err := a.SettleReservation(as("bank-b"), roles.ReservationSettle{ID: res.ID, Amount: 600})
			return err
		}, errcode.BadSignature},
		{"a settle from a bank not the payee's", func() error {
			_, err := a.SettleReservation(as("bank-c"), roles.ReservationSettle{ID: res.ID, Amount: 600})
			return err
		}, errcode.Unauthorized},
		{"an offer in another bank's name", func() error {
			_, err := b.OfferReservation(as("bank-b"), roles.ReservationOffer{ID: "bank-a.x", Payer: r.payer, Payee: payee, Amount: 1, Expiry: 9})
			return err
		}, errcode.Unauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.do(), tc.code, 0)
			r.unchanged(t, before, ids...)
			for _, w := range []string{r.payer, payee} {
				if s := r.show(t, w, res.ID); s.State != roles.ReservationActive {
					t.Fatalf("%s's side: %+v", w, s)
				}
			}
			if w := r.wallet(t, r.payer); w.Reserved != 600 {
				t.Fatalf("payer reserved %d", w.Reserved)
			}
			// A refused reservation leaves no record on either side.
			for _, w := range []string{r.payer, payee} {
				if l := r.list(t, w); len(l) != 1 || l[0].ID != res.ID {
					t.Fatalf("%s's reservations: %+v", w, l)
				}
			}
		})
	}
}

// TestReservationKey: a reservation made with a key answers a retry with
// the same reservation, and a different request under it is conflict.
func TestReservationKey(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	a := r.bank("bank-a")
	req := roles.ReservationRequest{From: r.payer, To: payee, Amount: 300, ExpiresIn: time.Hour, Key: "booking-77"}
	first, err := a.Reserve(as("bank-a"), req)
	if err != nil || first.ID != "bank-a.booking-77" {
		t.Fatalf("%+v, %v", first, err)
	}
	ids := append(r.all(), payee)
	before := r.snapshot(ids...)
	again, err := a.Reserve(as("bank-a"), req)
	if err != nil || again.CreateTx != first.CreateTx || again.State != roles.ReservationActive {
		t.Fatalf("again: %+v, %v", again, err)
	}
	req.Amount = 301
	_, err = a.Reserve(as("bank-a"), req)
	wantCode(t, err, errcode.Conflict, 409)
	r.unchanged(t, before, ids...)
	if w := r.wallet(t, r.payer); w.Reserved != 300 {
		t.Fatalf("reserved %d, want 300", w.Reserved)
	}
}

// TestReservationCoreRefusesOneSide: neither intermediary alone can take
// the reserved money before the expiry; the core refuses, and the note
// stays where it was.
func TestReservationCoreRefusesOneSide(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	res := r.reserve(t, payee, 600, time.Hour)
	note, esc, payerKey, payeeKey, err := intermediary.ReservationKeys(r.bank("bank-a"), r.bank("bank-b"), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	toPayee := money.Output{Value: 600, Lock: money.KeyLock(payeeKey.Public())}
	toPayer := money.Output{Value: 600, Lock: money.KeyLock(payerKey.Public())}
	tests := []struct {
		name string
		tx   *money.Tx
		code errcode.Code
	}{
		{"payee alone, joint path", r.net.EscrowSpend(note, esc, money.PathJoint, nil, payeeKey, toPayee), errcode.BadSignature},
		{"payee signing as the payer too", r.net.EscrowSpend(note, esc, money.PathJoint, payeeKey, payeeKey, toPayee), errcode.BadSignature},
		{"payer alone, joint path", r.net.EscrowSpend(note, esc, money.PathJoint, payerKey, nil, toPayer), errcode.BadSignature},
		{"payer alone, refund before the expiry", r.net.EscrowSpend(note, esc, money.PathRefund, payerKey, nil, toPayer), errcode.Conflict},
	}
	ids := append(r.all(), payee)
	before := r.snapshot(ids...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.ledger.Submit(context.Background(), tc.tx)
			wantCode(t, err, tc.code, 0)
			r.unchanged(t, before, ids...)
			ni, err := r.ledger.Note(context.Background(), r.net.Network.NoteID(&note))
			if err != nil || ni.Status != roles.NoteUnspent || ni.Value != 600 {
				t.Fatalf("escrowed note: %+v, %v", ni, err)
			}
		})
	}
	// And together they can: the capture goes through.
	if _, err := r.bank("bank-b").Capture(as("bank-b"), res.ID, 600); err != nil {
		t.Fatal(err)
	}
}

// TestReservationCrash loses the ledger's answer to each step (the
// transaction commits, the intermediary never hears) and restarts the
// payer's intermediary before anything else: the record written before the
// step left settles it from the ledger, and a retry answers the outcome,
// paid once.
func TestReservationCrash(t *testing.T) {
	for _, step := range []string{"reserve", "capture", "void"} {
		t.Run(step, func(t *testing.T) {
			r := newResEnv(t)
			payee := r.env.wallet("bank-b", "hotel", 0)
			a := r.bank("bank-a")
			req := roles.ReservationRequest{From: r.payer, To: payee, Amount: 600, ExpiresIn: time.Hour, Key: "k1"}
			if step != "reserve" {
				if _, err := a.Reserve(as("bank-a"), req); err != nil {
					t.Fatal(err)
				}
			}
			r.link.lostReply.Store(true)
			var err error
			switch step {
			case "reserve":
				_, err = a.Reserve(as("bank-a"), req)
			case "capture":
				_, err = r.bank("bank-b").Capture(as("bank-b"), "bank-a.k1", 250)
			case "void":
				_, err = r.bank("bank-b").Void(as("bank-b"), "bank-a.k1")
			}
			wantCode(t, err, errcode.Unavailable, 503)
			r.link.lostReply.Store(false)
			if step != "reserve" {
				if s := r.show(t, payee, "bank-a.k1"); s.State != roles.ReservationActive {
					t.Fatalf("payee's side before the payer's settles: %+v", s)
				}
			}
			r.close("bank-a")
			a = r.openRes("bank-a")
			if n, err := a.SettleReservations(context.Background()); err != nil || n != 0 {
				t.Fatalf("settle after restart: %d left, %v", n, err)
			}
			var got roles.FundsReservation
			want, payer, payeeBal := roles.ReservationActive, uint64(400), uint64(0)
			switch step {
			case "reserve":
				got, err = a.Reserve(as("bank-a"), req)
			case "capture":
				got, err = r.bank("bank-b").Capture(as("bank-b"), "bank-a.k1", 250)
				want, payer, payeeBal = roles.ReservationCaptured, 750, 250
			case "void":
				got, err = r.bank("bank-b").Void(as("bank-b"), "bank-a.k1")
				want, payer = roles.ReservationVoided, 1000
			}
			if err != nil || got.State != want {
				t.Fatalf("retry: %+v, %v; want %s", got, err, want)
			}
			if b := r.balance(r.payer); b != payer {
				t.Fatalf("payer %d, want %d", b, payer)
			}
			if b := r.balance(payee); b != payeeBal {
				t.Fatalf("payee %d, want %d", b, payeeBal)
			}
			ids := append(r.all(), payee)
			if step == "reserve" {
				if w := r.wallet(t, r.payer); w.Reserved != 600 {
					t.Fatalf("reserved %d", w.Reserved)
				}
				return
			}
			r.checkConservation(ids...)
		})
	}
}

// TestReservationLedgerDown: with the ledger unreachable a capture is
// unavailable and nothing changes anywhere; once it is back the same
// capture goes through, once.
func TestReservationLedgerDown(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	res := r.reserve(t, payee, 600, time.Hour)
	ids := append(r.all(), payee)
	before := r.snapshot(ids...)
	r.link.down.Store(true)
	_, err := r.bank("bank-b").Capture(as("bank-b"), res.ID, 100)
	wantCode(t, err, errcode.Unavailable, 503)
	r.link.down.Store(false)
	r.unchanged(t, before, ids...)
	for range 2 {
		got, err := r.bank("bank-b").Capture(as("bank-b"), res.ID, 100)
		if err != nil || got.State != roles.ReservationCaptured {
			t.Fatalf("%+v, %v", got, err)
		}
	}
	if b := r.balance(payee); b != 100 {
		t.Fatalf("payee %d, want 100", b)
	}
	r.checkConservation(ids...)
}

// TestReservationPayeeDown: the payee's intermediary unreachable when the
// reservation commits is told later by the payer's loop.
func TestReservationPayeeDown(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	b := r.bank("bank-b")
	r.mu.Lock()
	r.peers["bank-b"] = &downPeer{b}
	r.mu.Unlock()
	_, err := r.bank("bank-a").Reserve(as("bank-a"), roles.ReservationRequest{From: r.payer, To: payee, Amount: 1, ExpiresIn: time.Hour})
	wantCode(t, err, errcode.Unavailable, 503) // the offer does not go through: nothing reserved
	if w := r.wallet(t, r.payer); w.Balance != 1000 || w.Reserved != 0 {
		t.Fatalf("payer %+v", w)
	}
	r.mu.Lock()
	r.peers["bank-b"] = &confirmDown{b}
	r.mu.Unlock()
	res := r.reserve(t, payee, 600, time.Hour)
	_, err = b.Capture(as("bank-b"), res.ID, 10)
	wantCode(t, err, errcode.Unavailable, 503)
	r.mu.Lock()
	delete(r.peers, "bank-b")
	r.mu.Unlock()
	if n, err := r.bank("bank-a").SettleReservations(context.Background()); err != nil || n != 0 {
		t.Fatalf("%d left, %v", n, err)
	}
	if _, err := b.Capture(as("bank-b"), res.ID, 10); err != nil {
		t.Fatal(err)
	}
}

type downPeer struct{ *intermediary.Intermediary }

func (downPeer) OfferReservation(context.Context, roles.ReservationOffer) (roles.ReservationTerms, error) {
	return roles.ReservationTerms{}, errcode.New(errcode.Unavailable, "peer unreachable")
}

type confirmDown struct{ *intermediary.Intermediary }

func (confirmDown) ConfirmReservation(context.Context, string, *money.Tx) error {
	return fmt.Errorf("peer unreachable: %w", errcode.New(errcode.Unavailable, "down"))
}

// TestReservationConcurrentSettles: captures of several amounts and
// voids race for one reservation; exactly one settles it,
// the payee is credited once, every request for that same outcome gets
// it, and every other request is conflict.
func TestReservationConcurrentSettles(t *testing.T) {
	for _, bank := range []string{"bank-a", "bank-b"} {
		t.Run(bank, func(t *testing.T) {
			r := newResEnv(t)
			payee := r.env.wallet(bank, "pump", 0)
			res := r.reserve(t, payee, 600, time.Hour)
			b := r.bank(bank)
			type outcome struct {
				kind   string
				amount uint64
				got    roles.FundsReservation
				err    error
			}
			var reqs []outcome
			for i := range 12 {
				switch i % 3 {
				case 0:
					reqs = append(reqs, outcome{kind: "capture", amount: 100})
				case 1:
					reqs = append(reqs, outcome{kind: "capture", amount: 200 + uint64(i)})
				default:
					reqs = append(reqs, outcome{kind: "void"})
				}
			}
			done := make(chan int)
			for i := range reqs {
				go func() {
					o := &reqs[i]
					if o.kind == "void" {
						o.got, o.err = b.Void(as(bank), res.ID)
					} else {
						o.got, o.err = b.Capture(as(bank), res.ID, o.amount)
					}
					done <- i
				}()
			}
			for range reqs {
				<-done
			}
			final := r.show(t, payee, res.ID)
			if final.State != roles.ReservationCaptured && final.State != roles.ReservationVoided {
				t.Fatalf("final %+v", final)
			}
			for _, o := range reqs {
				same := (o.kind == "void" && final.State == roles.ReservationVoided) ||
					(o.kind == "capture" && final.State == roles.ReservationCaptured && final.Captured == o.amount)
				switch {
				case same && (o.err != nil || o.got.SettleTx != final.SettleTx):
					t.Fatalf("%s %d: %+v, %v; final %+v", o.kind, o.amount, o.got, o.err, final)
				case !same && !errcode.Is(o.err, errcode.Conflict):
					t.Fatalf("%s %d: %v; want conflict (final %+v)", o.kind, o.amount, o.err, final)
				}
			}
			if got := r.balance(payee); got != final.Captured {
				t.Fatalf("payee %d, captured %d", got, final.Captured)
			}
			if got := r.balance(r.payer); got != 1000-final.Captured {
				t.Fatalf("payer %d, captured %d", got, final.Captured)
			}
			if s := r.show(t, r.payer, res.ID); s.State != final.State || s.SettleTx != final.SettleTx {
				t.Fatalf("payer's side %+v, payee's %+v", s, final)
			}
			r.checkConservation(append(r.all(), payee)...)
		})
	}
}

// TestReservationRejectedByLedger: a reserving transaction the ledger
// rejects leaves the wallet as it was and nothing at the payee's side,
// and a retry with its key answers the same rejection.
func TestReservationRejectedByLedger(t *testing.T) {
	r := newResEnv(t)
	payee := r.env.wallet("bank-b", "hotel", 0)
	a := r.bank("bank-a")
	ids := append(r.all(), payee)
	before := r.snapshot(ids...)
	req := roles.ReservationRequest{From: r.payer, To: payee, Amount: 300, ExpiresIn: time.Hour, Key: "t1"}
	r.link.tamper.Store(true)
	_, err := a.Reserve(as("bank-a"), req)
	r.link.tamper.Store(false)
	wantCode(t, err, errcode.BadSignature, 400)
	_, again := a.Reserve(as("bank-a"), req)
	wantCode(t, again, errcode.BadSignature, 400)
	if fmt.Sprint(again) != fmt.Sprint(err) {
		t.Fatalf("retry answered %v; first %v", again, err)
	}
	r.unchanged(t, before, ids...)
	if w := r.wallet(t, r.payer); w.Reserved != 0 || w.Pending != 0 {
		t.Fatalf("payer %+v", w)
	}
	if _, err := r.bank("bank-b").GetReservation(as("bank-b"), "bank-a.t1"); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("the payee's side keeps the rejected offer: %v", err)
	}
	if l := r.list(t, payee); len(l) != 0 {
		t.Fatalf("payee's list %+v", l)
	}
}

// TestReservationDiskCrash crashes the payer's intermediary's disk at each
// sync of a create, and of a capture the payee's intermediary asks for in
// turn (what was not synced is lost), restarts it on what survived and
// settles: asking again then answers the outcome, and the money moved
// exactly once.
func TestReservationDiskCrash(t *testing.T) {
	for _, step := range []string{"create", "capture"} {
		for k := 0; ; k++ {
			if k > 40 {
				t.Fatalf("%s: still crashing at sync %d", step, k)
			}
			if !t.Run(fmt.Sprintf("%s/sync-%d", step, k), func(t *testing.T) {
				crashed := reservationCrashAt(t, step, k)
				if !crashed {
					k = 1 << 20 // the step completed before sync k: every crash point is covered
				}
			}) {
				return
			}
			if k >= 1<<20 {
				break
			}
		}
	}
}

// reservationCrashAt runs step with bank-a's disk crashing just before its
// sync number k and checks the books after the restart. It reports whether
// the crash came.
func reservationCrashAt(t *testing.T, step string, k int) bool {
	e := newEnv(t)
	disk := crashtest.NewDisk(t)
	open := func() {
		e.mu.Lock()
		old := e.banks["bank-a"]
		delete(e.banks, "bank-a")
		e.mu.Unlock()
		if old != nil {
			_ = old.Close()
		}
		cfg := e.config("bank-a")
		cfg.FS, cfg.ReservationBatchInterval = disk.FS, batchIv
		if err := intermediary.WaitStoreIdle(e.openWith(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	open()
	e.openRes("bank-b")
	r := &resEnv{env: e}
	r.payer = e.wallet("bank-a", "payer", 1000)
	payee := e.wallet("bank-b", "hotel", 0)
	req := roles.ReservationRequest{From: r.payer, To: payee, Amount: 600, ExpiresIn: time.Hour, Key: "k"}
	do := func() error {
		var err error
		if step == "create" {
			_, err = e.bank("bank-a").Reserve(as("bank-a"), req)
		} else {
			_, err = e.bank("bank-b").Capture(as("bank-b"), "bank-a.k", 250)
		}
		return err
	}
	if step == "capture" {
		if _, err := e.bank("bank-a").Reserve(as("bank-a"), req); err != nil {
			t.Fatal(err)
		}
	}
	disk.ArmAtSync(k, nil)
	first := do()
	crashed := disk.Crashed()
	disk = disk.Restart()
	open()
	ctx := context.Background()
	for _, b := range []string{"bank-a", "bank-b"} {
		if err := e.bank(b).ResolvePending(ctx); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	if n, err := e.bank("bank-a").SettleReservations(ctx); err != nil || n != 0 {
		t.Fatalf("settle after the restart: %d left, %v", n, err)
	}
	if err := do(); err != nil {
		t.Fatalf("asked again after the crash (first answer %v): %v", first, err)
	}
	if err := e.bank("bank-a").RetryDeliveries(ctx); err != nil {
		t.Fatal(err)
	}
	w := r.wallet(t, r.payer)
	res := r.show(t, r.payer, "bank-a.k")
	switch step {
	case "create":
		if res.State != roles.ReservationActive || w.Balance != 400 || w.Reserved != 600 {
			t.Fatalf("after the crash (first answer %v): %+v, payer %+v", first, res, w)
		}
	case "capture":
		if res.State != roles.ReservationCaptured || res.Captured != 250 || w.Balance != 750 || w.Reserved != 0 || r.balance(payee) != 250 {
			t.Fatalf("after the crash (first answer %v): %+v, payer %+v, payee %d", first, res, w, r.balance(payee))
		}
		r.checkConservation(r.payer, payee, e.bank("bank-a").Treasury(), e.bank("bank-b").Treasury())
	}
	return crashed
}

// TestReservationPayerPolicy: a reservation is admitted like a payment of
// its amount by the payer wallet's policy: over the per-payment limit it
// is limit_exceeded, from a frozen wallet blocked, and a refused one
// leaves nothing on either side.
func TestReservationPayerPolicy(t *testing.T) {
	r := newResEnv(t)
	a := r.bank("bank-a")
	w, err := a.OpenWallet(as("bank-a"), phoneOnly("tourist", "+15550001"))
	if err != nil {
		t.Fatal(err)
	}
	r.issue("bank-a", 400_00)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: w.ID, Amount: 400_00}); err != nil {
		t.Fatal(err)
	}
	payee := r.env.wallet("bank-b", "hotel", 0)
	ids := append(r.all(), w.ID, payee)
	before := r.snapshot(ids...)
	reserve := func(amount uint64) error {
		_, err := a.Reserve(as("bank-a"), roles.ReservationRequest{From: w.ID, To: payee, Amount: amount, ExpiresIn: time.Hour})
		return err
	}
	wantCode(t, reserve(250_00), errcode.LimitExceeded, 422) // tier 0: at most 200.00 a payment
	r.unchanged(t, before, ids...)
	if _, err := a.Freeze(as("bank-a"), w.ID, "review"); err != nil {
		t.Fatal(err)
	}
	before = r.snapshot(ids...)
	wantCode(t, reserve(10_00), errcode.Blocked, 422)
	r.unchanged(t, before, ids...)
	for _, x := range []string{w.ID, payee} {
		if l := r.list(t, x); len(l) != 0 {
			t.Fatalf("%s's reservations %+v", x, l)
		}
	}
	if _, err := a.Unfreeze(as("bank-a"), w.ID, "cleared"); err != nil {
		t.Fatal(err)
	}
	if err := reserve(150_00); err != nil {
		t.Fatal(err)
	}
}

// TestReservationExpiryByTime: past the expiry time but long before the
// expiry batch (a quiet ledger), the payer's intermediary has the payee's
// void the reservation, by its loop or when the refund is asked for;
// before the time the payee's intermediary refuses.
func TestReservationExpiryByTime(t *testing.T) {
	for _, tc := range []struct{ name, bank string }{{"loop, other bank", "bank-b"}, {"asked, same bank", "bank-a"}, {"asked, other bank", "bank-b"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var offset atomic.Int64
			e.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			for _, n := range []string{"bank-a", "bank-b"} {
				e.openRes(n)
			}
			r := &resEnv{env: e}
			r.payer = e.wallet("bank-a", "payer", 1000)
			payee := e.wallet(tc.bank, "hotel", 0)
			res := r.reserve(t, payee, 600, time.Hour) // 360000 batches away
			a, b := e.bank("bank-a"), e.bank(tc.bank)
			ids := []string{r.payer, payee, a.Treasury(), e.bank("bank-b").Treasury()}
			before := r.snapshot(ids...)
			err := b.ExpireReservation(as("bank-a"), res.ID)
			wantCode(t, err, errcode.Conflict, 409)
			_, err = a.Refund(as("bank-a"), res.ID)
			wantCode(t, err, errcode.Conflict, 409)
			wantCode(t, b.ExpireReservation(as("bank-b"), res.ID), errcode.Unauthorized, 403)
			r.unchanged(t, before, ids...)

			offset.Store(int64(2 * time.Hour))
			var got roles.FundsReservation
			if tc.name == "loop, other bank" {
				if n, err := a.SettleReservations(context.Background()); err != nil || n != 0 {
					t.Fatalf("settle: %d left, %v", n, err)
				}
				got = r.show(t, r.payer, res.ID)
			} else if got, err = a.Refund(as("bank-a"), res.ID); err != nil {
				t.Fatal(err)
			}
			if got.State != roles.ReservationVoided {
				t.Fatalf("after the expiry time: %+v", got)
			}
			if s := r.show(t, payee, res.ID); s.State != roles.ReservationVoided || s.SettleTx != got.SettleTx {
				t.Fatalf("payee's side %+v", s)
			}
			if w := r.wallet(t, r.payer); w.Balance != 1000 || w.Reserved != 0 {
				t.Fatalf("payer %+v", w)
			}
			_, err = b.Capture(as(tc.bank), res.ID, 1)
			wantCode(t, err, errcode.Conflict, 409)
			if err := b.ExpireReservation(as("bank-a"), res.ID); err != nil {
				t.Fatalf("expire again: %v", err)
			}
			r.checkConservation(ids...)
		})
	}
}
