package devnet_test

import (
	"context"
	"slices"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// tampered serves a group's log with one batch changed, as an operator
// showing the auditor a doctored history of one group would.
type tampered struct {
	roles.Ledger
	src    roles.BatchSource
	seq    uint64
	change func(b *roles.BatchContents)
}

func (t tampered) Batch(ctx context.Context, seq uint64) (roles.BatchContents, error) {
	b, err := t.src.Batch(ctx, seq)
	if err == nil && seq == t.seq {
		b.Txs, b.IDs = slices.Clone(b.Txs), slices.Clone(b.IDs)
		t.change(&b)
	}
	return b, err
}

// TestAuditSharded: `specie audit` of `specie up --groups 2 --replicas 3`
// after the foundation scenario (payments within and across groups). A
// clean run audits every group's log and the coordinator's, finds nothing,
// and its supply is the network's. Then faults planted in what group 1
// serves (a changed amount, a dropped and a duplicated transaction, a
// forged signature, a commit step served as an abort, a batch served
// without its txids) are each found in group 1 at the batch changed, and
// nowhere else.
func TestAuditSharded(t *testing.T) {
	n, _, err := devnet.UpSharded(t.TempDir(), "127.0.0.1:0", 2, 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	p := newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	for _, reps := range n.Sharded.Groups {
		p.logs = append(p.logs, client.New(reps[0].URL, "").Ledger())
	}
	runScenario(t, p)
	ctx := context.Background()
	net := n.Config.Network
	api := client.New(n.URL, "").Ledger()

	// Whatever the scenario's notes fell on, group 1 gets a spend of its
	// own (a mint into it, then a transfer within it) and the commit of a
	// cross-group mint.
	owner, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	submit := client.New(n.URL, n.Config.Issuer.Token).Ledger()
	// place submits the first tx that make(nonce) builds whose outputs
	// fall in groups at.
	place := func(at []int, make func(nonce uint64) *money.Tx) *money.Tx {
		t.Helper()
		for nonce := uint64(1); ; nonce++ {
			tx := make(nonce)
			ok := true
			for i, o := range tx.OutputNotes(net.TxID(tx)) {
				ok = ok && shard.GroupOf(net.NoteID(&o), 2) == at[i]
			}
			if !ok {
				continue
			}
			if _, err := submit.Submit(ctx, tx); err != nil {
				t.Fatal(err)
			}
			return tx
		}
	}
	mint := func(nonce uint64, values ...uint64) *money.Tx {
		tx := &money.Tx{Kind: money.Mint, Nonce: nonce}
		for _, v := range values {
			tx.Outputs = append(tx.Outputs, money.Output{Value: v, Lock: money.KeyLock(owner.Public())})
		}
		id := net.TxID(tx)
		for _, k := range p.officer[:n.Config.MintQuorum] {
			tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, net.ID, id)})
		}
		slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
		return tx
	}
	in1 := place([]int{1}, func(nonce uint64) *money.Tx { return mint(nonce, 40) })
	note := in1.OutputNotes(net.TxID(in1))[0]
	place([]int{1, 1}, func(nonce uint64) *money.Tx {
		tx := &money.Tx{Kind: money.Transfer, Nonce: nonce, Inputs: []money.Note{note},
			Outputs: []money.Output{{Value: 15, Lock: money.KeyLock(owner.Public())}, {Value: 25, Lock: money.KeyLock(owner.Public())}}}
		id := net.TxID(tx)
		tx.InputSigs = []money.Sig{owner.Sign(crypto.Spend, net.ID, id)}
		return tx
	})
	place([]int{0, 1}, func(nonce uint64) *money.Tx { return mint(1<<32+nonce, 5, 7) })
	group1 := map[string]bool{}
	for _, r := range n.Sharded.Groups[1] {
		group1[r.URL] = true
	}
	audit1 := func(f *tampered) *audit.Report {
		t.Helper()
		open := func(u string) (roles.Ledger, error) {
			l := client.New(u, "").Ledger()
			if f != nil && group1[u] {
				f.Ledger, f.src = l, l.(roles.BatchSource)
				return *f, nil
			}
			return l, nil
		}
		rep, err := audit.RunSharded(ctx, audit.ShardedOptions{Ledger: api, Open: open, API: n.URL})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	rep := audit1(nil)
	if !rep.Clean || len(rep.Findings) != 0 {
		t.Fatalf("clean network: %d findings, first %+v", len(rep.Findings), rep.Findings)
	}
	sup, err := n.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Minted != sup.Minted || rep.Redeemed != sup.Redeemed || rep.Outstanding != sup.Outstanding {
		t.Fatalf("audit supply minted %d redeemed %d outstanding %d; the network's %+v", rep.Minted, rep.Redeemed, rep.Outstanding, sup)
	}
	if len(rep.Logs) != 3 || rep.Logs[2].Log != "coordinator" || rep.Logs[2].ToBatch == 0 {
		t.Fatalf("logs audited: %+v; want groups 0 and 1 and a coordinator's log with decisions", rep.Logs)
	}

	// Find, in group 1's log, a batch with a transaction of its own and
	// one with the commit of a cross-group transaction.
	src := client.New(n.Sharded.Groups[1][0].URL, "").Ledger().(roles.BatchSource)
	var own, commit uint64
	var ownAt, commitAt int
	for seq := uint64(1); seq <= rep.Logs[1].ToBatch && (own == 0 || commit == 0); seq++ {
		b, err := src.Batch(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range b.Txs {
			var tx money.Tx
			if err := tx.UnmarshalBinary(raw); err != nil {
				t.Fatal(err)
			}
			id := net.TxID(&tx)
			if b.IDs[i] != id {
				continue
			}
			groups := map[int]bool{}
			for _, o := range tx.OutputNotes(id) {
				groups[shard.GroupOf(net.NoteID(&o), 2)] = true
			}
			for j := range tx.Inputs {
				groups[shard.GroupOf(net.NoteID(&tx.Inputs[j]), 2)] = true
			}
			switch {
			case len(groups) == 1 && own == 0 && len(tx.Inputs) > 0 && len(tx.Outputs) > 0:
				own, ownAt = seq, i
			case len(groups) > 1 && commit == 0:
				commit, commitAt = seq, i
			}
		}
	}
	if own == 0 || commit == 0 {
		t.Fatalf("group 1 holds no spend of its own (%d) or no cross-group commit (%d)", own, commit)
	}
	edit := func(b *roles.BatchContents, i int, f func(tx *money.Tx)) {
		var tx money.Tx
		if err := tx.UnmarshalBinary(b.Txs[i]); err != nil {
			t.Fatal(err)
		}
		f(&tx)
		raw, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b.Txs[i] = raw
	}
	cases := []struct {
		name   string
		seq    uint64
		change func(b *roles.BatchContents)
	}{
		{"an output's amount changed", own, func(b *roles.BatchContents) {
			edit(b, ownAt, func(tx *money.Tx) { tx.Outputs[0].Value++ })
		}},
		{"a transaction dropped", own, func(b *roles.BatchContents) {
			b.Txs, b.IDs = slices.Delete(b.Txs, ownAt, ownAt+1), slices.Delete(b.IDs, ownAt, ownAt+1)
		}},
		{"a transaction duplicated", own, func(b *roles.BatchContents) {
			b.Txs, b.IDs = append(b.Txs, b.Txs[ownAt]), append(b.IDs, b.IDs[ownAt])
		}},
		{"a signature forged", own, func(b *roles.BatchContents) {
			edit(b, ownAt, func(tx *money.Tx) { tx.InputSigs[0][5] ^= 1 })
		}},
		{"a commit served as an abort", commit, func(b *roles.BatchContents) {
			b.IDs[commitAt] = shard.StepsOf(net, b.IDs[commitAt]).Abort
		}},
		{"txids not served", commit, func(b *roles.BatchContents) { b.IDs = nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := audit1(&tampered{seq: c.seq, change: c.change})
			if rep.Clean {
				t.Fatal("the audit found nothing")
			}
			at := false
			for _, f := range rep.Findings {
				if f.Log != "group 1" {
					t.Errorf("finding outside group 1: %s [%s] %s", f.Location(), f.Check, f.Message)
				}
				if f.Batch < c.seq {
					t.Errorf("finding before the batch changed (%d): %s [%s] %s", c.seq, f.Location(), f.Check, f.Message)
				}
				at = at || f.Log == "group 1" && f.Batch == c.seq
			}
			if !at {
				t.Fatalf("no finding at group 1, batch %d: %+v", c.seq, rep.Findings)
			}
		})
	}
}
