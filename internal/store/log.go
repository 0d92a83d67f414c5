package store

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/specie/specie/internal/codec"
)

// The ledger's own write-ahead log: each committed batch of transactions is
// one record, appended and synced (one sync per batch, group commit) before
// the batch is reported committed. On disk, dir holds segment files named by
// the sequence number of their first record (%020d.wal), each a run of
// records framed as
//
//	 0         4         8        16
//	+---------+---------+--------+---------------------------+
//	| length  |  crc    |  seq   |  payload (length bytes)   |
//	|  u32    |  u32    |  u64   |                           |
//	+---------+---------+--------+---------------------------+
//
// big-endian; crc is CRC-32C (Castagnoli) over seq and payload, so a torn
// or damaged record fails its checksum; length is at most maxRecordBytes.
// appendFrame writes a record and decodeFrame reads one; readRecord and
// cutTail find them in a file.

const (
	recordHeader   = 4 + 4 + 8
	maxRecordBytes = 1 << 30 // a longer length field is damage, not a record
	segmentSuffix  = ".wal"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the record of seq holding payload to b.
func appendFrame(b []byte, seq uint64, payload []byte) []byte {
	var sb [8]byte
	s := codec.NewWriter(sb[:0]).U64(seq)
	crc := crc32.Update(crc32.Checksum(s.Bytes(), crcTable), crcTable, payload)
	w := codec.NewWriter(b)
	w = w.U32(uint32(len(payload)))
	w = w.U32(crc)
	w = w.U64(seq)
	w = w.Put(payload)
	return w.Bytes()
}

// frameHead is a record's first recordHeader bytes.
type frameHead struct {
	length uint32
	crc    uint32
	seq    uint64
}

// decodeFrameHead reads a record's header from the front of b, which holds
// at least recordHeader bytes.
func decodeFrameHead(b []byte) frameHead {
	r := codec.NewReader(b[:recordHeader])
	return frameHead{length: r.U32(), crc: r.U32(), seq: r.U64()}
}

// decodeFrame reads the record at the front of b: its seq, its payload
// (aliasing b) and its size. A record cut short is errTorn, one whose
// checksum fails errChecksum.
func decodeFrame(b []byte) (seq uint64, payload []byte, n int, err error) {
	if len(b) < recordHeader {
		return 0, nil, 0, errTorn
	}
	h := decodeFrameHead(b)
	if h.length > maxRecordBytes {
		return 0, nil, 0, fmt.Errorf("%w: %d bytes", errTooLarge, h.length)
	}
	n = recordHeader + int(h.length)
	if n > len(b) {
		return 0, nil, 0, errTorn
	}
	if crc32.Checksum(b[8:n], crcTable) != h.crc {
		return 0, nil, 0, errChecksum
	}
	return h.seq, b[recordHeader:n:n], n, nil
}

// errLogClosed is returned by every operation on a closed Log.
var errLogClosed = errors.New("log: closed")

// LogOptions tunes a Log; the zero value is fine.
type LogOptions struct {
	SegmentBytes int64 // roll to a new segment file once the current one exceeds this; 0 means 64 MiB
}

// Log is an append-only sequence of records numbered by consecutive sequence
// numbers. It is not safe for concurrent use: the caller serialises every
// call. After a failed write or sync the log refuses further appends and
// syncs (the file state is unknown; reopening recovers it).
type Log struct {
	dir      string
	segBytes int64
	segs     []segment // oldest first; the last one is being appended to
	f        *os.File  // the last segment, open for appends; nil when empty
	first    uint64
	last     uint64
	bytes    atomic.Int64 // read by Bytes from any goroutine
	buf      []byte       // one record, reused by Append
	unsynced bool         // appended since the last sync
	newFile  bool         // a segment was created since the last sync
	err      error        // sticky: a failed write or sync, or errLogClosed
}

type segment struct {
	first, last uint64 // seqs of the first and last record
	size        int64
}

func segmentPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", first, segmentSuffix))
}

