package devnet_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestScenarioReplicated runs the foundation scenario against `specie up
// --replicas 3`: the ledger is three raft replicas on loopback. Then a
// client made for a follower submits a mint: the follower answers
// not_leader naming the leader, the client follows, and the mint commits;
// every replica ends with the same header chain.
func TestScenarioReplicated(t *testing.T) {
	n, _, err := devnet.UpReplicated(t.TempDir(), "127.0.0.1:0", 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	p := newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	runScenario(t, p)

	ctx := context.Background()
	var follower *devnet.Replica
	for _, r := range n.Replicas {
		if st := r.Replica.Status(); st.Leader != r.ID {
			follower = r
			break
		}
	}
	if follower == nil {
		t.Fatal("no follower")
	}
	// Straight to the follower: refused with the leader's address.
	tx := &money.Tx{Kind: money.Mint, Nonce: 77, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock(p.officer[0].Public())}}}
	id := n.Config.Network.TxID(tx)
	for _, k := range p.officer[:n.Config.MintQuorum] {
		tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Config.Network.ID, id)})
	}
	slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
	_, err = follower.Ledger.Submit(ctx, tx)
	var e *errcode.Error
	if !errors.As(err, &e) || e.Code != errcode.NotLeader || e.Leader == "" {
		t.Fatalf("follower: got %v, want not_leader with the leader's URL", err)
	}
	// Through the client made for the follower: it follows.
	c := client.New(follower.URL, n.Config.Issuer.Token).Ledger()
	rc, err := c.Submit(ctx, tx)
	if err != nil {
		t.Fatalf("submit through a follower: %v", err)
	}
	// Every replica holds the same chain, the mint included.
	end := time.Now().Add(60 * time.Second)
	for {
		var chains [][]money.BatchHeader
		for _, r := range n.Replicas {
			hs, err := r.Ledger.Headers(ctx, 1, 1000)
			if err != nil {
				t.Fatal(err)
			}
			chains = append(chains, hs)
		}
		same := true
		for _, ch := range chains[1:] {
			same = same && slices.Equal(ch, chains[0])
		}
		if same && uint64(len(chains[0])) >= rc.Batch {
			break
		}
		if time.Now().After(end) {
			t.Fatal("replicas did not converge on one header chain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, r := range n.Replicas {
		info, err := client.New(r.URL, "").Ledger().Tx(ctx, rc.TxID)
		if err != nil || info.Header.Seq != rc.Batch {
			t.Fatalf("replica %d: mint %s: %v (batch %d, want %d)", r.ID, rc.TxID, err, info.Header.Seq, rc.Batch)
		}
		if err := r.Ledger.CheckInvariants(); err != nil {
			t.Fatalf("replica %d: %v", r.ID, err)
		}
	}
	// Every replica keeps the archive (cfg.ledgerConfig): the auditor
	// finds the log clean through the node's API and each replica's.
	for _, url := range append([]string{n.URL}, replicaURLs(n)...) {
		cl := client.New(url, "")
		rep, err := audit.Run(ctx, audit.Options{Ledger: cl.Ledger(), Batches: cl.Ledger().(roles.BatchSource), API: url})
		if err != nil {
			t.Fatalf("audit %s: %v", url, err)
		}
		if !rep.Clean || rep.ToBatch < rc.Batch {
			t.Fatalf("audit %s: clean %v, to batch %d (want >= %d): %+v", url, rep.Clean, rep.ToBatch, rc.Batch, rep.Findings)
		}
	}
}

func replicaURLs(n *devnet.Node) []string {
	var out []string
	for _, r := range n.Replicas {
		out = append(out, r.URL)
	}
	return out
}

// TestUpReplicatedResumes restarts `specie up --replicas 3` on its data
// directory (on other ports: the replicas' configured URLs win over the
// ones in the raft log): it resumes with the same supply and chain, and
// commits again.
func TestUpReplicatedResumes(t *testing.T) {
	dir := t.TempDir()
	n, _, err := devnet.UpReplicated(dir, "127.0.0.1:0", 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	p := newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	ctx := context.Background()
	mint := func(nonce uint64) money.TxID {
		t.Helper()
		tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock(p.officer[0].Public())}}}
		id := n.Config.Network.TxID(tx)
		for _, k := range p.officer[:n.Config.MintQuorum] {
			tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Config.Network.ID, id)})
		}
		slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
		if _, err := n.Group.Submit(ctx, tx); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := mint(1)
	before, err := n.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, _, err = devnet.UpReplicated(dir, "127.0.0.1:0", 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	after, err := n.Supply(ctx)
	if err != nil || after != before {
		t.Fatalf("supply %+v after restart, %+v before (%v)", after, before, err)
	}
	if _, err := n.Group.Tx(ctx, first); err != nil {
		t.Fatal(err)
	}
	mint(2)
	for _, r := range n.Replicas {
		if err := r.Ledger.CheckInvariants(); err != nil {
			t.Fatalf("replica %d: %v", r.ID, err)
		}
	}
}

// TestUpRefusesAnotherShape: a data directory keeps the replica count it
// was created with.
func TestUpRefusesAnotherShape(t *testing.T) {
	dir := t.TempDir()
	n, _, err := devnet.UpReplicated(dir, "127.0.0.1:0", 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, _, err := devnet.UpReplicated(dir, "127.0.0.1:0", 5, quietLog()); err == nil {
		t.Fatal("3 replicas started as 5")
	}
	if _, _, err := devnet.Up(dir, "127.0.0.1:0", quietLog()); err == nil {
		t.Fatal("3 replicas started unreplicated")
	}
	one := t.TempDir()
	n, _, err = devnet.Up(one, "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, _, err := devnet.UpReplicated(one, "127.0.0.1:0", 3, quietLog()); err == nil {
		t.Fatal("an unreplicated ledger started as 3 replicas")
	}
}
