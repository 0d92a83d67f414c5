package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// The ledger's files on a disk that fails on purpose: an in-memory disk
// that can crash (vfs.NewCrashableMem: CrashClone keeps only what was
// synced) under an error-injecting filesystem (errorfs). Real Pebble, real
// signatures; only the disk is made up.

const faultDir = "/specie"

// faultDisk fails the target-th operation that match selects while armed
// (counting them from 0 when armed; target -1 only counts), and every
// operation that full selects while full is set, with ENOSPC.
type faultDisk struct {
	mem *vfs.MemFS
	fs  vfs.FS

	mu       sync.Mutex
	match    func(errorfs.Op) bool
	armed    bool
	target   int
	seen     int
	injected error
	fullOps  func(errorfs.Op) bool
	full     bool
}

func newFaultDisk(mem *vfs.MemFS) *faultDisk {
	d := &faultDisk{mem: mem, target: -1}
	d.fs = errorfs.Wrap(mem, errorfs.InjectorFunc(d.maybeError))
	return d
}

func (d *faultDisk) maybeError(op errorfs.Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full && d.fullOps(op) {
		return syscall.ENOSPC
	}
	if !d.armed || !d.match(op) {
		return nil
	}
	d.seen++
	if d.seen-1 == d.target {
		d.injected = errorfs.ErrInjected
		return d.injected
	}
	return nil
}

// arm starts counting match's operations, failing the target-th.
func (d *faultDisk) arm(match func(errorfs.Op) bool, target int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.match, d.armed, d.target, d.seen, d.injected = match, true, target, 0, nil
}

// disarm stops counting and says how many operations it saw and whether
// one was failed.
func (d *faultDisk) disarm() (seen int, injected bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = false
	return d.seen, d.injected != nil
}

func (d *faultDisk) setFull(ops func(errorfs.Op) bool, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fullOps, d.full = ops, on
}

