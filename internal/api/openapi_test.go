package api_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// served lists every route the server registers (with all roles served),
// in the spec's path syntax.
var served = []string{
	"GET /healthz", "GET /metrics",
	"GET /v1/info", "POST /v1/transactions", "POST /v1/transactions/batch",
	"GET /v1/transactions/{txid}", "GET /v1/notes/{noteid}", "GET /v1/log/headers", "GET /v1/supply",
	"POST /v1/issuer/mints", "GET /v1/issuer/mints/{id}", "POST /v1/issuer/mints/{id}/approvals", "POST /v1/issuer/redeems",
	"POST /v1/intermediaries/{name}/wallets", "GET /v1/intermediaries/{name}/wallets/{id}",
	"GET /v1/intermediaries/{name}/wallets/{id}/history", "GET /v1/intermediaries/{name}/wallets/{id}/lock",
	"POST /v1/intermediaries/{name}/payments", "POST /v1/intermediaries/{name}/deliveries",
	"POST /v1/intermediaries/{name}/redeems",
}

// specRoutes reads "METHOD /path" pairs from api/openapi.yaml's paths.
func specRoutes(t *testing.T) []string {
	f, err := os.Open("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pathRe := regexp.MustCompile(`^  (/\S*):\s*$`)
	opRe := regexp.MustCompile(`^    (get|post|put|patch|delete):\s*$`)
	var out []string
	var cur string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			in = true
		case in && len(line) > 0 && line[0] != ' ' && line[0] != '#':
			in = false
		case in && pathRe.MatchString(line):
			cur = pathRe.FindStringSubmatch(line)[1]
		case in && opRe.MatchString(line):
			out = append(out, strings.ToUpper(opRe.FindStringSubmatch(line)[1])+" "+cur)
		}
	}
	return out
}

// TestOpenAPIMatchesRoutes: api/openapi.yaml describes exactly the routes
// the server serves, and each of them is really routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	spec := specRoutes(t)
	for _, r := range served {
		if !slices.Contains(spec, r) {
			t.Errorf("served but not in api/openapi.yaml: %s", r)
		}
	}
	for _, r := range spec {
		if !slices.Contains(served, r) {
			t.Errorf("in api/openapi.yaml but not served: %s", r)
		}
	}
	e := newEnv(t, envOpts{})
	fill := strings.NewReplacer("{txid}", hashOf(1).String(), "{noteid}", hashOf(1).String(), "{id}", hashOf(1).String(), "{name}", "bank-a")
	for _, r := range served {
		method, path, _ := strings.Cut(r, " ")
		resp := e.rawS(t, method, fill.Replace(path), bankATok, "{}")
		if resp.status == 404 && strings.Contains(string(resp.body), "no route") || resp.status == 405 {
			t.Errorf("%s is not routed: %d %s", r, resp.status, resp.body)
		}
	}
}
