package devnet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// TestShardedRotation is officer key rotation on `specie up --groups 2
// --replicas 3`. A rotation interrupted part way (applied in the
// coordinator's log and group 0, not group 1, when the process stopped) is
// not reported by /v1/info and is completed when the network starts again.
// The officers then put the same set in force at the issuer, which hands it
// to the router: every replica of every group and of the coordinator's log
// and /v1/info report version 2; a mint by the rotated-out key is refused
// unauthorized in each group, across groups and straight at a group's
// replica, with the supply unchanged; a mint by the new set commits; and a
// restart keeps all of it.
func TestShardedRotation(t *testing.T) {
	dir := t.TempDir()
	n, _, err := devnet.UpSharded(dir, "127.0.0.1:0", 2, 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n.Close() }()
	ctx := context.Background()
	cfg := n.Config
	net := cfg.Network
	p := newParties(t, cfg, n.URL, n.URL, n.URL, n.URL)
	old := p.officer
	fresh, next := secondKeySet(t, cfg, old)
	signed := policy.SignedKeySet{KeySet: next}
	for _, k := range old[1:3] {
		a, err := policy.SignKeySet(&next, k)
		if err != nil {
			t.Fatal(err)
		}
		signed.Approvals = append(signed.Approvals, a)
	}

	// mint builds a mint of one note to officer 0 that falls in group g
	// (and a second in the other group when across), signed by keys.
	mint := func(g int, across bool, keys ...*crypto.PrivateKey) *money.Tx {
		for nonce := uint64(time.Now().UnixNano()); ; nonce++ {
			to := money.Output{Value: 3, Lock: money.KeyLock(old[0].Public())}
			tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{to}}
			if across {
				tx.Outputs = append(tx.Outputs, to)
			}
			id := net.TxID(tx)
			ns := tx.OutputNotes(id)
			if shard.GroupOf(net.NoteID(&ns[0]), 2) != g || across && shard.GroupOf(net.NoteID(&ns[1]), 2) == g {
				continue
			}
			for _, k := range keys {
				tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, net.ID, id)})
			}
			slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
			return tx
		}
	}
	api := func() roles.Ledger {
		return client.New(n.URL, cfg.Issuer.Token, client.WithTimeout(30*time.Second)).Ledger()
	}
	if _, err := api().Submit(ctx, mint(1, false, old[0], old[1])); err != nil {
		t.Fatalf("mint under the founding set: %v", err)
	}

	// The interrupted rotation: the coordinator's log and group 0 only.
	rotateAt := func(reps []*devnet.Replica) {
		t.Helper()
		end := time.Now().Add(60 * time.Second)
		for i := 0; ; i++ {
			_, err := reps[i%len(reps)].Ledger.RotateMintKeys(ctx, signed)
			if err == nil {
				return
			}
			if !errcode.Is(err, errcode.NotLeader) || time.Now().After(end) {
				t.Fatalf("rotate: %v", err)
			}
		}
	}
	rotateAt(n.Sharded.Coordinator)
	rotateAt(n.Sharded.Groups[0])
	version := func(l roles.Ledger) uint64 {
		t.Helper()
		info, err := l.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k := len(info.KeySets); k > 0 {
			return info.KeySets[k-1].KeySet.KeySet.Version
		}
		return 1
	}
	if v := version(api()); v != 1 {
		t.Fatalf("/v1/info reports key set version %d while group 1 has not applied it", v)
	}
	// everywhere waits until every replica of every log reports version
	// 2, and so does /v1/info.
	everywhere := func(when string) {
		t.Helper()
		reps := slices.Concat(append(slices.Clone(n.Sharded.Groups), n.Sharded.Coordinator)...)
		for _, r := range reps {
			l := client.New(r.URL, "").Ledger()
			end := time.Now().Add(60 * time.Second)
			for version(l) != 2 {
				if time.Now().After(end) {
					t.Fatalf("%s: replica %s still applies key set version %d", when, r.URL, version(l))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if v := version(api()); v != 2 {
			t.Fatalf("%s: /v1/info reports key set version %d", when, v)
		}
	}
	restart := func() {
		t.Helper()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if n, _, err = devnet.UpSharded(dir, "127.0.0.1:0", 2, 3, quietLog()); err != nil {
			t.Fatal(err)
		}
	}
	restart()
	everywhere("the interrupted rotation, after a restart")

	// The officers put the same set in force at the issuer, which hands it
	// to the router: applied already, so the same epoch everywhere.
	keys := client.New(n.URL, cfg.Issuer.Token).Keys()
	prop, err := keys.ProposeKeySet(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range signed.Approvals {
		if prop, err = keys.ApproveKeySet(ctx, prop.ID, a.Key, a.Sig); err != nil {
			t.Fatal(err)
		}
	}
	if prop.Status != roles.PolicyInForce {
		t.Fatalf("key set %s after the quorum", prop.Status)
	}
	everywhere("after the issuer's rotation")

	refused := func(when string) {
		t.Helper()
		cases := []struct {
			name   string
			to     roles.Ledger
			group  int
			across bool
		}{
			{"through the API, group 0", api(), 0, false},
			{"through the API, group 1", api(), 1, false},
			{"through the API, across groups", api(), 0, true},
			{"straight at group 0's replica", client.New(n.Sharded.Groups[0][2].URL, cfg.Issuer.Token).Ledger(), 0, false},
			{"straight at group 1's replica", client.New(n.Sharded.Groups[1][1].URL, cfg.Issuer.Token).Ledger(), 1, false},
		}
		for _, c := range cases {
			before, err := n.Supply(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.to.Submit(ctx, mint(c.group, c.across, old[0], old[1])); !errcode.Is(err, errcode.Unauthorized) {
				t.Fatalf("%s: old-key mint %s: %v, want unauthorized", when, c.name, err)
			}
			if after, err := n.Supply(ctx); err != nil || after != before {
				t.Fatalf("%s: refused mint %s: supply %+v, before %+v (%v)", when, c.name, after, before, err)
			}
		}
		for g := range 2 {
			if _, err := api().Submit(ctx, mint(g, g == 1, fresh, old[2])); err != nil {
				t.Fatalf("%s: new-key mint into group %d: %v", when, g, err)
			}
		}
	}
	refused("after the rotation")
	restart()
	everywhere("after a second restart")
	refused("after a second restart")
	for _, r := range n.Replicas {
		if err := r.Ledger.CheckInvariants(); err != nil {
			t.Fatalf("replica %s: %v", r.URL, err)
		}
	}
}

// TestReplicatedRotation: on `specie up --replicas 3` the issuer's officer
// key rotation reaches the replicated ledger (its group sends it to the
// leader, as the router does to each group): every replica applies the
// new set, and a mint by the rotated-out key is refused unauthorized with
// the supply unchanged.
func TestReplicatedRotation(t *testing.T) {
	n, _, err := devnet.UpReplicated(t.TempDir(), "127.0.0.1:0", 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	cfg := n.Config
	net := cfg.Network
	p := newParties(t, cfg, n.URL, n.URL, n.URL, n.URL)
	old := p.officer
	_, next := secondKeySet(t, cfg, old)
	keys := client.New(n.URL, cfg.Issuer.Token).Keys()
	prop, err := keys.ProposeKeySet(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range old[1:3] {
		a, err := policy.SignKeySet(&next, k)
		if err != nil {
			t.Fatal(err)
		}
		if prop, err = keys.ApproveKeySet(ctx, prop.ID, a.Key, a.Sig); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range n.Replicas {
		end := time.Now().Add(60 * time.Second)
		for {
			info, err := r.Ledger.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if k := len(info.KeySets); k > 0 && info.KeySets[k-1].KeySet.KeySet.Version == 2 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("replica %d has not applied key set version 2", r.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tx := &money.Tx{Kind: money.Mint, Nonce: 7, Outputs: []money.Output{{Value: 3, Lock: money.KeyLock(old[0].Public())}}}
	id := net.TxID(tx)
	for _, k := range old[:2] {
		tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, net.ID, id)})
	}
	slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
	before, err := n.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(n.URL, cfg.Issuer.Token).Ledger().Submit(ctx, tx); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("old-key mint: %v, want unauthorized", err)
	}
	if after, err := n.Supply(ctx); err != nil || after != before {
		t.Fatalf("refused mint: supply %+v, before %+v (%v)", after, before, err)
	}
}

// secondKeySet is version 2 of cfg's officer keys: officer 0's key (of
// old, the founding officers) replaced by fresh.
func secondKeySet(t *testing.T, cfg *devnet.Config, old []*crypto.PrivateKey) (*crypto.PrivateKey, policy.KeySet) {
	t.Helper()
	fresh, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	next := policy.KeySet{Network: cfg.Network.ID, Version: 2, Quorum: cfg.MintQuorum}
	for _, k := range old {
		next.Keys = append(next.Keys, k.Public())
	}
	next.Keys[0] = fresh.Public()
	return fresh, next
}
