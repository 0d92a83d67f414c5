// Package ledger is Specie's ledger core: stateless validation of
// transactions and a deterministic, sharded commit state machine over the
// set of unspent note IDs, with a hash-chained, Merkle-rooted log of batches.
//
// The state machine has no network or clock of its own. Transactions reach
// it in batches; the state after batch k depends only on batches 1..k and
// their order, never on timing, so the batch log can later be replicated by a
// consensus engine. Durability is a log of batches (internal/store's Log,
// one fsync per batch: group commit) plus periodic per-shard snapshots of the
// unspent set; Pebble holds what is looked up by key (durable.go).
package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Config sets up a ledger. Network and the authority keys must be the same
// on every restart.
type Config struct {
	Network    money.Network
	MintKeys   []crypto.PublicKey // issuer officer keys
	MintQuorum int                // approvals a mint needs
	RedeemKeys []crypto.PublicKey // issuer keys that acknowledge a redeem
	Shards     int                // partitions of the unspent set by note-ID prefix; default 16
	MaxBatch   int                // transactions per commit (per fsync); default 1024
	CacheBytes int64              // Pebble block cache; default 256 MiB
	// Verifiers is how many goroutines verify signatures; default one per
	// core (not per P: Ps beyond the cores stay free for the commit loop
	// and the submitters, so they never queue behind a verification).
	Verifiers int
	// SnapshotEvery is how many bytes of log are written between two shard
	// snapshots (one shard at a time, the oldest first); default 32 MiB. The log
	// kept is about Shards times this.
	SnapshotEvery int64
	// SnapshotSlice is how much of a shard's snapshot the commit loop copies
	// after each batch; default 4 MiB. A shard changed while it is being
	// copied has the changed part copied first, so the copy is exact.
	SnapshotSlice int64
	// SnapshotRate caps how fast a background snapshot is written, in
	// bytes a second, so that it never takes a core away from commits in
	// one burst; default 128 MiB/s.
	SnapshotRate int64
	// LogSegmentBytes is the size of one log file; default 64 MiB.
	LogSegmentBytes int64
	Logger          *slog.Logger
	// Archive keeps every committed transaction in full (with its
	// signatures) so that Batch can serve whole batches to an independent
	// auditor (internal/audit). The log itself holds only note IDs and is
	// cut behind the snapshots, so without the archive the signatures are
	// gone once a batch commits. It costs one synced store write per batch
	// before the log's own (see persist), so it is off by default and the
	// load generator measures the ledger without it; `specie up` and
	// `specie serve` turn it on.
	Archive bool
	// FS is the filesystem every file of the ledger lives on: the log, the
	// snapshots and the store. nil means the operating system's
	// (vfs.Default, a thin wrapper of os.File). Tests put a crashable
	// in-memory filesystem or an error-injecting one here.
	FS vfs.FS
	// OnApply, if not nil, sees every batch a replicated ledger applies
	// (replicated.go) with the SHA-256 of its record, which holds the
	// batch's header, its spends and creations and the totals after it:
	// tests compare these across replicas, batch by batch.
	OnApply func(seq uint64, record [32]byte)
	// Log, when not nil, is the consensus log a replicated ledger's
	// batches are durable in (replicated.go): ApplyRecord then keeps no log
	// of its own and syncs nothing, and Open redoes the batches after the
	// snapshots from Log. Unreplicated ledgers leave it nil.
	Log RecordLog
}

