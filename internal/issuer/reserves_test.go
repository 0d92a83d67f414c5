package issuer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/issuer"
)

// TestCreditReserveExactlyOnce: a funding credits the reserve once per
// reference, also across a restart; the same reference for another
// account or amount is a conflict; every refusal has its code and changes
// nothing.
func TestCreditReserveExactlyOnce(t *testing.T) {
	e := newEnv(t)
	e1, err := e.is.CreditReserve(officerCtx, "RTGS-1/E2E-1", "bank-a", 2500_00)
	if err != nil {
		t.Fatal(err)
	}
	if e1.Balance != openingA+2500_00 || e1.Kind != issuer.ReserveFunding || !e1.Credit || e.reserve("bank-a") != openingA+2500_00 {
		t.Fatalf("funding %+v, reserve %d", e1, e.reserve("bank-a"))
	}
	e.reopen()
	again, err := e.is.CreditReserve(officerCtx, "RTGS-1/E2E-1", "bank-a", 2500_00)
	if err != nil || again != e1 {
		t.Fatalf("same funding again after a restart: %+v %v, want %+v", again, err, e1)
	}
	before := e.state()
	for _, tc := range []struct {
		name         string
		ctx          string // "officer" or a bank
		ref, account string
		amount       uint64
		code         errcode.Code
	}{
		{"same ref, other amount", "officer", "RTGS-1/E2E-1", "bank-a", 1, errcode.Conflict},
		{"same ref, other account", "officer", "RTGS-1/E2E-1", "bank-b", 2500_00, errcode.Conflict},
		{"an intermediary", "bank-a", "RTGS-2", "bank-a", 1, errcode.Unauthorized},
		{"no reference", "officer", "", "bank-a", 1, errcode.Malformed},
		{"reference too long", "officer", strings.Repeat("x", issuer.MaxReserveRef+1), "bank-a", 1, errcode.Malformed},
		{"zero", "officer", "RTGS-3", "bank-a", 0, errcode.Malformed},
		{"no such account", "officer", "RTGS-4", "bank-z", 1, errcode.NotFound},
		{"overflow", "officer", "RTGS-5", "bank-a", ^uint64(0), errcode.LimitExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := officerCtx
			if tc.ctx != "officer" {
				ctx = bankCtx(tc.ctx)
			}
			_, err := e.is.CreditReserve(ctx, tc.ref, tc.account, tc.amount)
			wantCode(t, err, tc.code)
			sameState(t, before, e.state())
		})
	}
}

// TestReserveJournal: fundings, mints and redeems are in the journal with
// the balance after each, and a day's opening and closing balances match
// the reserve before and after them.
func TestReserveJournal(t *testing.T) {
	e := newEnv(t)
	from := time.Now().Add(-time.Minute)
	if _, err := e.is.CreditReserve(officerCtx, "F1", "bank-a", 1000_00); err != nil {
		t.Fatal(err)
	}
	m := e.mint("bank-a", 400_00)
	tx := e.redeemTx(e.banks["bank-a"], m.Tx, 100_00)
	if _, err := e.is.Redeem(bankCtx("bank-a"), tx); err != nil {
		t.Fatal(err)
	}
	to := time.Now().Add(time.Minute)
	open, closing, es, err := e.is.ReserveJournal(officerCtx, "bank-a", from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind   string
		credit bool
		amount uint64
	}{{issuer.ReserveFunding, true, 1000_00}, {issuer.ReserveMint, false, 400_00}, {issuer.ReserveRedeem, true, 300_00}}
	if open != openingA || closing != e.reserve("bank-a") || closing != openingA+1000_00-400_00+300_00 || len(es) != len(want) {
		t.Fatalf("journal opens %d closes %d with %d entries (reserve %d)", open, closing, len(es), e.reserve("bank-a"))
	}
	bal := open
	for i, w := range want {
		got := es[i]
		if got.Kind != w.kind || got.Credit != w.credit || got.Amount != w.amount {
			t.Fatalf("entry %d: %+v, want %+v", i, got, w)
		}
		if w.credit {
			bal += w.amount
		} else {
			bal -= w.amount
		}
		if got.Balance != bal {
			t.Fatalf("entry %d balance %d, want %d", i, got.Balance, bal)
		}
	}
	// A window before everything: opening and closing are the opening reserve.
	open, closing, es, err = e.is.ReserveJournal(officerCtx, "bank-a", from.Add(-time.Hour), from)
	if err != nil || open != openingA || closing != openingA || len(es) != 0 {
		t.Fatalf("earlier window: %d %d %d %v", open, closing, len(es), err)
	}
	_, _, _, err = e.is.ReserveJournal(bankCtx("bank-a"), "bank-a", from, to)
	wantCode(t, err, errcode.Unauthorized)
	_, _, _, err = e.is.ReserveJournal(officerCtx, "bank-z", from, to)
	wantCode(t, err, errcode.NotFound)
}

// TestCreditReserveDiskFaults fails, then crashes, the disk at each write
// and sync of a funding: a failed funding reports an error and credits
// nothing; after a crash the funding either happened whole (balance and
// journal) or not at all, and sending it again leaves it credited once.
func TestCreditReserveDiskFaults(t *testing.T) {
	count := crashtest.NewDisk(t)
	e := newEnvOn(t, count.FS, 0)
	count.Count()
	if _, err := e.is.CreditReserve(officerCtx, "COUNT", "bank-a", 1); err != nil {
		t.Fatal(err)
	}
	n := count.Ops()
	if n == 0 {
		t.Fatal("a funding wrote nothing")
	}
	for i := range n {
		for _, crash := range []bool{false, true} {
			disk := crashtest.NewDisk(t)
			e := newEnvOn(t, disk.FS, 0)
			before := e.reserve("bank-a")
			if crash {
				disk.Arm(-1, nil, i, nil)
			} else {
				disk.Arm(i, errorfs.ErrInjected, -1, nil)
			}
			_, err := e.is.CreditReserve(officerCtx, "RTGS-F", "bank-a", 500_00)
			if err == nil {
				t.Fatalf("fault at operation %d of %d (crash %v): funding reported done", i, n, crash)
			}
			if !crash && e.reserve("bank-a") != before {
				t.Fatalf("a failed funding moved the reserve")
			}
			e.restartOn(disk.Restart().FS)
			got := e.reserve("bank-a")
			if got != before && got != before+500_00 {
				t.Fatalf("after a fault at %d the reserve is %d", i, got)
			}
			if _, err := e.is.CreditReserve(officerCtx, "RTGS-F", "bank-a", 500_00); err != nil {
				t.Fatalf("funding again after the fault at %d: %v", i, err)
			}
			if got := e.reserve("bank-a"); got != before+500_00 {
				t.Fatalf("after a fault at %d and a resend the reserve is %d, want %d", i, got, before+500_00)
			}
			open, closing, es, err := e.is.ReserveJournal(officerCtx, "bank-a", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			if err != nil || len(es) != 1 || open != before || closing != before+500_00 {
				t.Fatalf("journal after the fault at %d: %d entries, %d -> %d, %v", i, len(es), open, closing, err)
			}
		}
	}
}