func openOn(t *testing.T, cfg ledger.Config, fs vfs.FS) *ledger.Ledger {
	t.Helper()
	cfg.FS = fs
	l, err := ledger.Open(faultDir, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// crashAndReopen opens a second ledger on what a crash of d would leave
// now (only what was synced), with no faults. The caller closes it.
func crashAndReopen(t *testing.T, cfg ledger.Config, d *faultDisk, what string) *ledger.Ledger {
	t.Helper()
	cfg.FS = d.mem.CrashClone(vfs.CrashCloneCfg{})
	l, err := ledger.Open(faultDir, cfg)
	if err != nil {
		t.Fatalf("%s: reopen after a crash: %v", what, err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatalf("%s: after a crash: %v", what, err)
	}
	return l
}

func committed(t *testing.T, l *ledger.Ledger, n *ledgertest.Net, tx *money.Tx) bool {
	t.Helper()
	_, err := l.Tx(ctx, n.Network.TxID(tx))
	if err != nil && !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("tx: %v", err)
	}
	return err == nil
}

func inLog(op errorfs.Op) bool { return strings.Contains(op.Path, "/wal") }

// TestEveryFailedOperationOfACommit fails each file operation of one
// commit in turn (a write or fsync of the log, and when the commit starts
// a new segment its creation and the directory's fsync), for every index
// the commit has. Each time the ledger either commits or refuses the
// transaction; what it reports committed survives a crash right after,
// what it refused with unavailable is nowhere and commits when submitted
// again, and a refusal it cannot undo stops writes until a reopen, which
// finds a consistent ledger.
func TestEveryFailedOperationOfACommit(t *testing.T) {
	for _, roll := range []bool{false, true} {
		n := commitWithFault(t, roll, -1)
		if n == 0 {
			t.Fatalf("roll %v: a commit touched no log file", roll)
		}
		t.Logf("roll %v: a commit does %d operations on the log", roll, n)
		for i := 0; i <= n; i++ {
			commitWithFault(t, roll, i)
		}
	}
}

// commitWithFault commits one payment with the target-th operation on the
// log failed and checks the outcome; it returns how many there were.
func commitWithFault(t *testing.T, roll bool, target int) int {
	defer func() {
		if t.Failed() {
			t.Logf("with operation %d of the commit failed (roll %v)", target, roll)
		}
	}()
	n := ledgertest.New()
	cfg := n.TestConfig()
	cfg.SnapshotEvery = 1 << 40 // no snapshot: this is about the commit
	if roll {
		cfg.LogSegmentBytes = 1 // every record starts a segment
	}
	d := newFaultDisk(vfs.NewCrashableMem())
	l := openOn(t, cfg, d.fs)
	defer func() { l.Close() }()
	k := ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(k, 100))
	mustSubmit(t, l, mint)
	note := n.Notes(mint)[0]
	pay := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{k}, ledgertest.To(ledgertest.MustKey(), 100))

	d.arm(inLog, target)
	_, err := l.Submit(ctx, pay)
	seen, injected := d.disarm()
	switch {
	case err == nil:
	case !injected:
		t.Fatalf("op %d: %v with nothing failed", target, err)
	case errcode.Is(err, errcode.Unavailable), errcode.Is(err, errcode.Internal):
	default:
		t.Fatalf("op %d: %v: neither committed nor refused", target, err)
	}
	// Reads are served whatever happened.
	if _, terr := l.Tx(ctx, n.Network.TxID(mint)); terr != nil {
		t.Fatalf("op %d: reading a committed transaction: %v", target, terr)
	}
	if sup, serr := l.Supply(ctx); serr != nil || sup.Minted != 100 {
		t.Fatalf("op %d: supply %+v %v", target, sup, serr)
	}
	ni, nerr := l.Note(ctx, n.Network.NoteID(&note))
	if nerr != nil || (ni.Status == roles.NoteUnspent) != (err != nil) {
		t.Fatalf("op %d: submit said %v; the spent note reads %+v %v", target, err, ni, nerr)
	}

	// What a crash now would leave.
	l2 := crashAndReopen(t, cfg, d, fmt.Sprintf("op %d", target))
	got := committed(t, l2, n, pay)
	l2.Close()
	switch {
	case err == nil && !got:
		t.Fatalf("op %d: the payment was reported committed and a crash lost it", target)
	case errcode.Is(err, errcode.Unavailable) && got:
		t.Fatalf("op %d: the payment was refused as unavailable (%v) and then appeared after a crash", target, err)
	}

	switch {
	case errcode.Is(err, errcode.Unavailable):
		// Nothing is known to have failed: the same payment commits
		// now, without a restart.
		if _, err := l.Submit(ctx, pay); err != nil {
			t.Fatalf("op %d: submitting again after a refusal: %v", target, err)
		}
		if err := l.CheckInvariants(); err != nil {
			t.Fatalf("op %d: %v", target, err)
		}
		l2 := crashAndReopen(t, cfg, d, fmt.Sprintf("op %d, second try", target))
		if !committed(t, l2, n, pay) {
			t.Fatalf("op %d: the payment committed on the second try and a crash lost it", target)
		}
		l2.Close()
	case err != nil:
		// Stopped: writes refused until a reopen, which finds the
		// payment committed or not, and the ledger consistent.
		again := n.Mint([]int{0, 1}, ledgertest.To(k, 1))
		if _, err := l.Submit(ctx, again); !errcode.Is(err, errcode.Unavailable) {
			t.Fatalf("op %d: a stopped ledger answered a write with %v, want unavailable", target, err)
		}
		l.Close()
		l = openOn(t, cfg, d.mem)
		if err := l.CheckInvariants(); err != nil {
			t.Fatalf("op %d: reopened after stopping: %v", target, err)
		}
	}
	return seen
}

