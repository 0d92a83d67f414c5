package ledger

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/specie/specie/internal/codec"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// The ledger's on-disk formats, each drawn above its encoder and decoder.
// Every one is read with codec.Reader and written with codec.Writer, field
// by field in the order drawn; integers are big-endian, widths in bytes.
// Each decoder is strict (short input, trailing bytes and counts that do
// not fit are errors, never a panic or an allocation the input sized), and
// whatever it accepts re-encodes to the same bytes (format_fuzz_test.go).
//
// Versions: a log record starts with its version byte; a snapshot with its
// magic, whose last character is the version; the store's values (batch
// body, meta, txid location) are versioned together by the store's format
// key (keyFormat, durable.go). A format change bumps one of these and
// migrates on open.

// A batch body is a batch's header followed by its txids, in commit order.
// It is the store's value under batchKey(seq) and is carried whole inside
// the batch's log record.
//
//	 0       8                 40                72      76       84       92
//	+-------+-----------------+-----------------+-------+--------+--------+
//	|  seq  |  prev (32)      |  tx root (32)   | count | minted |redeemed|
//	|  u64  |  header hash    |  Merkle root    |  u32  |  u64   |  u64   |
//	+-------+-----------------+-----------------+-------+--------+--------+
//	|  txid (32) ...  as many as fit: (length - 92) / 32, no remainder     |
//	+----------------------------------------------------------------------+
//
// count is the header's TxCount; the body itself does not check it against
// the txids that follow (the log record does).
const batchHeadSize = 8 + 32 + 32 + 4 + 8 + 8

// appendBatch appends the batch body of h and ids to b.
func appendBatch(b []byte, h *money.BatchHeader, ids []money.Hash) []byte {
	w := codec.NewWriter(b)
	w = w.U64(h.Seq)
	w = w.Put(h.Prev[:])
	w = w.Put(h.TxRoot[:])
	w = w.U32(h.TxCount)
	w = w.U64(h.Minted)
	w = w.U64(h.Redeemed)
	for i := range ids {
		w = w.Put(ids[i][:])
	}
	return w.Bytes()
}

// encodeBatch is a batch body in a buffer of its own.
func encodeBatch(h *money.BatchHeader, ids []money.Hash) []byte {
	return appendBatch(make([]byte, 0, batchHeadSize+32*len(ids)), h, ids)
}

func decodeBatch(b []byte) (money.BatchHeader, []money.Hash, error) {
	var h money.BatchHeader
	r := codec.NewReader(b)
	h.Seq = r.U64()
	r.Copy(h.Prev[:])
	r.Copy(h.TxRoot[:])
	h.TxCount = r.U32()
	h.Minted = r.U64()
	h.Redeemed = r.U64()
	if r.Err() != nil || r.Len()%32 != 0 {
		return money.BatchHeader{}, nil, fmt.Errorf("batch body: %d bytes", len(b))
	}
	ids := make([]money.Hash, r.Len()/32)
	for i := range ids {
		r.Copy(ids[i][:])
	}
	return h, ids, nil
}

// An archive entry is a batch's committed transactions in full, in commit
// order: the store's value under archiveKey(seq), written only with
// Config.Archive. Each transaction is its canonical encoding with
// signatures (money.Tx.AppendBinary), which is not self-delimiting, so
// each carries its length.
//
//	+---------+-------+------------------------------------------------+
//	| version | count | count x (length u32, canonical tx (length))    |
//	| u8 = 1  |  u32  |                                                |
//	+---------+-------+------------------------------------------------+
//
// The decoder checks the framing only; whether each transaction decodes,
// and what it says, is for the reader (an auditor trusts nothing here).
const archiveVersion = 1

// appendArchiveHead starts an archive entry of count transactions.
func appendArchiveHead(b []byte, count int) []byte {
	return codec.NewWriter(b).U8(archiveVersion).U32(uint32(count)).Bytes()
}

// appendArchiveTx appends one transaction to an archive entry.
func appendArchiveTx(b []byte, tx *money.Tx) []byte {
	w := codec.NewWriter(b).U32(uint32(tx.EncodedSize()))
	out, _ := tx.AppendBinary(w.Bytes()) // never fails
	return out
}