// OpenLog opens or creates the log in dir (creating dir). It scans the segments, checks every record's
// checksum and that sequence numbers are consecutive across all segments, and cuts a torn tail
// (a partial or checksum-failing record at the end of the LAST segment, what a crash mid-write leaves)
// by truncating the file there. Damage anywhere else (a bad record followed by good data, a bad record
// in a non-last segment, a gap in sequence numbers, a record that is too large) is an error: the log
// refuses to open rather than silently dropping committed data.
func OpenLog(dir string, o LogOptions) (*Log, error) {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("log: create %s: %w", dir, err)
		}
		if err := SyncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	}
	firsts, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, segBytes: o.SegmentBytes}
	removed := false
	// A crash right after creating a segment leaves it empty: nothing to keep.
	for len(firsts) > 0 {
		p := segmentPath(dir, firsts[len(firsts)-1])
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("log: open: %w", err)
		}
		if fi.Size() != 0 {
			break
		}
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("log: remove empty segment: %w", err)
		}
		firsts, removed = firsts[:len(firsts)-1], true
	}
	for i, first := range firsts {
		if i > 0 && first != l.last+1 {
			return nil, fmt.Errorf("log: segment %s: starts at %d, want %d (missing records)", filepath.Base(segmentPath(dir, first)), first, l.last+1)
		}
		s, err := checkSegment(segmentPath(dir, first), first, i == len(firsts)-1)
		if err != nil {
			return nil, err
		}
		if s.size == 0 { // the last segment held only a torn record
			if err := os.Remove(segmentPath(dir, first)); err != nil {
				return nil, fmt.Errorf("log: remove empty segment: %w", err)
			}
			removed = true
			break
		}
		l.segs = append(l.segs, s)
		l.last = s.last
		l.bytes.Add(s.size)
	}
	if removed {
		if err := SyncDir(dir); err != nil {
			return nil, err
		}
	}
	if len(l.segs) > 0 {
		l.first = l.segs[0].first
		cur := l.segs[len(l.segs)-1]
		if l.f, err = os.OpenFile(segmentPath(dir, cur.first), os.O_WRONLY|os.O_APPEND, 0); err != nil {
			return nil, fmt.Errorf("log: open: %w", err)
		}
	}
	return l, nil
}

// listSegments returns the first seqs of the segment files in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir) // sorted by name, and names are fixed-width
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", dir, err)
	}
	var firsts []uint64
	for _, e := range ents {
		name := e.Name()
		if len(name) != 20+len(segmentSuffix) || name[20:] != segmentSuffix || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseUint(name[:20], 10, 64)
		if err != nil || fmt.Sprintf("%020d", n) != name[:20] {
			continue // not a name this log writes
		}
		if n == 0 {
			return nil, fmt.Errorf("log: segment %s: sequence numbers start at 1", name)
		}
		firsts = append(firsts, n)
	}
	return firsts, nil
}

// checkSegment verifies the segment at path, whose first record must be
// first. In the last segment it cuts a torn tail.
func checkSegment(path string, first uint64, last bool) (segment, error) {
	name := filepath.Base(path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return segment{}, fmt.Errorf("log: open segment %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return segment{}, fmt.Errorf("log: open segment %s: %w", name, err)
	}
	size := fi.Size()
	s := segment{first: first, last: first - 1}
	r := bufio.NewReaderSize(f, 1<<16)
	var buf []byte
	for s.size < size {
		seq, n, err := readRecord(r, &buf, size-s.size)
		if err == nil && seq != s.last+1 {
			return segment{}, fmt.Errorf("log: segment %s offset %d: record %d, want %d", name, s.size, seq, s.last+1)
		}
		if err != nil {
			// Only the last segment can hold a torn write, and a torn write
			// leaves a short or checksum-failing record, never a read error
			// or an absurd length.
			if last && (errors.Is(err, errTorn) || errors.Is(err, errChecksum)) {
				return s, cutTail(f, name, s.size, size, s.last+1, err)
			}
			return segment{}, fmt.Errorf("log: segment %s offset %d: %w", name, s.size, err)
		}
		s.last, s.size = seq, s.size+n
	}
	return s, nil
}

var (
	errTooLarge = errors.New("record too large")
	errTorn     = errors.New("partial record")
	errChecksum = errors.New("checksum mismatch")
)

// readRecord reads one record of at most avail bytes into *buf and returns
// its seq and size. The payload is (*buf)[recordHeader:].
func readRecord(r io.Reader, buf *[]byte, avail int64) (seq uint64, n int64, err error) {
	if avail < recordHeader {
		return 0, 0, errTorn
	}
	b := append((*buf)[:0], make([]byte, recordHeader)...)
	*buf = b
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, 0, err
	}
	length := int64(decodeFrameHead(b).length)
	if length > maxRecordBytes {
		return 0, 0, fmt.Errorf("%w: %d bytes", errTooLarge, length)
	}
	if recordHeader+length > avail {
		return 0, 0, errTorn
	}
	b = append(b, make([]byte, length)...)
	*buf = b
	if _, err := io.ReadFull(r, b[recordHeader:]); err != nil {
		return 0, 0, err
	}
	seq, _, _, err = decodeFrame(b)
	if err != nil {
		return 0, 0, err
	}
	return seq, recordHeader + length, nil
}