// Ledger is an open ledger core. It implements roles.Ledger.
type Ledger struct {
	cfg        Config
	net        money.Network
	db         *store.DB
	wal        *store.Log
	fs         vfs.FS
	snapPath   string
	redeemKeys map[[32]byte]bool
	log        *slog.Logger

	// auth is the officer key set mints are checked against now, and
	// epochs the rotations applied (keys.go); epochs is guarded by mu.
	// rotq carries rotations to the commit loop, which commits each as a
	// batch of its own.
	auth   atomic.Pointer[mintAuth]
	epochs []roles.KeyEpoch
	rotq   chan *rotation

	// queue carries a submission's valid transactions to the commit loop
	// in pieces of at most MaxBatch, so that a lone submitter's batches are
	// the same on every run (a batch never takes half a piece because the
	// commit loop woke before the submitter sent the rest); queued counts
	// the transactions in it.
	queue   chan []*checked
	queued  atomic.Int64
	verifyQ chan *part
	// signers keeps the expanded public keys of owners who spend again,
	// shared by the verifiers (crypto.KeyCache).
	signers *crypto.KeyCache
	closed  chan struct{}
	// gate orders submissions against Close: senders hold it shared, Close
	// takes it exclusively, so nothing is queued after the queues drain.
	gate sync.RWMutex
	wg   sync.WaitGroup

	// repl is the consensus the ledger commits through, nil when it
	// runs alone (replicated.go).
	repl atomic.Pointer[Replicator]

	stats counters
	// stepMu is held for each state machine step (a batch, or genesis),
	// so genesis cannot interleave with a commit.
	stepMu sync.Mutex
	ops    []writeOp // reused by the commit loop
	cur    record    // reused by the commit loop: the batch being committed
	rec    []byte    // reused by the commit loop: cur, encoded
	arch   []byte    // reused by the commit loop: the archive entry (Config.Archive)
	notes  *noteSet  // in-memory index of the unspent set

	// Snapshots, owned by the commit loop (see durable.go).
	snapSeq  []uint64 // per shard: the batch its snapshot on disk is of (0: none)
	snapBusy bool     // a snapshot is being copied or written
	copying  *cowCopy // the shard copy in progress, or nil
	copyJob  snapJob  // what it is a copy of
	snapDone chan snapJob
	snapBuf  []byte // staging copy of one shard, outside the Go heap
	logBytes int64  // bytes of log written since open
	snapMark int64  // logBytes when the last snapshot started
	// durable is what Durable reports: with Config.Log the oldest shard
	// snapshot, else the last batch applied.
	durable atomic.Uint64

	mu   sync.RWMutex // guards meta, and fatal for readers outside the commit loop
	meta meta
	// fatal is the storage failure that stopped the ledger; nothing after
	// it commits. Set by stop (under stepMu and mu), read by the commit
	// loop under stepMu and by readers under mu (stopped).
	fatal error
}

// stop records the storage failure that stops the ledger. Caller holds
// stepMu.
func (l *Ledger) stop(err error) {
	l.mu.Lock()
	l.fatal = err
	l.mu.Unlock()
}

// stopped is the failure that stopped the ledger, or nil, for readers
// outside the commit loop.
func (l *Ledger) stopped() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.fatal
}

var _ roles.Ledger = (*Ledger)(nil)