// decodeArchive parses an archive entry; the transactions alias b.
func decodeArchive(b []byte) ([][]byte, error) {
	r := codec.NewReader(b)
	if v := r.U8(); v != archiveVersion && r.Err() == nil {
		return nil, fmt.Errorf("archive entry version %d", v)
	}
	txs := make([][]byte, r.Count(uint64(r.U32()), 4))
	for i := range txs {
		txs[i] = r.Take(int(r.U32()))
	}
	if err := r.End(); err != nil {
		return nil, fmt.Errorf("archive entry: %w", err)
	}
	return txs, nil
}

// A log record is one committed batch: what recovery needs to redo the
// batch in the index and the store. It is the payload of one store.Log
// record (whose framing, length and checksum, is drawn in store/log.go).
//
//	+---------+---------+-------------+----------+-----------------------+
//	| version | unspent | unspent sum | body len | batch body (body len) |
//	| u8 = 1  |   u64   |     u64     |   u32    | as drawn above        |
//	+---------+---------+-------------+----------+-----------------------+
//	| per txid of the body, in order: kind u8, output count u16          |
//	+---------------+----------------------------------------------------+
//	| spends   u32  | spends x note ID (32)                              |
//	+---------------+----------------------------------------------------+
//	| creates  u32  | creates x (note ID (32), value u64, never 0)       |
//	+---------------+----------------------------------------------------+
//
// unspent and unspent sum are the totals after the batch. Notes created
// and spent within the batch appear in neither list. The body's header
// must count exactly the txids it lists.
//
// Version 2 is a rotation record: an officer key rotation committed as a
// batch of its own (keys.go). It is version 1's layout followed by the
// rotation record (policy.SignedKeySet.MarshalBinary) the batch commits
// to:
//
//	+---------------------------+------------+------------------------+
//	| as version 1, from unspent | key set len | rotation record (len) |
//	|                           |    u32     | policy/rotation.go     |
//	+---------------------------+------------+------------------------+
//
// and nothing else: exactly one txid, policy.RotationID of the rotation
// record, of kind kindRotation with no outputs; no spends, no creations.
// Records of batches of transactions stay version 1, byte for byte.
const (
	recordVersion   = 1
	rotationVersion = 2
)

// appendTo encodes the record.
func (r *record) appendTo(b []byte) []byte {
	w := codec.NewWriter(b)
	if r.keySet != nil {
		w = w.U8(rotationVersion)
	} else {
		w = w.U8(recordVersion)
	}
	w = w.U64(r.unspent)
	w = w.U64(r.unspentSum)
	w = w.U32(uint32(len(r.body)))
	w = w.Put(r.body)
	for i := range r.kinds {
		w = w.U8(byte(r.kinds[i]))
		w = w.U16(r.outputs[i])
	}
	w = w.U32(uint32(len(r.dels)))
	for i := range r.dels {
		w = w.Put(r.dels[i][:])
	}
	w = w.U32(uint32(len(r.puts)))
	for i := range r.puts {
		w = w.Put(r.puts[i].id[:])
		w = w.U64(r.puts[i].value)
	}
	if r.keySet != nil {
		w = w.U32(uint32(len(r.keySet))).Put(r.keySet)
	}
	return w.Bytes()
}

// decodeRecord parses a log record strictly: a record that does not
// decode exactly is damage, never something to guess around. The record's
// body aliases b.
func decodeRecord(b []byte) (record, error) {
	var rec record
	r := codec.NewReader(b)
	v := r.U8()
	if v != recordVersion && v != rotationVersion && r.Err() == nil {
		return rec, fmt.Errorf("log record version %d", v)
	}
	rec.unspent = r.U64()
	rec.unspentSum = r.U64()
	rec.body = r.Take(int(r.U32()))
	if err := r.Err(); err != nil {
		return rec, fmt.Errorf("log record: %w", err)
	}
	var err error
	if rec.header, rec.ids, err = decodeBatch(rec.body); err != nil {
		return rec, fmt.Errorf("log record: %w", err)
	}
	if int(rec.header.TxCount) != len(rec.ids) {
		return rec, fmt.Errorf("log record: header counts %d transactions, lists %d", rec.header.TxCount, len(rec.ids))
	}
	n := r.Count(uint64(len(rec.ids)), 1+2)
	rec.kinds = make([]money.Kind, n)
	rec.outputs = make([]uint16, n)
	for i := 0; i < n; i++ {
		rec.kinds[i] = money.Kind(r.U8())
		rec.outputs[i] = r.U16()
	}
	rec.dels = make([]money.NoteID, r.Count(uint64(r.U32()), 32))
	for i := range rec.dels {
		r.Copy(rec.dels[i][:])
	}
	rec.puts = make([]created, r.Count(uint64(r.U32()), 32+8))
	for i := range rec.puts {
		r.Copy(rec.puts[i].id[:])
		rec.puts[i].value = r.U64()
		if rec.puts[i].value == 0 && r.Err() == nil {
			return rec, fmt.Errorf("log record: created note %d has value 0", i)
		}
	}
	if v == rotationVersion {
		rec.keySet = r.Take(int(r.U32()))
		if err := r.Err(); err != nil {
			return rec, fmt.Errorf("log record: %w", err)
		}
		if err := checkRotation(&rec); err != nil {
			return rec, fmt.Errorf("log record: %w", err)
		}
	}
	if err := r.End(); err != nil {
		return rec, fmt.Errorf("log record: %w", err)
	}
	return rec, nil
}