// cutTail truncates the last segment at off, where a bad record (cause) of
// seq want starts, unless a valid record follows: then the damage is not a
// torn write but lost committed data, and it is an error.
func cutTail(f *os.File, name string, off, size int64, want uint64, cause error) error {
	tail := make([]byte, size-off)
	if _, err := f.ReadAt(tail, off); err != nil {
		return fmt.Errorf("log: segment %s: read tail: %w", name, err)
	}
	maxSeq := want + uint64(len(tail))/recordHeader
	for i := 1; i+recordHeader <= len(tail); i++ {
		// The seq test is cheap and rules out nearly every offset before the checksum.
		if h := decodeFrameHead(tail[i:]); h.seq < want || h.seq > maxSeq {
			continue
		}
		if seq, _, _, err := decodeFrame(tail[i:]); err == nil {
			return fmt.Errorf("log: segment %s offset %d: %w, followed by record %d at offset %d", name, off, cause, seq, off+int64(i))
		}
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("log: segment %s: cut torn tail at %d: %w", name, off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("log: segment %s: cut torn tail at %d: %w", name, off, err)
	}
	return nil
}

// First is the sequence number of the oldest record held; 0 when empty.
func (l *Log) First() uint64 { return l.first }

// Last is the sequence number of the newest record held; 0 when empty.
func (l *Log) Last() uint64 { return l.last }

// Bytes is the total size of the segment files, for reporting disk use; unlike the
// other methods it may be called from any goroutine.
func (l *Log) Bytes() int64 { return l.bytes.Load() }

// Append adds a record. seq must be Last()+1, or anything >= 1 when the log is empty (a log may start
// after a snapshot, e.g. at 2). The record is written to the OS (write syscall) but not synced.
// It returns an error (and appends nothing) on a wrong seq.
func (l *Log) Append(seq uint64, payload []byte) error {
	if l.err != nil {
		return l.err
	}
	if seq == 0 || l.last != 0 && seq != l.last+1 {
		return fmt.Errorf("log: append record %d: want %d", seq, l.last+1)
	}
	if len(payload) > maxRecordBytes {
		return fmt.Errorf("log: append record %d: %w: %d bytes", seq, errTooLarge, len(payload))
	}
	if l.f == nil || l.segs[len(l.segs)-1].size > l.segBytes {
		if err := l.roll(seq); err != nil {
			l.err = err
			return err
		}
	}
	b := appendFrame(l.buf[:0], seq, payload)
	l.buf = b
	if _, err := l.f.Write(b); err != nil {
		l.err = fmt.Errorf("log: append record %d: %w", seq, err)
		return l.err
	}
	s := &l.segs[len(l.segs)-1]
	s.last, s.size = seq, s.size+int64(len(b))
	l.last, l.unsynced = seq, true
	l.bytes.Add(int64(len(b)))
	if l.first == 0 {
		l.first = seq
	}
	return nil
}

// roll starts a new segment at seq. The old one is synced first, so that
// only the last segment can ever hold a torn record.
func (l *Log) roll(seq uint64) error {
	if l.f != nil {
		if l.unsynced {
			if err := l.f.Sync(); err != nil {
				return fmt.Errorf("log: sync segment before record %d: %w", seq, err)
			}
			l.unsynced = false
		}
		if err := l.f.Close(); err != nil {
			return fmt.Errorf("log: close segment before record %d: %w", seq, err)
		}
		l.f = nil
	}
	f, err := os.OpenFile(segmentPath(l.dir, seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log: new segment for record %d: %w", seq, err)
	}
	l.f, l.newFile = f, true
	l.segs = append(l.segs, segment{first: seq, last: seq - 1})
	return nil
}

// Sync makes every appended record durable (fsync of the current segment; when a new segment
// file was created since the last Sync, also fsync the directory).
func (l *Log) Sync() error {
	if l.err != nil {
		return l.err
	}
	if l.unsynced {
		// fsync, not fdatasync: syscall.Fdatasync exists only on Linux and
		// this package also builds for macOS; appends change the file size,
		// which fdatasync must write too, so the saving is small.
		if err := l.f.Sync(); err != nil {
			l.err = fmt.Errorf("log: sync through record %d: %w", l.last, err)
			return l.err
		}
		l.unsynced = false
	}
	if l.newFile {
		if err := SyncDir(l.dir); err != nil {
			l.err = err
			return err
		}
		l.newFile = false
	}
	return nil
}

// SyncDir makes a directory's entries durable: the files created, renamed
// or removed in it since, which fsync of the files themselves does not.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Replay calls fn for every record with seq >= from, in order. The payload slice is only valid during
// the call. An error from fn stops the replay and is returned. It must work while the log is open
// for appends (read the files with separate file handles; it may be called from another goroutine than
// Append, but not concurrently with Append - the caller serialises).
func (l *Log) Replay(from uint64, fn func(seq uint64, payload []byte) error) error {
	if errors.Is(l.err, errLogClosed) {
		return l.err
	}
	var buf []byte
	for _, s := range l.segs {
		if s.last < from {
			continue
		}
		if err := replaySegment(segmentPath(l.dir, s.first), s, from, &buf, fn); err != nil {
			return err
		}
	}
	return nil
}

func replaySegment(path string, s segment, from uint64, buf *[]byte, fn func(uint64, []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("log: replay: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, s.size), 1<<16)
	for off, want := int64(0), s.first; off < s.size; want++ {
		seq, n, err := readRecord(r, buf, s.size-off)
		if err == nil && seq != want {
			err = fmt.Errorf("record %d, want %d", seq, want)
		}
		if err != nil {
			return fmt.Errorf("log: replay %s offset %d: %w", filepath.Base(path), off, err)
		}
		if seq >= from {
			if err := fn(seq, (*buf)[recordHeader:]); err != nil {
				return err
			}
		}
		off += n
	}
	return nil
}

// DropBefore removes whole segment files all of whose records have seq < seq (never the segment being
// appended to). It is how snapshots reclaim space.
func (l *Log) DropBefore(seq uint64) error {
	if errors.Is(l.err, errLogClosed) {
		return l.err
	}
	dropped := 0
	for len(l.segs) > 1 && l.segs[0].last < seq {
		// Oldest first: a crash part way leaves a log that still starts
		// somewhere and has no gap.
		if err := os.Remove(segmentPath(l.dir, l.segs[0].first)); err != nil {
			return fmt.Errorf("log: drop before %d: %w", seq, err)
		}
		l.bytes.Add(-l.segs[0].size)
		l.segs = l.segs[1:]
		l.first = l.segs[0].first
		dropped++
	}
	if dropped > 0 {
		return SyncDir(l.dir)
	}
	return nil
}

// Close syncs and closes the log.
func (l *Log) Close() error {
	if errors.Is(l.err, errLogClosed) {
		return nil
	}
	err := l.Sync()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("log: close: %w", cerr)
		}
		l.f = nil
	}
	l.err = errLogClosed
	return err
}