// Open opens or creates a ledger in dir and starts its commit loop.
func Open(dir string, cfg Config) (*Ledger, error) {
	if err := cfg.Network.Validate(); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	if cfg.MintQuorum < 1 || cfg.MintQuorum > len(cfg.MintKeys) {
		return nil, fmt.Errorf("open ledger: mint quorum %d of %d keys", cfg.MintQuorum, len(cfg.MintKeys))
	}
	if len(keySet(cfg.MintKeys)) != len(cfg.MintKeys) {
		// A repeated key would count once, and could make the quorum
		// unreachable without anyone noticing until a mint failed.
		return nil, fmt.Errorf("open ledger: a mint key is listed twice")
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 16
	}
	if cfg.Shards > 256 {
		return nil, fmt.Errorf("open ledger: %d shards, at most 256", cfg.Shards)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 256 << 20
	}
	if cfg.Verifiers <= 0 {
		cfg.Verifiers = min(runtime.NumCPU(), runtime.GOMAXPROCS(0))
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 32 << 20
	}
	if cfg.SnapshotSlice <= 0 {
		cfg.SnapshotSlice = 4 << 20
	}
	if cfg.SnapshotRate <= 0 {
		cfg.SnapshotRate = 128 << 20
	}
	if cfg.LogSegmentBytes <= 0 {
		cfg.LogSegmentBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	db, err := store.Open(dir, store.Options{CacheBytes: cfg.CacheBytes, FS: fs})
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	wal, err := store.OpenLog(fs.PathJoin(dir, walDir), store.LogOptions{SegmentBytes: cfg.LogSegmentBytes, FS: fs})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	l := &Ledger{
		cfg:        cfg,
		net:        cfg.Network,
		db:         db,
		wal:        wal,
		fs:         fs,
		snapPath:   fs.PathJoin(dir, snapDir),
		snapDone:   make(chan snapJob, 1),
		redeemKeys: keySet(cfg.RedeemKeys),
		log:        cfg.Logger.With("role", "ledger"),
		queue:      make(chan []*checked, 4*cfg.MaxBatch),
		verifyQ:    make(chan *part, 1024),
		signers:    crypto.NewKeyCache(signerKeys),
		rotq:       make(chan *rotation),
		closed:     make(chan struct{}),
	}
	if err := l.loadMeta(); err != nil {
		l.closeStorage()
		return nil, err
	}
	if err := l.checkNetwork(); err != nil {
		l.closeStorage()
		return nil, err
	}
	if l.notes, err = newNoteSet(cfg.Shards); err != nil {
		l.closeStorage()
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	if err := l.recoverState(); err != nil {
		l.closeStorage()
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	// After recovery, which redoes the store keys of the batches the log
	// holds, rotation batches included.
	if err := l.loadKeySets(); err != nil {
		l.closeStorage()
		return nil, err
	}
	l.wg.Add(1)
	go l.commitLoop()
	for i := 0; i < cfg.Verifiers; i++ {
		l.wg.Add(1)
		go l.verifier()
	}
	return l, nil
}

func keySet(keys []crypto.PublicKey) map[[32]byte]bool {
	m := make(map[[32]byte]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// Close stops accepting transactions, finishes the batch in flight and
// closes the store.
func (l *Ledger) Close() error {
	l.gate.Lock()
	select {
	case <-l.closed:
		l.gate.Unlock()
		return nil
	default:
	}
	close(l.closed)
	l.gate.Unlock()
	l.wg.Wait()
	// Parts the verifiers did not reach: fail them so submitters return.
	for {
		select {
		case p := <-l.verifyQ:
			for _, c := range p.cs {
				if c.err == nil {
					c.err = errcode.New(errcode.Unavailable, "ledger is shutting down")
				}
			}
			p.wg.Done()
			continue
		default:
		}
		break
	}
	return l.closeStorage()
}

// closeStorage releases the index, the log and the store.
func (l *Ledger) closeStorage() error {
	if l.notes != nil {
		l.notes.close()
	}
	if l.snapBuf != nil {
		syscall.Munmap(l.snapBuf)
		l.snapBuf = nil
	}
	err := l.wal.Close()
	if cerr := l.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Info describes the network.
func (l *Ledger) Info(context.Context) (roles.LedgerInfo, error) {
	return roles.LedgerInfo{
		Network:    l.net,
		MintKeys:   l.cfg.MintKeys,
		MintQuorum: l.cfg.MintQuorum,
		RedeemKeys: l.cfg.RedeemKeys,
		Shards:     l.cfg.Shards,
		KeySets:    l.keysInfo(),
	}, nil
}

// Submit validates tx and waits until it is durably committed or rejected.
func (l *Ledger) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	rs, err := l.SubmitBatch(ctx, []*money.Tx{tx})
	if err != nil {
		return roles.Receipt{}, err
	}
	return rs[0].Receipt, rs[0].Err
}

// SubmitBatch validates txs on all cores, queues the valid ones for commit
// in the given order, and waits for every outcome.
//
// Signatures are verified by a pool of verifier goroutines, one per core,
// that each gather queued work from all submitters into batches of up to
// verifyBatch transactions: under load every batch is large (cheapest per
// signature), with no load a lone transaction is verified at once.
func (l *Ledger) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	if r := l.replicator(); r != nil {
		// A follower says who leads before any signature is checked: the
		// leader checks them again.
		if err := r.Lead(); err != nil {
			return nil, err
		}
	}
	cs := make([]*checked, len(txs))
	for i, tx := range txs {
		cs[i] = l.prepare(tx)
	}
	return l.submit(ctx, cs, true, nil)
}

// submit verifies the signatures of prepared transactions (unless sigs is
// false: SubmitPart of a step whose transaction was verified before), lets
// verified (when not nil) turn each valid one into what is committed
// (SubmitPart), queues them for commit in order and waits for every
// outcome.
func (l *Ledger) submit(ctx context.Context, cs []*checked, sigs bool, verified func(*checked)) ([]roles.Result, error) {
	// Split into parts for the verifiers; wait for all of them, then queue
	// for commit in the caller's order.
	var wg sync.WaitGroup
	l.gate.RLock()
	select {
	case <-l.closed:
		l.gate.RUnlock()
		return nil, errcode.New(errcode.Unavailable, "ledger is shutting down")
	default:
	}
	for s := 0; sigs && s < len(cs); s += verifyBatch {
		wg.Add(1)
		l.verifyQ <- &part{cs: cs[s:min(s+verifyBatch, len(cs))], wg: &wg}
	}
	l.gate.RUnlock()
	wg.Wait()

	l.gate.RLock()
	shut := false
	select {
	case <-l.closed:
		shut = true
	default:
	}
	ready := make([]*checked, 0, len(cs))
	for _, c := range cs {
		if c.err == nil && verified != nil {
			verified(c)
		}
		if c.err == nil && shut {
			c.err = errcode.New(errcode.Unavailable, "ledger is shutting down")
		}
		if c.err != nil {
			l.stats.mu.Lock()
			l.stats.reject(c.err)
			l.stats.mu.Unlock()
			continue
		}
		c.done = make(chan result, 1)
		ready = append(ready, c)
	}
	for s := 0; s < len(ready); s += l.cfg.MaxBatch {
		piece := ready[s:min(s+l.cfg.MaxBatch, len(ready))]
		// Close cannot begin while the gate is held, so the commit loop is
		// alive and the queue drains.
		l.queued.Add(int64(len(piece)))
		select {
		case l.queue <- piece:
		case <-ctx.Done():
			l.queued.Add(-int64(len(piece)))
			for _, c := range piece {
				c.err = errcode.New(errcode.Unavailable, "submit: %v", ctx.Err())
				c.done = nil
			}
		}
	}
	l.gate.RUnlock()
	out := make([]roles.Result, len(cs))
	for i, c := range cs {
		out[i].Receipt.TxID = c.id
		if c.done == nil {
			out[i].Err = c.err
			continue
		}
		// Once queued, the outcome is decided by the commit loop; wait for
		// it even if ctx ends, so no caller is told "failed" for a
		// transaction that then commits.
		r := <-c.done
		out[i].Err = r.err
		out[i].Receipt.Batch = r.receipt.batch
		out[i].Receipt.Index = r.receipt.index
	}
	return out, nil
}

// signerKeys is how many owners' keys the verifiers keep expanded: a
// wallet that pays again is verified about a third faster per signature.
// Up to twice this many keys are held, about 1.5 KB each: 24 MB at most.
const signerKeys = 8192

// verifyBatch is how many transactions a verifier checks at once: about
// 512 signatures, where batch verification is cheapest per signature.
const verifyBatch = 256

// part is a slice of one submission waiting for signature verification.
type part struct {
	cs []*checked
	wg *sync.WaitGroup
}

// verifier takes parts from all submitters, gathers what is waiting into
// one batch and verifies it.
func (l *Ledger) verifier() {
	defer l.wg.Done()
	b := crypto.NewBatch(2 * verifyBatch).WithKeys(l.signers)
	var parts []*part
	var cs []*checked
	for {
		select {
		case p := <-l.verifyQ:
			parts = append(parts[:0], p)
		case <-l.closed:
			return
		}
		n := len(parts[0].cs)
	gather:
		for n < verifyBatch {
			select {
			case p := <-l.verifyQ:
				parts = append(parts, p)
				n += len(p.cs)
			default:
				break gather
			}
		}
		cs = cs[:0]
		for _, p := range parts {
			cs = append(cs, p.cs...)
		}
		l.verifySigs(b, cs)
		for _, p := range parts {
			p.wg.Done()
		}
	}
}

// enter admits a call that uses the store or the note index, or says the
// ledger is closed. The caller must call release when done.
func (l *Ledger) enter() (release func(), err error) {
	l.gate.RLock()
	select {
	case <-l.closed:
		l.gate.RUnlock()
		return nil, errcode.New(errcode.Unavailable, "ledger is closed")
	default:
		return l.gate.RUnlock, nil
	}
}

// Health reports whether the ledger takes writes: unavailable once it is
// closed, or stopped after a storage failure (a restart recovers it from
// the log). GET /healthz answers with it.
func (l *Ledger) Health(context.Context) error {
	release, err := l.enter()
	if err != nil {
		return err
	}
	defer release()
	if ferr := l.stopped(); ferr != nil {
		return errcode.New(errcode.Unavailable, "ledger stopped after a storage failure; restart it: %v", ferr)
	}
	return nil
}

// checkNetwork pins the network on first open: note IDs, signatures and
// the log's hashes are bound to it, so reopening under another one would
// strand every note and break the chain.
func (l *Ledger) checkNetwork() error {
	want := fmt.Appendf(nil, "%s/%s/%d", l.net.ID, l.net.Currency.Code, l.net.Currency.Exponent)
	got, err := l.db.Get([]byte(keyNetwork))
	if errors.Is(err, store.ErrNotFound) {
		b := l.db.NewBatch()
		b.Set([]byte(keyNetwork), want)
		return b.Commit(true)
	}
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("open ledger: the data directory belongs to network %s, not %s", got, want)
	}
	return nil
}

// Keys in the store. Note IDs are spread evenly, so a shard (a range of
// note-ID prefixes) is a contiguous key range.
const (
	prefixNote  = 'n' // 'n' + note ID -> value (8 bytes); only in stores of the old format
	prefixTx    = 't' // 't' + txid -> txLoc (format.go)
	prefixBatch = 'b' // 'b' + seq (8) -> the batch body (format.go)
	keyMeta     = "m" // -> meta (format.go)
	keyNetwork  = "c" // network ID, currency code and exponent
	// prefixArchive + seq (8) -> the batch's transactions in full
	// (format.go), kept only with Config.Archive.
	prefixArchive = 'x'
)

// hashKey is the store key of a note (prefixNote) or a txid (prefixTx).
func hashKey(prefix byte, id *money.Hash) (k [33]byte) {
	k[0] = prefix
	copy(k[1:], id[:])
	return k
}

func keySlice(k [33]byte) []byte { return k[:] }

func batchKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixBatch}, seq)
}

func archiveKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixArchive}, seq)
}

// shardOf maps a note ID to its shard by its first two bytes.
func (l *Ledger) shardOf(id *money.NoteID) int {
	return int(uint32(binary.BigEndian.Uint16(id[:2])) * uint32(l.cfg.Shards) >> 16)
}

// meta is the ledger's running totals, persisted with every batch.
type meta struct {
	seq        uint64     // last committed batch
	head       money.Hash // hash of header seq
	minted     uint64
	redeemed   uint64
	unspent    uint64 // number of unspent notes
	unspentSum uint64 // their total value
}

func (l *Ledger) loadMeta() error {
	b, err := l.db.Get([]byte(keyMeta))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load ledger meta: %w", err)
	}
	if err := l.meta.decode(b); err != nil {
		return err
	}
	if err := l.meta.conserved(); err != nil {
		return fmt.Errorf("load ledger meta: %w", err)
	}
	return nil
}

// conserved asserts invariant 1: the unspent notes hold exactly what was
// minted and not redeemed.
func (m *meta) conserved() error {
	if m.redeemed > m.minted || m.unspentSum != m.minted-m.redeemed {
		return fmt.Errorf("conservation broken: unspent %d != minted %d - redeemed %d", m.unspentSum, m.minted, m.redeemed)
	}
	return nil
}

