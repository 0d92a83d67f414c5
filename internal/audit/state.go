package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/specie/specie/internal/codec"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// The auditor's state, in a Pebble store of its own under --state, so that
// a daily run replays only the batches committed since the last one. Keys:
//
//	"meta"               -> savedMeta, JSON (decodeMeta)
//	'u' + note ID (32)   -> value u64: the auditor's unspent set
//	's' + note ID (32)   -> batch u64, tx u32: where a spent note was spent
//	'h' + seq u64        -> verifiedHeader: what each verified batch hashed to
//	'd' + step ID (32)   -> batch u64, tx u32: where the coordinator's log
//	                        of a sharded network logged a step (sharded.go)
//
// Every change of one run is written in store batches that carry the meta
// last, the final one synced: a crash mid-run leaves the state of the last
// chunk written, whose meta says how far it goes.
const (
	keyStateMeta  = "meta"
	prefixUnspent = 'u'
	prefixSpent   = 's'
	prefixHeader  = 'h'
	prefixStep    = 'd'
	stateVersion  = 1
)

// savedMeta is how far the auditor got and what it trusts.
type savedMeta struct {
	Version int                `json:"version"`
	Trust   Trust              `json:"trust"`
	Head    *money.BatchHeader `json:"head,omitempty"` // last verified header; nil before batch 1
	Totals  Totals             `json:"totals"`
	// Findings counts everything reported by every run so far, so a clean
	// daily run still shows that an earlier one was not clean.
	Findings uint64 `json:"findings"`
	// Signed is the log's checkpoint as the last run verified it: the next
	// run checks the log signed then is a prefix of the log signed now.
	Signed *signedState `json:"signed,omitempty"`
	// Rotations are the officer key rotations verified in the log so far,
	// in order (keys.go): the next run checks mints against the last.
	Rotations []savedRotation `json:"rotations,omitempty"`
}

// signedState is a verified checkpoint's text (its signature was checked
// when it was saved).
type signedState struct {
	Text string `json:"text"`
}

// decodeMeta reads the state's meta strictly: it is the auditor's own
// file, and a damaged one must stop the run rather than restart the audit
// from a guess.
func decodeMeta(b []byte) (savedMeta, error) {
	var m savedMeta
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return savedMeta{}, fmt.Errorf("auditor state: %w", err)
	}
	if d.More() {
		return savedMeta{}, fmt.Errorf("auditor state: trailing data")
	}
	if m.Version != stateVersion {
		return savedMeta{}, fmt.Errorf("auditor state: version %d, want %d", m.Version, stateVersion)
	}
	if err := m.Trust.Validate(); err != nil {
		return savedMeta{}, fmt.Errorf("auditor state: trust: %w", err)
	}
	if m.Head != nil && m.Head.Seq == 0 {
		return savedMeta{}, fmt.Errorf("auditor state: head at batch 0")
	}
	return m, nil
}

// A verified header record: what batch seq hashed to when the auditor
// verified it, and the totals its header committed to then.
//
//	+-----------------+--------+----------+
//	| header hash (32)| minted | redeemed |
//	|                 |  u64   |   u64    |
//	+-----------------+--------+----------+
type verifiedHeader struct {
	Hash     money.Hash
	Minted   uint64
	Redeemed uint64
}

const verifiedHeaderSize = 32 + 8 + 8

func (v *verifiedHeader) encode() []byte {
	return codec.NewWriter(make([]byte, 0, verifiedHeaderSize)).Put(v.Hash[:]).U64(v.Minted).U64(v.Redeemed).Bytes()
}

func decodeVerifiedHeader(b []byte) (verifiedHeader, error) {
	var v verifiedHeader
	r := codec.NewReader(b)
	r.Copy(v.Hash[:])
	v.Minted = r.U64()
	v.Redeemed = r.U64()
	if err := r.End(); err != nil {
		return verifiedHeader{}, fmt.Errorf("verified header: %d bytes, want %d", len(b), verifiedHeaderSize)
	}
	return v, nil
}

// A spend record: where a note was spent.
//
//	+-------+------+
//	| batch |  tx  |
//	|  u64  | u32  |
//	+-------+------+
const spendSize = 8 + 4

func decodeSpend(b []byte) (Loc, error) {
	r := codec.NewReader(b)
	l := Loc{Batch: r.U64(), Tx: r.U32()}
	if err := r.End(); err != nil {
		return Loc{}, fmt.Errorf("spend record: %d bytes, want %d", len(b), spendSize)
	}
	return l, nil
}