// TestEveryFailedOperationOfASnapshot fails each file operation of the
// background snapshots in turn (create, write, fsync, close, rename and
// directory fsync of the snapshot file; removing the one it replaces and
// the log segments behind it) while payments commit. A failed snapshot
// never fails a commit, and a crash at the end leaves every committed
// payment and the invariants.
func TestEveryFailedOperationOfASnapshot(t *testing.T) {
	n, _ := snapshotWithFault(t, -1)
	if n == 0 {
		t.Fatal("no snapshot was written")
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	// How many snapshots run while the payments commit depends on timing,
	// so a later run may not reach every index the first one counted.
	failed := 0
	for i := 0; i < n; i += step {
		if _, injected := snapshotWithFault(t, i); injected {
			failed++
		}
	}
	t.Logf("the snapshots did %d operations; %d runs failed one of them", n, failed)
	if failed == 0 {
		t.Fatal("no run failed an operation")
	}
}

func inSnapshot(op errorfs.Op) bool {
	return strings.Contains(op.Path, "/snap") || inLog(op) && op.Kind == errorfs.OpRemove
}

func snapshotWithFault(t *testing.T, target int) (seen int, injected bool) {
	defer func() {
		if t.Failed() {
			t.Logf("with operation %d of the snapshots failed", target)
		}
	}()
	n := ledgertest.New()
	cfg := n.TestConfig()
	cfg.Shards = 2
	cfg.SnapshotEvery = 1        // a snapshot whenever none is in flight
	cfg.SnapshotSlice = 1 << 30  // copied in one batch
	cfg.LogSegmentBytes = 1 << 9 // segments to drop
	d := newFaultDisk(vfs.NewCrashableMem())
	l := openOn(t, cfg, d.fs)
	p := newPayer(t, n, l, 8)
	d.arm(inSnapshot, target)
	for r := 0; r < 6; r++ {
		p.round(t, l) // fails the test if a payment does not commit
	}
	if err := l.Close(); err != nil { // waits for the snapshot in flight
		t.Fatalf("op %d: close: %v", target, err)
	}
	seen, injected = d.disarm()
	l = crashAndReopen(t, cfg, d, fmt.Sprintf("op %d", target))
	defer l.Close()
	for i, note := range p.notes {
		if ni, err := l.Note(ctx, n.Network.NoteID(&note)); err != nil || ni.Status != roles.NoteUnspent {
			t.Fatalf("op %d: note %d after a crash: %+v %v", target, i, ni, err)
		}
	}
	p.round(t, l)
	return seen, injected
}

// TestDiskFullRefusesWritesKeepsReads fills the disk under the ledger's
// log and snapshots: every write is refused with unavailable, reads are
// served, and once space returns the same payments commit without a
// restart, and survive a crash.
//
// The full disk here is the ledger's own files: when a write of Pebble's
// own log fails the ledger stops until a restart
// (TestStoreFailureStopsWritesKeepsReads). The ledger writes to the store only after its log append succeeded, so a
// disk that is full before a batch refuses the batch at the log.
func TestDiskFullRefusesWritesKeepsReads(t *testing.T) {
	n := ledgertest.New()
	cfg := n.TestConfig()
	d := newFaultDisk(vfs.NewCrashableMem())
	l := openOn(t, cfg, d.fs)
	defer func() { l.Close() }()
	p := newPayer(t, n, l, 16)
	p.roundAndCheck(t, l)
	before := snap(t, l)
	mint := n.Mint([]int{0, 1}, ledgertest.To(p.keys[0], 5))

	d.setFull(func(op errorfs.Op) bool {
		switch op.Kind {
		case errorfs.OpCreate, errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFilePreallocate:
			return inLog(op) || strings.Contains(op.Path, "/snap")
		}
		return false
	}, true)
	txs := make([]*money.Tx, len(p.notes))
	for i, note := range p.notes {
		txs[i] = n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{p.keys[i]}, ledgertest.To(p.keys[i], note.Value))
	}
	// A second spend of txs[0]'s note, which the state machine rejects as
	// spent earlier in the batch: as that spend is not written either, it
	// must be refused like the rest, not answered double_spend.
	conflict := n.Spend(money.Transfer, []money.Note{p.notes[0]}, []*crypto.PrivateKey{p.keys[0]}, ledgertest.To(p.keys[1], p.notes[0].Value))
	for try := 0; try < 3; try++ {
		rs, err := l.SubmitBatch(ctx, append(slices.Clone(txs), mint, conflict))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if !errcode.Is(r.Err, errcode.Unavailable) {
				t.Fatalf("try %d: transaction %d on a full disk: %v, want unavailable", try, i, r.Err)
			}
		}
	}
	// Reads: the state is what it was before the disk filled.
	if got := snap(t, l); got != before {
		t.Fatalf("on a full disk the ledger reads %+v, before it read %+v", got, before)
	}
	for i, note := range p.notes {
		if ni, err := l.Note(ctx, n.Network.NoteID(&note)); err != nil || ni.Status != roles.NoteUnspent {
			t.Fatalf("note %d on a full disk: %+v %v", i, ni, err)
		}
		if _, err := l.Tx(ctx, note.TxID); err != nil {
			t.Fatalf("tx of note %d on a full disk: %v", i, err)
		}
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatalf("on a full disk: %v", err)
	}

	d.setFull(nil, false)
	rs, err := l.SubmitBatch(ctx, append(txs, mint))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("transaction %d once space returned: %v", i, r.Err)
		}
	}
	for i := range p.notes {
		p.notes[i] = n.Notes(txs[i])[0]
	}
	p.roundAndCheck(t, l)
	l2 := crashAndReopen(t, cfg, d, "space returned")
	defer l2.Close()
	if !committed(t, l2, n, mint) {
		t.Fatal("the mint committed after the disk had space again, and a crash lost it")
	}
}