// Supply reports the running totals.
func (l *Ledger) Supply(context.Context) (roles.LedgerSupply, error) {
	l.mu.RLock()
	m := l.meta
	l.mu.RUnlock()
	return roles.LedgerSupply{
		Minted:      m.minted,
		Redeemed:    m.redeemed,
		Outstanding: m.minted - m.redeemed,
		Unspent:     m.unspent,
		Batches:     m.seq,
	}, nil
}

// Note reports whether a note is unspent. The ledger keeps no record of
// spent notes, only of unspent ones, so a note that is not unspent is
// reported "unknown" (spent, or never created).
func (l *Ledger) Note(_ context.Context, id money.NoteID) (roles.NoteInfo, error) {
	info := roles.NoteInfo{ID: id, Status: roles.NoteUnknown}
	release, err := l.enter()
	if err != nil {
		return info, err
	}
	defer release()
	// The index holds 192 bits of each ID: a false match would take a
	// second preimage of SHA-256 truncated to 192 bits.
	if v := l.notes.get(l.shardOf(&id), &id); v != 0 {
		info.Status = roles.NoteUnspent
		info.Value = v
	}
	return info, nil
}

// loadIndex fills the index from a store of the old format, which kept
// every unspent note as a key (see migrate).
func (l *Ledger) loadIndex() error {
	var n uint64
	err := l.db.Scan([]byte{prefixNote}, nil, func(k, v []byte) error {
		var id money.NoteID
		if len(k) != 1+len(id) {
			return fmt.Errorf("note key of %d bytes", len(k))
		}
		copy(id[:], k[1:])
		value, err := decodeNoteValue(v)
		if err != nil {
			return fmt.Errorf("note %s: %w", id, err)
		}
		n++
		return l.notes.shards[l.shardOf(&id)].put(&id, value)
	})
	if err != nil {
		return fmt.Errorf("load note index: %w", err)
	}
	if n != l.meta.unspent {
		return fmt.Errorf("load note index: store holds %d unspent notes, totals say %d", n, l.meta.unspent)
	}
	return nil
}

