package devnet_test

import (
	"context"
	"slices"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
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
	// Which group a note lives in follows from its ID, and the IDs from
	// keys made at init: whether one of the scenario's few transactions
	// spans the groups is chance (on a CI run none did). A mint whose two
	// notes fall in different groups makes sure one does.
	crossGroupMint(t, p, n.Config, n.Sharded.Router, 1<<40)

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

// TestUpShardedResumes: a sharded network stopped and started again holds
// what it committed (a mint whose notes fall in both groups), takes new
// cross-group transactions, and its directory refuses another shape.
func TestUpShardedResumes(t *testing.T) {
	dir := t.TempDir()
	n, _, err := devnet.UpSharded(dir, "127.0.0.1:0", 2, 1, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	p := newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	ctx := context.Background()
	first := crossGroupMint(t, p, n.Config, n.Sharded.Router, 1)
	before, err := n.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Minted != 12 || before.Outstanding != 12 {
		t.Fatalf("supply %+v after a cross-group mint of 12", before)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := devnet.UpReplicated(dir, "127.0.0.1:0", 3, quietLog()); err == nil {
		t.Fatal("a sharded directory started as one replicated group")
	}
	if _, _, err := devnet.UpSharded(dir, "127.0.0.1:0", 3, 1, quietLog()); err == nil {
		t.Fatal("a 2-group directory started with 3 groups")
	}
	n, _, err = devnet.UpSharded(dir, "127.0.0.1:0", 2, 1, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	after, err := n.Supply(ctx)
	if err != nil || after != before {
		t.Fatalf("supply %+v after restart, %+v before (%v)", after, before, err)
	}
	for k := range n.Sharded.Groups {
		if _, err := n.Sharded.Router.Group(k).Tx(ctx, first); err != nil {
			t.Fatalf("group %d lost the mint: %v", k, err)
		}
	}
	crossGroupMint(t, p, n.Config, n.Sharded.Router, 1<<32)
	for _, r := range n.Replicas {
		if err := r.Ledger.CheckInvariants(); err != nil {
			t.Fatalf("replica %d: %v", r.ID, err)
		}
	}
	if s, _ := n.Supply(ctx); s.Minted != 24 || s.Outstanding != 24 {
		t.Fatalf("supply %+v after two cross-group mints of 12", s)
	}
}

// crossGroupMint commits, through router r, a mint of two notes (5 and 7
// minor units) that fall in different groups of a 2-group network, trying
// nonces from from on, and returns its ID.
func crossGroupMint(t *testing.T, p *parties, cfg *devnet.Config, r *shard.Router, from uint64) money.TxID {
	t.Helper()
	net := cfg.Network
	for nonce := from; ; nonce++ {
		tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock(p.officer[0].Public())}, {Value: 7, Lock: money.KeyLock(p.officer[0].Public())}}}
		id := net.TxID(tx)
		ns := tx.OutputNotes(id)
		if shard.GroupOf(net.NoteID(&ns[0]), 2) == shard.GroupOf(net.NoteID(&ns[1]), 2) {
			continue
		}
		for _, k := range p.officer[:cfg.MintQuorum] {
			tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, net.ID, id)})
		}
		slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
		if _, err := r.Submit(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		return id
	}
}
