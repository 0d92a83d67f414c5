package api_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/crypto"
	"github.com/specie/specie/internal/errcode"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/money"
	"github.com/specie/specie/internal/roles"
)

// realEnv is the real ledger (Pebble in a temp dir) and the real issuer
// behind the API on loopback. The intermediary is still the recording fake
// (its service has not landed); it is where the issuer delivers mints, and
// its ReceiveLock names key(8), so the test holds the minted notes' key.
type realEnv struct {
	net    *ledgertest.Net
	ledger *ledger.Ledger
	issuer *issuer.Issuer
	bank   *fakeInter
	srv    *httptest.Server
	logs   *syncBuffer
	anon   *client.Client
	iss    *client.Client
	bankC  *client.Client
}

const openingReserve = 10_000_000_00

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	e := &realEnv{net: ledgertest.New(), bank: &fakeInter{name: "bank-a"}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	dir := t.TempDir()
	lcfg := e.net.Config()
	lcfg.Logger = log
	var err error
	if e.ledger, err = ledger.Open(filepath.Join(dir, "ledger"), lcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ledger.Close() })
	e.issuer, err = issuer.Open(filepath.Join(dir, "issuer"), issuer.Config{
		Network: e.net.Network, MintKeys: lcfg.MintKeys, MintQuorum: lcfg.MintQuorum, RedeemKey: e.net.RedeemKey,
		Reserves: map[string]uint64{"bank-a": openingReserve}, Logger: log,
	}, e.ledger, func(name string) (roles.Intermediary, bool) { return e.bank, name == "bank-a" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.issuer.Close() })
	e.srv = httptest.NewServer(api.New(api.Config{
		Ledger: e.ledger, Issuer: e.issuer,
		Intermediaries: map[string]roles.Intermediary{"bank-a": e.bank},
		Credentials: []api.Credential{
			{Token: issuerTok, Principal: issuerP},
			{Token: bankATok, Principal: bankAP},
		},
		Logger: log,
	}).Handler())
	t.Cleanup(e.srv.Close)
	e.anon = client.New(e.srv.URL, "")
	e.iss = client.New(e.srv.URL, issuerTok)
	e.bankC = client.New(e.srv.URL, bankATok)
	return e
}

func wantCode(t *testing.T, what string, err error, code errcode.Code, status int) {
	t.Helper()
	if !errcode.Is(err, code) || errcode.HTTPStatus(err) != status {
		t.Fatalf("%s: got %v (status %d), want %s (%d)", what, err, errcode.HTTPStatus(err), code, status)
	}
}

// TestRealServices drives the real ledger and issuer through the Go
// client and the HTTP API: an m-of-n mint, transfers, rejections that
// change nothing, a batch with a conflict, a redeem, and a third party's
// checks of inclusion proofs and the log's hash chain.
func TestRealServices(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	net := e.net.Network
	owner := key(8)

	info, err := e.anon.Ledger().Info(ctx)
	noErr(t, err)
	if info.Network != net || info.MintQuorum != 2 || len(info.MintKeys) != 3 || info.MintKeys[0] != e.net.Officers[0].Public() {
		t.Fatalf("info %+v", info)
	}

	// Mint 2500.00 to bank-a, proposed in decimal over raw JSON, approved
	// by two officers through the client.
	r := httpPost(t, e.srv.URL+"/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"2500.00"}`)
	if r.status != 201 {
		t.Fatalf("propose: %d %s", r.status, r.body)
	}
	id, err := money.ParseHash(r.json(t)["id"].(string))
	noErr(t, err)
	_, err = e.bankC.Issuer().ProposeMint(ctx, "bank-a", 1)
	wantCode(t, "mint proposed by an intermediary", err, errcode.Unauthorized, 401)

	is := e.iss.Issuer()
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
	if m.Status != roles.MintPending || len(m.Approvals) != 1 {
		t.Fatalf("after one approval: %+v", m)
	}
	_, err = is.ApproveMint(ctx, id, o0.Public(), o0.Sign(crypto.Mint, net.ID, id))
	wantCode(t, "approving twice", err, errcode.Conflict, 409)
	m, err = is.ApproveMint(ctx, id, o1.Public(), o1.Sign(crypto.Mint, net.ID, id))
	noErr(t, err)
	if m.Status != roles.MintCommitted || m.Receipt == nil || m.Receipt.TxID != id {
		t.Fatalf("after quorum: %+v", m)
	}

	// The issuer delivered the committed mint to bank-a (the fake).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c := e.bank.Calls(); len(c) > 0 && c[len(c)-1].method == "Deliver" {
			if got := net.TxID(c[len(c)-1].args[0].(*money.Tx)); got != id {
				t.Fatalf("delivered %s, want the mint %s", got, id)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mint not delivered: %+v", e.bank.Calls())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A third party checks the mint's inclusion from the API alone.
	ti, err := e.anon.Ledger().Tx(ctx, id)
	noErr(t, err)
	if ti.Kind != "mint" || ti.Header.Seq != m.Receipt.Batch {
		t.Fatalf("tx info %+v", ti)
	}
	noErr(t, money.VerifyInclusion(id, uint64(ti.Index), uint64(ti.Header.TxCount), ti.Proof, ti.Header.TxRoot))
	_, err = e.anon.Ledger().Tx(ctx, hashOf(0x99))
	wantCode(t, "unknown tx", err, errcode.NotFound, 404)

	minted := m.Tx.OutputNotes(id)
	if len(minted) != 1 || minted[0].Value != 250000 || minted[0].Lock != money.KeyLock(owner.Public()) {
		t.Fatalf("minted notes %+v", minted)
	}
	ni, err := e.anon.Ledger().Note(ctx, net.NoteID(&minted[0]))
	noErr(t, err)
	same(t, "minted note", ni, roles.NoteInfo{ID: net.NoteID(&minted[0]), Status: roles.NoteUnspent, Value: 250000})

	// Transfer it: 1000 to alice, the rest back to the owner.
	alice := key(10)
	l := e.bankC.Ledger()
	tx := e.net.Spend(money.Transfer, minted, []*crypto.PrivateKey{owner}, ledgertest.To(alice, 1000), ledgertest.To(owner, 249000))
	rc, err := l.Submit(ctx, tx)
	noErr(t, err)
	if rc.TxID != net.TxID(tx) {
		t.Fatalf("receipt %+v", rc)
	}
	ni, err = e.anon.Ledger().Note(ctx, net.NoteID(&minted[0]))
	noErr(t, err)
	// The ledger keeps only the unspent set, so a spent note is no longer
	// unspent ("unknown" today; "spent" would also be honest).
	if ni.Status == roles.NoteUnspent || ni.Value != 0 {
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
	_, err = l.Submit(ctx, e.net.Mint([]int{0}, ledgertest.To(owner, 1)))
	wantCode(t, "mint below quorum", err, errcode.Unauthorized, 401)
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
	wantCode(t, "redeem by the issuer", err, errcode.Unauthorized, 401)
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
	same(t, "reserves", sup.Reserves, []roles.Reserve{{Intermediary: "bank-a", Balance: openingReserve - 250000 + 9000}})

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
	if m := raw.json(t); m["outstanding_decimal"] != "2410.00" || m["reserves"].([]any)[0].(map[string]any)["balance_decimal"] != "9997590.00" {
		t.Fatalf("supply JSON %s", raw.body)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged:\n%s", e.logs.String())
	}
}
