// Package store is Specie's persistence: one Pebble database under one data
// directory, behind a narrow interface of gets, prefix scans and atomic
// batches. Every role keeps its state in its own store.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Retryable reports whether err is a store failure that a caller should
// answer "try again" (errcode.Unavailable) rather than "failed": a full
// disk, or a write refused because an earlier failure stopped the store
// (it reached nothing; retry once the role is restarted). Every role
// classifies its store's errors through this one rule.
func Retryable(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrStopped)
}

// ErrNotFound reports a missing key.
var ErrNotFound = errors.New("not found")

// Options tunes a store. The zero value suits a small service.
type Options struct {
	// CacheBytes is the block cache size; 0 means 64 MiB.
	CacheBytes int64
	// FS is the filesystem the store lives on; nil means the operating
	// system's. It is the one seam under every role's durable state, so
	// tests can crash a disk (vfs.NewCrashableMem) or fail it on the i-th
	// operation (errorfs) without a stand-in store.
	FS vfs.FS
	// BloomBitsPerKey, when positive, gives every table a Bloom filter of
	// about that many bits a key, so a point read of an absent key skips
	// the tables that cannot hold it instead of seeking in each. A store
	// whose hot reads are mostly of absent keys wants it (the
	// intermediary: a new payment's idempotency key, a delivered
	// transaction's pending record and done markers); 0 means none.
	BloomBitsPerKey int
}

// ErrFailed reports a store that can no longer write: Pebble stops its
// commit pipeline for good after a write or fsync of its WAL fails (the data
// behind a failed fsync cannot be trusted), so the process must reopen the
// store, as after a crash, once the disk is fixed. Reads keep working; they
// may show the write that failed. The error that failed the store is
// wrapped too, so errors.Is(err, syscall.ENOSPC) tells a full disk.
// (A failure in Pebble's own background work, such as a flush that cannot
// write its MANIFEST, still panics in Pebble's goroutine and so stops the
// process, as Pebble means it to: there is no caller to tell.)
var ErrFailed = errors.New("store failed; reopen it")

// ErrStopped marks a write refused because an earlier one failed the store
// (ErrFailed, which it wraps too): this write reached nothing, so it may be
// made again once the store is reopened. A role answers it as unavailable,
// not as a failure of its own.
var ErrStopped = errors.New("store stopped by an earlier failure")

// DB is an open store.
type DB struct {
	db     *pebble.DB
	cache  *pebble.Cache
	failed atomic.Pointer[error] // the error that stopped writes, once one did
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, o Options) (*DB, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	cache := pebble.NewCache(o.CacheBytes)
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                16 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       8,
		L0StopWritesThreshold:       48,
		Logger:                      quietLogger{},
		FS:                          o.FS,
	}
	for i := range opts.Levels {
		// No bloom filters unless asked (BloomBitsPerKey): the ledger
		// answers "is this note unspent?" from its in-memory index, so its
		// point reads of absent keys are rare.
		// Keys are mostly SHA-256 hashes: compression would spend CPU
		// for no space.
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
		if o.BloomBitsPerKey > 0 {
			opts.Levels[i].FilterPolicy = bloom.FilterPolicy(o.BloomBitsPerKey)
		}
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return &DB{db: db, cache: cache}, nil
}

// guard runs a Pebble commit. Pebble reports a failed WAL write through its
// logger's Fatalf, which panics (quietLogger) in the committing goroutine;
// guard turns that panic into an error wrapping ErrFailed and the cause,
// and after it refuses every write without reaching Pebble again. Other
// panics pass through.
func (d *DB) guard(what string, commit func() error) (err error) {
	if f := d.failed.Load(); f != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrStopped, *f)
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		fe, ok := r.(*fatalError)
		if !ok {
			panic(r)
		}
		f := fmt.Errorf("%w: %w", ErrFailed, fe)
		d.failed.CompareAndSwap(nil, &f)
		err = fmt.Errorf("%s: %w", what, *d.failed.Load())
	}()
	if err := commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Close flushes nothing extra (every committed batch is already in the WAL)
// and releases the store.
func (d *DB) Close() error {
	err := d.db.Close()
	d.cache.Unref()
	return err
}

// Get returns a copy of the value at key, or ErrNotFound.
func (d *DB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := d.View(key, func(v []byte) { out = append([]byte(nil), v...) })
	return out, err
}

// View calls fn with the value at key without copying it; fn must not keep
// the slice. It returns ErrNotFound when the key is absent.
func (d *DB) View(key []byte, fn func(v []byte)) error {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store get: %w", err)
	}
	fn(v)
	return closer.Close()
}

