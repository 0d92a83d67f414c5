package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/roles"
)

// aliasSalt is the API tests' shared secret of the intermediaries.
var aliasSalt = []byte("the intermediaries' salt in the API tests")

// aliasLookupBurst is each caller's lookup budget in the API tests: it
// refills one an hour, so within a test it does not refill at all.
const aliasLookupBurst = 8

// aliasConfig gives an intermediary of the real API env the issuer's
// alias directory, the shared salt and a lookup budget that does not
// refill during a test.
func aliasConfig(cfg intermediary.Config, is *issuer.Issuer, dir string) intermediary.Config {
	cfg.Aliases, cfg.PseudonymSalt = is.Aliases(), aliasSalt
	cfg.OTPFile = filepath.Join(dir, cfg.Name+"-otp.log")
	cfg.AliasLookupEvery, cfg.AliasLookupBurst = time.Hour, aliasLookupBurst
	return cfg
}

// otpFromLog is the last one-time code the intermediaries logged for
// alias (normalised) and wallet: the devnet's way of "sending" it.
func otpFromLog(t *testing.T, e *realEnv, alias, wallet string) string {
	t.Helper()
	code := ""
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Alias  string `json:"alias"`
			Wallet string `json:"wallet"`
			Code   string `json:"code"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Msg, "one-time code") && line.Alias == alias && line.Wallet == wallet {
			code = line.Code
		}
	}
	if code == "" {
		t.Fatalf("no one-time code for %s in the log", alias)
	}
	return code
}

// wrongCode is a well-formed code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// TestPayByAliasOverHTTP: a payee at bank-b binds a phone number and an
// email address with one-time codes, a payer at bank-a looks the number up
// over HTTP, sees the masked name, and pays the wallet it resolves to;
// unknown and malformed aliases are refused and a wrong code binds nothing.
func TestPayByAliasOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")
	booksA, booksB := bankA.(roles.AliasBook), bankB.(roles.AliasBook)
	e.issueTo(t, "bank-a", 100_00)
	alice, err := bankB.OpenWallet(ctx, unlimited("Alice Smith"))
	noErr(t, err)
	payer, err := bankA.OpenWallet(ctx, unlimited("Carol"))
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: payer.ID, Amount: 50_00})
	noErr(t, err)

	ch, err := booksB.RequestAliasCode(ctx, roles.AliasRequest{Wallet: alice.ID, Alias: "+1 (555) 123-4567"})
	noErr(t, err)
	if ch.Alias != "+15551234567" || ch.Kind != roles.AliasPhone || ch.Attempts != 3 {
		t.Fatalf("challenge %+v", ch)
	}
	code := otpFromLog(t, e, ch.Alias, alice.ID)
	_, err = booksB.ConfirmAlias(ctx, alice.ID, ch.Alias, wrongCode(code))
	wantCode(t, "wrong code", err, errcode.Unauthorized, 403)
	_, err = booksA.LookupAlias(ctx, "+15551234567")
	wantCode(t, "lookup before the code is confirmed", err, errcode.NotFound, 404)
	got, err := booksB.ConfirmAlias(ctx, alice.ID, "+15551234567", code)
	noErr(t, err)
	if got.Wallet != alice.ID || got.Display != "Alice S." || got.Intermediary != "bank-b" {
		t.Fatalf("bound %+v", got)
	}
	ch, err = booksB.RequestAliasCode(ctx, roles.AliasRequest{Wallet: alice.ID, Alias: "Alice@Example.ORG"})
	noErr(t, err)
	_, err = booksB.ConfirmAlias(ctx, alice.ID, ch.Alias, otpFromLog(t, e, "alice@example.org", alice.ID))
	noErr(t, err)

	for _, alias := range []string{"+15551234567", "alice@EXAMPLE.org"} {
		found, err := booksA.LookupAlias(ctx, alias)
		noErr(t, err)
		if found.Wallet != alice.ID || found.Display != "Alice S." || found.Intermediary != "bank-b" {
			t.Fatalf("lookup of %s: %+v", alias, found)
		}
		_, err = bankA.Pay(ctx, roles.Payment{From: payer.ID, To: found.Wallet, Amount: 10_00, Reference: "to " + alias})
		noErr(t, err)
	}
	eventually(t, "payments by alias delivered", func() error {
		w, err := bankB.Wallet(ctx, alice.ID)
		if err == nil && w.Balance != 20_00 {
			err = fmt.Errorf("alice holds %d", w.Balance)
		}
		return err
	})

	before, err := bankA.Wallet(ctx, payer.ID)
	noErr(t, err)
	_, err = booksA.LookupAlias(ctx, "+15550000000")
	wantCode(t, "unknown alias", err, errcode.NotFound, 404)
	_, err = booksA.LookupAlias(ctx, "5551234567")
	wantCode(t, "no +", err, errcode.Malformed, 400)
	after, err := bankA.Wallet(ctx, payer.ID)
	noErr(t, err)
	if before.Balance != after.Balance {
		t.Fatalf("a refused lookup moved money: %d -> %d", before.Balance, after.Balance)
	}
}

// TestAliasLookupRateLimitOverHTTP: each caller has its own lookup budget;
// past it the answer is 429 rate_limited in the API's error shape, for
// known, unknown and malformed aliases alike, while another caller is
// still answered.
func TestAliasLookupRateLimitOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	lookup := func(token, alias string) response {
		return httpPost(t, e.srv.URL+"/v1/intermediaries/bank-a/aliases/lookup", token, `{"alias":"`+alias+`"}`)
	}
	for i := range aliasLookupBurst {
		alias := fmt.Sprintf("+1555000%04d", i)
		if i%3 == 2 {
			alias = "nonsense"
		}
		if r := lookup(auditorTok, alias); r.status != 404 && r.status != 400 {
			t.Fatalf("lookup %d within the budget: %d %s", i, r.status, r.body)
		}
	}
	for _, alias := range []string{"+15559999999", "nonsense"} {
		r := lookup(auditorTok, alias)
		wantError(t, r, 429, "rate_limited")
		// The budget refills one lookup an hour here (the env's
		// AliasLookupEvery): Retry-After says when the next is allowed.
		if n, _ := strconv.Atoi(r.header.Get("Retry-After")); n < 3590 || n > 3600 {
			t.Fatalf("Retry-After %q, want the seconds until the next lookup is allowed (about 3600)", r.header.Get("Retry-After"))
		}
	}
	// The Go client hands the wait on: errcode.RetryAfter of its error.
	_, err := client.New(e.srv.URL, auditorTok).Intermediary("bank-a").(roles.AliasBook).LookupAlias(context.Background(), "+15559999999")
	if !errcode.Is(err, errcode.RateLimited) || errcode.RetryAfter(err) < 3590*time.Second {
		t.Fatalf("client past the budget: %v, retry after %v; want rate_limited and about an hour", err, errcode.RetryAfter(err))
	}
	// Another caller's budget is its own.
	wantError(t, lookup(bankBTok, "+15559999999"), 404, "not_found")
}

// conformAliases provokes every status the alias routes document, for
// TestResponsesConformToSpec.
func conformAliases(t *testing.T, c *conformance, e *realEnv) {
	t.Helper()
	u := e.srv.URL
	do := func(route, path, token, body string, status int, code string) response {
		t.Helper()
		return c.do(req{base: u, route: route, path: path, token: token, body: body}, status, code)
	}
	ctx := context.Background()
	alice, err := e.bankBC.Intermediary("bank-b").OpenWallet(ctx, unlimited("Alice Smith"))
	noErr(t, err)
	carol, err := e.bankC.Intermediary("bank-a").OpenWallet(ctx, unlimited("Carol"))
	noErr(t, err)
	pb := "/v1/intermediaries/bank-b/aliases"
	pa := "/v1/intermediaries/bank-a/aliases"
	body := func(wallet, alias string) string { return `{"wallet":"` + wallet + `","alias":"` + alias + `"}` }
	confirm := func(wallet, alias, code string) string {
		return `{"wallet":"` + wallet + `","alias":"` + alias + `","code":"` + code + `"}`
	}

	const codes = "POST /v1/intermediaries/{name}/aliases/codes"
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "5551234567"), 400, "malformed")
	do(codes, pb+"/codes", "", body(alice.ID, "+15551234567"), 401, "unauthorized")
	do(codes, pb+"/codes", bankATok, body(alice.ID, "+15551234567"), 403, "unauthorized")
	do(codes, "/v1/intermediaries/bank-z/aliases/codes", bankBTok, body(alice.ID, "+15551234567"), 404, "not_found")
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "+15551234567"), 202, "")
	do(codes, pa+"/codes", bankATok, body(carol.ID, "+15551234567"), 202, "") // a rival request, while unbound
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "+15557654321"), 202, "")

	const conf = "POST /v1/intermediaries/{name}/aliases/confirm"
	code := otpFromLog(t, e, "+15551234567", alice.ID)
	do(conf, pb+"/confirm", bankBTok, confirm(alice.ID, "+15551234567", "12ab"), 400, "malformed")
	do(conf, pb+"/confirm", "", confirm(alice.ID, "+15551234567", code), 401, "unauthorized")
	do(conf, pb+"/confirm", bankBTok, confirm(alice.ID, "+15551234568", code), 404, "not_found")
	wrong := wrongCode(otpFromLog(t, e, "+15557654321", alice.ID))
	do(conf, pb+"/confirm", bankBTok, confirm(alice.ID, "+15557654321", wrong), 403, "unauthorized")
	do(conf, pb+"/confirm", bankBTok, confirm(alice.ID, "+15557654321", wrong), 403, "unauthorized")
	do(conf, pb+"/confirm", bankBTok, confirm(alice.ID, "+15557654321", wrong), 422, "limit_exceeded")
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "+15557654321"), 202, "") // the second code to this number
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "+15557654321"), 202, "") // the third
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "+15557654321"), 429, "rate_limited")
	r := do(conf, pb+"/confirm", bankBTok, confirm(alice.ID, "+15551234567", code), 200, "")
	if m := r.json(t); m["display"] != "Alice S." || m["wallet"] != alice.ID {
		t.Fatalf("confirmed %v", m)
	}
	// bank-a's rival request for the same number now meets the binding.
	do(conf, pa+"/confirm", bankATok, confirm(carol.ID, "+15551234567", otpFromLog(t, e, "+15551234567", carol.ID)), 409, "conflict")
	do(codes, pb+"/codes", bankBTok, body(alice.ID, "+15551234567"), 409, "conflict")

	const look = "POST /v1/intermediaries/{name}/aliases/lookup"
	do(look, pa+"/lookup", bankATok, `{"alias":"+15551234567"}`, 200, "")
	do(look, pa+"/lookup", bankATok, `{"alias":"nobody"}`, 400, "malformed")
	do(look, pa+"/lookup", "", `{"alias":"+15551234567"}`, 401, "unauthorized")
	do(look, pa+"/lookup", bankATok, `{"alias":"+15550000000"}`, 404, "not_found")
	for range aliasLookupBurst {
		httpPost(t, u+pa+"/lookup", auditorTok, `{"alias":"+15550000000"}`)
	}
	do(look, pa+"/lookup", auditorTok, `{"alias":"+15551234567"}`, 429, "rate_limited")

	const rm = "POST /v1/intermediaries/{name}/aliases/remove"
	do(rm, pb+"/remove", bankBTok, body(alice.ID, "+1"), 400, "malformed")
	do(rm, pb+"/remove", "", body(alice.ID, "+15551234567"), 401, "unauthorized")
	do(rm, pb+"/remove", bankATok, body(alice.ID, "+15551234567"), 403, "unauthorized")
	do(rm, pb+"/remove", bankBTok, body(alice.ID, "+15550000000"), 404, "not_found")
	do(rm, pb+"/remove", bankBTok, body(alice.ID, "+15551234567"), 200, "")

	// The directory, as intermediaries call it.
	h := roles.AliasHash(roles.AliasKey(aliasSalt), "bob@example.org")
	dp := "/v1/directory/aliases/" + h
	bind := func(wallet string, move bool) string {
		return fmt.Sprintf(`{"wallet":%q,"display":"Bob B.","move":%t}`, wallet, move)
	}
	const put = "PUT /v1/directory/aliases/{hash}"
	do(put, "/v1/directory/aliases/bob@example.org", bankATok, bind(carol.ID, false), 400, "malformed")
	do(put, dp, "", bind(carol.ID, false), 401, "unauthorized")
	do(put, dp, bankATok, bind(alice.ID, false), 403, "unauthorized")
	do(put, dp, bankATok, bind(carol.ID, false), 200, "")
	do(put, dp, bankBTok, bind(alice.ID, false), 409, "conflict")
	const get = "GET /v1/directory/aliases/{hash}"
	do(get, dp, bankBTok, "", 200, "")
	do(get, "/v1/directory/aliases/x", bankBTok, "", 400, "malformed")
	do(get, dp, "", "", 401, "unauthorized")
	do(get, dp, auditorTok, "", 403, "unauthorized")
	do(get, "/v1/directory/aliases/"+strings.Repeat("0", 64), bankBTok, "", 404, "not_found")
	const del = "DELETE /v1/directory/aliases/{hash}/{wallet}"
	do(del, dp+"/"+carol.ID, bankATok+"x", "", 401, "unauthorized")
	do(del, "/v1/directory/aliases/x/"+carol.ID, bankATok, "", 400, "malformed")
	do(del, dp+"/"+carol.ID, bankBTok, "", 403, "unauthorized")
	do(del, dp+"/"+"bank-a.nobody", bankATok, "", 404, "not_found")
	do(del, dp+"/"+carol.ID, bankATok, "", 200, "")
}

// TestAliasDirectoryClientOverHTTP drives the central bank's directory
// through the Go client (roles.AliasDirectory over HTTP), as an
// intermediary in its own process reaches it: codes and statuses come
// back as the service gave them, and a refusal changes nothing.
func TestAliasDirectoryClientOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	a, b := e.bankC.AliasDirectory(), e.bankBC.AliasDirectory()
	h := roles.AliasHash(roles.AliasKey(aliasSalt), "+15551234567")
	_, err := a.LookupAlias(ctx, h)
	wantCode(t, "lookup of nothing", err, errcode.NotFound, 404)
	got, err := a.BindAlias(ctx, roles.AliasBinding{Hash: h, Wallet: "bank-a.w1", Display: "Alice S."}, false)
	noErr(t, err)
	if got.Hash != h || got.Wallet != "bank-a.w1" || got.Since.IsZero() {
		t.Fatalf("bound %+v", got)
	}
	_, err = b.BindAlias(ctx, roles.AliasBinding{Hash: h, Wallet: "bank-b.w2", Display: "Alice S."}, false)
	wantCode(t, "rival bind", err, errcode.Conflict, 409)
	_, err = b.BindAlias(ctx, roles.AliasBinding{Hash: h, Wallet: "bank-a.w1", Display: "Alice S."}, true)
	wantCode(t, "bind of another bank's wallet", err, errcode.Unauthorized, 403)
	_, err = e.iss.AliasDirectory().LookupAlias(ctx, h)
	wantCode(t, "the issuer's staff", err, errcode.Unauthorized, 403)
	if got, err := b.LookupAlias(ctx, h); err != nil || got.Wallet != "bank-a.w1" {
		t.Fatalf("after refusals: %+v, %v", got, err)
	}
	_, err = b.BindAlias(ctx, roles.AliasBinding{Hash: h, Wallet: "bank-b.w2", Display: "Alice S."}, true)
	noErr(t, err)
	wantCode(t, "unbind by the old bank", a.UnbindAlias(ctx, h, "bank-a.w1"), errcode.NotFound, 404)
	noErr(t, b.UnbindAlias(ctx, h, "bank-b.w2"))
	_, err = a.LookupAlias(ctx, h)
	wantCode(t, "lookup after unbind", err, errcode.NotFound, 404)
}
