package crashtest

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
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
// Counting starts at Arm, and counts only what makes state durable (see
// counted). Pebble works through the filesystem from background goroutines
// too, but a role's store is small enough never to flush or compact during
// a test, so the counted operations of one request come from that request
// and their count is the same on every run.
type Disk struct {
	FS  vfs.FS
	t   testing.TB
	mem *vfs.MemFS

	mu      sync.Mutex
	ops     int          // operations since Arm
	failAt  int          // fail the operation with this index; -1 none
	failErr error        // what it fails with
	full    bool         // every write fails with ENOSPC
	crashAt int          // crash before the operation with this index; -1 none
	rng     *rand.Rand   // draws what of the unsynced data survives a crash
	crashed *vfs.MemFS   // the disk as the crash left it
	dead    bool         // after a crash or a restart (see deadErr)
	seen    []errorfs.Op // operations since Arm, when recording
	record  bool
	// syncsOnly counts only syncs, creates, links and renames (see
	// ArmAtSync).
	syncsOnly bool
}

// NewDisk makes an empty disk for test t.
func NewDisk(t testing.TB) *Disk { return onMem(t, vfs.NewCrashableMem()) }

func onMem(t testing.TB, mem *vfs.MemFS) *Disk {
	d := &Disk{t: t, mem: mem, failAt: -1, crashAt: -1}
	d.FS = errorfs.Wrap(mem, errorfs.InjectorFunc(d.maybeError))
	return d
}

func (d *Disk) maybeError(op errorfs.Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return deadErr(op)
	}
	if !counted(op.Kind) || d.syncsOnly && !syncish(op.Kind) {
		if d.full && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return syscall.ENOSPC
		}
		return nil
	}
	i := d.ops
	d.ops++
	if d.record {
		d.seen = append(d.seen, op)
	}
	if i == d.crashAt {
		// Before the operation: the crash takes it and everything after.
		var err error
		if d.crashed, err = crashImage(d.mem, d.rng); err != nil {
			d.t.Error(err)
			d.crashed = d.mem.CrashClone(vfs.CrashCloneCfg{})
		}
		d.dead = true
		return deadErr(op)
	}
	if i == d.failAt {
		return d.failErr
	}
	if d.full && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
		return syscall.ENOSPC
	}
	return nil
}

// deadErr is what an operation gets from a disk that crashed, or that a
// role was restarted from: the role left running on it stands for a
// process that is gone, so it must not commit anything more (the write
// ahead log fails with EIO), and its background work goes on harmlessly on
// the old image (anything else succeeds there, out of the restarted role's
// sight). Failing that background work too would make Pebble stop the test
// process from a goroutine of the dead role (Fatalf on a MANIFEST write).
func deadErr(op errorfs.Op) error {
	if strings.HasSuffix(op.Path, ".log") {
		return syscall.EIO
	}
	return nil
}

// counted says whether an operation of kind k is counted, and so may be
// failed or crashed at: the writes, syncs, creates and renames through
// which a request makes its state durable. Reads, and Pebble's removals of
// obsolete files (from a background goroutine, at moments no seed fixes),
// pass untouched (except by a full disk or a crash).
// syncish reports whether an operation of kind k is one its caller
// waits for: a sync, or a change to a directory's entries.
func syncish(k errorfs.OpKind) bool {
	switch k {
	case errorfs.OpCreate, errorfs.OpLink, errorfs.OpRename, errorfs.OpReuseForWrite,
		errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return true
	}
	return false
}

func counted(k errorfs.OpKind) bool {
	switch k {
	case errorfs.OpCreate, errorfs.OpLink, errorfs.OpRename, errorfs.OpReuseForWrite,
		errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return true
	}
	return false
}

// Arm restarts the operation count: from now on operation failAt (counted
// from 0; -1 for none) fails with err, and the disk crashes just before
// operation crashAt (-1 for never), keeping of what was not synced what
// rng draws (see crashImage; with rng nil, exactly what was synced).
func (d *Disk) Arm(failAt int, err error, crashAt int, rng *rand.Rand) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops, d.failAt, d.failErr, d.crashAt, d.rng = 0, failAt, err, crashAt, rng
	d.syncsOnly = false
	d.seen, d.record = nil, false
}

