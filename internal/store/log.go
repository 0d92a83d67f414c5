package store

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"

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

// ErrNotLogged marks a failed Append or Sync that left the log as it was
// before the records it was given: they are not in the log, will not appear
// after a crash, and the log takes appends again (from the same seq). Any
// other error from Append or Sync leaves the log broken (every later call
// fails): whether the records are on disk is unknown until a reopen reads
// the files.
var ErrNotLogged = errors.New("records not logged")

// LogOptions tunes a Log; the zero value is fine.
type LogOptions struct {
	SegmentBytes int64 // roll to a new segment file once the current one exceeds this; 0 means 64 MiB
	// FS is the filesystem the log lives on; nil means the operating
	// system's (vfs.Default, a thin wrapper of os.File).
	FS vfs.FS
}

// Log is an append-only sequence of records numbered by consecutive sequence
// numbers. It is not safe for concurrent use: the caller serialises every
// call. A failed write or sync is undone when it can be (ErrNotLogged);
// otherwise the log refuses further appends and syncs (the file state is
// unknown; reopening recovers it).
type Log struct {
	fs       vfs.FS
	dir      string
	segBytes int64
	segs     []segment // oldest first; the last one is being appended to
	f        vfs.File  // the last segment, open for writes at its size; nil when empty
	first    uint64
	last     uint64
	bytes    atomic.Int64 // read by Bytes from any goroutine
	buf      []byte       // one record, reused by Append
	unsynced bool         // appended since the last sync
	newFile  bool         // a segment was created since the last sync
	// dirty: the last segment's file may hold bytes past its last record
	// (a failed write, undone records, a torn tail zeroed on a filesystem
	// that cannot truncate). Harmless while it is the last segment, whose
	// torn tail an open cuts; roll cuts it before starting the next.
	dirty bool
	// What the last sync made durable, to undo a failed sync: the last
	// record and the size of the last segment then (0 once a new segment
	// is started: roll syncs the old one first).
	syncedLast uint64
	syncedSize int64
	err        error // sticky: a write or sync that could not be undone, or errLogClosed
}

type segment struct {
	first, last uint64 // seqs of the first and last record
	size        int64
}

func (l *Log) segmentPath(first uint64) string {
	return l.fs.PathJoin(l.dir, segmentName(first))
}

