package issuer_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// restartOn stops the issuer as a crash would (its disk may be dead, so
// the close may fail) and opens it again on fs.
func (e *env) restartOn(fs vfs.FS) {
	e.t.Helper()
	if e.is != nil {
		_ = e.is.Close() // a dead or failed disk fails the close; the restart is what counts
	}
	e.is = nil
	e.cfg.FS = fs
	e.open()
}

// books is what the test asked of the issuer and what it was told was done.
type books struct {
	mints    []money.TxID             // every proposal made
	redeems  map[money.TxID]*money.Tx // every redeem tried, by txid
	redeemOf map[money.TxID]money.TxID
	done     map[money.TxID]bool // mints reported committed and redeems reported credited
}

func newBooks() *books {
	return &books{redeems: map[money.TxID]*money.Tx{}, redeemOf: map[money.TxID]money.TxID{}, done: map[money.TxID]bool{}}
}

// onLedger says whether the ledger committed transaction id.
func (e *env) onLedger(id money.TxID) bool {
	e.t.Helper()
	_, err := e.ledger.Tx(bg, id)
	if err != nil && !errcode.Is(err, errcode.NotFound) {
		e.t.Fatalf("ledger lookup %s: %v", id, err)
	}
	return err == nil
}

// check asserts that the issuer's books agree with the ledger: everything
// reported done is done, a mint is committed at the issuer exactly when it
// is on the ledger, each reserve is its opening balance less the mints and
// plus the redeems the ledger committed, and every committed mint reaches
// its intermediary.
func (e *env) check(b *books) {
	e.t.Helper()
	want := map[string]uint64{"bank-a": openingA, "bank-b": openingB}
	for _, id := range b.mints {
		m, err := e.is.GetMint(officerCtx, id)
		if err != nil {
			e.t.Fatalf("mint %s: %v", id, err)
		}
		on := e.onLedger(id)
		if b.done[id] && !on {
			e.t.Fatalf("mint %s was reported committed and is not on the ledger", id)
		}
		if (m.Status == roles.MintCommitted) != on {
			e.t.Fatalf("mint %s is %s at the issuer, on the ledger: %v", id, m.Status, on)
		}
		if on {
			want[m.To] -= m.Amount
		}
	}
	for id, tx := range b.redeems {
		on := e.onLedger(id)
		if b.done[id] && !on {
			e.t.Fatalf("redeem %s was reported credited and is not on the ledger", id)
		}
		if on {
			in, out := tx.Sums()
			want["bank-a"] += in - out
		}
	}
	for name, w := range want {
		if got := e.reserve(name); got != w {
			e.t.Fatalf("reserve of %s is %d, the ledger says %d", name, got, w)
		}
	}
	s, err := e.is.Supply(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	var reserves uint64
	for _, r := range s.Reserves {
		reserves += r.Balance
	}
	if out := s.LedgerSupply.Minted - s.LedgerSupply.Redeemed; openingA+openingB-reserves != out {
		e.t.Fatalf("reserves went down by %d, the ledger has %d outstanding", openingA+openingB-reserves, out)
	}
	if err := e.is.RetryDeliveries(bg); err != nil {
		e.t.Fatalf("deliveries after restart: %v", err)
	}
	got, _ := e.banks["bank-a"].got()
	got2, _ := e.banks["bank-b"].got()
	for _, id := range b.mints {
		if e.onLedger(id) && got[id] == nil && got2[id] == nil {
			e.t.Fatalf("committed mint %s never delivered", id)
		}
	}
}

// randomOp makes one request the seeded generator picks: a proposal, an
// officer's approval of an open proposal, or a redeem by bank-a of a mint
// it holds (the same transaction when it is tried again). It returns a line
// saying what it asked and what it was told.
func (e *env) randomOp(rng *rand.Rand, b *books) string {
	e.t.Helper()
	switch k := rng.IntN(10); {
	case k < 3 || len(b.mints) == 0:
		to := []string{"bank-a", "bank-b"}[rng.IntN(2)]
		m, err := e.is.ProposeMint(officerCtx, to, 1+rng.Uint64N(2000))
		if err == nil {
			b.mints = append(b.mints, m.ID)
		}
		return fmt.Sprintf("propose to %s: %s %s", to, m.ID, errcode.Of(err))
	case k < 7:
		id := b.mints[rng.IntN(len(b.mints))]
		officer := rng.IntN(3)
		m, err := e.approve(officer, id)
		if err == nil && m.Status == roles.MintCommitted {
			b.done[id] = true
		}
		return fmt.Sprintf("approve %s by %d: %s %s", id, officer, m.Status, errcode.Of(err))
	default:
		var held []money.TxID
		for _, id := range b.mints {
			if m, err := e.is.GetMint(officerCtx, id); err == nil && m.To == "bank-a" && m.Status == roles.MintCommitted {
				held = append(held, id)
			}
		}
		if len(held) == 0 {
			return "redeem: nothing held"
		}
		mid := held[rng.IntN(len(held))]
		rid, ok := b.redeemOf[mid]
		if !ok {
			m, _ := e.is.GetMint(officerCtx, mid)
			tx := e.redeemTx(e.banks["bank-a"], m.Tx, rng.Uint64N(m.Amount))
			rid = e.net.Network.TxID(tx)
			b.redeemOf[mid], b.redeems[rid] = rid, tx
		}
		_, err := e.is.Redeem(bankCtx("bank-a"), b.redeems[rid])
		if err == nil {
			b.done[rid] = true
		}
		return fmt.Sprintf("redeem %s: %s", rid, errcode.Of(err))
	}
}

// crashSim proposes, approves and redeems at random while the issuer's
// disk crashes at a random operation (unsynced blocks survive or not, at
// random), restarting the issuer on what each crash left and checking its
// books. Everything comes from seed: keys, nonces, requests, officers,
// amounts and crash points. It returns the trace of requests and answers.
func crashSim(t *testing.T, seed uint64, rounds int) []string {
	rng := rand.New(rand.NewPCG(seed, seed))
	disk := crashtest.NewDisk(t)
	e := newEnvOn(t, disk.FS, seed)
	b := newBooks()
	var trace []string
	for round := range rounds {
		disk.Arm(-1, nil, rng.IntN(30), rand.New(rand.NewPCG(rng.Uint64(), 0)))
		for range 8 {
			trace = append(trace, e.randomOp(rng, b))
		}
		var crashed bool
		disk, crashed = disk.Reboot(rng)
		e.restartOn(disk.FS)
		trace = append(trace, fmt.Sprintf("round %d: crashed mid-request %v; %d mints, %d redeems, %d reported done", round, crashed, len(b.mints), len(b.redeems), len(b.done)))
		e.check(b)
	}
	return trace
}

// Every mint reported committed and every redeem reported credited
// survives a crash of the issuer's disk, nothing is half done, and the
// reserves agree with what the ledger committed (see crashSim).
func TestCrashKeepsWhatWasReportedDone(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	trace := crashSim(t, crashtest.Seed(t), rounds)
	t.Log(trace[len(trace)-1])
}

// A seed replays the crash simulation: the same requests get the same
// answers, about the same transactions, with crashes at the same points.
func TestCrashSimulationReplaysFromItsSeed(t *testing.T) {
	crashtest.Replays(t, crashtest.Seed(t), func(seed uint64) []string { return crashSim(t, seed, 3) })
}

// faultCase is one request made with the disk failing at one of its
// operations: setup prepares it, do makes it, retry makes it again after
// the restart (until it is done), and done says it is.
type faultCase struct {
	name  string
	setup func(e *env, b *books) func() error // returns the request
	retry func(e *env, b *books)
}

func faultCases() []faultCase {
	return []faultCase{{
		name: "approval below quorum",
		setup: func(e *env, b *books) func() error {
			m := e.propose("bank-a", 700)
			b.mints = append(b.mints, m.ID)
			return func() error { _, err := e.approve(0, m.ID); return err }
		},
		retry: func(e *env, b *books) {
			id := b.mints[0]
			if _, err := e.approve(0, id); err != nil && !errcode.Is(err, errcode.Conflict) {
				e.t.Fatalf("approval again: %v", err)
			}
			m, err := e.is.GetMint(officerCtx, id)
			if err != nil || len(m.Approvers) != 1 || m.Status != roles.MintPending {
				e.t.Fatalf("after the approval again: %+v, %v", m, err)
			}
		},
	}, {
		name: "approval at quorum",
		setup: func(e *env, b *books) func() error {
			m := e.propose("bank-a", 700)
			b.mints = append(b.mints, m.ID)
			if _, err := e.approve(0, m.ID); err != nil {
				e.t.Fatal(err)
			}
			return func() error {
				m, err := e.approve(1, m.ID)
				if err == nil && m.Status == roles.MintCommitted {
					b.done[m.ID] = true
				}
				return err
			}
		},
		retry: func(e *env, b *books) {
			id := b.mints[0]
			if m, err := e.is.GetMint(officerCtx, id); err == nil && m.Status == roles.MintCommitted {
				return
			}
			m, err := e.approve(1, id)
			if err != nil || m.Status != roles.MintCommitted {
				e.t.Fatalf("approval again: %+v, %v", m, err)
			}
			b.done[id] = true
		},
	}, {
		name: "redeem",
		setup: func(e *env, b *books) func() error {
			m := e.mint("bank-a", 900)
			b.mints = append(b.mints, m.ID)
			b.done[m.ID] = true
			tx := e.redeemTx(e.banks["bank-a"], m.Tx, 200)
			id := e.net.Network.TxID(tx)
			b.redeems[id] = tx
			return func() error {
				_, err := e.is.Redeem(bankCtx("bank-a"), tx)
				if err == nil {
					b.done[id] = true
				}
				return err
			}
		},
		retry: func(e *env, b *books) {
			for id, tx := range b.redeems {
				r, err := e.is.Redeem(bankCtx("bank-a"), tx)
				if err != nil || r.Amount != 700 {
					e.t.Fatalf("redeem again: %+v, %v", r, err)
				}
				b.done[id] = true
			}
		},
	}}
}

// For every operation the disk does during an approval or a redeem, that
// operation fails (an I/O error, or a full disk). The request either
// succeeds or is refused with internal (unavailable when the disk is full);
// after a restart (with what was synced, or with every write, the failed
// one too, as when only the process died) the books agree with the ledger,
// whatever was reported done is there, and the request made again
// completes, exactly once.
func TestEveryDiskOperationOfARequestMayFail(t *testing.T) {
	for _, c := range faultCases() {
		t.Run(c.name, func(t *testing.T) {
			disk := crashtest.NewDisk(t)
			e := newEnvOn(t, disk.FS, 0)
			do := c.setup(e, newBooks())
			disk.Count()
			if err := do(); err != nil {
				t.Fatal(err)
			}
			n := disk.Ops()
			if n == 0 {
				t.Fatal("the request did no disk operation")
			}
			t.Logf("%d disk operations: %v", n, disk.Seen())
			for i := range n {
				for f, fault := range []error{errorfs.ErrInjected, syscall.ENOSPC, errorfs.ErrInjected} {
					disk := crashtest.NewDisk(t)
					e := newEnvOn(t, disk.FS, 0)
					b := newBooks()
					do := c.setup(e, b)
					disk.Arm(i, fault, -1, nil)
					err := do()
					want := errcode.Internal
					if errors.Is(fault, syscall.ENOSPC) {
						want = errcode.Unavailable
					}
					if err != nil && errcode.Of(err) != want {
						t.Fatalf("operation %d failing with %v: %v, want %s", i, fault, err, want)
					}
					if f == 2 {
						disk = disk.RestartKeepingAll() // the failed write may be on disk after all
					} else {
						disk = disk.Restart()
					}
					e.restartOn(disk.FS)
					e.check(b)
					c.retry(e, b)
					e.check(b)
					e.is.Close()
					e.is = nil
				}
			}
		})
	}
}

// A write that fails the store with an I/O error is answered internal;
// the desk is then out of service until a restart, and what it must write
// next reaches nothing and is refused with unavailable, as the ledger
// answers once a storage failure stopped it.
func TestWritesAfterAStoreFailureAreUnavailable(t *testing.T) {
	count := crashtest.NewDisk(t)
	e := newEnvOn(t, count.FS, 0)
	count.Count()
	if _, err := e.is.ProposeMint(officerCtx, "bank-a", 10); err != nil {
		t.Fatal(err)
	}
	stopped := 0
	for i := range count.Ops() {
		disk := crashtest.NewDisk(t)
		e := newEnvOn(t, disk.FS, 0)
		disk.Arm(i, errorfs.ErrInjected, -1, nil)
		_, err := e.is.ProposeMint(officerCtx, "bank-a", 10)
		if err == nil {
			continue // the failed operation did not matter
		}
		wantCode(t, err, errcode.Internal)
		_, err = e.is.ProposeMint(officerCtx, "bank-a", 10)
		if err == nil {
			continue // that failure did not stop the store
		}
		wantCode(t, err, errcode.Unavailable)
		stopped++
	}
	if stopped == 0 {
		t.Fatalf("no failed operation of %d stopped the store", count.Ops())
	}
}

// On a full disk the issuer refuses what it must write with unavailable and
// still answers reads. Pebble cannot write again after a failed write, so
// the issuer recovers by a restart once there is space, and what it was
// asked then completes once.
func TestFullDiskRefusesWritesWithUnavailableAndReadsGoOn(t *testing.T) {
	disk := crashtest.NewDisk(t)
	e := newEnvOn(t, disk.FS, 0)
	b := newBooks()
	m := e.mint("bank-a", 1000)
	b.mints, b.done[m.ID] = append(b.mints, m.ID), true
	open := e.propose("bank-b", 500)
	b.mints = append(b.mints, open.ID)
	if _, err := e.approve(0, open.ID); err != nil {
		t.Fatal(err)
	}
	before := e.state()

	disk.SetFull(true)
	_, err := e.approve(1, open.ID)
	wantCode(t, err, errcode.Unavailable)
	_, err = e.is.ProposeMint(officerCtx, "bank-a", 10)
	wantCode(t, err, errcode.Unavailable)
	tx := e.redeemTx(e.banks["bank-a"], m.Tx, 0)
	_, err = e.is.Redeem(bankCtx("bank-a"), tx)
	wantCode(t, err, errcode.Unavailable)
	b.redeems[e.net.Network.TxID(tx)] = tx
	sameState(t, before, e.state())
	if got, err := e.is.GetMint(officerCtx, m.ID); err != nil || got.Status != roles.MintCommitted {
		t.Fatalf("read on a full disk: %+v, %v", got, err)
	}

	// A restart while the disk is still full is refused.
	disk = disk.Restart()
	disk.SetFull(true)
	e.is.Close()
	e.is = nil
	e.cfg.FS = disk.FS
	if is, err := issuer.Open(e.dir, e.cfg, e.lg, e.directory); err == nil {
		is.Close()
		t.Fatal("the issuer opened on a full disk")
	}
	disk.SetFull(false)
	disk = disk.Restart()
	e.restartOn(disk.FS)
	e.check(b)
	if got, err := e.approve(1, open.ID); err != nil || got.Status != roles.MintCommitted {
		t.Fatalf("approval after the disk has space: %+v, %v", got, err)
	}
	b.done[open.ID] = true
	if _, err := e.is.Redeem(bankCtx("bank-a"), tx); err != nil {
		t.Fatalf("redeem after the disk has space: %v", err)
	}
	e.check(b)
	if !slices.Contains(b.mints, open.ID) {
		t.Fatal("lost the open proposal")
	}
}
