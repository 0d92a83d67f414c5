package crashtest

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Seed is the seed of a simulation: SPECIE_SEED when set, else a fresh one.
// It is logged, and a failure of t says how to replay it.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("SPECIE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SPECIE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with SPECIE_SEED=%d go test -run '^%s$'", seed, seed, t.Name())
		}
	})
	return seed
}

// Disk is a role's disk in a test: an in-memory filesystem that keeps only
// what was synced when it crashes (vfs.NewCrashableMem), behind an injector
// (errorfs) that counts operations and fails them on purpose. The role opens
// FS; a restart opens Restart's disk.
//
// Counting starts at Arm. Pebble works through the filesystem from
// background goroutines too, but a role's store is small enough never to
// flush or compact during a test, so the operations of one request come
// from that request and their count is the same on every run.
type Disk struct {
	FS  vfs.FS
	mem *vfs.MemFS

	mu      sync.Mutex
	ops     int          // operations since Arm
	failAt  int          // fail the operation with this index; -1 none
	failErr error        // what it fails with
	full    bool         // every write fails with ENOSPC
	crashAt int          // crash before the operation with this index; -1 none
	rng     *rand.Rand   // draws what of the unsynced data survives a crash
	crashed *vfs.MemFS   // the disk as the crash left it
	dead    bool         // after a crash every operation fails
	seen    []errorfs.Op // operations since Arm, when recording
	record  bool
}

// NewDisk makes an empty disk.
func NewDisk() *Disk { return onMem(vfs.NewCrashableMem()) }

func onMem(mem *vfs.MemFS) *Disk {
	d := &Disk{mem: mem, failAt: -1, crashAt: -1}
	d.FS = errorfs.Wrap(mem, errorfs.InjectorFunc(d.maybeError))
	return d
}

func (d *Disk) maybeError(op errorfs.Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return syscall.EIO
	}
	i := d.ops
	d.ops++
	if d.record {
		d.seen = append(d.seen, op)
	}
	if i == d.crashAt {
		// Before the operation: the crash takes it and everything after.
		pct := 0
		if d.rng != nil {
			pct = 50
		}
		d.crashed = d.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: d.rng})
		d.dead = true
		return syscall.EIO
	}
	if i == d.failAt {
		return d.failErr
	}
	if d.full && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
		return syscall.ENOSPC
	}
	return nil
}

// Arm restarts the operation count: from now on operation failAt (counted
// from 0; -1 for none) fails with err, and the disk crashes just before
// operation crashAt (-1 for never), keeping each unsynced block or
// directory entry with probability 1/2 drawn from rng (with rng nil,
// exactly what was synced).
func (d *Disk) Arm(failAt int, err error, crashAt int, rng *rand.Rand) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops, d.failAt, d.failErr, d.crashAt, d.rng = 0, failAt, err, crashAt, rng
	d.seen, d.record = nil, false
}

// Count restarts the operation count with no fault armed and records the
// operations, for Ops and Seen.
func (d *Disk) Count() {
	d.Arm(-1, nil, -1, nil)
	d.mu.Lock()
	d.record = true
	d.mu.Unlock()
}

// Ops is the number of operations since Arm or Count.
func (d *Disk) Ops() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ops
}

// Seen lists the operations since Count, for a failure message.
func (d *Disk) Seen() []errorfs.Op {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]errorfs.Op(nil), d.seen...)
}

// SetFull makes every write fail with ENOSPC (a full disk) until it is
// called with false.
func (d *Disk) SetFull(full bool) {
	d.mu.Lock()
	d.full = full
	d.mu.Unlock()
}

// Crashed reports whether the armed crash happened.
func (d *Disk) Crashed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.crashed != nil
}

// Restart is the disk a restarted role finds: after a crash, the disk as
// the crash left it; otherwise what was synced until now (the process
// died, its unsynced writes with it). The old disk is dead from now on, so
// the old role can no longer write to it.
func (d *Disk) Restart() *Disk {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed == nil {
		d.crashed = d.mem.CrashClone(vfs.CrashCloneCfg{})
	}
	d.dead = true
	return onMem(d.crashed)
}
