// Package logtree puts every batch header of the ledger's log into one
// log-wide Merkle tree (RFC 9162, as Certificate Transparency does), and
// signs checkpoints of it (tree size, root hash, time) in the signed note
// format of the transparency-dev ecosystem (golang.org/x/mod/sumdb/note).
// With it, that a log of size m is a prefix of the log of size n is an
// O(log n) consistency proof, so an auditor or a witness that kept an
// earlier checkpoint detects a rewritten history, or an operator showing
// two parties two different histories (a split view), without replaying
// anything.
//
// The leaves are the header hashes (money.Network.HeaderHash) of batches
// 1, 2, 3, ..., so leaf i commits to batch i+1 and, through its chain, to
// every batch before it. The tree hashing is RFC 9162's (leaf: SHA-256 of
// 0x00 and the header hash; node: SHA-256 of 0x01 and both children),
// the same as the per-batch transaction tree (money.MerkleRoot).
//
// The tree is built from the headers the ledger already stores, off its
// commit path: Log catches up when asked for a checkpoint or a proof.
package logtree

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Tree is the log-wide tree: every stored hash of tlog's layout (about
// two hashes, 64 bytes, per batch), in memory or in a file.
type Tree struct {
	mu     sync.RWMutex
	hashes hashStore
	n      int64
}

// hashStore holds the tree's stored hashes by index, append-only.
type hashStore interface {
	append(hs []tlog.Hash) error
	read(indexes []int64) ([]tlog.Hash, error)
}

// memHashes keeps the stored hashes in memory: for tests and short runs.
type memHashes struct{ hs []tlog.Hash }

func (m *memHashes) append(hs []tlog.Hash) error { m.hs = append(m.hs, hs...); return nil }

func (m *memHashes) read(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hs)) {
			return nil, fmt.Errorf("log tree: hash %d not stored (%d stored)", x, len(m.hs))
		}
		out[i] = m.hs[x]
	}
	return out, nil
}

// fileHashes keeps the stored hashes in a file, 32 bytes each at their
// index: the tree costs disk (and page cache), not heap. The file is a
// cache of what the headers determine, rebuilt from them on every start
// (NewFileTree truncates it), so it needs no fsync and no recovery.
type fileHashes struct {
	f *os.File
	n int64
}

func (f *fileHashes) append(hs []tlog.Hash) error {
	b := make([]byte, 0, 32*len(hs))
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	if _, err := f.f.WriteAt(b, 32*f.n); err != nil {
		return fmt.Errorf("log tree: %w", err)
	}
	f.n += int64(len(hs))
	return nil
}

func (f *fileHashes) read(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= f.n {
			return nil, fmt.Errorf("log tree: hash %d not stored (%d stored)", x, f.n)
		}
		if _, err := f.f.ReadAt(out[i][:], 32*x); err != nil {
			return nil, fmt.Errorf("log tree: %w", err)
		}
	}
	return out, nil
}

// NewFileTree is an empty tree whose stored hashes live in the file at
// path (created, or emptied: it is rebuilt from the headers).
func NewFileTree(path string) (*Tree, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log tree: %w", err)
	}
	return &Tree{hashes: &fileHashes{f: f}}, nil
}

// Close releases the tree's file, if it has one.
func (t *Tree) Close() error {
	if fh, ok := t.hashes.(*fileHashes); ok {
		return fh.f.Close()
	}
	return nil
}

// readHashes implements tlog.HashReader. Caller holds mu.
func (t *Tree) readHashes(indexes []int64) ([]tlog.Hash, error) {
	return t.store().read(indexes)
}

// store is where the hashes live: memory for a zero Tree.
func (t *Tree) store() hashStore {
	if t.hashes == nil {
		t.hashes = &memHashes{}
	}
	return t.hashes
}

// Append adds the header hash of the next batch.
func (t *Tree) Append(headerHash money.Hash) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	hs, err := tlog.StoredHashes(t.n, headerHash[:], tlog.HashReaderFunc(t.readHashes))
	if err != nil {
		return fmt.Errorf("log tree: %w", err)
	}
	if err := t.store().append(hs); err != nil {
		return err
	}
	t.n++
	return nil
}

// Size is the number of batches in the tree.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return uint64(t.n)
}

// Root is the root of the tree of the first n batches.
func (t *Tree) Root(n uint64) (money.Hash, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n == 0 || int64(n) > t.n {
		return money.Hash{}, fmt.Errorf("log tree: no root of size %d (size %d)", n, t.n)
	}
	h, err := tlog.TreeHash(int64(n), tlog.HashReaderFunc(t.readHashes))
	return money.Hash(h), err
}

