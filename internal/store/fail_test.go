package store

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// A failed WAL write stops Pebble's commit pipeline for good (it calls
// Fatalf). The store returns that as an error wrapping ErrFailed and the
// cause instead of panicking, refuses later writes without reaching Pebble,
// keeps serving reads, and a reopen after a crash holds only what was
// synced before the failure.
func TestFailedWriteIsErrFailedAndReadsGoOn(t *testing.T) {
	mem := vfs.NewCrashableMem()
	var full atomic.Bool
	fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if full.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return syscall.ENOSPC
		}
		return nil
	}))
	db, err := Open("db", Options{CacheBytes: 1 << 20, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	for i := range 2 {
		b := db.NewBatch()
		b.Set([]byte("b"), []byte("2"))
		err := b.Commit(true)
		if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("commit %d on a full disk: %v, want ErrFailed and ENOSPC", i, err)
		}
		// The first write failed the store; the second was refused
		// without reaching Pebble.
		if errors.Is(err, ErrStopped) != (i > 0) {
			t.Fatalf("commit %d on a full disk: %v; ErrStopped only for the writes after the failing one", i, err)
		}
	}
	full.Store(false)
	if err := db.Sync(); !errors.Is(err, ErrFailed) || !errors.Is(err, ErrStopped) {
		t.Fatalf("Sync after the failure: %v", err)
	}
	if v, err := db.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("read after the failure: %q, %v", v, err)
	}
	db.Close() // the close of a failed store may report the failure again

	db, err = Open("db", Options{CacheBytes: 1 << 20, FS: mem.CrashClone(vfs.CrashCloneCfg{})})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("synced write after reopen: %q, %v", v, err)
	}
	if _, err := db.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed write after reopen: %v", err)
	}
}
