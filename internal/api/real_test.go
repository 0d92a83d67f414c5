package api_test

import (
	"context"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// realEnv is a whole network in one process: the real ledger (Pebble in
// a temp dir), the real issuer desk and two real intermediaries, all
// behind one API server on loopback, driven through the Go client.
type realEnv struct {
	net    *ledgertest.Net
	ledger *ledger.Ledger
	issuer *issuer.Issuer
	banks  map[string]*intermediary.Intermediary
	// peers, when set for a name, is how the roles reach that
	// intermediary instead of in process (e.g. over HTTP).
	peers  map[string]roles.Intermediary
	srv    *httptest.Server
	logs   *syncBuffer
	anon   *client.Client
	iss    *client.Client
	bankC  *client.Client // bank-a
	bankBC *client.Client // bank-b

	setPeer func(name string, p roles.Intermediary)
}

const openingReserve = 10_000_000_00

var bankBP = roles.Principal{Name: "bank-b", Role: roles.RoleIntermediary}

const bankBTok = "tok-bank-b-secret"

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	e := &realEnv{net: ledgertest.New(), banks: map[string]*intermediary.Intermediary{}, peers: map[string]roles.Intermediary{}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	dir := t.TempDir()
	lcfg := e.net.TestConfig()
	lcfg.Logger = log
	lcfg.Archive = true // GET /v1/log/batches/{seq}
	var err error
	if e.ledger, err = ledger.Open(filepath.Join(dir, "ledger"), lcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ledger.Close() })
	var mu sync.Mutex
	directory := func(name string) (roles.Intermediary, bool) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := e.peers[name]; ok {
			return p, true
		}
		b, ok := e.banks[name]
		return b, ok
	}
	e.issuer, err = issuer.Open(filepath.Join(dir, "issuer"), issuer.Config{
		Network: e.net.Network, MintKeys: lcfg.MintKeys, MintQuorum: lcfg.MintQuorum, RedeemKey: e.net.RedeemKey,
		Reserves: map[string]uint64{"bank-a": openingReserve, "bank-b": openingReserve}, Logger: log,
	}, e.ledger, directory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.issuer.Close() })
	pol := screeningPolicy(e.net.Network)
	src := signedPolicy{policy.Signed{Policy: *pol, Approvals: []policy.Approval{policy.Sign(pol, e.net.Officers[0]), policy.Sign(pol, e.net.Officers[1])}}}
	served := map[string]roles.Intermediary{}
	for _, name := range []string{"bank-a", "bank-b"} {
		b, err := intermediary.Open(filepath.Join(dir, name), aliasConfig(intermediary.Config{Name: name, Network: e.net.Network, Logger: log, Policies: src, SanctionsFile: sanctionsFile(t, dir)}, e.issuer, dir), e.ledger, e.issuer, directory)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		mu.Lock()
		e.banks[name] = b
		mu.Unlock()
		served[name] = b
	}
	e.setPeer = func(name string, p roles.Intermediary) {
		mu.Lock()
		defer mu.Unlock()
		e.peers[name] = p
	}
	logSigner, err := logtree.NewSigner("specie-test-log", ledgertest.KeyFrom(mrand.New(mrand.NewPCG(1, 2))))
	if err != nil {
		t.Fatal(err)
	}
	gw := openRealGateway(t, dir, e.net.Network.Currency, e.issuer, served)
	e.srv = httptest.NewServer(api.New(api.Config{
		ISO20022: gw,
		Ledger:   e.ledger, Issuer: e.issuer, Intermediaries: served,
		Checkpoints: logtree.NewLog(e.ledger, e.net.Network, logSigner),
		Policies:    e.issuer, Registry: e.issuer.Registry(), Keys: e.issuer,
		Credentials: []api.Credential{
			{Token: issuerTok, Principal: issuerP},
			{Token: bankATok, Principal: bankAP},
			{Token: bankBTok, Principal: bankBP},
			{Token: auditorTok, Principal: auditorP},
		},
		Logger:         log,
		AliasDirectory: e.issuer.Aliases(),
	}).Handler())
	t.Cleanup(e.srv.Close)
	e.anon = client.New(e.srv.URL, "")
	e.iss = client.New(e.srv.URL, issuerTok)
	e.bankC = client.New(e.srv.URL, bankATok)
	e.bankBC = client.New(e.srv.URL, bankBTok)
	return e
}

