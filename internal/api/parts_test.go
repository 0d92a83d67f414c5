package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

const routerTok = "tok-router-secret"

// partsEnv is a real ledger (Pebble in a temp dir) behind the API, as one
// group of a sharded network serves it to a router in another process.
type partsEnv struct {
	net    *ledgertest.Net
	ledger *ledger.Ledger
	srv    *httptest.Server
	router *client.Client
	bank   *client.Client
}

func newPartsEnv(t *testing.T) *partsEnv {
	t.Helper()
	e := &partsEnv{net: ledgertest.New()}
	cfg := e.net.TestConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	var err error
	if e.ledger, err = ledger.Open(filepath.Join(t.TempDir(), "ledger"), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ledger.Close() })
	e.srv = httptest.NewServer(api.New(api.Config{Ledger: e.ledger, Credentials: []api.Credential{
		{Token: routerTok, Principal: roles.Principal{Name: "router", Role: roles.RoleRouter}},
		{Token: issuerTok, Principal: issuerP},
		{Token: bankATok, Principal: bankAP},
	}}).Handler())
	t.Cleanup(e.srv.Close)
	e.router, e.bank = client.New(e.srv.URL, routerTok), client.New(e.srv.URL, bankATok)
	return e
}

// state is what a refused part must leave as it was.
type ledgerState struct {
	supply roles.LedgerSupply
	notes  []string
}

func (e *partsEnv) state(t *testing.T, ids ...money.NoteID) ledgerState {
	t.Helper()
	ctx := context.Background()
	var s ledgerState
	var err error
	if s.supply, err = e.ledger.Supply(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		ni, err := e.ledger.Note(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s.notes = append(s.notes, ni.Status)
	}
	return s
}

func partBody(t *testing.T, p ledger.Part) string {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return `{"part":"` + base64.StdEncoding.EncodeToString(b) + `"}`
}

// TestPartsRoute: POST /v1/parts takes a step of a cross-group
// transaction from the router principal only; anyone else, a malformed
// body or a replayed or excluded step is refused with its exact code and
// changes nothing; an accepted step is committed as SubmitPart in process
// commits it.
func TestPartsRoute(t *testing.T) {
	e := newPartsEnv(t)
	ctx := context.Background()
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	mint := e.net.Mint([]int{0, 1}, ledgertest.To(alice, 100_00))
	if _, err := e.ledger.Submit(ctx, mint); err != nil {
		t.Fatal(err)
	}
	note := e.net.Notes(mint)[0]
	noteID := e.net.Network.NoteID(&note)
	tx := e.net.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{alice}, ledgertest.To(bob, 100_00))
	name := func(s string) money.Hash { return sha256.Sum256([]byte(s)) }
	lock := ledger.NoteValue{ID: name("lock"), Value: 100_00}
	prepare := ledger.Part{Tx: tx, ID: name("prepare"), Spend: []ledger.NoteValue{{ID: noteID, Value: 100_00}},
		Create: []ledger.NoteValue{lock}, Excludes: []money.TxID{name("abort")}, Expiry: true}
	wire, err := prepare.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	before := e.state(t, noteID, lock.ID)
	unchanged := func(what string) {
		t.Helper()
		if after := e.state(t, noteID, lock.ID); after.supply != before.supply || after.notes[0] != before.notes[0] || after.notes[1] != before.notes[1] {
			t.Fatalf("%s: refused, yet the ledger changed: %+v -> %+v", what, before, after)
		}
	}

	// Refused before the part is read: who may call.
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"an intermediary", bankATok, http.StatusForbidden},
		{"the issuer", issuerTok, http.StatusForbidden},
		{"no token", "", http.StatusUnauthorized},
		{"an unknown token", "tok-nobody", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httpPost(t, e.srv.URL+"/v1/parts", tc.token, partBody(t, prepare))
			wantError(t, r, tc.status, string(errcode.Unauthorized))
			unchanged(tc.name)
		})
	}
	_, err = e.bank.SubmitPart(ctx, prepare.ID, wire)
	wantCode(t, "a bank's client", err, errcode.Unauthorized, http.StatusForbidden)

	// Refused as malformed: the body, the base64, the bytes.
	damaged := append([]byte(nil), wire...)
	damaged[0] = 9
	for _, tc := range []struct{ name, body string }{
		{"not JSON", `{"part":`},
		{"an unknown field", `{"part":"AA==","extra":1}`},
		{"no part", `{}`},
		{"bad base64", `{"part":"!!!"}`},
		{"an unknown version", `{"part":"` + base64.StdEncoding.EncodeToString(damaged) + `"}`},
		{"a truncated part", `{"part":"` + base64.StdEncoding.EncodeToString(wire[:len(wire)-3]) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httpPost(t, e.srv.URL+"/v1/parts", routerTok, tc.body)
			wantError(t, r, http.StatusBadRequest, string(errcode.Malformed))
			unchanged(tc.name)
		})
	}
	// A part whose transaction's signature fails is the ledger's to refuse.
	bad := *tx
	bad.InputSigs = append([]money.Sig(nil), tx.InputSigs...)
	bad.InputSigs[0][0] ^= 1
	badPrepare := prepare
	badPrepare.Tx = &bad
	b, err := badPrepare.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.router.SubmitPart(ctx, badPrepare.ID, b)
	wantCode(t, "a bad signature", err, errcode.BadSignature, http.StatusBadRequest)
	unchanged("a bad signature")

	// The router's part commits: the input is locked into the lock note.
	rc, err := e.router.SubmitPart(ctx, prepare.ID, wire)
	if err != nil {
		t.Fatal(err)
	}
	if rc.TxID != prepare.ID {
		t.Fatalf("receipt for %s, want the part's txid %s", rc.TxID, prepare.ID)
	}
	if info, err := client.New(e.srv.URL, "").Ledger().Tx(ctx, prepare.ID); err != nil || info.Header.Seq != rc.Batch {
		t.Fatalf("the part is not in the log where its receipt says: %+v %v", info, err)
	}
	before = e.state(t, noteID, lock.ID)
	if before.notes[0] != roles.NoteUnknown || before.notes[1] != roles.NoteUnspent {
		t.Fatalf("after the prepare: input %s, lock %s; want unknown and unspent", before.notes[0], before.notes[1])
	}
	// Replayed: already logged. Excluded: the abort after the prepare.
	_, err = e.router.SubmitPart(ctx, prepare.ID, wire)
	wantCode(t, "the prepare again", err, errcode.DoubleSpend, http.StatusConflict)
	unchanged("the prepare again")
	abort := ledger.Part{Tx: tx, ID: name("abort"), Excludes: []money.TxID{name("prepare")}, Verified: true}
	b, err = abort.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.router.SubmitPart(ctx, abort.ID, b)
	wantCode(t, "an abort the prepare excludes", err, errcode.Conflict, http.StatusConflict)
	unchanged("an abort the prepare excludes")
}

// TestPartsRouteOnlyOnGroups: a ledger that takes no parts (a router, a
// test fake) serves no /v1/parts.
func TestPartsRouteOnlyOnGroups(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.rawS(t, "POST", "/v1/parts", issuerTok, `{"part":"AA=="}`)
	wantError(t, r, http.StatusNotFound, string(errcode.NotFound))
}