// Tx returns a committed transaction's batch header and inclusion proof.
func (l *Ledger) Tx(_ context.Context, id money.TxID) (roles.TxInfo, error) {
	release, err := l.enter()
	if err != nil {
		return roles.TxInfo{}, err
	}
	defer release()
	info, ids, err := l.find(id, nil)
	if err != nil {
		return roles.TxInfo{}, err
	}
	info.Proof = money.MerkleProof(ids, int(info.Index))
	return info, nil
}

// Locate implements roles.TxLocator: Tx for many transactions without
// their proofs, reading each batch once however many of ids it holds.
func (l *Ledger) Locate(_ context.Context, ids []money.TxID) ([]roles.Result, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	out := make([]roles.Result, len(ids))
	batches := map[uint64]batchIDs{}
	for i, id := range ids {
		info, _, err := l.find(id, batches)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Receipt = roles.Receipt{TxID: id, Batch: info.Header.Seq, Index: info.Index}
	}
	return out, nil
}

// batchIDs is a batch's header and transaction IDs, as find reads them.
type batchIDs struct {
	h   money.BatchHeader
	ids []money.Hash
}

// find is Tx without the proof: the committed transaction id with its
// batch's header and transaction IDs. seen, if not nil, caches the
// batches read. The caller has entered.
func (l *Ledger) find(id money.TxID, seen map[uint64]batchIDs) (roles.TxInfo, []money.Hash, error) {
	v, err := l.db.Get(keySlice(hashKey(prefixTx, &id)))
	if errors.Is(err, store.ErrNotFound) {
		if ferr := l.stopped(); ferr != nil {
			// A stopped ledger may hold in its log a batch it could not
			// finish (answered internal) or finished without its txids
			// reaching the store; a restart redoes it. Saying not_found
			// would let a caller settle a pending transaction as never
			// committed (the issuer forgets a redeem's intent on it).
			return roles.TxInfo{}, nil, errcode.New(errcode.Unavailable, "transaction %s: ledger stopped after a storage failure, its outcome is known after a restart: %v", id, ferr)
		}
		return roles.TxInfo{}, nil, errcode.New(errcode.NotFound, "transaction %s is not committed", id)
	}
	if err != nil {
		return roles.TxInfo{}, nil, errcode.New(errcode.Internal, "transaction %s: %v", id, err)
	}
	loc, err := decodeTxLoc(v)
	if err != nil {
		return roles.TxInfo{}, nil, errcode.New(errcode.Internal, "transaction %s: %v", id, err)
	}
	kind := loc.kind.String()
	if loc.kind == kindRotation {
		kind = "key_set" // a rotation batch's ID (keys.go)
	}
	b, ok := seen[loc.seq]
	if !ok {
		if b.h, b.ids, err = l.batch(loc.seq); err != nil {
			return roles.TxInfo{}, nil, errcode.New(errcode.Internal, "transaction %s: %v", id, err)
		}
		if seen != nil {
			seen[loc.seq] = b
		}
	}
	if int(loc.index) >= len(b.ids) || b.ids[loc.index] != id {
		// A location left by a genesis that failed (genesis.go) names a
		// batch 1 that does not hold the transaction.
		return roles.TxInfo{}, nil, errcode.New(errcode.NotFound, "transaction %s is not committed", id)
	}
	return roles.TxInfo{TxID: id, Status: "committed", Kind: kind, Header: b.h, Index: loc.index}, b.ids, nil
}