// checkRotation checks the shape of a rotation record: its rotation
// record decodes, and it is the batch's one txid, of kind kindRotation,
// with no notes spent or created.
func checkRotation(rec *record) error {
	var s policy.SignedKeySet
	if err := s.UnmarshalBinary(rec.keySet); err != nil {
		return err
	}
	if len(rec.ids) != 1 || rec.ids[0] != policy.RotationID(rec.keySet) {
		return fmt.Errorf("rotation of batch %d: its txids are not the rotation's ID", rec.header.Seq)
	}
	if rec.kinds[0] != kindRotation || rec.outputs[0] != 0 || len(rec.dels) != 0 || len(rec.puts) != 0 {
		return fmt.Errorf("rotation of batch %d spends, creates or names a transaction", rec.header.Seq)
	}
	return nil
}

// A replicated entry is what a replicated ledger proposes through
// consensus for one batch when it keeps the archive (Config.Archive): the
// batch's log record and its archive entry, so that every replica can
// write the archive as the unreplicated commit path does. A bare log
// record (starting with recordVersion) is an entry too: that is what a
// ledger without the archive proposes, and what raft logs written before
// entries existed hold.
//
//	+---------+------------+--------------------------+-----------------+
//	| version | record len | log record (record len)  | archive entry   |
//	| u8=0x80 |    u32     | as drawn above           | the rest        |
//	+---------+------------+--------------------------+-----------------+
//
// The version is one no log record starts with (records count theirs up
// from 1). The decoder is strict: both parts must decode, and the archive
// must hold exactly one transaction per txid of the record.
const entryVersion = 0x80

// appendEntry appends the replicated entry of a log record rec and its
// archive entry arch to b; with arch nil the entry is rec itself.
func appendEntry(b, rec, arch []byte) []byte {
	if arch == nil {
		return append(b, rec...)
	}
	w := codec.NewWriter(b).U8(entryVersion).U32(uint32(len(rec)))
	return append(w.Put(rec).Bytes(), arch...)
}

// decodeEntry parses a replicated entry: the log record's bytes, the
// record, and the archive entry's bytes (nil when the entry carries
// none). The slices alias b.
func decodeEntry(b []byte) (recBytes []byte, rec record, arch []byte, err error) {
	if len(b) == 0 || b[0] != entryVersion {
		rec, err = decodeRecord(b)
		return b, rec, nil, err
	}
	r := codec.NewReader(b)
	r.U8()
	recBytes = r.Take(int(r.U32()))
	if err := r.Err(); err != nil {
		return nil, record{}, nil, fmt.Errorf("replicated entry: %w", err)
	}
	arch = b[len(b)-r.Len():]
	if rec, err = decodeRecord(recBytes); err != nil {
		return nil, record{}, nil, fmt.Errorf("replicated entry: %w", err)
	}
	txs, err := decodeArchive(arch)
	if err != nil {
		return nil, record{}, nil, fmt.Errorf("replicated entry: %w", err)
	}
	if len(txs) != len(rec.ids) {
		return nil, record{}, nil, fmt.Errorf("replicated entry: archive holds %d transactions for %d txids", len(txs), len(rec.ids))
	}
	return recBytes, rec, arch, nil
}