// eventually polls f until it returns nil or 5 seconds pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, err error, code errcode.Code, status int) {
	t.Helper()
	if !errcode.Is(err, code) || errcode.HTTPStatus(err) != status {
		t.Fatalf("%s: got %v (status %d), want %s (%d)", what, err, errcode.HTTPStatus(err), code, status)
	}
}

// TestRealLedger drives the real ledger through the Go client and the
// HTTP API with transactions the test signs itself: a quorum-signed mint,
// transfers, rejections that change nothing, a batch with a conflict, a
// redeem through the issuer desk, and a third party's checks of inclusion
// proofs and the log's hash chain.
func TestRealLedger(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	net := e.net.Network
	owner := key(8)
	l := e.bankC.Ledger()

	info, err := e.anon.Ledger().Info(ctx)
	noErr(t, err)
	if info.Network != net || info.MintQuorum != 2 || len(info.MintKeys) != 3 || info.MintKeys[0] != e.net.Officers[0].Public() {
		t.Fatalf("info %+v", info)
	}

	mint := e.net.Mint([]int{0, 2}, ledgertest.To(owner, 250000))
	id := net.TxID(mint)
	rc, err := e.iss.Ledger().Submit(ctx, mint)
	noErr(t, err)
	if rc.TxID != id {
		t.Fatalf("receipt %+v", rc)
	}
	_, err = l.Submit(ctx, e.net.Mint([]int{0}, ledgertest.To(owner, 1)))
	wantCode(t, "mint below quorum", err, errcode.Unauthorized, 401)

	// A third party checks the mint's inclusion from the API alone.
	ti, err := e.anon.Ledger().Tx(ctx, id)
	noErr(t, err)
	if ti.Kind != "mint" || ti.Header.Seq != rc.Batch || ti.Index != rc.Index {
		t.Fatalf("tx info %+v", ti)
	}
	noErr(t, money.VerifyInclusion(id, uint64(ti.Index), uint64(ti.Header.TxCount), ti.Proof, ti.Header.TxRoot))
	_, err = e.anon.Ledger().Tx(ctx, hashOf(0x99))
	wantCode(t, "unknown tx", err, errcode.NotFound, 404)

	minted := e.net.Notes(mint)
	ni, err := e.anon.Ledger().Note(ctx, net.NoteID(&minted[0]))
	noErr(t, err)
	same(t, "minted note", ni, roles.NoteInfo{ID: net.NoteID(&minted[0]), Status: roles.NoteUnspent, Value: 250000})

	// Transfer it: 1000 to alice, the rest back to the owner.
	alice := key(10)
	tx := e.net.Spend(money.Transfer, minted, []*crypto.PrivateKey{owner}, ledgertest.To(alice, 1000), ledgertest.To(owner, 249000))
	rc, err = l.Submit(ctx, tx)
	noErr(t, err)
	if rc.TxID != net.TxID(tx) {
		t.Fatalf("receipt %+v", rc)
	}
	ni, err = e.anon.Ledger().Note(ctx, net.NoteID(&minted[0]))
	noErr(t, err)
	// The ledger keeps only the unspent set, so a spent note reads
	// unknown (roles has no "spent" status), with no value.
	if ni.Status != roles.NoteUnknown || ni.Value != 0 {
		t.Fatalf("spent note reported %+v", ni)
	}

	before, err := e.anon.Issuer().Supply(ctx)
	noErr(t, err)
	// Rejections, each with its code and status, each changing nothing.
	_, err = l.Submit(ctx, tx)
	wantCode(t, "resubmitted transfer", err, errcode.DoubleSpend, 409)
	notes := e.net.Notes(tx)
	forged := e.net.Spend(money.Transfer, notes[:1], []*crypto.PrivateKey{owner}, ledgertest.To(owner, 1000)) // alice's note, owner signs
	_, err = l.Submit(ctx, forged)
	wantCode(t, "spend by the wrong key", err, errcode.BadSignature, 400)
	ghost := money.Note{TxID: hashOf(0x55), Index: 0, Output: ledgertest.To(owner, 5)}
	_, err = l.Submit(ctx, e.net.Spend(money.Transfer, []money.Note{ghost}, []*crypto.PrivateKey{owner}, ledgertest.To(alice, 5)))
	wantCode(t, "spend of a note never created", err, errcode.UnknownNote, 422)
	after, err := e.anon.Issuer().Supply(ctx)
	noErr(t, err)
	same(t, "supply after rejections", after, before)

	// A batch in which two transactions spend alice's note: the first wins.
	toB := e.net.Spend(money.Transfer, notes[:1], []*crypto.PrivateKey{alice}, ledgertest.To(key(11), 1000))
	toC := e.net.Spend(money.Transfer, notes[:1], []*crypto.PrivateKey{alice}, ledgertest.To(key(12), 600), ledgertest.To(alice, 400))
	res, err := l.SubmitBatch(ctx, []*money.Tx{toB, toC})
	noErr(t, err)
	if res[0].Err != nil || res[0].Receipt.TxID != net.TxID(toB) {
		t.Fatalf("batch[0] %+v", res[0])
	}
	wantCode(t, "batch[1]", res[1].Err, errcode.DoubleSpend, 409)

	// bank-a redeems 9000 of the owner's change (the issuer acknowledges).
	change := notes[1]
	red := e.net.Spend(money.Redeem, []money.Note{change}, []*crypto.PrivateKey{owner}, ledgertest.To(owner, 240000))
	red.Auth = nil // the issuer adds its acknowledgement
	_, err = e.anon.Issuer().Redeem(ctx, red)
	wantCode(t, "anonymous redeem", err, errcode.Unauthorized, 401)
	_, err = e.iss.Issuer().Redeem(ctx, red)
	wantCode(t, "redeem by the issuer", err, errcode.Unauthorized, 403)
	rd, err := e.bankC.Issuer().Redeem(ctx, red)
	noErr(t, err)
	if rd.Intermediary != "bank-a" || rd.Amount != 9000 || rd.Receipt.TxID != net.TxID(red) {
		t.Fatalf("redemption %+v", rd)
	}

	sup, err := e.anon.Issuer().Supply(ctx)
	noErr(t, err)
	if sup.Minted != 250000 || sup.Redeemed != 9000 || sup.Outstanding != 241000 || sup.Currency != net.Currency {
		t.Fatalf("supply %+v", sup)
	}
	// The mint bypassed the desk, so no reserve paid for it; the redeem
	// was credited to bank-a's.
	same(t, "reserves", sup.Reserves, []roles.Reserve{{Intermediary: "bank-a", Balance: openingReserve + 9000}, {Intermediary: "bank-b", Balance: openingReserve}})

	// The log's hash chain and totals, checked from the API alone.
	hs, err := e.anon.Ledger().Headers(ctx, 1, 5000)
	noErr(t, err)
	if len(hs) == 0 || uint64(len(hs)) != sup.Batches {
		t.Fatalf("%d headers, supply says %d batches", len(hs), sup.Batches)
	}
	for i := 1; i < len(hs); i++ {
		if hs[i].Prev != net.HeaderHash(&hs[i-1]) || hs[i].Seq != hs[i-1].Seq+1 {
			t.Fatalf("hash chain broken at %d", hs[i].Seq)
		}
	}
	if last := hs[len(hs)-1]; last.Minted != sup.Minted || last.Redeemed != sup.Redeemed {
		t.Fatalf("last header %+v vs supply %+v", last, sup)
	}
	raw := httpGet(t, e.srv.URL+"/v1/supply")
	if m := raw.json(t); m["outstanding_decimal"] != "2410.00" || m["reserves"].([]any)[0].(map[string]any)["balance_decimal"] != "10000090.00" {
		t.Fatalf("supply JSON %s", raw.body)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged:\n%s", e.logs.String())
	}
}

