package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/policy"
)

// rotSet is officer key set version v of the rotation crash test: the
// founding officers for 1, then three keys drawn from v, quorum 2; keys[0]
// and keys[1] approve the next version and sign mints.
func rotSet(n *ledgertest.Net, v uint64) (policy.KeySet, []*crypto.PrivateKey) {
	if v == 1 {
		return policy.KeySet{Network: n.Network.ID, Version: 1, Quorum: 2, Keys: []crypto.PublicKey{n.Officers[0].Public(), n.Officers[1].Public(), n.Officers[2].Public()}}, n.Officers
	}
	rng := rand.New(rand.NewPCG(crashSeed, v))
	var keys []*crypto.PrivateKey
	set := policy.KeySet{Network: n.Network.ID, Version: v, Quorum: 2}
	for range 3 {
		k := ledgertest.KeyFrom(rng)
		keys = append(keys, k)
		set.Keys = append(set.Keys, k.Public())
	}
	return set, keys
}

// TestRotationCrash: a child rotates the officer keys again and again
// (each set approved by the one before), with a mint by each new set, and
// prints each rotation once the ledger answers it; it is killed with
// SIGKILL at a random moment, three rounds on one directory. After each
// kill the ledger opens, every rotation reported is in force in the batch
// it was answered with, every rotation it holds is a batch of the log
// that chains and verifies (none half there: in the store but not the
// log, or the log but not in force), the set in force mints and the one
// before it does not.
func TestRotationCrash(t *testing.T) {
	if dir := os.Getenv("SPECIE_ROTATION_CRASH_CHILD"); dir != "" {
		rotationCrashChild(dir)
		return
	}
	dir := t.TempDir()
	n := ledgertest.NewFromSeed(crashSeed)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	reported := map[uint64]uint64{} // version -> batch
	for round := 0; round < 3; round++ {
		got := crashtest.RunAndKill(t, "TestRotationCrash", []string{"SPECIE_ROTATION_CRASH_CHILD=" + dir}, 3+rng.IntN(20), func(line string) bool {
			var v, b uint64
			if _, err := fmt.Sscanf(line, "rotated %d %d", &v, &b); err != nil {
				return false
			}
			reported[v] = b
			return true
		})
		t.Logf("round %d: killed after %d reported rotations", round, got)
		l, err := ledger.Open(dir, n.TestConfig())
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		info, _ := l.Info(ctx)
		for v, b := range reported {
			if v-2 >= uint64(len(info.KeySets)) || info.KeySets[v-2].Batch != b {
				t.Fatalf("round %d: rotation to version %d was answered in batch %d, the ledger holds %+v", round, v, b, info.KeySets)
			}
		}
		for _, e := range info.KeySets {
			rotationInLog(t, l, n, e)
		}
		cur := uint64(1 + len(info.KeySets))
		_, keys := rotSet(n, cur)
		owner := ledgertest.MustKey()
		mustSubmit(t, l, mintBy(n, owner, 3, keys[0], keys[1]))
		if cur > 1 {
			_, prev := rotSet(n, cur-1)
			if _, err := l.Submit(ctx, mintBy(n, owner, 3, prev[0], prev[1])); !errcode.Is(err, errcode.Unauthorized) {
				t.Fatalf("round %d: mint by version %d while %d is in force: %v", round, cur-1, cur, err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// rotationCrashChild rotates forever from the set in force, minting with
// each new set, and prints "rotated VERSION BATCH" for each rotation the
// ledger answered.
func rotationCrashChild(dir string) {
	n := ledgertest.NewFromSeed(crashSeed)
	l, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	info, _ := l.Info(ctx)
	owner := ledgertest.MustKey()
	for v := uint64(1 + len(info.KeySets)); ; v++ {
		_, keys := rotSet(n, v)
		next, _ := rotSet(n, v+1)
		s := policy.SignedKeySet{KeySet: next}
		for _, k := range keys[:2] {
			a, err := policy.SignKeySet(&next, k)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			s.Approvals = append(s.Approvals, a)
		}
		e, err := l.RotateMintKeys(ctx, s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: rotate:", err)
			os.Exit(2)
		}
		os.Stdout.WriteString(strings.TrimSpace(fmt.Sprintf("rotated %d %d", v+1, e.Batch)) + "\n")
		_, nk := rotSet(n, v+1)
		if _, err := l.Submit(ctx, mintBy(n, owner, 1, nk[0], nk[1])); err != nil {
			fmt.Fprintln(os.Stderr, "child: mint:", err)
			os.Exit(2)
		}
	}
}