func decodeValue(b []byte) (uint64, error) {
	r := codec.NewReader(b)
	v := r.U64()
	if err := r.End(); err != nil || v == 0 {
		return 0, fmt.Errorf("unspent note value: %d bytes holding %d", len(b), v)
	}
	return v, nil
}

func noteKey(prefix byte, id *money.NoteID) []byte {
	k := make([]byte, 33)
	k[0] = prefix
	copy(k[1:], id[:])
	return k
}

func headerKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixHeader}, seq)
}

// state is the auditor's store with the writes of the chunk in progress:
// pend holds them for reading back (nil: deleted) until flush commits them.
type state struct {
	db   *store.DB
	b    *store.Batch
	pend map[string][]byte
}

// openState opens the state under dir; dir "" keeps it in memory (a
// one-off audit from genesis that saves nothing).
func openState(dir string) (*state, error) {
	var fs vfs.FS
	if dir == "" {
		fs, dir = vfs.NewMem(), "audit"
	}
	db, err := store.Open(dir, store.Options{CacheBytes: 32 << 20, FS: fs})
	if err != nil {
		return nil, fmt.Errorf("open auditor state: %w", err)
	}
	return &state{db: db, b: db.NewBatch(), pend: make(map[string][]byte)}, nil
}

func (s *state) close() error {
	s.b.Discard()
	return s.db.Close()
}

// get reads key through the pending writes.
func (s *state) get(key []byte) ([]byte, bool, error) {
	if v, ok := s.pend[string(key)]; ok {
		return v, v != nil, nil
	}
	v, err := s.db.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (s *state) set(key, v []byte) {
	s.b.Set(key, v)
	s.pend[string(key)] = v
}

func (s *state) del(key []byte) {
	s.b.Delete(key)
	s.pend[string(key)] = nil
}

// meta reads the saved meta; ok false on a fresh state.
func (s *state) meta() (savedMeta, bool, error) {
	b, ok, err := s.get([]byte(keyStateMeta))
	if err != nil || !ok {
		return savedMeta{}, false, err
	}
	m, err := decodeMeta(b)
	return m, err == nil, err
}

// flush commits the chunk in progress with m as its meta (synced when
// sync), so the store never holds notes of a batch its meta does not
// count.
func (s *state) flush(m *savedMeta, sync bool) error {
	m.Version = stateVersion
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("auditor state: %w", err)
	}
	s.b.Set([]byte(keyStateMeta), b)
	if err := s.b.Commit(sync); err != nil {
		return fmt.Errorf("save auditor state: %w", err)
	}
	s.b = s.db.NewBatch()
	clear(s.pend)
	return nil
}

func (s *state) header(seq uint64) (verifiedHeader, bool, error) {
	b, ok, err := s.get(headerKey(seq))
	if err != nil || !ok {
		return verifiedHeader{}, false, err
	}
	v, err := decodeVerifiedHeader(b)
	return v, err == nil, err
}

func (s *state) putHeader(seq uint64, v verifiedHeader) { s.set(headerKey(seq), v.encode()) }

// The notes interface over the store.

func (s *state) unspent(id *money.NoteID) (uint64, bool, error) {
	b, ok, err := s.get(noteKey(prefixUnspent, id))
	if err != nil || !ok {
		return 0, false, err
	}
	v, err := decodeValue(b)
	return v, err == nil, err
}

func (s *state) spentAt(id *money.NoteID) (Loc, bool, error) {
	b, ok, err := s.get(noteKey(prefixSpent, id))
	if err != nil || !ok {
		return Loc{}, false, err
	}
	l, err := decodeSpend(b)
	return l, err == nil, err
}

func (s *state) spend(id *money.NoteID, at Loc) error {
	s.del(noteKey(prefixUnspent, id))
	s.set(noteKey(prefixSpent, id), codec.NewWriter(make([]byte, 0, spendSize)).U64(at.Batch).U32(at.Tx).Bytes())
	return nil
}

func (s *state) create(id *money.NoteID, value uint64) error {
	s.set(noteKey(prefixUnspent, id), binary.BigEndian.AppendUint64(nil, value))
	return nil
}

func (s *state) mark(id *money.Hash, at Loc) error {
	s.set(noteKey(prefixStep, id), codec.NewWriter(make([]byte, 0, spendSize)).U64(at.Batch).U32(at.Tx).Bytes())
	return nil
}

func (s *state) markedAt(id *money.Hash) (Loc, bool, error) {
	b, ok, err := s.get(noteKey(prefixStep, id))
	if err != nil || !ok {
		return Loc{}, false, err
	}
	l, err := decodeSpend(b)
	return l, err == nil, err
}
