package devnet_test

import (
	"context"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/policy"
)

// TestUpPutsTheDefaultPolicyInForce: a new devnet starts with the default
// policy, version 1, signed by the officers' quorum; a restart changes
// nothing (no second proposal, the same signatures).
func TestUpPutsTheDefaultPolicyInForce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var first policy.Signed
	for i := range 2 {
		n, _, err := devnet.Up(dir, "127.0.0.1:0", quietLog())
		if err != nil {
			t.Fatal(err)
		}
		anon := client.New(n.URL, "")
		s, err := anon.Policies().Policy(ctx)
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		info, err := anon.Ledger().Info(ctx)
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		if err := s.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
			t.Errorf("start %d: the policy in force does not verify: %v", i, err)
		}
		want := policy.Default(info.Network.ID, info.Network.Currency)
		if s.Policy.Hash() != want.Hash() {
			t.Errorf("start %d: version %d in force is not the default", i, s.Policy.Version)
		}
		tok, _ := n.Config.Token("issuer")
		ps, err := client.New(n.URL, tok).Policies().ListPolicyProposals(ctx)
		if err != nil || len(ps) != 1 {
			t.Errorf("start %d: %d proposals, %v", i, len(ps), err)
		}
		if i == 0 {
			first = s
		} else if len(s.Approvals) != len(first.Approvals) || s.Approvals[0] != first.Approvals[0] {
			t.Errorf("restart changed the approvals: %+v, was %+v", s.Approvals, first.Approvals)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