// meta is the store's value under keyMeta: the running totals after batch
// seq, rewritten with every batch.
//
//	 0       8                 40       48         56        64          72
//	+-------+-----------------+--------+----------+---------+-----------+
//	|  seq  |  head (32)      | minted | redeemed | unspent |unspent sum|
//	|  u64  |  hash of header |  u64   |   u64    |   u64   |    u64    |
//	|       |  seq            |        |          | (notes) |  (value)  |
//	+-------+-----------------+--------+----------+---------+-----------+
const metaSize = 8 + 32 + 8 + 8 + 8 + 8

func (m *meta) encode() []byte {
	w := codec.NewWriter(make([]byte, 0, metaSize))
	w = w.U64(m.seq)
	w = w.Put(m.head[:])
	w = w.U64(m.minted)
	w = w.U64(m.redeemed)
	w = w.U64(m.unspent)
	w = w.U64(m.unspentSum)
	return w.Bytes()
}

func (m *meta) decode(b []byte) error {
	var v meta
	r := codec.NewReader(b)
	v.seq = r.U64()
	r.Copy(v.head[:])
	v.minted = r.U64()
	v.redeemed = r.U64()
	v.unspent = r.U64()
	v.unspentSum = r.U64()
	if r.End() != nil {
		return fmt.Errorf("ledger meta: %d bytes, want %d", len(b), metaSize)
	}
	*m = v
	return nil
}

// txLoc is the store's value under a txid's key (prefixTx): where the
// transaction sits in the log, its kind, and how many notes it created
// (which tells a spend of a note that was never created from one of a note
// that was).
//
//	 0       8       12     13        15
//	+-------+-------+------+---------+
//	|  seq  | index | kind | outputs |
//	|  u64  |  u32  |  u8  |   u16   |
//	+-------+-------+------+---------+
type txLoc struct {
	seq     uint64 // the batch
	index   uint32 // position among the batch's txids
	kind    money.Kind
	outputs uint16
}

const txLocSize = 8 + 4 + 1 + 2

// put encodes t into v, the fixed-size value the commit path writes.
func (t *txLoc) put(v *[txLocSize]byte) {
	codec.NewWriter(v[:0]).U64(t.seq).U32(t.index).U8(byte(t.kind)).U16(t.outputs)
}

func decodeTxLoc(b []byte) (txLoc, error) {
	var t txLoc
	r := codec.NewReader(b)
	t.seq = r.U64()
	t.index = r.U32()
	t.kind = money.Kind(r.U8())
	t.outputs = r.U16()
	if r.End() != nil {
		return txLoc{}, fmt.Errorf("txid location: %d bytes, want %d", len(b), txLocSize)
	}
	return t, nil
}

// An old-format note value is the value of a note key (prefixNote) in a
// store written before snapshots: the note's value, u64, 8 bytes. It is
// only read, by the migration (loadIndex).
func decodeNoteValue(b []byte) (uint64, error) {
	r := codec.NewReader(b)
	v := r.U64()
	if r.End() != nil || v == 0 {
		return 0, fmt.Errorf("note value: %d bytes holding %d", len(b), v)
	}
	return v, nil
}

