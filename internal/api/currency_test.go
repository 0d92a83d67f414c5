package api_test

import (
	"testing"
)

// TestCurrencyCached: the server asks the ledger for the currency once.
func TestCurrencyCached(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := 0; i < 5; i++ {
		r := e.rawS(t, "POST", "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"1.00"}`)
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		e.rawS(t, "GET", "/v1/notes/"+hashOf(1).String(), "", "")
	}
	n := 0
	for _, c := range e.ledger.Calls() {
		if c.method == "Info" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("Ledger.Info called %d times, want 1", n)
	}
}

// TestIssuerOnly: without a ledger here, /v1/supply is the issuer's and
// the currency comes from it.
func TestIssuerOnly(t *testing.T) {
	e := newEnv(t, envOpts{noLedger: true, banks: []string{}})
	r := e.rawS(t, "POST", "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"2.50"}`)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	wantCall(t, &e.issuer.recorder, "ProposeMint", &issuerP, "bank-a", uint64(250))
	r = e.rawS(t, "GET", "/v1/supply", "", "")
	if m := r.json(t); m["outstanding_decimal"] != "999974.50" || m["reserves"] == nil {
		t.Fatalf("supply %s", r.body)
	}
	wantError(t, e.rawS(t, "POST", "/v1/transactions", bankATok, `{"tx":"AAAA"}`), 404, "not_found")
	wantError(t, e.rawS(t, "POST", "/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"x"}`), 404, "not_found")
}