// TestLogFailureThatCannotBeUndoneStopsWrites fails the log's fsync and
// then every write to the log, so the ledger cannot take the batch back
// (zero it and sync that): whether it is on disk is unknown. The ledger
// answers that batch internal, refuses every later write with
// unavailable, still serves reads, and a reopen after a crash finds every
// transaction reported committed and a consistent ledger, with the
// unknown batch all there or not at all.
func TestLogFailureThatCannotBeUndoneStopsWrites(t *testing.T) {
	n := ledgertest.New()
	cfg := n.TestConfig()
	d := newFaultDisk(vfs.NewCrashableMem())
	l := openOn(t, cfg, d.fs)
	defer func() { l.Close() }()
	p := newPayer(t, n, l, 8)
	p.round(t, l)
	if err := l.Health(ctx); err != nil {
		t.Fatalf("a working ledger's health: %v", err)
	}
	before := snap(t, l)
	reported := slices.Clone(p.notes) // outputs of committed payments

	// The record is written; its fsync fails, and so does every write
	// after that (the zeros that would take it back).
	synced := false
	d.setFull(func(op errorfs.Op) bool {
		if !inLog(op) || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
			return false
		}
		synced = synced || op.Kind == errorfs.OpFileSync
		return synced
	}, true)
	txs := make([]*money.Tx, len(p.notes))
	for i, note := range p.notes {
		txs[i] = n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{p.keys[i]}, ledgertest.To(p.keys[i], note.Value))
	}
	rs, err := l.SubmitBatch(ctx, txs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if !errcode.Is(r.Err, errcode.Internal) {
			t.Fatalf("payment %d whose log write failed for good: %v, want internal", i, r.Err)
		}
		// Its record may be in the log, and a restart would redo it:
		// until then its outcome is unavailable, never not_found.
		if _, err := l.Tx(ctx, n.Network.TxID(txs[i])); !errcode.Is(err, errcode.Unavailable) {
			t.Fatalf("payment %d the ledger stopped on reads %v, want unavailable", i, err)
		}
	}
	d.setFull(nil, false)
	if err := l.Health(ctx); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("a stopped ledger's health: %v, want unavailable", err)
	}
	// Stopped: writes are refused even with the disk back, reads served.
	mint := n.Mint([]int{0, 1}, ledgertest.To(p.keys[0], 5))
	if _, err := l.Submit(ctx, mint); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("a stopped ledger answered a write with %v, want unavailable", err)
	}
	if got := snap(t, l); got != before {
		t.Fatalf("a stopped ledger reads %+v, before it read %+v", got, before)
	}
	for i, note := range reported {
		if ni, err := l.Note(ctx, n.Network.NoteID(&note)); err != nil || ni.Status != roles.NoteUnspent {
			t.Fatalf("note %d from a stopped ledger: %+v %v", i, ni, err)
		}
		if _, err := l.Tx(ctx, note.TxID); err != nil {
			t.Fatalf("tx of note %d from a stopped ledger: %v", i, err)
		}
	}
	for _, cut := range []int{0, 100} { // a crash keeping none, or all, of what was not synced
		cfg.FS = d.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: cut, RNG: rand.New(rand.NewPCG(1, 2))})
		l2, err := ledger.Open(faultDir, cfg)
		if err != nil {
			t.Fatalf("reopen after a crash keeping %d%% of unsynced data: %v", cut, err)
		}
		if err := l2.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		there := 0
		for _, tx := range txs {
			if committed(t, l2, n, tx) {
				there++
			}
		}
		if there != 0 && there != len(txs) {
			t.Fatalf("%d of the %d payments of one batch survived", there, len(txs))
		}
		for i, note := range reported {
			if _, err := l2.Tx(ctx, note.TxID); err != nil {
				t.Fatalf("committed payment %d lost: %v", i, err)
			}
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreFailureStopsWritesKeepsReads fails every write of Pebble's own
// log after a first round of payments. The store answers that with
// store.ErrFailed instead of ending the process, so the ledger stops taking
// writes (unavailable) and keeps serving reads; the batch whose store write
// failed was already in the ledger's synced log, so every transaction
// reported committed is found when the data directory reopens on a
// healthy disk.
func TestStoreFailureStopsWritesKeepsReads(t *testing.T) {
	dir := t.TempDir()
	var failing atomic.Bool
	n := ledgertest.NewFromSeed(storeFailSeed)
	cfg := n.TestConfig()
	cfg.FS = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return syscall.ENOSPC
		}
		return nil
	}))
	l, err := ledger.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	k := ledgertest.MustKey()
	var outs []money.Output
	for i := 0; i < 64; i++ {
		outs = append(outs, ledgertest.To(k, 1000))
	}
	mint := n.Mint([]int{0, 1}, outs...)
	if _, err := l.Submit(ctx, mint); err != nil {
		t.Fatal(err)
	}
	reported := []money.TxID{n.Network.TxID(mint)}
	notes := n.Notes(mint)
	refused := 0
	for r := 0; r < 20; r++ {
		failing.Store(r > 0)
		txs := make([]*money.Tx, len(notes))
		for i, note := range notes {
			txs[i] = n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{k}, ledgertest.To(k, note.Value))
		}
		rs, err := l.SubmitBatch(ctx, txs)
		if err != nil {
			t.Fatal(err)
		}
		for i, res := range rs {
			if res.Err != nil {
				if !errcode.Is(res.Err, errcode.Unavailable) && !errcode.Is(res.Err, errcode.Internal) {
					t.Fatalf("round %d: refused with %v, want unavailable or internal", r, res.Err)
				}
				refused++
				continue
			}
			if r >= 10 {
				// Pebble writes its log behind the commit (the ledger's
				// own log is the durable one), so the failure may show a
				// few batches late, but it must show.
				t.Fatalf("round %d: committed long after the store failed", r)
			}
			reported = append(reported, res.Receipt.TxID)
			notes[i] = n.Notes(txs[i])[0]
		}
	}
	if refused == 0 {
		t.Fatal("nothing was refused with the store's log failing")
	}
	// Reads go on: the mint, the supply, the headers.
	if _, err := l.Tx(ctx, reported[0]); err != nil {
		t.Fatalf("read from a stopped ledger: %v", err)
	}
	if _, err := l.Supply(ctx); err != nil {
		t.Fatalf("supply from a stopped ledger: %v", err)
	}
	// A batch answered committed whose txids did not reach the store is
	// unavailable until the restart redoes it, never not_found.
	for i, id := range reported {
		if _, err := l.Tx(ctx, id); err != nil && !errcode.Is(err, errcode.Unavailable) {
			t.Fatalf("transaction %d of %d, reported committed, reads %v from a stopped ledger", i, len(reported), err)
		}
	}
	l.Close()
	cfg.FS = nil
	l, err = ledger.Open(dir, cfg)
	if err != nil {
		t.Fatalf("reopen after the store failed: %v", err)
	}
	for i, id := range reported {
		if _, err := l.Tx(ctx, id); err != nil {
			t.Fatalf("transaction %d of %d was reported committed and is lost: %v", i, len(reported), err)
		}
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

const storeFailSeed = 43
