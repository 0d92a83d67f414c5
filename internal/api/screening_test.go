package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// screeningPolicy is the devnet's policy with a reporting threshold of
// 500.00, so the API tests' payments of 1000.00 open large-value alerts
// (alerts only: no payment of theirs is blocked).
func screeningPolicy(n money.Network) *policy.Policy {
	p := policy.Default(n.ID, n.Currency)
	p.AML.ReportingThreshold = 50000
	p.AML.StructuringMargin = 5000
	return &p
}

// sanctionsFile writes the API tests' sanctions list under dir: the owner
// "Mallory" is listed, and the devnet's policy blocks listed parties.
func sanctionsFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "sanctions.txt")
	if err := os.WriteFile(p, []byte("# API tests\nMallory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// issueTo mints amount to bank's treasury through the issuer (two
// officers approve) and waits until the treasury holds it.
func (e *realEnv) issueTo(t *testing.T, bank string, amount uint64) {
	t.Helper()
	ctx := context.Background()
	asIssuer := roles.WithCaller(ctx, issuerP)
	m, err := e.issuer.ProposeMint(asIssuer, bank, amount)
	noErr(t, err)
	for _, i := range []int{0, 1} {
		k := e.net.Officers[i]
		m, err = e.issuer.ApproveMint(asIssuer, m.ID, k.Public(), k.Sign(crypto.Mint, e.net.Network.ID, m.ID))
		noErr(t, err)
	}
	treasury := e.bankC.Intermediary(bank)
	if bank == "bank-b" {
		treasury = e.bankBC.Intermediary(bank)
	}
	eventually(t, "mint delivered", func() error {
		w, err := treasury.Wallet(ctx, bank+".treasury")
		if err == nil && w.Balance != amount {
			err = fmt.Errorf("treasury %d", w.Balance)
		}
		return err
	})
}

// A large payment across intermediaries over HTTP opens an alert on each
// side; compliance staff of the payee's intermediary read and close theirs
// through the client, which answers the service's codes.
func TestAlertsOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b")) // bank-a delivers to bank-b over HTTP
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")
	e.issueTo(t, "bank-a", 2000_00)
	alice, err := bankA.OpenWallet(ctx, unlimited("Alice"))
	noErr(t, err)
	bob, err := bankB.OpenWallet(ctx, unlimited("Bob"))
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 1500_00})
	noErr(t, err)
	res, err := bankA.Pay(ctx, roles.Payment{From: alice.ID, To: bob.ID, Amount: 600_00})
	noErr(t, err)

	deskB := bankB.(roles.AlertDesk)
	var got []roles.Alert
	eventually(t, "bob's alert", func() error {
		if got, err = deskB.Alerts(ctx, roles.AlertOpen); err == nil && len(got) != 1 {
			err = fmt.Errorf("bank-b alerts %+v", got)
		}
		return err
	})
	a := got[0]
	if a.Rule != "large_value" || a.Side != "payee" || a.Wallet != bob.ID || a.Evidence[0].TxID != res.TxID ||
		a.Evidence[0].From != alice.ID || a.Evidence[0].Amount != 600_00 {
		t.Fatalf("bank-b alert %+v", a)
	}
	one, err := deskB.Alert(ctx, a.ID)
	noErr(t, err)
	same(t, "alert by id", one, a)
	_, err = deskB.Alert(ctx, "nosuch")
	wantCode(t, "unknown alert", err, errcode.NotFound, 404)
	_, err = bankA.(roles.AlertDesk).Alert(ctx, a.ID) // bank-a's own desk has its own alerts only
	wantCode(t, "bank-b's alert at bank-a", err, errcode.NotFound, 404)
	_, err = e.bankC.Intermediary("bank-b").(roles.AlertDesk).Alerts(ctx, "")
	wantCode(t, "bank-a reading bank-b's alerts", err, errcode.Unauthorized, 403)
	_, err = deskB.CloseAlert(ctx, a.ID, roles.AlertClose{State: "maybe", Reason: "x"})
	wantCode(t, "bad state", err, errcode.Malformed, 400)
	closed, err := deskB.CloseAlert(ctx, a.ID, roles.AlertClose{State: roles.AlertDismissed, Reason: "rent, known landlord", By: "officer 7"})
	noErr(t, err)
	if closed.State != roles.AlertDismissed || closed.ClosedBy != "officer 7" || closed.Reason != "rent, known landlord" || closed.Closed.IsZero() {
		t.Fatalf("closed %+v", closed)
	}
	_, err = deskB.CloseAlert(ctx, a.ID, roles.AlertClose{State: roles.AlertReported, Reason: "again"})
	wantCode(t, "closing twice", err, errcode.Conflict, 409)
	dismissed, err := deskB.Alerts(ctx, roles.AlertDismissed)
	noErr(t, err)
	same(t, "dismissed alerts", dismissed, []roles.Alert{closed})
	// bank-a: the payer's side (Alice, 600.00) and the treasury's payment to Alice (1500.00, payee side).
	fromA, err := bankA.(roles.AlertDesk).Alerts(ctx, "")
	noErr(t, err)
	if len(fromA) != 2 {
		t.Fatalf("bank-a alerts %+v", fromA)
	}
}

// A payee's intermediary reached over HTTP refuses a listed wallet's lock
// with blocked, and the payer's intermediary passes the refusal on before
// it signs anything: nothing moves.
func TestListedPayeeBlockedOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b")) // bank-a asks bank-b over HTTP
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")
	e.issueTo(t, "bank-a", 100_00)
	mallory, err := bankB.OpenWallet(ctx, unlimited("Mallory")) // on the sanctions list
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: mallory.ID, Amount: 10_00})
	wantCode(t, "payment to a listed wallet", err, errcode.Blocked, 422)
	w, err := bankA.Wallet(ctx, "bank-a.treasury")
	noErr(t, err)
	if w.Balance != 100_00 || w.Pending != 0 {
		t.Fatalf("treasury after a blocked payment %+v", w)
	}
	m, err := bankB.Wallet(ctx, mallory.ID)
	noErr(t, err)
	if m.Balance != 0 {
		t.Fatalf("listed wallet credited: %+v", m)
	}
}