func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
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
	if o.FS == nil {
		o.FS = vfs.Default
	}
	fs := o.FS
	if _, err := fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("log: create %s: %w", dir, err)
		}
		if err := SyncDirFS(fs, fs.PathDir(dir)); err != nil {
			return nil, err
		}
	}
	l := &Log{fs: fs, dir: dir, segBytes: o.SegmentBytes}
	firsts, err := l.listSegments()
	if err != nil {
		return nil, err
	}
	removed := false
	// A crash right after creating a segment leaves it empty: nothing to keep.
	for len(firsts) > 0 {
		p := l.segmentPath(firsts[len(firsts)-1])
		fi, err := fs.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("log: open: %w", err)
		}
		if fi.Size() != 0 {
			break
		}
		if err := fs.Remove(p); err != nil {
			return nil, fmt.Errorf("log: remove empty segment: %w", err)
		}
		firsts, removed = firsts[:len(firsts)-1], true
	}
	for i, first := range firsts {
		if i > 0 && first != l.last+1 {
			return nil, fmt.Errorf("log: segment %s: starts at %d, want %d (missing records)", segmentName(first), first, l.last+1)
		}
		s, err := l.checkSegment(first, i == len(firsts)-1)
		if err != nil {
			return nil, err
		}
		if s.size == 0 { // the last segment held only a torn record
			if err := fs.Remove(l.segmentPath(first)); err != nil {
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
		if err := SyncDirFS(fs, dir); err != nil {
			return nil, err
		}
	}
	if len(l.segs) > 0 {
		l.first = l.segs[0].first
		cur := l.segs[len(l.segs)-1]
		if l.f, err = fs.OpenReadWrite(l.segmentPath(cur.first), vfs.WriteCategoryUnspecified); err != nil {
			return nil, fmt.Errorf("log: open: %w", err)
		}
		st, err := l.f.Stat()
		if err != nil {
			return nil, fmt.Errorf("log: open: %w", err)
		}
		l.dirty = st.Size() > cur.size
	}
	l.syncedLast, l.syncedSize = l.last, l.lastSize()
	return l, nil
}

// lastSize is the size of the segment being appended to (0: none).
func (l *Log) lastSize() int64 {
	if len(l.segs) == 0 {
		return 0
	}
	return l.segs[len(l.segs)-1].size
}

// listSegments returns the first seqs of the segment files in dir, ascending.
func (l *Log) listSegments() ([]uint64, error) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", l.dir, err)
	}
	slices.Sort(names) // names are fixed-width: by name is by seq
	var firsts []uint64
	for _, name := range names {
		if len(name) != 20+len(segmentSuffix) || name[20:] != segmentSuffix {
			continue
		}
		if fi, err := l.fs.Stat(l.fs.PathJoin(l.dir, name)); err != nil || !fi.Mode().IsRegular() {
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
func (l *Log) checkSegment(first uint64, last bool) (segment, error) {
	name := segmentName(first)
	f, err := l.fs.OpenReadWrite(l.segmentPath(first), vfs.WriteCategoryUnspecified)
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
func cutTail(f vfs.File, name string, off, size int64, want uint64, cause error) error {
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
	if err := truncate(f, off); err != nil {
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
// It returns an error (and appends nothing) on a wrong seq. A failed write returns ErrNotLogged:
// the bytes written past the last record are a torn tail that the next append overwrites (records
// are written at the log's end as it knows it, not with O_APPEND) and an open cuts.
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
			return err
		}
	}
	if s := l.segs[len(l.segs)-1]; s.size == 0 && s.first != seq {
		// Only an empty log whose first append was undone gets here.
		return fmt.Errorf("log: append record %d: the empty segment starts at %d", seq, s.first)
	}
	b := appendFrame(l.buf[:0], seq, payload)
	l.buf = b
	s := &l.segs[len(l.segs)-1]
	if _, err := l.f.WriteAt(b, s.size); err != nil {
		// A short write cannot pass the checksum: nothing is logged.
		l.dirty = true
		return fmt.Errorf("log: append record %d: %w: %w", seq, ErrNotLogged, err)
	}
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
		if l.unsynced || l.newFile {
			if err := l.Sync(); err != nil {
				return fmt.Errorf("log: sync segment before record %d: %w", seq, err)
			}
		}
		if l.dirty {
			if err := l.cut(); err != nil {
				return fmt.Errorf("log: segment before record %d: %w: %w", seq, ErrNotLogged, err)
			}
		}
		// Synced: a failed close loses nothing, and the handle is
		// dropped either way.
		_ = l.f.Close()
		l.f = nil
	}
	f, err := l.fs.Create(l.segmentPath(seq), vfs.WriteCategoryUnspecified)
	if err != nil {
		// Nothing was written; the next append tries again.
		return fmt.Errorf("log: new segment for record %d: %w: %w", seq, ErrNotLogged, err)
	}
	l.f, l.newFile = f, true
	l.segs = append(l.segs, segment{first: seq, last: seq - 1})
	l.syncedSize = 0
	return nil
}

// Sync makes every appended record durable (fsync of the current segment; when a new segment
// file was created since the last Sync, also fsync the directory).
func (l *Log) Sync() error {
	if l.err != nil {
		return l.err
	}
	if l.unsynced {
		// fsync, not fdatasync: appends change the file size, which
		// fdatasync must write too, so the saving is small.
		if err := l.f.Sync(); err != nil {
			return l.undo(fmt.Errorf("log: sync through record %d: %w", l.last, err))
		}
	}
	if l.newFile {
		if err := SyncDirFS(l.fs, l.dir); err != nil {
			return l.undo(err)
		}
		l.newFile = false
	}
	l.unsynced = false
	l.syncedLast, l.syncedSize = l.last, l.lastSize()
	return nil
}

// undo takes back the records appended since the last good sync after a
// sync failed (cause). Whether they reached the disk is unknown (a failed
// fsync may have written some pages, and Linux marks the rest clean), so
// their bytes are overwritten with zeros and synced: then no crash can
// bring them back, and the next append writes over them. If that fails
// too, the log is broken until a reopen.
func (l *Log) undo(cause error) error {
	s := &l.segs[len(l.segs)-1]
	err := l.zero(l.syncedSize, s.size)
	if err == nil {
		err = l.f.Sync()
	}
	if err == nil && l.newFile {
		if err = SyncDirFS(l.fs, l.dir); err == nil {
			l.newFile = false
		}
	}
	if err != nil {
		l.err = fmt.Errorf("%w; undoing it failed: %v", cause, err)
		return l.err
	}
	l.bytes.Add(l.syncedSize - s.size)
	s.size, s.last, l.dirty = l.syncedSize, l.syncedLast, true
	l.last, l.unsynced = l.syncedLast, false
	if l.last == 0 {
		l.first = 0
	}
	return fmt.Errorf("%w: %w", ErrNotLogged, cause)
}

// zero overwrites bytes [from, to) of the last segment with zeros.
func (l *Log) zero(from, to int64) error {
	z := make([]byte, min(to-from, 64<<10))
	for off := from; off < to; off += int64(len(z)) {
		n := min(int64(len(z)), to-off)
		if _, err := l.f.WriteAt(z[:n], off); err != nil {
			return err
		}
	}
	return nil
}

// cut makes the last segment's file end at its last record, before it
// stops being the last (only the last segment may have a torn tail). A
// file that cannot be truncated is rewritten: its records copied to a
// temporary file, synced and renamed over it.
func (l *Log) cut() error {
	s := l.segs[len(l.segs)-1]
	if t, ok := l.f.(interface{ Truncate(int64) error }); ok {
		if err := t.Truncate(s.size); err != nil {
			return err
		}
		if err := l.f.Sync(); err != nil {
			return err
		}
		l.dirty = false
		return nil
	}
	path := l.segmentPath(s.first)
	tmp := path + ".cut"
	w, err := l.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	buf := make([]byte, min(s.size, 1<<20))
	for off := int64(0); off < s.size && err == nil; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), s.size-off)]
		if _, err = l.f.ReadAt(b, off); err == nil {
			_, err = w.WriteAt(b, off)
		}
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, path)
	}
	if err == nil {
		err = SyncDirFS(l.fs, l.dir)
	}
	if err != nil {
		_ = l.fs.Remove(tmp)
		return err
	}
	l.dirty = false
	return nil
}

