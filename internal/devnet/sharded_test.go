package devnet_test

import (
	"context"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/devnet"
)

// TestScenarioSharded runs the foundation scenario (mint, wallets, payments
// within and across banks, redeem, the supply and reserves after each step)
// against `specie up --groups 2 --replicas 3`: two ledger groups of three
// raft replicas and the coordinator's log of three, on loopback, through
// the HTTP API. Then: some payments spanned groups (the coordinator logged
// decisions), and the groups' outstanding supplies add up to the network's.
func TestScenarioSharded(t *testing.T) {
	n, _, err := devnet.UpSharded(t.TempDir(), "127.0.0.1:0", 2, 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	p := newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	// Each group's log is verified at one of its replicas' API.
	for _, reps := range n.Sharded.Groups {
		p.logs = append(p.logs, client.New(reps[len(reps)-1].URL, "").Ledger())
	}
	runScenario(t, p)

	ctx := context.Background()
	sh := n.Sharded
	cs, err := sh.Coordinator[0].Ledger.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Batches == 0 {
		t.Fatal("no transaction spanned the groups")
	}
	total, err := n.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out uint64
	for k := range sh.Groups {
		gs, err := sh.Router.Group(k).Supply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gs.Batches == 0 {
			t.Fatalf("group %d committed nothing", k)
		}
		out += gs.Outstanding
	}
	if out != total.Outstanding || total.Outstanding != total.Minted-total.Redeemed {
		t.Fatalf("groups hold %d outstanding; network supply %+v", out, total)
	}
}