// Has reports whether key is present.
func (d *DB) Has(key []byte) (bool, error) {
	err := d.View(key, func([]byte) {})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Scan calls fn for every key with the given prefix, in key order, starting
// at start (or the prefix itself when start is nil). fn's slices are only
// valid during the call. Returning ErrStop ends the scan early without error.
func (d *DB) Scan(prefix, start []byte, fn func(k, v []byte) error) error {
	if start == nil || bytes.Compare(start, prefix) < 0 {
		start = prefix
	}
	if len(start) == 0 {
		start = nil // Pebble wants no bound, not an empty one
	}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("store scan: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	return nil
}

// ErrStop ends a Scan early.
var ErrStop = errors.New("stop scan")

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Batch is a set of writes that commit together or not at all.
type Batch struct {
	b *pebble.Batch
	d *DB
}

// NewBatch starts an atomic write.
func (d *DB) NewBatch() *Batch { return &Batch{b: d.db.NewBatch(), d: d} }

// Set queues key=value.
func (b *Batch) Set(key, value []byte) { _ = b.b.Set(key, value, nil) }

// Delete queues the removal of key.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// DeleteRange queues the removal of every key in [start, end).
func (b *Batch) DeleteRange(start, end []byte) { _ = b.b.DeleteRange(start, end, nil) }

// Len is the number of queued writes' bytes, for sizing decisions.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch atomically; with sync it returns only after the
// write is on stable storage (fsync). The batch cannot be reused. After a
// failed write every Commit returns an error wrapping ErrFailed.
func (b *Batch) Commit(sync bool) error {
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	defer b.b.Close()
	return b.d.guard("store commit", func() error { return b.b.Commit(opt) })
}

// Discard drops a batch without applying it.
func (b *Batch) Discard() { b.b.Close() }

// Sync makes every write committed so far durable, including those
// committed without sync: for a caller that writes without fsync on its hot
// path and must know, now and then, that all of it is on disk.
func (d *DB) Sync() error {
	return d.guard("store sync", func() error { return d.db.LogData(nil, pebble.Sync) })
}

// WaitIdle waits, up to timeout, until the store has no flush or
// compaction running or queued and no obsolete file left to delete: then
// its files stay as they are until the next write. For tests whose crash
// images must not depend on how far Pebble's background work had got
// (a flush of the log replayed at open, the deletion of that log).
func (d *DB) WaitIdle(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		m := d.db.Metrics()
		if m.Flush.NumInProgress == 0 && m.Compact.NumInProgress == 0 && m.MemTable.Count <= 1 &&
			m.Table.ObsoleteCount == 0 && m.Table.ZombieCount == 0 && m.WAL.ObsoleteFiles == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("store not idle after %s: flushes %d, compactions %d, memtables %d, obsolete tables %d, zombie tables %d, obsolete logs %d",
				timeout, m.Flush.NumInProgress, m.Compact.NumInProgress, m.MemTable.Count, m.Table.ObsoleteCount, m.Table.ZombieCount, m.WAL.ObsoleteFiles)
		}
		time.Sleep(time.Millisecond)
	}
}

// DiskBytes is the store's size on disk.
func (d *DB) DiskBytes() uint64 {
	return d.db.Metrics().DiskSpaceUsage()
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

// Errorf goes to stderr: stdout carries the CLI's output (`specie bench`
// prints one JSON object there), and Pebble reports background errors
// (such as a failed flush or compaction on a failing disk) here.
func (quietLogger) Errorf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "store: "+format+"\n", a...)
}
func (quietLogger) Fatalf(format string, a ...any) {
	fe := &fatalError{msg: fmt.Sprintf("store: "+format, a...)}
	for _, x := range a {
		if err, ok := x.(error); ok {
			fe.cause = err
			break
		}
	}
	panic(fe)
}

// fatalError is what Pebble's Fatalf panics with: its message and the
// first error among its arguments, so DB.guard can tell a full disk.
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }
func (e *fatalError) Unwrap() error { return e.cause }

// Compact flushes the memtables and compacts the whole key space, leaving
// the tree in its steady shape: for after a bulk load, before measuring.
func (d *DB) Compact() error {
	if err := d.db.Flush(); err != nil {
		return fmt.Errorf("store flush: %w", err)
	}
	if err := d.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff}, true); err != nil {
		return fmt.Errorf("store compact: %w", err)
	}
	return nil
}

// Snapshot is a point-in-time view of the store: what was committed when
// it was taken, whatever is written after. Close it when done.
type Snapshot struct {
	s *pebble.Snapshot
}

// NewSnapshot takes a view of the store as it is now, for a reader that
// must see one consistent state while writers go on (a state transfer).
func (d *DB) NewSnapshot() *Snapshot { return &Snapshot{s: d.db.NewSnapshot()} }

// Scan calls fn for every key in the view, in key order, as DB.Scan does
// for a prefix.
func (s *Snapshot) Scan(fn func(k, v []byte) error) error {
	it, err := s.s.NewIter(nil)
	if err != nil {
		return fmt.Errorf("store snapshot scan: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			it.Close()
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store snapshot scan: %w", err)
	}
	return nil
}

// Close releases the view.
func (s *Snapshot) Close() error { return s.s.Close() }
