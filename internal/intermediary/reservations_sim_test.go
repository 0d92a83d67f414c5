package intermediary_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/roles"
)

// resSim drives reservations at random between wallets of bank-a and
// bank-b: creates, captures (some over the amount), voids, refunds,
// retries of earlier requests, with the ledger's answer lost or the
// ledger down for a step, and banks restarted. Everything is sequential
// and drawn from the seed (keys, wallet IDs, the banks' clock), so the
// seed replays the run.
type resSim struct {
	*resEnv
	rng     *rand.Rand
	wallets []string
	start   map[string]uint64 // balances before the first reservation
	ids     []string
	trace   []string
}

func newResSim(t *testing.T, seed uint64) *resSim {
	t.Helper()
	e := newSeededEnv(t, seed)
	var ticks atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.now = func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	for _, n := range []string{"bank-a", "bank-b"} {
		e.openRes(n)
	}
	s := &resSim{resEnv: &resEnv{env: e}, rng: rand.New(rand.NewPCG(seed, 0x726573)), start: map[string]uint64{}}
	for _, bank := range []string{"bank-a", "bank-b"} {
		for i := range 3 {
			s.wallets = append(s.wallets, e.wallet(bank, fmt.Sprintf("%s-%d", bank, i), 1000))
		}
	}
	s.payer = s.wallets[0]
	s.filler = e.wallet("bank-a", "filler", 0)
	e.issue("bank-a", 1000)
	for _, w := range s.wallets {
		s.start[w] = e.balance(w)
	}
	return s
}

func (s *resSim) pick(l []string) string { return l[s.rng.IntN(len(l))] }

// step does one thing the seed draws and records what was asked and the
// answer's code.
func (s *resSim) step(i int) {
	// A fault for this step only.
	fault := ""
	switch s.rng.IntN(10) {
	case 0:
		fault = "lost"
		s.link.lostReply.Store(true)
	case 1:
		fault = "down"
		s.link.down.Store(true)
	}
	var what string
	var err error
	var got roles.FundsReservation
	switch k := s.rng.IntN(10); {
	case k < 3 || len(s.ids) == 0:
		from := s.pick(s.wallets)
		to := s.pick(s.wallets)
		if to == from {
			to = s.filler
		}
		expires := 1000 * time.Hour
		if s.rng.IntN(3) == 0 {
			expires = time.Nanosecond // expired by the next tick of the clock
		}
		key := fmt.Sprintf("s%d", i)
		if len(s.ids) > 0 && s.rng.IntN(5) == 0 {
			key = s.ids[s.rng.IntN(len(s.ids))][len("bank-a."):] // a key again, maybe with another request
		}
		req := roles.ReservationRequest{From: from, To: to, Amount: 1 + s.rng.Uint64N(400), ExpiresIn: expires, Key: key}
		what = fmt.Sprintf("reserve %s %s->%s %d %s", key, from, to, req.Amount, expires)
		bank := roles.IntermediaryOf(from)
		got, err = s.bank(bank).Reserve(as(bank), req)
		if id := bank + "." + key; (err == nil || errcode.Is(err, errcode.Unavailable)) && !slices.Contains(s.ids, id) {
			s.ids = append(s.ids, id)
		}
	case k < 6:
		id := s.pick(s.ids)
		payee, reserved := s.payeeOf(id)
		amount := 1 + s.rng.Uint64N(reserved+1) // mostly within the amount
		if s.rng.IntN(4) == 0 {
			amount = reserved + 1 + s.rng.Uint64N(100) // over it
		}
		what = fmt.Sprintf("capture %s %d", id, amount)
		if payee != "" {
			bank := roles.IntermediaryOf(payee)
			got, err = s.bank(bank).Capture(as(bank), id, amount)
		}
	case k < 8:
		id := s.pick(s.ids)
		what = "void " + id
		if payee, _ := s.payeeOf(id); payee != "" {
			bank := roles.IntermediaryOf(payee)
			got, err = s.bank(bank).Void(as(bank), id)
		}
	case k < 9:
		id := s.pick(s.ids)
		what = "refund " + id
		bank := roles.IntermediaryOf(id)
		got, err = s.bank(bank).Refund(as(bank), id)
	default:
		bank := s.pick([]string{"bank-a", "bank-b"})
		what = "restart " + bank
		s.close(bank)
		s.openRes(bank)
	}
	s.link.lostReply.Store(false)
	s.link.down.Store(false)
	s.trace = append(s.trace, fmt.Sprintf("%d %s [%s]: %s %d %s", i, what, fault, got.State, got.Captured, errcode.Of(err)))
	// The ledger moves on, so short expiries pass.
	s.advance(1)
}