// Consistency proves that the tree of size from is a prefix of the tree of
// size to (RFC 9162 section 2.1.4).
func (t *Tree) Consistency(from, to uint64) ([]money.Hash, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if from == 0 || from > to || int64(to) > t.n {
		return nil, errcode.New(errcode.Malformed, "consistency from %d to %d: want 1 <= from <= to <= %d", from, to, t.n)
	}
	p, err := tlog.ProveTree(int64(to), int64(from), tlog.HashReaderFunc(t.readHashes))
	if err != nil {
		return nil, fmt.Errorf("log tree: %w", err)
	}
	out := make([]money.Hash, len(p))
	for i := range p {
		out[i] = money.Hash(p[i])
	}
	return out, nil
}

// VerifyConsistency checks a consistency proof between the roots of two
// sizes of the log: nil means the log of size from (root fromRoot) is a
// prefix of the log of size to (root toRoot).
func VerifyConsistency(proof []money.Hash, from uint64, fromRoot money.Hash, to uint64, toRoot money.Hash) error {
	if from == 0 || from > to {
		return fmt.Errorf("consistency from %d to %d", from, to)
	}
	p := make(tlog.TreeProof, len(proof))
	for i := range proof {
		p[i] = tlog.Hash(proof[i])
	}
	if err := tlog.CheckTree(p, int64(to), tlog.Hash(toRoot), int64(from), tlog.Hash(fromRoot)); err != nil {
		return fmt.Errorf("the log of size %d is not a prefix of the log of size %d: %w", from, to, err)
	}
	return nil
}

// RootOf is the tree root over header hashes (what a verifier holding
// every header computes itself).
func RootOf(headerHashes []money.Hash) money.Hash {
	return money.MerkleRoot(headerHashes)
}

// Checkpoint is a signed statement of the log's size and root at a time.
//
// Its note text is the transparency-dev checkpoint: the origin line, the
// tree size in decimal, the root hash in standard base64, then one
// extension line with the time in Unix seconds:
//
//	specie/<network id>
//	1234
//	<base64 root>
//	time 1764646800
//
// followed by the note's blank line and signature lines.
type Checkpoint struct {
	Origin string     `json:"origin"`
	Size   uint64     `json:"size"`
	Root   money.Hash `json:"root"`
	Time   time.Time  `json:"time"`
}

// Origin names the log of network net in its checkpoints.
func Origin(net money.Network) string { return "specie/" + net.ID }

// Text is the checkpoint's note text.
func (c *Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\ntime %d\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]), c.Time.Unix())
}

// ParseText reads a checkpoint's note text strictly.
func ParseText(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 5 || lines[4] != "" || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("checkpoint: want 4 lines")
	}
	c := Checkpoint{Origin: lines[0]}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q", lines[1])
	}
	c.Size = n
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return Checkpoint{}, fmt.Errorf("checkpoint: root %q", lines[2])
	}
	copy(c.Root[:], root)
	ts, ok := strings.CutPrefix(lines[3], "time ")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || strconv.FormatInt(sec, 10) != ts {
		return Checkpoint{}, fmt.Errorf("checkpoint: time %q", lines[3])
	}
	c.Time = time.Unix(sec, 0).UTC()
	return c, nil
}

// Open verifies a signed checkpoint with the log's verifier key (vkey, in
// note's format: name+hash+key) and parses it.
func Open(msg []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("log key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	return ParseText(n.Text)
}

// Signer signs checkpoints with the log key.
type Signer struct {
	signer note.Signer
	vkey   string
}

// NewSigner makes the log's signer from an Ed25519 key. The key signs
// notes (plain Ed25519 over the note text, as note does), never money: it
// is a key of its own, not an issuer or owner key.
func NewSigner(name string, k *crypto.PrivateKey) (*Signer, error) {
	pub := ed25519.NewKeyFromSeed(k.Seed()).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	// vkey is name+hash+base64(alg||pub); the signer key is the same
	// with the seed.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("log key: verifier key %q", vkey)
	}
	skey := "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, k.Seed()...))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	return &Signer{signer: s, vkey: vkey}, nil
}

// VerifierKey is the key to verify checkpoints with, in note's format.
func (s *Signer) VerifierKey() string { return s.vkey }

// Sign signs c.
func (s *Signer) Sign(c *Checkpoint) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.Text()}, s.signer)
}

// Log serves signed checkpoints and consistency proofs of a ledger's log.
// It reads the ledger's headers (roles.Ledger.Headers) and keeps the tree
// in memory; it never touches the commit path.
type Log struct {
	src    roles.Ledger
	net    money.Network
	origin string
	signer *Signer
	now    func() time.Time

	mu   sync.Mutex // serialises catching up
	tree *Tree
	last *money.BatchHeader
}

// NewLog serves checkpoints of src's log, signed by signer, with the tree
// in memory.
func NewLog(src roles.Ledger, net money.Network, signer *Signer) *Log {
	return NewLogOn(src, net, signer, &Tree{})
}