// truncate cuts f at size. The OS's files can; a filesystem whose files
// cannot (vfs.MemFS) gets zeros from size on instead, which every open
// reads as a torn tail and every append writes over.
func truncate(f vfs.File, size int64) error {
	if t, ok := f.(interface{ Truncate(int64) error }); ok {
		return t.Truncate(size)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	z := make([]byte, min(st.Size()-size, 64<<10))
	for off := size; off < st.Size(); off += int64(len(z)) {
		if _, err := f.WriteAt(z[:min(int64(len(z)), st.Size()-off)], off); err != nil {
			return err
		}
	}
	return nil
}

// SyncDir makes a directory's entries durable: the files created, renamed
// or removed in it since, which fsync of the files themselves does not.
func SyncDir(dir string) error { return SyncDirFS(vfs.Default, dir) }

// SyncDirFS is SyncDir on fs.
func SyncDirFS(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
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
		if err := l.replaySegment(s, from, &buf, fn); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) replaySegment(s segment, from uint64, buf *[]byte, fn func(uint64, []byte) error) error {
	f, err := l.fs.Open(l.segmentPath(s.first))
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
			return fmt.Errorf("log: replay %s offset %d: %w", segmentName(s.first), off, err)
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
		if err := l.fs.Remove(l.segmentPath(l.segs[0].first)); err != nil {
			return fmt.Errorf("log: drop before %d: %w", seq, err)
		}
		l.bytes.Add(-l.segs[0].size)
		l.segs = l.segs[1:]
		l.first = l.segs[0].first
		dropped++
	}
	if dropped > 0 {
		return SyncDirFS(l.fs, l.dir)
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
