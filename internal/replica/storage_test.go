package replica

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

func entry(i, term uint64) *pb.Entry {
	return &pb.Entry{Index: ptr(i), Term: ptr(term), Type: pb.EntryNormal.Enum(), Data: []byte(fmt.Sprintf("entry %d", i))}
}

// TestRaftLogServesFromMemoryAndDisk writes 20 entries, overwrites a tail
// as a new leader would, trims memory and reopens: raft sees one whole log,
// the old part read from disk, the tail from memory.
func TestRaftLogServesFromMemoryAndDisk(t *testing.T) {
	dir := t.TempDir()
	l, fresh, err := openRaftLog(dir, 3)
	if err != nil || !fresh {
		t.Fatalf("open: fresh %v, %v", fresh, err)
	}
	var ents []*pb.Entry
	for i := uint64(1); i <= 20; i++ {
		ents = append(ents, entry(i, 1))
	}
	if err := l.save(&pb.HardState{Term: ptr(uint64(1)), Commit: ptr(uint64(10))}, ents, nil, true); err != nil {
		t.Fatal(err)
	}
	// A new leader at term 2 replaces 16..20 with 16..17.
	if err := l.save(&pb.HardState{Term: ptr(uint64(2)), Commit: ptr(uint64(17))}, []*pb.Entry{entry(16, 2), entry(17, 2)}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := l.trim(17); err != nil {
		t.Fatal(err)
	}
	check := func(l *raftLog) {
		t.Helper()
		if last, _ := l.LastIndex(); last != 17 {
			t.Fatalf("last index %d, want 17", last)
		}
		if first, _ := l.FirstIndex(); first != 1 {
			t.Fatalf("first index %d, want 1", first)
		}
		for i := uint64(0); i <= 17; i++ {
			want := uint64(1)
			if i == 0 {
				want = 0
			} else if i >= 16 {
				want = 2
			}
			if got, err := l.Term(i); err != nil || got != want {
				t.Fatalf("term(%d) = %d, %v; want %d", i, got, err, want)
			}
		}
		got, err := l.Entries(1, 18, ^uint64(0))
		if err != nil || len(got) != 17 {
			t.Fatalf("entries: %d, %v", len(got), err)
		}
		for i, e := range got {
			if e.GetIndex() != uint64(i+1) || string(e.GetData()) != fmt.Sprintf("entry %d", i+1) {
				t.Fatalf("entry %d: %v", i+1, e)
			}
		}
		if got, _ := l.Entries(2, 18, 1); len(got) != 1 {
			t.Fatalf("size-limited read gave %d entries, want 1", len(got))
		}
		if _, err := l.diskEntries(18, 19, ^uint64(0)); !errors.Is(err, raft.ErrUnavailable) {
			t.Fatalf("past the end on disk: %v", err)
		}
		hs, cs, err := l.InitialState()
		if err != nil || hs.GetCommit() != 17 || hs.GetTerm() != 2 || len(cs.GetVoters()) != 0 {
			t.Fatalf("initial state %v %v %v", hs, cs, err)
		}
	}
	check(l)
	if first, _ := l.mem.FirstIndex(); first == 1 {
		t.Fatal("trim kept the whole log in memory")
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	l, fresh, err = openRaftLog(dir, 3)
	if err != nil || fresh {
		t.Fatalf("reopen: fresh %v, %v", fresh, err)
	}
	defer l.close()
	if first, _ := l.mem.FirstIndex(); first != 15 {
		t.Fatalf("reopened memory tail starts at %d, want 15", first)
	}
	check(l)
}

// TestRaftLogCompactsAndTakesSnapshots compacts a log at 10 (the entries
// up to it gone from disk and memory, their place taken by the snapshot,
// which survives a reopen), then takes a leader's snapshot past its end:
// the whole log goes, the entries after the snapshot are written, and a
// reopen resumes there.
func TestRaftLogCompactsAndTakesSnapshots(t *testing.T) {
	dir := t.TempDir()
	l, _, err := openRaftLog(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	var ents []*pb.Entry
	for i := uint64(1); i <= 20; i++ {
		ents = append(ents, entry(i, 1+i/15))
	}
	if err := l.save(&pb.HardState{Term: ptr(uint64(2)), Commit: ptr(uint64(20))}, ents, nil, true); err != nil {
		t.Fatal(err)
	}
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	snap := func(i, term uint64) *pb.Snapshot {
		return &pb.Snapshot{Data: []byte(fmt.Sprintf("at %d", i)), Metadata: &pb.SnapshotMetadata{Index: ptr(i), Term: ptr(term), ConfState: cs}}
	}
	if err := l.compact(snap(10, 1)); err != nil {
		t.Fatal(err)
	}
	check := func(l *raftLog, first, last uint64) {
		t.Helper()
		if got, _ := l.FirstIndex(); got != first {
			t.Fatalf("first index %d, want %d", got, first)
		}
		if got, _ := l.LastIndex(); got != last {
			t.Fatalf("last index %d, want %d", got, last)
		}
		if _, err := l.Entries(first-1, last+1, ^uint64(0)); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("entries from %d: %v, want compacted", first-1, err)
		}
		if _, err := l.Term(first - 2); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("term(%d): %v, want compacted", first-2, err)
		}
		if got, err := l.Entries(first, last+1, ^uint64(0)); err != nil || uint64(len(got)) != last-first+1 || got[0].GetIndex() != first {
			t.Fatalf("entries %d..%d: %d, %v", first, last, len(got), err)
		}
		s, _ := l.Snapshot()
		if s.GetMetadata().GetIndex() != first-1 || string(s.GetData()) != fmt.Sprintf("at %d", first-1) {
			t.Fatalf("snapshot %v", s.GetMetadata())
		}
		if got, err := l.Term(first - 1); err != nil || got != s.GetMetadata().GetTerm() {
			t.Fatalf("term at the snapshot: %d, %v", got, err)
		}
		if _, st, _ := l.InitialState(); len(st.GetVoters()) != 3 {
			t.Fatalf("initial conf state %v", st)
		}
		n := 0
		if err := l.db.Scan([]byte{prefixEntry}, nil, func(k, _ []byte) error { n++; return nil }); err != nil || uint64(n) != last-first+1 {
			t.Fatalf("%d entries on disk, want %d (%v)", n, last-first+1, err)
		}
	}
	check(l, 11, 20)
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if l, _, err = openRaftLog(dir, 4); err != nil {
		t.Fatal(err)
	}
	check(l, 11, 20)

	// A leader's snapshot at 30, with entries 31 and 32 in the same Ready.
	if err := l.save(&pb.HardState{Term: ptr(uint64(3)), Commit: ptr(uint64(30))}, []*pb.Entry{entry(31, 3), entry(32, 3)}, snap(30, 3), false); err != nil {
		t.Fatal(err)
	}
	check(l, 31, 32)
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	l, fresh, err := openRaftLog(dir, 4)
	if err != nil || fresh {
		t.Fatalf("reopen: fresh %v, %v", fresh, err)
	}
	defer l.close()
	check(l, 31, 32)
}
