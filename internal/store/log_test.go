package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// logPayload is record seq's content: distinct and of varying length.
func logPayload(seq uint64) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("batch %d;", seq), int(seq%5)+1))
}

// encodeRecord is the on-disk format, written out independently of Append.
func encodeRecord(seq uint64, payload []byte) []byte {
	b := make([]byte, 16, 16+len(payload))
	binary.BigEndian.PutUint32(b[0:], uint32(len(payload)))
	binary.BigEndian.PutUint64(b[8:], seq)
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func openLog(t testing.TB, dir string, segBytes int64) *Log {
	t.Helper()
	l, err := OpenLog(dir, LogOptions{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendRange appends records from..to with their logPayload, syncing every
// third one, as a group commit would.
func appendRange(t testing.TB, l *Log, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		if err := l.Append(seq, logPayload(seq)); err != nil {
			t.Fatal(err)
		}
		if seq%3 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// replayed returns the seqs Replay(from) yields, checking each payload.
func replayed(t testing.TB, l *Log, from uint64) []uint64 {
	t.Helper()
	var seqs []uint64
	err := l.Replay(from, func(seq uint64, p []byte) error {
		if !bytes.Equal(p, logPayload(seq)) {
			return fmt.Errorf("record %d: payload %q", seq, p)
		}
		seqs = append(seqs, seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for seq := from; seq <= to; seq++ {
		s = append(s, seq)
	}
	return s
}

func segmentNames(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return names
}

func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, name := range segmentNames(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// recordOffsets returns where each record in a segment file starts, and the file's size.
func recordOffsets(t testing.TB, path string) ([]int64, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off < len(data); off += 16 + int(binary.BigEndian.Uint32(data[off:])) {
		offs = append(offs, int64(off))
	}
	return offs, int64(len(data))
}

// copyDir copies the segment files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range segmentNames(t, src) {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// closedLog writes records 1..n with the given segment size and closes the log.
func closedLog(t testing.TB, n uint64, segBytes int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal") // OpenLog creates it
	l := openLog(t, dir, segBytes)
	appendRange(t, l, 1, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLogRoundTrip(t *testing.T) {
	dir := closedLog(t, 50, 200)
	if n := len(segmentNames(t, dir)); n < 4 {
		t.Fatalf("%d segments, want several", n)
	}
	l := openLog(t, dir, 200)
	if l.First() != 1 || l.Last() != 50 {
		t.Fatalf("First, Last = %d, %d; want 1, 50", l.First(), l.Last())
	}
	if got, want := l.Bytes(), dirBytes(t, dir); got != want {
		t.Fatalf("Bytes = %d, files hold %d", got, want)
	}
	if got := replayed(t, l, 0); !slices.Equal(got, seqRange(1, 50)) {
		t.Fatalf("Replay = %v", got)
	}
	appendRange(t, l, 51, 60)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, 200)
	defer l.Close()
	if got := replayed(t, l, 0); !slices.Equal(got, seqRange(1, 60)) {
		t.Fatalf("Replay after second reopen = %v", got)
	}
	// Each segment's name is its first record.
	for _, name := range segmentNames(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%020d.wal", binary.BigEndian.Uint64(data[8:])); got != name {
			t.Fatalf("segment %s starts with record named %s", name, got)
		}
	}
}

func TestLogReplayFrom(t *testing.T) {
	l := openLog(t, t.TempDir(), 200)
	defer l.Close()
	appendRange(t, l, 1, 40)
	// Unsynced appends are visible to Replay too.
	if err := l.Append(41, logPayload(41)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from uint64
		want []uint64
	}{
		{0, seqRange(1, 41)},
		{1, seqRange(1, 41)},
		{17, seqRange(17, 41)},
		{41, []uint64{41}},
		{42, nil},
		{1000, nil},
	} {
		if got := replayed(t, l, tc.from); !slices.Equal(got, tc.want) {
			t.Errorf("Replay(%d) = %v, want %v", tc.from, got, tc.want)
		}
	}
	stop := errors.New("stop")
	var seen []uint64
	err := l.Replay(10, func(seq uint64, _ []byte) error {
		seen = append(seen, seq)
		if seq == 12 {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(seen, []uint64{10, 11, 12}) {
		t.Fatalf("Replay stopped by fn: err %v, saw %v", err, seen)
	}
}

func TestLogDropBefore(t *testing.T) {
	for _, seq := range []uint64{0, 1, 2, 15, 33, 49, 50, 51, 1000} {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			dir := closedLog(t, 50, 200)
			l := openLog(t, dir, 200)
			before := len(segmentNames(t, dir))
			if err := l.DropBefore(seq); err != nil {
				t.Fatal(err)
			}
			names := segmentNames(t, dir)
			if seq <= 1 && len(names) != before {
				t.Fatalf("DropBefore(%d) dropped %d segments", seq, before-len(names))
			}
			if seq >= 50 && len(names) != 1 {
				t.Fatalf("DropBefore(%d) left %d segments, want just the one being appended to", seq, len(names))
			}
			if l.First() > max(seq, 1) || l.Last() != 50 {
				t.Fatalf("First, Last = %d, %d", l.First(), l.Last())
			}
			if names[0] != fmt.Sprintf("%020d.wal", l.First()) {
				t.Fatalf("First = %d, oldest segment %s", l.First(), names[0])
			}
			if got := l.Bytes(); got != dirBytes(t, dir) {
				t.Fatalf("Bytes = %d, files hold %d", got, dirBytes(t, dir))
			}
			if got := replayed(t, l, 0); !slices.Equal(got, seqRange(l.First(), 50)) {
				t.Fatalf("Replay = %v", got)
			}
			appendRange(t, l, 51, 52)
			l.Close()
			l = openLog(t, dir, 200)
			defer l.Close()
			if got := replayed(t, l, seq); !slices.Equal(got, seqRange(max(seq, 1), 52)) {
				t.Fatalf("Replay(%d) after reopen = %v", seq, got)
			}
		})
	}
}

func TestLogTornTail(t *testing.T) {
	for _, segBytes := range []int64{1, 200} { // 1: every record is its own segment
		dir := closedLog(t, 20, segBytes)
		names := segmentNames(t, dir)
		lastSeg := names[len(names)-1]
		offs, size := recordOffsets(t, filepath.Join(dir, lastSeg))
		start := offs[len(offs)-1] // the last record, seq 20

		type tornCase struct {
			name string
			cut  int64  // truncate the last segment here
			junk []byte // then append this
			last uint64 // records kept
		}
		var cases []tornCase
		for cut := start; cut < size; cut++ {
			cases = append(cases, tornCase{fmt.Sprintf("cut at %d", cut), cut, nil, 19})
		}
		badCRC := encodeRecord(21, []byte("never synced"))
		badCRC[len(badCRC)-1] ^= 1
		cases = append(cases,
			tornCase{"zeros", size, make([]byte, 40), 20},
			tornCase{"short junk", size, []byte("junk"), 20},
			tornCase{"header-sized junk", size, []byte("0123456789abcdefghij"), 20},
			tornCase{"checksum-failing record", size, badCRC, 20},
			tornCase{"checksum-failing record, partial", size, badCRC[:len(badCRC)-3], 20},
			tornCase{"torn record then zeros", start + 10, make([]byte, 100), 19},
		)
		for _, tc := range cases {
			t.Run(fmt.Sprintf("segBytes=%d/%s", segBytes, tc.name), func(t *testing.T) {
				d := copyDir(t, dir)
				path := filepath.Join(d, lastSeg)
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				data = append(data[:tc.cut], tc.junk...)
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				l := openLog(t, d, segBytes)
				if l.First() != 1 || l.Last() != tc.last {
					t.Fatalf("First, Last = %d, %d; want 1, %d", l.First(), l.Last(), tc.last)
				}
				if got := replayed(t, l, 0); !slices.Equal(got, seqRange(1, tc.last)) {
					t.Fatalf("Replay = %v", got)
				}
				if got, want := l.Bytes(), dirBytes(t, d); got != want {
					t.Fatalf("Bytes = %d, files hold %d", got, want)
				}
				next := tc.last + 1
				if err := l.Append(next, logPayload(next)); err != nil {
					t.Fatal(err)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLog(t, d, segBytes)
				defer l.Close()
				if got := replayed(t, l, 0); !slices.Equal(got, seqRange(1, next)) {
					t.Fatalf("Replay after appending %d = %v", next, got)
				}
			})
		}
	}
}

func TestLogDamageRefusesOpen(t *testing.T) {
	const n, segBytes = 30, 200
	// edit changes a file in a closed log of records 1..n.
	edit := func(t *testing.T, dir string, seg int, fn func(data []byte, offs []int64) []byte) {
		t.Helper()
		names := segmentNames(t, dir)
		if seg < 0 {
			seg += len(names)
		}
		path := filepath.Join(dir, names[seg])
		offs, _ := recordOffsets(t, path)
		if seg == len(names)-1 && len(offs) < 3 {
			t.Fatalf("last segment holds %d records; the test wants a middle one", len(offs))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fn(data, offs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"flipped payload byte in a middle record of the last segment", func(t *testing.T, dir string) {
			edit(t, dir, -1, func(d []byte, offs []int64) []byte { d[offs[1]+20] ^= 0x10; return d })
		}},
		{"flipped length byte in a middle record of the last segment", func(t *testing.T, dir string) {
			edit(t, dir, -1, func(d []byte, offs []int64) []byte { d[offs[1]+3] ^= 0x04; return d })
		}},
		{"flipped seq byte in a middle record of the last segment", func(t *testing.T, dir string) {
			edit(t, dir, -1, func(d []byte, offs []int64) []byte { d[offs[1]+15] ^= 0x01; return d })
		}},
		{"flipped byte in the last record of a middle segment", func(t *testing.T, dir string) {
			edit(t, dir, 1, func(d []byte, offs []int64) []byte { d[len(d)-1] ^= 0x01; return d })
		}},
		{"middle segment truncated", func(t *testing.T, dir string) {
			edit(t, dir, 1, func(d []byte, offs []int64) []byte { return d[:len(d)-1] })
		}},
		{"garbage after a middle segment", func(t *testing.T, dir string) {
			edit(t, dir, 1, func(d []byte, offs []int64) []byte { return append(d, 0, 0, 0) })
		}},
		{"too-large length in the last record", func(t *testing.T, dir string) {
			edit(t, dir, -1, func(d []byte, offs []int64) []byte {
				binary.BigEndian.PutUint32(d[offs[len(offs)-1]:], 1<<30+1)
				return d
			})
		}},
		{"valid record with the wrong seq at the tail", func(t *testing.T, dir string) {
			edit(t, dir, -1, func(d []byte, offs []int64) []byte { return append(d, encodeRecord(n+2, []byte("x"))...) })
		}},
		{"middle segment deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, segmentNames(t, dir)[1])); err != nil {
				t.Fatal(err)
			}
		}},
		{"segment renamed", func(t *testing.T, dir string) {
			names := segmentNames(t, dir)
			var first uint64
			fmt.Sscanf(names[1], "%d.wal", &first)
			if err := os.Rename(filepath.Join(dir, names[1]), filepath.Join(dir, fmt.Sprintf("%020d.wal", first+1))); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty segment in the middle", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.wal", 2)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := closedLog(t, n, segBytes)
			tc.damage(t, dir)
			l, err := OpenLog(dir, LogOptions{SegmentBytes: segBytes})
			if err == nil {
				l.Close()
				t.Fatalf("OpenLog succeeded on a damaged log: First %d Last %d", l.First(), l.Last())
			}
			t.Log(err)
		})
	}
}

func TestLogEmptyTrailingSegmentRemoved(t *testing.T) {
	dir := closedLog(t, 10, 200)
	empty := filepath.Join(dir, fmt.Sprintf("%020d.wal", 11))
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, 200)
	defer l.Close()
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty trailing segment still there: %v", err)
	}
	if l.Last() != 10 {
		t.Fatalf("Last = %d", l.Last())
	}
	appendRange(t, l, 11, 12)
}

func TestLogAppendWrongSeq(t *testing.T) {
	empty := openLog(t, t.TempDir(), 200)
	if err := empty.Append(0, []byte("x")); err == nil {
		t.Fatal("Append(0) on an empty log succeeded")
	}
	empty.Close()

	dir := t.TempDir()
	l := openLog(t, dir, 200)
	appendRange(t, l, 1, 12)
	bytesBefore := l.Bytes()
	for _, seq := range []uint64{0, 1, 11, 12, 14, 1 << 40} {
		if err := l.Append(seq, []byte("wrong")); err == nil {
			t.Errorf("Append(%d) with Last %d succeeded", seq, l.Last())
		}
		if l.Last() != 12 || l.Bytes() != bytesBefore {
			t.Fatalf("after refused Append(%d): Last %d, Bytes %d (was %d)", seq, l.Last(), l.Bytes(), bytesBefore)
		}
	}
	// A refused append does not break the log.
	appendRange(t, l, 13, 13)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, 200)
	defer l.Close()
	if got := replayed(t, l, 0); !slices.Equal(got, seqRange(1, 13)) {
		t.Fatalf("Replay after reopen = %v", got)
	}
}

func TestLogStartsAtTwo(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 200)
	appendRange(t, l, 2, 9)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(10, nil); err == nil {
		t.Fatal("Append after Close succeeded")
	}
	l = openLog(t, dir, 200)
	defer l.Close()
	if l.First() != 2 || l.Last() != 9 {
		t.Fatalf("First, Last = %d, %d; want 2, 9", l.First(), l.Last())
	}
	if got := replayed(t, l, 0); !slices.Equal(got, seqRange(2, 9)) {
		t.Fatalf("Replay = %v", got)
	}
	if err := l.Append(1, logPayload(1)); err == nil {
		t.Fatal("Append(1) before First succeeded")
	}
}

func FuzzLogOpen(f *testing.F) {
	var valid []byte
	for seq := uint64(1); seq <= 3; seq++ {
		valid = append(valid, encodeRecord(seq, logPayload(seq))...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.wal"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLog(dir, LogOptions{SegmentBytes: 64})
		if err != nil {
			return // refusing damage is allowed; panicking is not
		}
		var seqs []uint64
		if err := l.Replay(0, func(seq uint64, _ []byte) error { seqs = append(seqs, seq); return nil }); err != nil {
			t.Fatalf("Replay after a successful open: %v", err)
		}
		if l.Last() == 0 {
			if l.First() != 0 || len(seqs) != 0 {
				t.Fatalf("empty log: First %d, Replay %v", l.First(), seqs)
			}
		} else if l.First() != 1 || !slices.Equal(seqs, seqRange(1, l.Last())) {
			t.Fatalf("First %d Last %d, Replay %v", l.First(), l.Last(), seqs)
		}
		next := l.Last() + 1
		if err := l.Append(next, []byte("after fuzz")); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = OpenLog(dir, LogOptions{SegmentBytes: 64})
		if err != nil {
			t.Fatalf("reopen after Append(%d): %v", next, err)
		}
		defer l.Close()
		var got []byte
		if err := l.Replay(next, func(_ uint64, p []byte) error { got = append(got, p...); return nil }); err != nil {
			t.Fatal(err)
		}
		if l.Last() != next || string(got) != "after fuzz" {
			t.Fatalf("after reopen: Last %d (want %d), record %q", l.Last(), next, got)
		}
	})
}

func BenchmarkLogAppendSync(b *testing.B) {
	l := openLog(b, b.TempDir(), 0)
	defer l.Close()
	payload := make([]byte, 180<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	seq := uint64(1)
	for b.Loop() {
		if err := l.Append(seq, payload); err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
		seq++
	}
}
