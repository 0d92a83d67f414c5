package store

import (
	"errors"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// failing fails the operations fail selects while it is set; with once,
// only the first of them.
type failing struct {
	fail func(errorfs.Op) bool
	once bool
}

func (f *failing) MaybeError(op errorfs.Op) error {
	if f.fail != nil && f.fail(op) {
		if f.once {
			f.fail = nil
		}
		return syscall.EIO
	}
	return nil
}

func memLog(t *testing.T, fs vfs.FS, segBytes int64) *Log {
	t.Helper()
	l, err := OpenLog("/wal", LogOptions{SegmentBytes: segBytes, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func kind(k errorfs.OpKind) func(errorfs.Op) bool {
	return func(op errorfs.Op) bool { return op.Kind == k }
}

// TestLogFailedWriteOrSyncIsUndone: a failed write, a failed fsync and a
// failed segment creation each return ErrNotLogged, leave the log as it
// was (the same seq appends next, with different content), and a crash
// right after, keeping only what was synced or everything, finds exactly
// the records that were logged.
func TestLogFailedWriteOrSyncIsUndone(t *testing.T) {
	for _, c := range []struct {
		name     string
		fail     func(errorfs.Op) bool
		segBytes int64
	}{
		{"write", kind(errorfs.OpFileWriteAt), 0},
		{"sync", kind(errorfs.OpFileSync), 0},
		// The failed record's bytes stay past the shorter one written
		// over them, until the segment is cut as the next one starts.
		{"write, then new segments", kind(errorfs.OpFileWriteAt), 100},
		{"sync, then new segments", kind(errorfs.OpFileSync), 100},
		{"create", kind(errorfs.OpCreate), 1},
		{"dir sync", func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileSync && op.Path == "/wal" }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			inj := &failing{once: true}
			l := memLog(t, errorfs.Wrap(mem, errorfs.InjectorFunc(inj.MaybeError)), c.segBytes)
			appendRange(t, l, 1, 5)
			inj.fail = c.fail
			err := l.Append(6, []byte("a long record that will be taken back"))
			if err == nil {
				err = l.Sync()
			}
			inj.fail = nil
			if !errors.Is(err, ErrNotLogged) {
				t.Fatalf("got %v, want ErrNotLogged", err)
			}
			if l.Last() != 5 {
				t.Fatalf("last %d after a failed append, want 5", l.Last())
			}
			for _, keep := range []int{0, 100} {
				l2 := memLog(t, mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: keep, RNG: rand.New(rand.NewPCG(1, 1))}), c.segBytes)
				if got := replayed(t, l2, 1); !slices.Equal(got, seqRange(1, 5)) {
					t.Fatalf("keeping %d%% of unsynced data, a crash finds %v", keep, got)
				}
				l2.Close()
			}
			// The log goes on: record 6 again, shorter, and more.
			appendRange(t, l, 6, 9)
			if got := replayed(t, l, 1); !slices.Equal(got, seqRange(1, 9)) {
				t.Fatalf("replay after the failure: %v", got)
			}
			l2 := memLog(t, mem.CrashClone(vfs.CrashCloneCfg{}), c.segBytes)
			defer l2.Close()
			if got := replayed(t, l2, 1); !slices.Equal(got, seqRange(1, 9)) {
				t.Fatalf("a crash after the log went on finds %v", got)
			}
			if err := l2.Append(10, logPayload(10)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLogFailedUndoBreaksTheLog: when the fsync fails and so does writing
// the zeros that would take the record back, the log refuses everything
// after (not ErrNotLogged: the record may be on disk), and a reopen finds
// the records before it and maybe it, never a damaged log.
func TestLogFailedUndoBreaksTheLog(t *testing.T) {
	mem := vfs.NewCrashableMem()
	inj := &failing{}
	l := memLog(t, errorfs.Wrap(mem, errorfs.InjectorFunc(inj.MaybeError)), 0)
	appendRange(t, l, 1, 3)
	if err := l.Append(4, logPayload(4)); err != nil {
		t.Fatal(err)
	}
	inj.fail = func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileWriteAt }
	err := l.Sync()
	if err == nil || errors.Is(err, ErrNotLogged) {
		t.Fatalf("got %v, want a sticky error that is not ErrNotLogged", err)
	}
	inj.fail = nil
	if err := l.Append(5, logPayload(5)); err == nil {
		t.Fatal("a broken log took an append")
	}
	l.Close()
	for _, keep := range []int{0, 100} {
		l2 := memLog(t, mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: keep, RNG: rand.New(rand.NewPCG(1, 1))}), 0)
		got := replayed(t, l2, 1)
		if !slices.Equal(got, seqRange(1, 3)) && !slices.Equal(got, seqRange(1, 4)) {
			t.Fatalf("keeping %d%% of unsynced data, a crash finds %v", keep, got)
		}
		l2.Close()
	}
}

// TestLogTornTailOnMemFS: a file system whose files cannot be truncated
// (vfs.MemFS) gets the torn tail zeroed instead; every open cuts it again,
// and appends write over it.
func TestLogTornTailOnMemFS(t *testing.T) {
	mem := vfs.NewMem()
	l := memLog(t, mem, 0)
	appendRange(t, l, 1, 4)
	l.Close()
	f, err := mem.OpenReadWrite("/wal/"+segmentName(1), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt(encodeRecord(5, logPayload(5))[:20], st.Size()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for round := 0; round < 2; round++ {
		l = memLog(t, mem, 0)
		if got := replayed(t, l, 1); !slices.Equal(got, seqRange(1, 4)) {
			t.Fatalf("round %d: %v", round, got)
		}
		l.Close()
	}
	l = memLog(t, mem, 0)
	appendRange(t, l, 5, 6)
	l.Close()
	l = memLog(t, mem, 0)
	defer l.Close()
	if got := replayed(t, l, 1); !slices.Equal(got, seqRange(1, 6)) {
		t.Fatalf("after appending over the tail: %v", got)
	}
}
