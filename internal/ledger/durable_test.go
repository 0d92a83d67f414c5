package ledger_test

import (
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// payer keeps one spendable note per key and pays it on to itself, so a
// test can commit many batches and then check every note still spends.
type payer struct {
	n     *ledgertest.Net
	keys  []*crypto.PrivateKey
	notes []money.Note
}

func newPayer(t *testing.T, n *ledgertest.Net, l *ledger.Ledger, count int) *payer {
	t.Helper()
	p := &payer{n: n}
	var outs []money.Output
	for i := 0; i < count; i++ {
		k := ledgertest.MustKey()
		p.keys = append(p.keys, k)
		outs = append(outs, ledgertest.To(k, uint64(1000+i)))
	}
	for s := 0; s < count; s += money.MaxOutputs {
		mint := n.Mint([]int{0, 1}, outs[s:min(s+money.MaxOutputs, count)]...)
		mustSubmit(t, l, mint)
		p.notes = append(p.notes, n.Notes(mint)...)
	}
	return p
}

// round spends every note once, in one submission, and keeps the new ones.
func (p *payer) round(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	txs := make([]*money.Tx, len(p.notes))
	for i, note := range p.notes {
		txs[i] = p.n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{p.keys[i]}, ledgertest.To(p.keys[i], note.Value))
	}
	rs, err := l.SubmitBatch(ctx, txs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("payment %d: %v", i, r.Err)
		}
		p.notes[i] = p.n.Notes(txs[i])[0]
	}
}