// ArmAtSync is Arm(-1, nil, crashAt, rng) counting only the operations a
// caller waits for (syncs, creates, links, renames), not file writes: a
// store that commits without sync has its log written by a goroutine of
// its own, in as many writes as the timing makes, so the index of a write
// is not the same from one run to the next; the index of a sync is, and so
// is what was written unsynced before it, for a simulation that does one
// thing at a time. For a simulation that replays from its seed.
func (d *Disk) ArmAtSync(crashAt int, rng *rand.Rand) {
	d.Arm(-1, nil, crashAt, rng)
	d.mu.Lock()
	d.syncsOnly = true
	d.mu.Unlock()
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
// died, its unsynced writes with it). The old disk is dead from now on
// (see deadErr), so the old role can no longer commit to it.
func (d *Disk) Restart() *Disk { return d.restart(0) }

// RestartKeepingAll is Restart after the process alone died: with no crash
// armed and come, the new disk holds every write made, synced or not (the
// operating system still had them), a write whose fsync failed included.
func (d *Disk) RestartKeepingAll() *Disk { return d.restart(100) }

// Reboot ends a round of a simulation: the disk the role restarts on, and
// whether the armed crash came. Without a crash, rng draws whether the
// machine went down (Restart) or only the process (RestartKeepingAll).
func (d *Disk) Reboot(rng *rand.Rand) (next *Disk, crashed bool) {
	crashed = d.Crashed()
	if keepAll := rng.IntN(2) == 0; !crashed && keepAll {
		return d.RestartKeepingAll(), false
	}
	return d.Restart(), crashed
}

// Replays runs a simulation twice from one seed and fails t unless the
// two traces (what it asked and was answered, line by line) are the same:
// the proof that a printed seed replays a failure.
func Replays(t testing.TB, seed uint64, sim func(seed uint64) []string) {
	t.Helper()
	first, second := sim(seed), sim(seed)
	if !slices.Equal(first, second) {
		t.Fatalf("two runs of seed %d differ:\n%s\n---\n%s", seed, strings.Join(first, "\n"), strings.Join(second, "\n"))
	}
}

func (d *Disk) restart(keepPercent int) *Disk {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed == nil {
		d.crashed = d.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: keepPercent, RNG: rand.New(rand.NewPCG(0, 0))})
	}
	d.dead = true
	return onMem(d.t, d.crashed)
}

// crashImage is mem as a crash at this moment may leave it: what was
// synced, and of what was not, drawn from rng (nil: nothing). Visiting
// names in order, a directory keeps all or none of the entry changes made
// since it was last synced (by a coin), and a file that only grew keeps a
// prefix of what it gained (a torn append). Pebble's CrashClone decides the same kind of
// thing, but for a directory's entries in map order, so one seed would not
// make the same crash twice.
func crashImage(mem *vfs.MemFS, rng *rand.Rand) (*vfs.MemFS, error) {
	synced := mem.CrashClone(vfs.CrashCloneCfg{})
	if rng == nil {
		return synced, nil
	}
	all := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(0, 0))}) // draws, keeps everything
	out := vfs.NewCrashableMem()
	if err := crashDir(out, synced, all, "/", rng); err != nil {
		return nil, fmt.Errorf("crash image: %w", err)
	}
	return out, nil
}

func crashDir(out, synced, all vfs.FS, dir string, rng *rand.Rand) error {
	names := map[string]bool{}
	for _, fs := range []vfs.FS{synced, all} {
		l, _ := fs.List(dir) // absent from one of them
		for _, n := range l {
			names[n] = true
		}
	}
	if err := out.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The directory's entries changed since it was last synced (creates,
	// removes, renames) survive all or none, in the order a journaling
	// filesystem keeps them: a rename never outlives the create before it.
	keepNew := rng.IntN(2) == 0
	for _, name := range slices.Sorted(maps.Keys(names)) {
		p := out.PathJoin(dir, name)
		old, oldDir, inSynced := readAll(synced, p)
		cur, curDir, inAll := readAll(all, p)
		if !keepNew {
			if !inSynced {
				continue // created since the sync, and lost
			}
			if !inAll || curDir != oldDir || !grew(old, cur) {
				cur, curDir, inAll = old, oldDir, true // removed or replaced since, and that is lost
			}
		}
		if !inAll {
			continue // removed, and the removal survives
		}
		if curDir {
			if err := crashDir(out, synced, all, p, rng); err != nil {
				return err
			}
			continue
		}
		data := cur
		if inSynced && !oldDir && grew(old, cur) {
			data = cur[:len(old)+rng.IntN(len(cur)-len(old)+1)] // a torn append
		}
		f, err := out.Create(p, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	d, err := out.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return err
	}
	return d.Close()
}

// grew says whether cur is old with more appended.
func grew(old, cur []byte) bool {
	return len(cur) >= len(old) && string(cur[:len(old)]) == string(old)
}

// readAll reads file p of fs: its contents, whether it is a directory,
// and whether it exists.
func readAll(fs vfs.FS, p string) (data []byte, isDir, ok bool) {
	st, err := fs.Stat(p)
	if err != nil {
		return nil, false, false
	}
	if st.IsDir() {
		return nil, true, true
	}
	f, err := fs.Open(p)
	if err != nil {
		return nil, false, false
	}
	defer f.Close()
	data, err = io.ReadAll(f)
	if err != nil {
		return nil, false, false
	}
	return data, false, true
}
