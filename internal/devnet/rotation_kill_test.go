package devnet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// TestRotationThroughLeaderSIGKILL: on a 3-replica ledger of `specie
// serve ledger --cluster` processes, the issuer sends an officer key
// rotation to the leader and the leader's process is SIGKILLed at once.
// Whatever the issuer was told, once the killed replica is back and the
// issuer has retried (as it does), every replica holds the rotation once,
// at the same batch, as a rotation batch whose header commits to it; a
// mint by the rotated-out key is refused and one by the new set commits.
func TestRotationThroughLeaderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts three processes")
	}
	lc := startLedgers(t)
	cfg := lc.cfg
	ctx := context.Background()
	var o []*crypto.PrivateKey
	for _, f := range cfg.OfficerKeyFiles {
		k, err := crypto.LoadKey(f)
		if err != nil {
			t.Fatal(err)
		}
		o = append(o, k)
	}
	fresh, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ledgerAt := func(id uint64) roles.Ledger {
		return client.New(lc.urls[id], cfg.Issuer.Token, client.WithTimeout(10*time.Second)).Ledger()
	}
	// retry calls f on each replica in turn until the answer is not
	// "retry", as the issuer does.
	retry := func(what string, f func(l roles.Ledger) error) error {
		end := time.Now().Add(90 * time.Second)
		for id := uint64(1); ; id = id%3 + 1 {
			err := f(ledgerAt(id))
			if !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.NotLeader) && !errcode.Is(err, errcode.Internal) {
				return err
			}
			if time.Now().After(end) {
				t.Fatalf("%s: still %v after 90s", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	mint := func(nonce uint64, keys ...*crypto.PrivateKey) error {
		tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{{Value: 100, Lock: money.KeyLock(o[0].Public())}}}
		id := cfg.Network.TxID(tx)
		for _, k := range keys {
			tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, cfg.Network.ID, id)})
		}
		slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
		return retry("mint", func(l roles.Ledger) error {
			_, err := l.Submit(ctx, tx)
			if errcode.Is(err, errcode.DoubleSpend) {
				if _, terr := l.Tx(ctx, id); terr == nil {
					return nil // an earlier try committed
				}
			}
			return err
		})
	}
	if err := mint(1, o[0], o[1]); err != nil {
		t.Fatalf("mint before the rotation: %v", err)
	}

	next := policy.KeySet{Network: cfg.Network.ID, Version: 2, Quorum: cfg.MintQuorum, Keys: []crypto.PublicKey{fresh.Public(), o[1].Public(), o[2].Public()}}
	s := policy.SignedKeySet{KeySet: next}
	for _, k := range o[:cfg.MintQuorum] {
		a, err := policy.SignKeySet(&next, k)
		if err != nil {
			t.Fatal(err)
		}
		s.Approvals = append(s.Approvals, a)
	}
	rotate := func(l roles.Ledger) (roles.KeyEpoch, error) {
		return l.(roles.KeyRotator).RotateMintKeys(ctx, s)
	}
	l := lc.leader()
	type answer struct {
		e   roles.KeyEpoch
		err error
	}
	got := make(chan answer, 1)
	go func() {
		e, err := rotate(ledgerAt(l))
		got <- answer{e, err}
	}()
	lc.kill(l)
	first := <-got
	t.Logf("SIGKILL of leader %d during the rotation; it answered %+v, %v", l, first.e.Batch, first.err)
	lc.start(l)
	waitHealthy(t, lc.urls[l])
	var e roles.KeyEpoch
	if err := retry("rotation", func(l roles.Ledger) (err error) { e, err = rotate(l); return err }); err != nil {
		t.Fatalf("rotation retried: %v", err)
	}
	if first.err == nil && first.e.Batch != e.Batch {
		t.Fatalf("answered at batch %d before the kill, %d after", first.e.Batch, e.Batch)
	}
	// Every replica: the same chain, the rotation once at e.Batch, as a
	// rotation batch its header commits to.
	end := time.Now().Add(90 * time.Second)
	for {
		var chains [][]money.BatchHeader
		same := true
		for id := uint64(1); id <= 3; id++ {
			hs, err := allHeaders(ctx, ledgerAt(id))
			info, ierr := ledgerAt(id).Info(ctx)
			if err != nil || ierr != nil || len(info.KeySets) != 1 || info.KeySets[0].Batch != e.Batch || uint64(len(hs)) < e.Batch {
				same = false
				break
			}
			chains = append(chains, hs)
		}
		if same && slices.Equal(chains[0][:e.Batch], chains[1][:e.Batch]) && slices.Equal(chains[1][:e.Batch], chains[2][:e.Batch]) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the replicas do not agree on the rotation within 90s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for id := uint64(1); id <= 3; id++ {
		b, err := ledgerAt(id).(roles.BatchSource).Batch(ctx, e.Batch)
		if err != nil || b.Header.TxCount != 1 || b.Header.TxRoot != money.MerkleRoot([]money.Hash{policy.RotationID(b.KeySet)}) {
			t.Fatalf("replica %d: rotation batch %d: %+v, %v", id, e.Batch, b.Header, err)
		}
	}
	if err := mint(2, o[0], o[1]); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("mint by a rotated-out key: %v, want unauthorized", err)
	}
	if err := mint(3, fresh, o[1]); err != nil {
		t.Fatalf("mint by the new set: %v", err)
	}
	t.Logf("rotation held once by all three replicas at batch %d", e.Batch)
}