// NewLogOn is NewLog over the (empty) tree given, e.g. a NewFileTree.
func NewLogOn(src roles.Ledger, net money.Network, signer *Signer, tree *Tree) *Log {
	return NewLogOf(src, net, Origin(net), signer, tree)
}

// NewLogOf is NewLogOn whose checkpoints name origin: one log of several
// on a network, such as a group's of a sharded one (shard.LogOrigin).
func NewLogOf(src roles.Ledger, net money.Network, origin string, signer *Signer, tree *Tree) *Log {
	return &Log{src: src, net: net, origin: origin, signer: signer, now: time.Now, tree: tree}
}

var _ roles.CheckpointSource = (*Log)(nil)

// catchUp appends every header committed since the last call, checking
// the chain as it goes (a header that does not follow is the ledger's
// damage, and no checkpoint is signed over it).
func (l *Log) catchUp(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		hs, err := l.src.Headers(ctx, l.tree.Size()+1, 1000)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return nil
		}
		for i := range hs {
			h := hs[i]
			if err := l.net.VerifyNext(l.last, &h); err != nil {
				return errcode.New(errcode.Internal, "log tree: %v", err)
			}
			if err := l.tree.Append(l.net.HeaderHash(&h)); err != nil {
				return errcode.New(errcode.Internal, "%v", err)
			}
			l.last = &h
		}
	}
}

// Close releases the tree's file, if it has one.
func (l *Log) Close() error { return l.tree.Close() }

// LogKey is the verifier key of the checkpoints.
func (l *Log) LogKey(context.Context) (string, error) { return l.signer.VerifierKey(), nil }

// Checkpoint signs a checkpoint of the log as it is now.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := l.catchUp(ctx); err != nil {
		return nil, err
	}
	n := l.tree.Size()
	if n == 0 {
		return nil, errcode.New(errcode.NotFound, "the log is empty: no checkpoint yet")
	}
	root, err := l.tree.Root(n)
	if err != nil {
		return nil, errcode.New(errcode.Internal, "%v", err)
	}
	c := Checkpoint{Origin: l.origin, Size: n, Root: root, Time: l.now().UTC()}
	b, err := l.signer.Sign(&c)
	if err != nil {
		return nil, errcode.New(errcode.Internal, "sign checkpoint: %v", err)
	}
	return b, nil
}

// Consistency proves the log of size from is a prefix of the log of size
// to.
func (l *Log) Consistency(ctx context.Context, from, to uint64) ([]money.Hash, error) {
	if err := l.catchUp(ctx); err != nil {
		return nil, err
	}
	if to > l.tree.Size() {
		return nil, errcode.New(errcode.NotFound, "the log has %d batches, not %d", l.tree.Size(), to)
	}
	return l.tree.Consistency(from, to)
}

// Witnesses. A witness (an intermediary, an auditor) verifies that a new
// checkpoint is consistent with the last one it saw and then cosigns it:
// adds its own signature line to the note. Whoever reads the log then
// accepts a checkpoint only with the log's signature and enough witness
// cosignatures, so an operator showing two histories must get witnesses
// to sign both, and a witness never signs two checkpoints that are not
// consistent.

// Cosign adds w's signature to a checkpoint the log signed (verified with
// logKey). Cosignatures by the witnesses listed in others are kept; any
// other signature line is dropped.
func Cosign(msg []byte, logKey string, w *Signer, others ...string) ([]byte, error) {
	vs, err := verifiers(append([]string{logKey}, others...))
	if err != nil {
		return nil, err
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	if !signedBy(n, vs[0]) {
		return nil, fmt.Errorf("cosign: the checkpoint is not signed by the log key")
	}
	if _, err := ParseText(n.Text); err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	return note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, w.signer)
}

// OpenCosigned verifies a checkpoint signed by the log key and cosigned by
// at least need of the witnesses (their verifier keys), and parses it. It
// returns the names of the witnesses whose cosignatures verified.
func OpenCosigned(msg []byte, logKey string, witnesses []string, need int) (Checkpoint, []string, error) {
	vs, err := verifiers(append([]string{logKey}, witnesses...))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	if !signedBy(n, vs[0]) {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: not signed by the log key")
	}
	var by []string
	for _, v := range vs[1:] {
		if signedBy(n, v) {
			by = append(by, v.Name())
		}
	}
	if len(by) < need {
		return Checkpoint{}, by, fmt.Errorf("checkpoint: cosigned by %d of the witnesses, %d needed", len(by), need)
	}
	c, err := ParseText(n.Text)
	return c, by, err
}

func verifiers(keys []string) ([]note.Verifier, error) {
	vs := make([]note.Verifier, len(keys))
	for i, k := range keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", k, err)
		}
		vs[i] = v
	}
	return vs, nil
}

func signedBy(n *note.Note, v note.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}
