package issuer_test

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func TestMintCommitsAtQuorumAndDebitsReserve(t *testing.T) {
	e := newEnv(t)
	m := e.propose("bank-a", 250_00)
	if m.Status != roles.MintPending || len(m.Approvers) != 0 || m.Quorum != 2 || m.To != "bank-a" || m.Amount != 250_00 {
		t.Fatalf("proposal %+v", m)
	}
	if got := e.net.Network.TxID(m.Tx); got != m.ID {
		t.Fatalf("proposal id %s is not the mint txid %s", m.ID, got)
	}
	if m.Tx.Kind != money.Mint || len(m.Tx.Outputs) != 1 || m.Tx.Outputs[0].Value != 250_00 ||
		m.Tx.Outputs[0].Lock != money.KeyLock(e.banks["bank-a"].treasury.Public()) {
		t.Fatalf("mint tx %+v", m.Tx)
	}
	before := e.state()

	// First approval: recorded, nothing minted.
	m1, err := e.approve(2, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Status != roles.MintPending || len(m1.Approvers) != 1 || m1.Approvers[0] != e.net.Officers[2].Public() {
		t.Fatalf("after one approval: %+v", m1)
	}
	sameState(t, before, e.state())
	if d, _ := e.banks["bank-a"].got(); len(d) != 0 {
		t.Fatalf("delivered before quorum: %d", len(d))
	}

	// Second approval: committed, reserve debited exactly, notes delivered.
	m2, err := e.approve(0, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Status != roles.MintCommitted || m2.Receipt == nil || m2.Receipt.TxID != m.ID {
		t.Fatalf("after quorum: %+v", m2)
	}
	if got := e.reserve("bank-a"); got != openingA-250_00 {
		t.Fatalf("reserve %d, want %d", got, openingA-250_00)
	}
	if got := e.reserve("bank-b"); got != openingB {
		t.Fatalf("bank-b reserve %d changed", got)
	}
	s := e.state().supply
	if s.Minted != 250_00 || s.Outstanding != 250_00 || s.Unspent != 1 {
		t.Fatalf("ledger supply %+v", s.LedgerSupply)
	}
	info, err := e.ledger.Tx(bg, m.ID)
	if err != nil || info.Kind != "mint" {
		t.Fatalf("ledger tx: %+v %v", info, err)
	}
	d, calls := e.banks["bank-a"].got()
	tx := d[m.ID]
	if tx == nil || calls != 1 {
		t.Fatalf("delivered %d txs in %d calls, want the mint once", len(d), calls)
	}
	if len(tx.Auth) != 2 || bytes.Compare(tx.Auth[0].Key[:], tx.Auth[1].Key[:]) >= 0 {
		t.Fatalf("delivered mint Auth not 2 ascending keys: %+v", tx.Auth)
	}
	if n, err := e.is.Undelivered(); err != nil || n != 0 {
		t.Fatalf("outbox %d %v", n, err)
	}

	// A third approval after the commit changes nothing.
	before = e.state()
	_, err = e.approve(1, m.ID)
	wantCode(t, err, errcode.Conflict)
	sameState(t, before, e.state())
	got, err := e.is.GetMint(officerCtx, m.ID)
	if err != nil || got.Status != roles.MintCommitted || len(got.Approvers) != 2 || *got.Receipt != *m2.Receipt {
		t.Fatalf("GetMint %+v %v", got, err)
	}
}

func TestApproveRejectionsChangeNothing(t *testing.T) {
	e := newEnv(t)
	m := e.propose("bank-a", 100)
	if _, err := e.approve(0, m.ID); err != nil {
		t.Fatal(err)
	}
	stranger := ledgertest.MustKey()
	other := ledgertest.New() // same network ID, different keys
	officer := e.net.Officers[1]
	cases := []struct {
		name string
		id   money.TxID
		key  crypto.PublicKey
		sig  money.Sig
		want errcode.Code
	}{
		{"unknown proposal", money.TxID{1}, officer.Public(), officer.Sign(crypto.Mint, e.net.Network.ID, money.TxID{1}), errcode.NotFound},
		{"non-officer key", m.ID, stranger.Public(), stranger.Sign(crypto.Mint, e.net.Network.ID, m.ID), errcode.Unauthorized},
		{"forged signature", m.ID, officer.Public(), other.Officers[1].Sign(crypto.Mint, e.net.Network.ID, m.ID), errcode.BadSignature},
		{"signature for another purpose", m.ID, officer.Public(), officer.Sign(crypto.Redeem, e.net.Network.ID, m.ID), errcode.BadSignature},
		{"signature for another network", m.ID, officer.Public(), officer.Sign(crypto.Mint, "elsewhere", m.ID), errcode.BadSignature},
		{"signature over another mint", m.ID, officer.Public(), officer.Sign(crypto.Mint, e.net.Network.ID, money.TxID{2}), errcode.BadSignature},
		{"double approval", m.ID, e.net.Officers[0].Public(), e.net.Officers[0].Sign(crypto.Mint, e.net.Network.ID, m.ID), errcode.Conflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.state()
			_, err := e.is.ApproveMint(officerCtx, c.id, c.key, c.sig)
			wantCode(t, err, c.want)
			sameState(t, before, e.state())
			got, err := e.is.GetMint(officerCtx, m.ID)
			if err != nil || got.Status != roles.MintPending || len(got.Approvers) != 1 {
				t.Fatalf("proposal changed: %+v %v", got, err)
			}
		})
	}
	// A valid second approval still works afterwards.
	if got, err := e.approve(1, m.ID); err != nil || got.Status != roles.MintCommitted {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestFewerThanQuorumMintsNothing(t *testing.T) {
	e := newEnv(t)
	before := e.state()
	for i := 0; i < 3; i++ {
		m := e.propose("bank-b", 1000)
		if _, err := e.approve(i, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	sameState(t, before, e.state())
	if s := e.state().supply; s.Minted != 0 || s.Batches != 0 {
		t.Fatalf("ledger moved: %+v", s.LedgerSupply)
	}
}

func TestProposeChecksReserves(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		to     string
		amount uint64
		want   errcode.Code
	}{
		{"beyond reserve", "bank-b", openingB + 1, errcode.InsufficientFunds},
		{"zero", "bank-b", 0, errcode.Malformed},
		{"unknown intermediary", "bank-z", 10, errcode.NotFound},
		{"treasury name is not an intermediary", "bank-a.treasury", 10, errcode.NotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.state()
			_, err := e.is.ProposeMint(officerCtx, c.to, c.amount)
			wantCode(t, err, c.want)
			sameState(t, before, e.state())
		})
	}

	// Pending proposals hold their reserve: 30k + 20k fit in 50k, 1 more does not.
	e.propose("bank-b", 30_000)
	second := e.propose("bank-b", 20_000)
	_, err := e.is.ProposeMint(officerCtx, "bank-b", 1)
	wantCode(t, err, errcode.InsufficientFunds)
	// Committing one keeps the arithmetic exact.
	if _, err := e.approve(0, second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.approve(1, second.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.reserve("bank-b"); got != 30_000 {
		t.Fatalf("reserve %d, want 30000", got)
	}
	_, err = e.is.ProposeMint(officerCtx, "bank-b", 1)
	wantCode(t, err, errcode.InsufficientFunds)
	// The whole reserve of another bank is available.
	e.propose("bank-a", openingA)
}

func TestCallerRoles(t *testing.T) {
	e := newEnv(t)
	m := e.propose("bank-a", 500)
	committed := e.mint("bank-a", 1000)
	k, s := e.sig(1, m.ID)
	redeem := e.redeemTx(e.banks["bank-a"], committed.Tx, 0)
	callers := map[string]context.Context{
		"nobody":       bg,
		"intermediary": bankCtx("bank-a"),
	}
	for who, ctx := range callers {
		t.Run(who, func(t *testing.T) {
			before := e.state()
			_, err := e.is.ProposeMint(ctx, "bank-a", 10)
			wantCode(t, err, errcode.Unauthorized)
			_, err = e.is.ApproveMint(ctx, m.ID, k, s)
			wantCode(t, err, errcode.Unauthorized)
			_, err = e.is.GetMint(ctx, m.ID)
			wantCode(t, err, errcode.Unauthorized)
			sameState(t, before, e.state())
		})
	}
	redeemers := map[string]context.Context{
		"nobody":                       bg,
		"issuer":                       officerCtx,
		"intermediary without reserve": bankCtx("bank-z"),
	}
	for who, ctx := range redeemers {
		t.Run("redeem by "+who, func(t *testing.T) {
			before := e.state()
			_, err := e.is.Redeem(ctx, redeem)
			wantCode(t, err, errcode.Unauthorized)
			sameState(t, before, e.state())
		})
	}
	// Supply is public.
	if _, err := e.is.Supply(bg); err != nil {
		t.Fatal(err)
	}
	got, err := e.is.GetMint(officerCtx, m.ID)
	if err != nil || got.Status != roles.MintPending || len(got.Approvers) != 0 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestRedeemCreditsReserveAndShrinksSupply(t *testing.T) {
	e := newEnv(t)
	a := e.banks["bank-a"]
	m := e.mint("bank-a", 1000_00)
	reserve := e.reserve("bank-a")

	tx := e.redeemTx(a, m.Tx, 300_00) // destroys 700.00, keeps 300.00
	r, err := e.is.Redeem(bankCtx("bank-a"), tx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Intermediary != "bank-a" || r.Amount != 700_00 || r.Receipt.Batch == 0 {
		t.Fatalf("redemption %+v", r)
	}
	if got := e.reserve("bank-a"); got != reserve+700_00 {
		t.Fatalf("reserve %d, want %d", got, reserve+700_00)
	}
	s := e.state().supply
	if s.Minted != 1000_00 || s.Redeemed != 700_00 || s.Outstanding != 300_00 {
		t.Fatalf("supply %+v", s.LedgerSupply)
	}
	if len(tx.Auth) != 0 {
		t.Fatal("Redeem modified the caller's transaction")
	}

	// Redeeming the same transaction again credits nothing more.
	before := e.state()
	again, err := e.is.Redeem(bankCtx("bank-a"), tx)
	if err != nil || again != r {
		t.Fatalf("repeat redeem: %+v %v, want %+v", again, err, r)
	}
	sameState(t, before, e.state())
	// Another intermediary cannot claim it.
	_, err = e.is.Redeem(bankCtx("bank-b"), tx)
	wantCode(t, err, errcode.Unauthorized)
	sameState(t, before, e.state())
}

func TestRedeemRejectionsChangeNothing(t *testing.T) {
	e := newEnv(t)
	a := e.banks["bank-a"]
	m := e.mint("bank-a", 1000)
	m2 := e.mint("bank-a", 2000)

	badOwner := e.redeemTx(a, m.Tx, 0)
	badOwner.InputSigs[0] = ledgertest.MustKey().Sign(crypto.Spend, e.net.Network.ID, e.net.Network.TxID(badOwner))

	transfer := e.redeemTx(a, m.Tx, 0)
	transfer.Kind = money.Transfer
	transfer.Outputs = m.Tx.Outputs

	nothing := e.redeemTx(a, m.Tx, 1000) // destroys nothing

	// m2's note, redeemed once for real, then again with different change.
	spent := e.redeemTx(a, m2.Tx, 0)
	if _, err := e.is.Redeem(bankCtx("bank-a"), spent); err != nil {
		t.Fatal(err)
	}
	respend := e.redeemTx(a, m2.Tx, 1)

	unknown := e.redeemTx(a, m.Tx, 0)
	unknown.Inputs[0].TxID = money.TxID{9}
	ledgertest.SignSpend(e.net.Network, unknown, []*crypto.PrivateKey{a.treasury})

	cases := []struct {
		name string
		tx   *money.Tx
		want errcode.Code
	}{
		{"bad owner signature", badOwner, errcode.BadSignature},
		{"not a redeem", transfer, errcode.Malformed},
		{"destroys nothing", nothing, errcode.Malformed},
		{"nil", nil, errcode.Malformed},
		{"already spent note", respend, errcode.DoubleSpend},
		{"note never created", unknown, errcode.UnknownNote},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.state()
			_, err := e.is.Redeem(bankCtx("bank-a"), c.tx)
			wantCode(t, err, c.want)
			sameState(t, before, e.state())
		})
	}
	// The good note is still redeemable.
	if r, err := e.is.Redeem(bankCtx("bank-a"), e.redeemTx(a, m.Tx, 0)); err != nil || r.Amount != 1000 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestSupplyListsReservesSorted(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-b", 500)
	s, err := e.is.Supply(bg)
	if err != nil {
		t.Fatal(err)
	}
	want := []roles.Reserve{{Intermediary: "bank-a", Balance: openingA}, {Intermediary: "bank-b", Balance: openingB - 500}}
	if len(s.Reserves) != 2 || s.Reserves[0] != want[0] || s.Reserves[1] != want[1] {
		t.Fatalf("reserves %+v", s.Reserves)
	}
	if s.Currency != e.net.Network.Currency || s.Minted != 500 {
		t.Fatalf("supply %+v", s)
	}
}

// Only an intermediary redeems: no credential is 401, a known principal of
// another role 403, both with the code unauthorized, and neither moves the
// reserve or the supply.
func TestRedeemByAnotherRoleIsForbidden(t *testing.T) {
	e := newEnv(t)
	m := e.mint("bank-a", 1000_00)
	tx := e.redeemTx(e.banks["bank-a"], m.Tx, 300_00)
	for _, c := range []struct {
		name   string
		ctx    context.Context
		status int
	}{
		{"no caller", bg, http.StatusUnauthorized},
		{"the issuer", officerCtx, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.state()
			_, err := e.is.Redeem(c.ctx, tx)
			wantCode(t, err, errcode.Unauthorized)
			if got := errcode.HTTPStatus(err); got != c.status {
				t.Fatalf("status %d, want %d (%v)", got, c.status, err)
			}
			if after := e.state(); !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused redeem changed the state:\n%+v\n%+v", before, after)
			}
		})
	}
}