// roundAndCheck pays every note on once and checks the invariants, the
// unspent set read back from disk included.
func (p *payer) roundAndCheck(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	p.round(t, l)
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func files(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// The unspent set survives restarts through shard snapshots and the log,
// and the log is cut behind the snapshots instead of growing forever.
func TestSnapshotsAndLogRecover(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	p := newPayer(t, n, l, 300)
	for restart := 0; restart < 4; restart++ {
		for i := 0; i < 15; i++ {
			p.round(t, l)
		}
		before := snap(t, l)
		if err := l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = open(t, n, dir)
		if after := snap(t, l); after != before {
			t.Fatalf("restart %d: %+v, before %+v", restart, after, before)
		}
		for i, note := range p.notes {
			info, err := l.Note(ctx, n.Network.NoteID(&note))
			if err != nil || info.Value != note.Value {
				t.Fatalf("restart %d: note %d: %+v %v", restart, i, info, err)
			}
		}
	}
	defer l.Close()
	p.roundAndCheck(t, l)
	segs := files(t, filepath.Join(dir, "wal"), ".wal")
	if len(segs) == 0 || segs[0] == "00000000000000000001.wal" {
		t.Fatalf("log segments %v: the log behind the snapshots was never dropped", segs)
	}
	// One snapshot per shard, and at most one more (a newer one being
	// retired while the test looks).
	snaps := files(t, filepath.Join(dir, "snap"), ".snap")
	shards := map[string]bool{}
	for _, name := range snaps {
		shards[name[:3]] = true
	}
	if len(shards) != l.Config().Shards || len(snaps) > l.Config().Shards+1 {
		t.Fatalf("snapshot files %v, want one per shard (%d)", snaps, l.Config().Shards)
	}
}

// A damaged snapshot stops the ledger from opening: it must not start
// with notes missing or invented.
func TestOpenRefusesDamagedSnapshot(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	p := newPayer(t, n, l, 200)
	for i := 0; i < 20; i++ {
		p.round(t, l)
	}
	l.Close()
	snaps := files(t, filepath.Join(dir, "snap"), ".snap")
	if len(snaps) == 0 {
		t.Fatal("no snapshots written")
	}
	for _, name := range snaps {
		path := filepath.Join(dir, "snap", name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) <= 40 {
			continue // an empty shard: nothing to damage but the header
		}
		orig := slices.Clone(b)
		b[40] ^= 1
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := listing(t, dir)
		if l, err := ledger.Open(dir, n.TestConfig()); err == nil {
			l.Close()
			t.Fatalf("opened with damaged snapshot %s", name)
		} else if !strings.Contains(err.Error(), "snapshot") {
			t.Fatalf("damaged snapshot: error %q does not say so", err)
		}
		if after := listing(t, dir); !maps.Equal(after, before) {
			t.Fatalf("a refused open changed the snapshots or the log:\n%v\n%v", before, after)
		}
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		break
	}
	l = open(t, n, dir)
	defer l.Close()
	p.roundAndCheck(t, l)
}

// A data directory written before snapshots (each unspent note a store
// key) opens, keeps every note, and is moved to snapshots.
func TestOpenMigratesNoteKeys(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	p := newPayer(t, n, l, 50)
	p.round(t, l)
	before := snap(t, l)
	l.Close()

	// Rewrite the directory into the old format.
	for _, sub := range []string{"snap", "wal"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Delete([]byte("f"))
	for _, note := range p.notes {
		id := n.Network.NoteID(&note)
		b.Set(append([]byte{'n'}, id[:]...), binary.BigEndian.AppendUint64(nil, note.Value))
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	db.Close()

	l = open(t, n, dir)
	if after := snap(t, l); after != before {
		t.Fatalf("after migration %+v, before %+v", after, before)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	p.round(t, l)
	l.Close()
	l = open(t, n, dir)
	defer l.Close()
	p.roundAndCheck(t, l)
}

// Snapshots of a genesis that never committed its batch (a crash between
// writing them and the store's totals) are discarded: the ledger opens
// empty and a genesis can run again.
func TestOpenDiscardsSnapshotsOfUncommittedGenesis(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	l.Close()
	stale := filepath.Join(dir, "snap", "003-00000000000000000001.snap")
	if err := os.WriteFile(stale, []byte("half a genesis"), 0o600); err != nil {
		t.Fatal(err)
	}
	l = open(t, n, dir)
	defer l.Close()
	if s := snap(t, l); s.supply.Batches != 0 || s.supply.Unspent != 0 {
		t.Fatalf("opened with %+v", s)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale genesis snapshot kept: %v", err)
	}
	k := ledgertest.MustKey()
	if err := l.Genesis(100, func(uint64) money.Output { return ledgertest.To(k, 5) }, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// listing is the snapshot and log files of a data directory with their
// sizes: what a refused open must leave as it was.
func listing(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, sub := range []string{"snap", "wal"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			out[sub+"/"+e.Name()] = info.Size()
		}
	}
	return out
}

// A ledger whose snapshots or log do not fit the configuration refuses to
// open, says why, and changes nothing on disk: another shard count (the
// snapshots are per shard), or a log lost behind the snapshots.
func TestOpenRefusesWhatItCannotRecover(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	p := newPayer(t, n, l, 200)
	for i := 0; i < 20; i++ {
		p.round(t, l)
	}
	before := snap(t, l)
	l.Close()
	files := listing(t, dir)
	for _, shards := range []int{8, 32} {
		cfg := n.TestConfig()
		cfg.Shards = shards
		if l, err := ledger.Open(dir, cfg); err == nil {
			l.Close()
			t.Fatalf("opened %d-shard snapshots with %d shards", 16, shards)
		} else if !strings.Contains(err.Error(), "shards") {
			t.Fatalf("%d shards: error %q does not name the shard count", shards, err)
		}
		if after := listing(t, dir); !maps.Equal(after, files) {
			t.Fatalf("%d shards: a refused open changed the directory", shards)
		}
	}
	l = open(t, n, dir)
	if after := snap(t, l); after != before {
		t.Fatalf("after refused opens %+v, before %+v", after, before)
	}
	l.Close()

	// Lose the log: the store says batches exist that no snapshot holds.
	if err := os.RemoveAll(filepath.Join(dir, "wal")); err != nil {
		t.Fatal(err)
	}
	if l, err := ledger.Open(dir, n.TestConfig()); err == nil {
		l.Close()
		t.Fatal("opened with the log gone")
	} else if !strings.Contains(err.Error(), "the log holds") {
		t.Fatalf("lost log: error %q", err)
	}
}