// payeeOf is the payee wallet of reservation id and its amount, from the
// payer's side; "" when the payer's intermediary has no record of it.
func (s *resSim) payeeOf(id string) (string, uint64) {
	bank := roles.IntermediaryOf(id)
	r, err := s.bank(bank).GetReservation(as(bank), id)
	if err != nil {
		return "", 0
	}
	return r.Payee, r.Amount
}

// check settles everything open and checks the books: every reservation
// the same on both sides, captured at most the amount, each wallet's
// Reserved the sum of its active reservations, and each wallet's balance
// what it started with, moved exactly once by each reservation's outcome.
func (s *resSim) check() {
	t := s.t
	t.Helper()
	ctx := context.Background()
	for _, bank := range []string{"bank-a", "bank-b"} {
		if err := s.bank(bank).ResolvePending(ctx); err != nil {
			t.Fatalf("%s: resolve pending: %v", bank, err)
		}
		if n, err := s.bank(bank).SettleReservations(ctx); err != nil {
			t.Fatalf("%s: settle: %d left, %v", bank, n, err)
		}
		if err := s.bank(bank).RetryDeliveries(ctx); err != nil {
			t.Fatalf("%s: deliveries: %v", bank, err)
		}
	}
	want := map[string]int64{}
	reserved := map[string]uint64{}
	for w, b := range s.start {
		want[w] = int64(b)
	}
	for _, id := range s.ids {
		bank := roles.IntermediaryOf(id)
		r, err := s.bank(bank).GetReservation(as(bank), id)
		if errcode.Is(err, errcode.NotFound) {
			// Never made (refused): neither side keeps anything of it.
			for _, b := range []string{"bank-a", "bank-b"} {
				if q, err := s.bank(b).GetReservation(as(b), id); !errcode.Is(err, errcode.NotFound) {
					t.Fatalf("%s refused, yet %s has %+v, %v", id, b, q, err)
				}
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.State == roles.ReservationPending || r.State == roles.ReservationSettling {
			t.Fatalf("%s still %s after settling; trace:\n%s", id, r.State, strings.Join(s.trace, "\n"))
		}
		if r.Captured > r.Amount {
			t.Fatalf("%s: captured %d of %d", id, r.Captured, r.Amount)
		}
		pb := roles.IntermediaryOf(r.Payee)
		q, err := s.bank(pb).GetReservation(as(pb), id)
		if pb == bank {
			q, err = s.payeeSide(id)
		}
		if r.State == roles.ReservationFailed {
			// Never committed: the payee's side forgot the offer.
			if err == nil {
				t.Fatalf("%s failed, yet the payee's side has %+v", id, q)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s at the payee's: %v", id, err)
		}
		if q.State != r.State || q.Captured != r.Captured || q.SettleTx != r.SettleTx {
			t.Fatalf("%s: payer's side %+v, payee's %+v", id, r, q)
		}
		want[r.Payer] -= int64(r.Amount)
		switch r.State {
		case roles.ReservationActive:
			reserved[r.Payer] += r.Amount
		default:
			want[r.Payer] += int64(r.Amount - r.Captured)
			want[r.Payee] += int64(r.Captured)
		}
	}
	for _, w := range s.wallets {
		got := s.wallet(s.t.(*testing.T), w)
		if int64(got.Balance) != want[w] || got.Reserved != reserved[w] {
			t.Fatalf("%s: balance %d reserved %d, want %d and %d", w, got.Balance, got.Reserved, want[w], reserved[w])
		}
	}
}

// payeeSide is a same-bank reservation as its payee's side records it.
func (s *resSim) payeeSide(id string) (roles.FundsReservation, error) {
	bank := roles.IntermediaryOf(id)
	for _, w := range append(slices.Clone(s.wallets), s.filler) {
		if roles.IntermediaryOf(w) != bank {
			continue
		}
		l, err := s.bank(bank).WalletReservations(as(bank), w)
		if err != nil {
			return roles.FundsReservation{}, err
		}
		for _, r := range l {
			if r.ID == id && r.Side == "payee" {
				return r, nil
			}
		}
	}
	return roles.FundsReservation{}, fmt.Errorf("no payee's record of %s", id)
}

func resSimRun(t *testing.T, seed uint64, steps int) []string {
	s := newResSim(t, seed)
	for i := range steps {
		s.step(i)
		if i%10 == 9 {
			s.check()
		}
	}
	s.check()
	return s.trace
}

// TestReservationSimulation runs a seeded simulation twice: the two runs
// give the same trace (a printed seed replays), and the books hold after
// every tenth step and at the end.
func TestReservationSimulation(t *testing.T) {
	seed := crashtest.Seed(t)
	crashtest.Replays(t, seed, func(seed uint64) []string { return resSimRun(t, seed, 80) })
}