// TestRealNetwork drives the issuer desk and two real intermediaries
// through the Go client and raw JSON: an m-of-n mint delivered to bank-a's
// treasury, wallets, payments within and across banks (decimal amounts
// too), history, receive locks, the services' authorization, and a redeem
// back into the reserve account.
func TestRealNetwork(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	net := e.net.Network
	is := e.iss.Issuer()
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")

	// Mint 2500.00 to bank-a, proposed in decimal over raw JSON.
	r := httpPost(t, e.srv.URL+"/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"2500.00"}`)
	if r.status != 201 {
		t.Fatalf("propose: %d %s", r.status, r.body)
	}
	id, err := money.ParseHash(r.json(t)["id"].(string))
	noErr(t, err)
	_, err = e.bankC.Issuer().ProposeMint(ctx, "bank-a", 1)
	wantCode(t, "mint proposed by an intermediary", err, errcode.Unauthorized, 403)
	_, err = is.ProposeMint(ctx, "bank-z", 1)
	wantCode(t, "mint to an unknown intermediary", err, errcode.NotFound, 404)
	_, err = is.ProposeMint(ctx, "bank-b", openingReserve+1)
	wantCode(t, "mint beyond the reserve", err, errcode.InsufficientFunds, 422)

	m, err := is.GetMint(ctx, id)
	noErr(t, err)
	if m.Status != roles.MintPending || m.Amount != 250000 || m.To != "bank-a" || m.Tx == nil || net.TxID(m.Tx) != id {
		t.Fatalf("pending mint %+v", m)
	}
	o0, o1, o2 := e.net.Officers[0], e.net.Officers[1], e.net.Officers[2]
	_, err = is.ApproveMint(ctx, id, o2.Public(), o2.Sign(crypto.Mint, net.ID, hashOf(1)))
	wantCode(t, "approval signing the wrong hash", err, errcode.BadSignature, 400)
	_, err = is.ApproveMint(ctx, id, key(9).Public(), key(9).Sign(crypto.Mint, net.ID, id))
	wantCode(t, "approval by a non-officer", err, errcode.Unauthorized, 401)
	m, err = is.ApproveMint(ctx, id, o0.Public(), o0.Sign(crypto.Mint, net.ID, id))
	noErr(t, err)
	if m.Status != roles.MintPending || len(m.Approvals) != 1 || m.Approvers[0] != o0.Public() {
		t.Fatalf("after one approval: %+v", m)
	}
	_, err = is.ApproveMint(ctx, id, o0.Public(), o0.Sign(crypto.Mint, net.ID, id))
	wantCode(t, "approving twice", err, errcode.Conflict, 409)
	m, err = is.ApproveMint(ctx, id, o1.Public(), o1.Sign(crypto.Mint, net.ID, id))
	noErr(t, err)
	if m.Status != roles.MintCommitted || m.Receipt == nil || m.Receipt.TxID != id {
		t.Fatalf("after quorum: %+v", m)
	}
	eventually(t, "mint delivered to the treasury", func() error {
		w, err := bankA.Wallet(ctx, "bank-a.treasury")
		if err == nil && w.Balance != 250000 {
			err = fmt.Errorf("treasury balance %d", w.Balance)
		}
		return err
	})

	// Wallets: alice at bank-a, bob at bank-b, each opened by its bank.
	r = httpPost(t, e.srv.URL+"/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"Alice","tier":3,"evidence":[{"kind":"identity","ref":"I1"},{"kind":"address","ref":"A1"},{"kind":"business","ref":"B1"}]}`)
	if r.status != 201 {
		t.Fatalf("open wallet: %d %s", r.status, r.body)
	}
	alice := r.json(t)["id"].(string)
	bob, err := bankB.OpenWallet(ctx, unlimited("Bob"))
	noErr(t, err)
	if !strings.HasPrefix(bob.ID, "bank-b.") || bob.Owner != "Bob" || bob.Balance != 0 || bob.Lock.Kind != money.LockEd25519 {
		t.Fatalf("bob's wallet %+v", bob)
	}
	_, err = e.iss.Intermediary("bank-a").OpenWallet(ctx, unlimited("Mallory"))
	wantCode(t, "the issuer opening a bank's wallet", err, errcode.Unauthorized, 403)
	_, err = e.bankC.Intermediary("bank-b").Wallet(ctx, bob.ID)
	wantCode(t, "bank-a reading bank-b's wallet", err, errcode.Unauthorized, 403)
	_, err = bankA.Wallet(ctx, "bank-a.nosuchwallet")
	wantCode(t, "unknown wallet", err, errcode.NotFound, 404)

	// The treasury funds alice (decimal over raw JSON); alice pays bob
	// across banks; bank-a learns bob's lock from bank-b.
	r = httpPost(t, e.srv.URL+"/v1/intermediaries/bank-a/payments", bankATok,
		`{"from":"bank-a.treasury","to":"`+alice+`","amount":"1000.00","reference":"welcome"}`)
	if r.status != 200 || r.json(t)["amount"] != "100000" || r.json(t)["amount_decimal"] != "1000.00" {
		t.Fatalf("fund alice: %d %s", r.status, r.body)
	}
	lock, err := e.bankC.Intermediary("bank-b").ReceiveLock(ctx, bob.ID)
	noErr(t, err)
	if lock != bob.Lock {
		t.Fatalf("bob's lock %v, wallet says %v", lock, bob.Lock)
	}
	pr, err := bankA.Pay(ctx, roles.Payment{From: alice, To: bob.ID, Amount: 25050, Reference: "rent"})
	noErr(t, err)
	if pr.From != alice || pr.To != bob.ID || pr.Amount != 25050 || pr.Receipt.TxID != pr.TxID {
		t.Fatalf("payment %+v", pr)
	}
	_, err = bankA.Pay(ctx, roles.Payment{From: alice, To: bob.ID, Amount: 1_000_000_00})
	wantCode(t, "paying more than alice has", err, errcode.InsufficientFunds, 422)
	_, err = bankA.Pay(ctx, roles.Payment{From: bob.ID, To: alice, Amount: 1})
	wantCode(t, "bank-a paying from bob's wallet", err, errcode.Unauthorized, 403)
	eventually(t, "bob credited", func() error {
		w, err := bankB.Wallet(ctx, bob.ID)
		if err == nil && w.Balance != 25050 {
			err = fmt.Errorf("bob's balance %d", w.Balance)
		}
		return err
	})
	aw, err := bankA.Wallet(ctx, alice)
	noErr(t, err)
	if aw.Balance != 100000-25050 || aw.Owner != "Alice" {
		t.Fatalf("alice's wallet %+v", aw)
	}
	h, err := bankA.History(ctx, alice)
	noErr(t, err)
	if len(h) != 2 || h[0].Direction != "in" || h[0].Amount != 100000 || h[0].Reference != "welcome" ||
		h[1].Direction != "out" || h[1].Amount != 25050 || h[1].TxID != pr.TxID || h[1].Reference != "rent" {
		t.Fatalf("alice's history %+v", h)
	}

	// bank-a redeems 500.00 from its treasury into its reserve account.
	rd, err := bankA.Redeem(ctx, roles.RedeemRequest{Amount: 50000})
	noErr(t, err)
	if rd.Intermediary != "bank-a" || rd.Amount != 50000 {
		t.Fatalf("redemption %+v", rd)
	}
	_, err = e.bankC.Intermediary("bank-b").Redeem(ctx, roles.RedeemRequest{Amount: 1})
	wantCode(t, "bank-a redeeming bank-b's treasury", err, errcode.Unauthorized, 403)

	sup, err := e.anon.Issuer().Supply(ctx)
	noErr(t, err)
	if sup.Minted != 250000 || sup.Redeemed != 50000 || sup.Outstanding != 200000 {
		t.Fatalf("supply %+v", sup)
	}
	same(t, "reserves", sup.Reserves, []roles.Reserve{
		{Intermediary: "bank-a", Balance: openingReserve - 250000 + 50000},
		{Intermediary: "bank-b", Balance: openingReserve},
	})
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged:\n%s", e.logs.String())
	}
}

// signedPolicy is the central bank's policy as the intermediaries fetch
// it, signed by two of the test network's officers (the issuer here has
// none in force: the conformance test governs one through the API).
type signedPolicy struct{ s policy.Signed }

func (p signedPolicy) Policy(context.Context) (policy.Signed, error) { return p.s, nil }