// A snapshot file holds one shard's unspent notes as of batch seq
// (snap/SSS-SEQ.snap):
//
//	 0              8       10       12      20      28      36
//	+--------------+-------+--------+-------+-------+-------+
//	| "SPCSNAP1"   | shard | shards |  seq  | count |  sum  |
//	|  magic (8)   |  u16  |  u16   |  u64  |  u64  |  u64  |
//	+--------------+-------+--------+-------+-------+-------+
//	| count x (note ID, first 24 bytes; value u64, never 0)  |  32 bytes each
//	+--------------------------------------------------------+
//	| crc32c u32 (Castagnoli) over everything before it       |
//	+--------------------------------------------------------+
//
// count and sum are the notes that follow and their total; the file is
// exactly 36 + 32*count + 4 bytes. The magic's last character is the
// format's version.
const (
	snapMagic     = "SPCSNAP1"
	snapHeadSize  = 8 + 2 + 2 + 8 + 8 + 8
	snapEntrySize = 24 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapHead is a snapshot's header.
type snapHead struct {
	shard, shards uint16
	seq           uint64
	count, sum    uint64
}

func (h *snapHead) appendTo(b []byte) []byte {
	w := codec.NewWriter(b)
	w = w.Put([]byte(snapMagic))
	w = w.U16(h.shard)
	w = w.U16(h.shards)
	w = w.U64(h.seq)
	w = w.U64(h.count)
	w = w.U64(h.sum)
	return w.Bytes()
}

func decodeSnapHead(b []byte) (snapHead, error) {
	var h snapHead
	r := codec.NewReader(b)
	magic := r.Take(len(snapMagic))
	h.shard = r.U16()
	h.shards = r.U16()
	h.seq = r.U64()
	h.count = r.U64()
	h.sum = r.U64()
	if err := r.End(); err != nil {
		return snapHead{}, fmt.Errorf("header: %w", err)
	}
	if string(magic) != snapMagic {
		return snapHead{}, fmt.Errorf("header: magic %q, want %q", magic, snapMagic)
	}
	return h, nil
}

// encodeSnapshot writes a snapshot of the occupied slots (value != 0) to
// w: header, notes in slot order, checksum. It buffers its writes (up to 1
// MiB), and the checksum is computed over the buffered chunks, not note by
// note.
func encodeSnapshot(w io.Writer, shard, shards int, seq uint64, slots []slot) error {
	h := snapHead{shard: uint16(shard), shards: uint16(shards), seq: seq}
	for i := range slots {
		if slots[i].value != 0 {
			h.count++
			h.sum += slots[i].value // the shard's notes sum to at most the supply
		}
	}
	crc := crc32.New(castagnoli)
	// The checksum first: vfs.File.Write may modify what it is given
	// (vfs.MemFS does, in race and invariants builds).
	bw := bufio.NewWriterSize(io.MultiWriter(crc, w), int(min(snapHeadSize+snapEntrySize*h.count, 1<<20)))
	var buf [snapHeadSize]byte
	bw.Write(h.appendTo(buf[:0]))
	var e [snapEntrySize]byte
	for i := range slots {
		if slots[i].value != 0 {
			bw.Write(codec.NewWriter(e[:0]).Put(slots[i].key[:]).U64(slots[i].value).Bytes())
		}
	}
	if err := bw.Flush(); err != nil { // the first error of any Write
		return err
	}
	_, err := w.Write(codec.NewWriter(buf[:0]).U32(crc.Sum32()).Bytes())
	return err
}

// decodeSnapshot reads a snapshot of size bytes from r, checking its
// length, header, values, checksum and sum. accept vets the header (which
// shard and batch it must be) before any note is read; put receives each
// note in file order.
func decodeSnapshot(r io.Reader, size int64, accept func(*snapHead) error, put func(key *[24]byte, value uint64) error) (snapHead, error) {
	if size < snapHeadSize+4 || (size-snapHeadSize-4)%snapEntrySize != 0 {
		return snapHead{}, fmt.Errorf("%d bytes", size)
	}
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(io.TeeReader(io.LimitReader(r, size-4), crc), int(min(size, 1<<20)))
	var buf [snapHeadSize]byte
	if _, err := io.ReadFull(br, buf[:]); err != nil {
		return snapHead{}, err
	}
	h, err := decodeSnapHead(buf[:])
	if err != nil {
		return h, err
	}
	if err := accept(&h); err != nil {
		return h, err
	}
	if h.count != uint64(size-snapHeadSize-4)/snapEntrySize {
		return h, fmt.Errorf("header counts %d notes in %d bytes", h.count, size)
	}
	var e [snapEntrySize]byte
	var key [24]byte
	var got uint64
	for i := uint64(0); i < h.count; i++ {
		if _, err := io.ReadFull(br, e[:]); err != nil {
			return h, err
		}
		er := codec.NewReader(e[:])
		er.Copy(key[:])
		v := er.U64()
		if v == 0 {
			return h, fmt.Errorf("note %d has value 0", i)
		}
		if got, err = money.Add(got, v); err != nil {
			return h, errors.New("values overflow")
		}
		if err := put(&key, v); err != nil {
			return h, err
		}
	}
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return h, err
	}
	tr := codec.NewReader(tail[:])
	if tr.U32() != crc.Sum32() {
		return h, errors.New("checksum mismatch")
	}
	if got != h.sum {
		return h, fmt.Errorf("notes sum to %d, header says %d", got, h.sum)
	}
	return h, nil
}
