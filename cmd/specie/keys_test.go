package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/hsm/hsmtest"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// newHSMEnv is newEnv on a network made as `specie up --hsm` makes it.
func newHSMEnv(t *testing.T) *env {
	t.Helper()
	module := hsmtest.Module(t)
	t.Setenv("SPECIE_API", "")
	t.Setenv("SPECIE_TOKEN", "")
	dir := t.TempDir()
	if _, err := devnet.PrepareHSM(dir, "127.0.0.1:0", module); err != nil {
		t.Fatal(err)
	}
	n, _, err := devnet.Up(dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devnet up --hsm: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("devnet close: %v", err)
		}
	})
	e := &env{t: t, dir: dir, node: n, api: n.URL, banks: map[string]roles.Intermediary{}}
	e.ledger = client.New(n.URL, "").Ledger()
	e.issuer = client.New(n.URL, n.Config.Issuer.Token).Issuer()
	return e
}

// TestIssuerKeysCommands drives the HSM's keys through the CLI: list shows
// the officer, redeem and treasury keys, all sensitive and never
// extractable; a mint approved with --officer N signs on the token and
// commits; generate makes a spare key (a label twice is a conflict);
// rotate proposes officer 1's replacement, which needs the quorum of the
// officers in force; once in force the old key's approvals are refused,
// --officer 1 signs with the new key, and the ledger commits a mint the
// new set approved.
func TestIssuerKeysCommands(t *testing.T) {
	e := newHSMEnv(t)
	ctx := context.Background()

	out := e.must("issuer", "keys", "list")
	for _, want := range []string{"officer key set version 1, quorum 2 of 3", "officer-1", "officer 1 (in force)", "issuer-redeem", "redeem key", "bank-a-treasury", "sensitive, never extractable"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys list lacks %q:\n%s", want, out)
		}
	}
	var rows []keyRow
	e.mustJSON(&rows, "issuer", "keys", "list")
	if len(rows) != 6 {
		t.Fatalf("%d keys listed, want 6: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if !r.Sensitive || r.Extractable || !r.NeverExtractable {
			t.Errorf("key %s can leave the token: %+v", r.Label, r)
		}
	}

	// A mint approved by two officers signing on the token commits.
	m, err := e.issuer.ProposeMint(ctx, "bank-a", 500_00)
	if err != nil {
		t.Fatal(err)
	}
	e.must("issuer", "approve", m.ID.String(), "--officer", "1")
	if out := e.must("issuer", "approve", m.ID.String(), "--officer", "3"); !strings.Contains(out, "committed in batch") {
		t.Fatalf("second HSM approval: %s", out)
	}

	e.must("issuer", "keys", "generate", "officer-1b")
	if _, err := e.run("issuer", "keys", "generate", "officer-1b"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("a label twice: %v", err)
	}
	if _, err := e.run("issuer", "keys", "rotate", "--officer", "1", "--to", "nosuch"); err == nil || !strings.Contains(err.Error(), "no Ed25519 key pair labelled") {
		t.Fatalf("rotate to a missing key: %v", err)
	}
	var p wire.KeySetProposal
	e.mustJSON(&p, "issuer", "keys", "rotate", "--officer", "1", "--to", "officer-1b")
	if p.Status != roles.PolicyPending || p.KeySet.Version != 2 {
		t.Fatalf("rotation proposal %+v", p)
	}
	keys := client.New(e.api, "").Keys()
	before, err := keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out := e.must("issuer", "keys", "approve", p.ID.String(), "--officer", "2"); !strings.Contains(out, "1 of 2 approvals, pending") {
		t.Fatalf("first approval: %s", out)
	}
	if _, err := e.run("issuer", "keys", "approve", p.ID.String(), "--officer", "2"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("second approval by one officer: %v", err)
	}
	if now, _ := keys.KeySet(ctx); now.KeySet.Version != 1 {
		t.Fatalf("in force after one approval: %+v", now)
	}
	oldOfficer1, err := e.node.Config.OfficerSigner(1)
	if err != nil {
		t.Fatal(err)
	}
	if out := e.must("issuer", "keys", "approve", p.ID.String(), "--officer", "3"); !strings.Contains(out, "in_force") {
		t.Fatalf("quorum approval: %s", out)
	}
	after, err := keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := after.Verify(&before.KeySet); err != nil {
		t.Fatalf("the rotation does not verify against the set before it: %v", err)
	}
	if out := e.must("issuer", "keys", "list"); !strings.Contains(out, "officer key set version 2") || !strings.Contains(out, "officer (rotated out)") {
		t.Fatalf("list after the rotation:\n%s", out)
	}

	// The old officer-1 key approves nothing any more, at the desk.
	m2, err := e.issuer.ProposeMint(ctx, "bank-a", 1_00)
	if err != nil {
		t.Fatal(err)
	}
	next := policy.KeySet{Network: after.KeySet.Network, Version: 3, Keys: after.KeySet.Keys, Quorum: 3}
	p3, err := client.New(e.api, e.node.Config.Issuer.Token).Keys().ProposeKeySet(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	a, err := policy.SignKeySet(&next, oldOfficer1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(e.api, e.node.Config.Issuer.Token).Keys().ApproveKeySet(ctx, p3.ID, a.Key, a.Sig); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("old key approving a key set: %v", err)
	}
	// --officer 1 now signs with officer-1b: with officer 2 the mint
	// commits, the ledger applying the new set from the batch after the
	// rotation.
	if out := e.must("issuer", "approve", m2.ID.String(), "--officer", "1"); !strings.Contains(out, "1 of 2 approvals, pending") {
		t.Fatalf("approval by the rotated-in key: %s", out)
	}
	if out := e.must("issuer", "approve", m2.ID.String(), "--officer", "2"); !strings.Contains(out, "committed in batch") {
		t.Fatalf("mint by the rotated set: %s", out)
	}
	info, err := e.ledger.Info(ctx)
	if err != nil || len(info.KeySets) != 1 || info.KeySets[0].KeySet.KeySet.Version != 2 {
		t.Fatalf("ledger key sets %+v, %v", info.KeySets, err)
	}
}
