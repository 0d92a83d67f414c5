package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// TestIssuerPolicyCommands walks a policy change through the CLI: the
// devnet's version 1 is shown and verifies, version 2 is proposed from a
// file and approved by two officers, and every refusal on the way leaves
// the proposals and the version in force as they were.
func TestIssuerPolicyCommands(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desk := client.New(e.api, e.node.Config.Issuer.Token).Policies()
	state := func() string {
		s, err := desk.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := desk.ListPolicyProposals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal([]any{s, ps})
		return string(b)
	}

	out := e.must("issuer", "policy", "show")
	for _, want := range []string{"policy version 1 in force", "signed by 2 of the ledger's 3 officer keys", "tier 0 phone only", "holding 500.00, per payment 200.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	var signed policy.Signed
	e.mustJSON(&signed, "issuer", "policy", "show")
	info, err := e.ledger.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
		t.Fatal(err)
	}

	v2 := signed.Policy
	v2.Tiers = slices.Clone(v2.Tiers)
	v2.Version = 2
	v2.Tiers[0].Holding = 400_00
	file := filepath.Join(t.TempDir(), "v2.json")
	b, _ := json.MarshalIndent(v2, "", "  ")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	v1file := filepath.Join(t.TempDir(), "v1.json")
	b1, _ := json.Marshal(signed.Policy)
	if err := os.WriteFile(v1file, b1, 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(t.TempDir(), "typo.json")
	if err := os.WriteFile(typo, []byte(strings.Replace(string(b), `"holding"`, `"holdng"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	before := state()
	for _, c := range []struct {
		name string
		args []string
		code errcode.Code
	}{
		{"misspelt field", []string{"issuer", "policy", "propose", "--file", typo}, errcode.Malformed},
		{"version 1 again", []string{"issuer", "policy", "propose", "--file", v1file}, errcode.Conflict},
		{"no such file", []string{"issuer", "policy", "propose", "--file", filepath.Join(e.dir, "none.json")}, errcode.Internal},
		{"bad proposal id", []string{"issuer", "policy", "approve", "xyz", "--officer", "1"}, errcode.Malformed},
		{"no such officer", []string{"issuer", "policy", "approve", strings.Repeat("ab", 32), "--officer", "9"}, errcode.Malformed},
		{"no such proposal", []string{"issuer", "policy", "approve", strings.Repeat("ab", 32), "--officer", "1"}, errcode.NotFound},
		{"as an intermediary", []string{"--as", "bank-a", "issuer", "policy", "propose", "--file", file}, errcode.Unauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := e.run(c.args...)
			if err == nil || errcode.Of(err) != c.code {
				t.Fatalf("err %v (code %s), want %s\n%s", err, errcode.Of(err), c.code, out)
			}
			if after := state(); after != before {
				t.Fatalf("state changed:\n%s\n%s", before, after)
			}
		})
	}

	var pp wire.PolicyProposal
	e.mustJSON(&pp, "issuer", "policy", "propose", "--file", file)
	if pp.Status != roles.PolicyPending || pp.Policy.Version != 2 {
		t.Fatalf("proposed %+v", pp)
	}
	id := pp.ID.String()
	if out := e.must("issuer", "policy", "approve", id, "--officer", "1"); !strings.Contains(out, "pending, 1 of 2 approvals") {
		t.Fatalf("first approval: %s", out)
	}
	before = state()
	if _, err := e.run("issuer", "policy", "approve", id, "--officer", "1"); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("approving twice: %v", err)
	}
	if after := state(); after != before {
		t.Fatalf("a refused approval changed the state")
	}
	if out := e.must("issuer", "policy", "approve", id, "--officer", "3"); !strings.Contains(out, "in_force, 2 of 2 approvals") {
		t.Fatalf("second approval: %s", out)
	}
	if out := e.must("issuer", "policy", "show"); !strings.Contains(out, "policy version 2 in force") || !strings.Contains(out, "holding 400.00") {
		t.Fatalf("show after v2:\n%s", out)
	}
	var list wire.PolicyProposals
	e.mustJSON(&list, "issuer", "policy", "list")
	if len(list.Proposals) != 2 || list.Proposals[0].Status != roles.PolicySuperseded || list.Proposals[1].Status != roles.PolicyInForce {
		t.Fatalf("list: %+v", list)
	}
	if out := e.must("issuer", "policy", "show", id); !strings.Contains(out, "version 2, in_force") {
		t.Fatalf("show proposal: %s", out)
	}
}

// TestPolicyShowAtAnIssuerOnlyProcess: a process serving the issuer alone
// has no /v1/info; `policy show` checks the signatures with the officer
// keys of the devnet config instead.
func TestPolicyShowAtAnIssuerOnlyProcess(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(api.New(api.Config{Issuer: e.node.Issuer, Policies: e.node.Issuer}).Handler())
	defer srv.Close()
	out, err := runCLI("--api", srv.URL, "--data", e.dir, "issuer", "policy", "show")
	if err != nil || !strings.Contains(out, "policy version 1 in force on specie-devnet, signed by 2 of the ledger's 3 officer keys") {
		t.Fatalf("%v\n%s", err, out)
	}
	// Without a config there is nothing to check the signatures with.
	if out, err := runCLI("--api", srv.URL, "--data", t.TempDir(), "issuer", "policy", "show"); err == nil {
		t.Fatalf("shown unchecked:\n%s", out)
	}
}