// Headers returns up to limit headers from sequence from on.
func (l *Ledger) Headers(_ context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	if from == 0 {
		from = 1
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []money.BatchHeader
	err = l.db.Scan([]byte{prefixBatch}, batchKey(from), func(_, v []byte) error {
		h, _, err := decodeBatch(v)
		if err != nil {
			return err
		}
		out = append(out, h)
		if len(out) == limit {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, errcode.New(errcode.Internal, "headers: %v", err)
	}
	return out, nil
}

// Batch serves batch seq in full: its header and its transactions in
// their canonical encoding, as the archive holds them (Config.Archive).
// It only reads. A batch past the head is not found even if the archive
// holds one under that number: that is the leftover of a batch that was
// archived but never logged (persist writes the archive first), and the
// next commit overwrites it.
func (l *Ledger) Batch(_ context.Context, seq uint64) (roles.BatchContents, error) {
	release, err := l.enter()
	if err != nil {
		return roles.BatchContents{}, err
	}
	defer release()
	l.mu.RLock()
	head := l.meta.seq
	l.mu.RUnlock()
	if seq == 0 || seq > head {
		return roles.BatchContents{}, errcode.New(errcode.NotFound, "batch %d: the log holds batches 1 to %d", seq, head)
	}
	h, ids, err := l.batch(seq)
	if err != nil {
		return roles.BatchContents{}, errcode.New(errcode.Internal, "batch %d: %v", seq, err)
	}
	// A rotation batch (keys.go) is served from its rotation record,
	// which the store keeps with or without the archive.
	switch ks, err := l.db.Get(rotationKey(seq)); {
	case err == nil:
		return roles.BatchContents{Header: h, KeySet: ks}, nil
	case !errors.Is(err, store.ErrNotFound):
		return roles.BatchContents{}, errcode.New(errcode.Internal, "batch %d: %v", seq, err)
	}
	v, err := l.db.Get(archiveKey(seq))
	if errors.Is(err, store.ErrNotFound) {
		return roles.BatchContents{}, errcode.New(errcode.NotFound, "batch %d: its transactions were not kept (the ledger ran without its archive)", seq)
	}
	if err != nil {
		return roles.BatchContents{}, errcode.New(errcode.Internal, "batch %d: %v", seq, err)
	}
	txs, err := decodeArchive(v)
	if err != nil || len(txs) != len(ids) {
		return roles.BatchContents{}, errcode.New(errcode.Internal, "batch %d: archive damaged: %d transactions for %d txids (%v)", seq, len(txs), len(ids), err)
	}
	return roles.BatchContents{Header: h, Txs: txs, IDs: ids}, nil
}

var _ roles.BatchSource = (*Ledger)(nil)

func (l *Ledger) batch(seq uint64) (money.BatchHeader, []money.Hash, error) {
	v, err := l.db.Get(batchKey(seq))
	if err != nil {
		return money.BatchHeader{}, nil, fmt.Errorf("batch %d: %w", seq, err)
	}
	return decodeBatch(v)
}

// Config returns the configuration the ledger runs with (defaults filled in).
func (l *Ledger) Config() Config { return l.cfg }

// DiskBytes is the size of the ledger on disk: store, log and snapshots.
func (l *Ledger) DiskBytes() uint64 {
	return l.db.DiskBytes() + uint64(l.wal.Bytes()) + l.snapshotBytes()
}
