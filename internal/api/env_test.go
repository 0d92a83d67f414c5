package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

var (
	issuerP  = roles.Principal{Name: "issuer", Role: roles.RoleIssuer}
	bankAP   = roles.Principal{Name: "bank-a", Role: roles.RoleIntermediary}
	auditorP = roles.Principal{Name: "auditor", Role: "auditor"}
)

const (
	issuerTok  = "tok-issuer-secret"
	bankATok   = "tok-bank-a-secret"
	auditorTok = "tok-auditor-secret"
)

// env is a real HTTP server on loopback over fake role services.
type env struct {
	srv     *httptest.Server
	api     *api.Server
	handler http.Handler // what srv serves, for tests that serve it otherwise
	ledger  *fakeLedger
	issuer  *fakeIssuer
	banks   map[string]*fakeInter
	logs    *syncBuffer
	// clients by identity
	issuerC, bankC, anonC *client.Client
}

type envOpts struct {
	noLedger, noIssuer bool
	noCheckpoints      bool     // the ledger signs no checkpoints
	banks              []string // default bank-a, bank-b
	currency           money.Currency
	iso                bool // serve an ISO 20022 gateway over the fake intermediaries
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{banks: map[string]*fakeInter{}, logs: &syncBuffer{}}
	cfg := api.Config{
		Credentials: []api.Credential{
			{Token: issuerTok, Principal: issuerP},
			{Token: bankATok, Principal: bankAP},
			{Token: auditorTok, Principal: auditorP},
		},
		Logger:         slog.New(slog.NewJSONHandler(e.logs, nil)),
		Intermediaries: map[string]roles.Intermediary{},
		Currency:       o.currency,
	}
	if !o.noLedger {
		e.ledger = &fakeLedger{}
		cfg.Ledger = e.ledger
		if !o.noCheckpoints {
			cfg.Checkpoints = e.ledger
		}
	}
	if !o.noIssuer {
		e.issuer = &fakeIssuer{}
		cfg.Issuer = e.issuer
		cfg.Policies = e.issuer
		cfg.Keys = e.issuer
		cfg.Registry = e.issuer
		cfg.AliasDirectory = e.issuer
	}
	banks := o.banks
	if banks == nil {
		banks = []string{"bank-a", "bank-b"}
	}
	for _, b := range banks {
		f := &fakeInter{name: b}
		e.banks[b] = f
		cfg.Intermediaries[b] = f
	}
	if o.iso {
		cfg.ISO20022 = openFakeGateway(t, cfg.Intermediaries)
	}
	e.api = api.New(cfg)
	e.handler = e.api.Handler()
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	e.issuerC = client.New(e.srv.URL, issuerTok)
	e.bankC = client.New(e.srv.URL, bankATok)
	e.anonC = client.New(e.srv.URL, "")
	return e
}

// totalCalls counts calls that reached any fake service, except
// Ledger.Info: the server asks it (once) for the currency, a read with no
// effect.
func (e *env) totalCalls() int {
	n := 0
	if e.ledger != nil {
		for _, c := range e.ledger.Calls() {
			if c.method != "Info" {
				n++
			}
		}
	}
	if e.issuer != nil {
		n += len(e.issuer.Calls())
	}
	for _, b := range e.banks {
		n += len(b.Calls())
	}
	return n
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// raw sends one request with a raw body and returns what came back.
func (e *env) raw(t *testing.T, method, path, token string, body io.Reader) response {
	t.Helper()
	return rawURL(t, method, e.srv.URL+path, token, body)
}

func httpPost(t *testing.T, url, token, body string) response {
	t.Helper()
	return rawURL(t, "POST", url, token, strings.NewReader(body))
}

func httpGet(t *testing.T, url string) response {
	t.Helper()
	return rawURL(t, "GET", url, "", nil)
}

func rawURL(t *testing.T, method, url, token string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) rawS(t *testing.T, method, path, token, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return e.raw(t, method, path, token, r)
}

// wantError checks the exact error JSON shape, status and code.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body not {\"error\":{...}}: %v: %s", err, r.body)
	}
	if len(body) != 1 || body["error"] == nil {
		t.Fatalf("error body has keys other than error: %s", r.body)
	}
	eb := body["error"]
	if len(eb) != 2 {
		t.Errorf("error object should have exactly code and message: %s", r.body)
	}
	if eb["code"] != code {
		t.Errorf("code %v, want %s; body %s", eb["code"], code, r.body)
	}
	// 429 and 503 say when to retry, in whole seconds; no other error does.
	ra := r.header.Get("Retry-After")
	if n, err := strconv.Atoi(ra); status == 429 || status == 503 {
		if err != nil || n < 1 {
			t.Errorf("%d without a Retry-After of whole seconds: %q", status, ra)
		}
	} else if ra != "" {
		t.Errorf("%d with Retry-After %q", status, ra)
	}
	if m, ok := eb["message"].(string); !ok || m == "" {
		t.Errorf("message missing: %s", r.body)
	}
}
