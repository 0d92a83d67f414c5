package audit_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// The planted-fault suite: a real ledger (with its archive) behind the real
// API server, wrapped by an HTTP handler that rewrites the answers the way
// a dishonest or broken operator would. The auditor talks to it over
// loopback HTTP with the public client, exactly as `specie audit` does, and
// must report each fault at its exact place, and nothing on a clean run.

// world is the honest history, batch by batch:
//
//	1: genesis, 5 unsigned mints of 266 notes of 1 (an unbalanced Merkle tree)
//	2: mint 1000 to alice (officers 0 and 1)
//	3: alice pays bob 400, 600 back to alice
//	4: bob redeems 300 of his 400, 100 back to bob
//	5: mint 50 to alice (officers 1 and 2)
//	6: alice pays bob 600
//	7: two transactions in one batch: bob pays carol 100; alice pays carol 50
type world struct {
	l                 *ledger.Ledger
	n                 *ledgertest.Net
	rng               *mrand.Rand
	alice, bob, carol *crypto.PrivateKey
	mint2, pay3       *money.Tx
	redeem4, mint5    *money.Tx
	pay6              *money.Tx
	headers           []money.BatchHeader // index 0 is batch 1
	srv               *httptest.Server
	real              http.Handler // the real API over l
	dir               string       // l's data directory
	cfg               ledger.Config
	signer            *logtree.Signer
	fault             *fault
	mu                sync.Mutex
}

const worldBatches = 7

// logKeySeed makes every world's log key the same: two worlds are one
// operator showing two histories.
const logKeySeed = 99

func newWorld(t *testing.T) *world { return newWorldOf(t, false) }

// newWorldOf builds the world; split changes batch 6 (alice pays carol,
// not bob), the other history of a split view.
func newWorldOf(t *testing.T, split bool) *world {
	t.Helper()
	w := &world{n: ledgertest.NewFromSeed(13), rng: mrand.New(mrand.NewPCG(13, 1))}
	cfg := w.n.TestConfig()
	cfg.Archive = true
	w.dir, w.cfg = t.TempDir(), cfg
	l, err := ledger.Open(w.dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.l.Close() })
	w.l = l
	g := ledgertest.KeyFrom(w.rng)
	if err := l.Genesis(4*ledger.GenesisOutputs+10, func(uint64) money.Output { return ledgertest.To(g, 1) }, nil); err != nil {
		t.Fatal(err)
	}
	w.alice, w.bob, w.carol = ledgertest.KeyFrom(w.rng), ledgertest.KeyFrom(w.rng), ledgertest.KeyFrom(w.rng)
	submit := func(tx *money.Tx) {
		t.Helper()
		if _, err := l.Submit(ctx, tx); err != nil {
			t.Fatalf("submit %s: %v", tx.Kind, err)
		}
	}
	n := w.n
	w.mint2 = n.MintNonce(2, []int{0, 1}, ledgertest.To(w.alice, 1000))
	submit(w.mint2)
	w.pay3 = n.Spend(money.Transfer, n.Notes(w.mint2), []*crypto.PrivateKey{w.alice}, ledgertest.To(w.bob, 400), ledgertest.To(w.alice, 600))
	submit(w.pay3)
	paid := n.Notes(w.pay3)
	w.redeem4 = n.Spend(money.Redeem, paid[:1], []*crypto.PrivateKey{w.bob}, ledgertest.To(w.bob, 100))
	submit(w.redeem4)
	w.mint5 = n.MintNonce(5, []int{1, 2}, ledgertest.To(w.alice, 50))
	submit(w.mint5)
	payee := w.bob
	if split {
		payee = w.carol
	}
	w.pay6 = n.Spend(money.Transfer, paid[1:], []*crypto.PrivateKey{w.alice}, ledgertest.To(payee, 600))
	submit(w.pay6)
	rs, err := l.SubmitBatch(ctx, []*money.Tx{
		n.Spend(money.Transfer, n.Notes(w.redeem4), []*crypto.PrivateKey{w.bob}, ledgertest.To(w.carol, 100)),
		n.Spend(money.Transfer, n.Notes(w.mint5), []*crypto.PrivateKey{w.alice}, ledgertest.To(w.carol, 50)),
	})
	if err != nil || rs[0].Err != nil || rs[1].Err != nil || rs[0].Receipt.Batch != worldBatches || rs[1].Receipt.Batch != worldBatches {
		t.Fatalf("batch 7: %v %+v", err, rs)
	}
	if w.headers, err = l.Headers(ctx, 1, 100); err != nil || len(w.headers) != worldBatches {
		t.Fatalf("headers: %d, %v", len(w.headers), err)
	}
	signer, err := logtree.NewSigner("specie-test-log", ledgertest.KeyFrom(mrand.New(mrand.NewPCG(logKeySeed, 0))))
	if err != nil {
		t.Fatal(err)
	}
	w.signer = signer
	w.real = api.New(api.Config{Ledger: l, Checkpoints: logtree.NewLog(l, w.n.Network, signer)}).Handler()
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		f, real := w.fault, w.real
		w.mu.Unlock()
		w.serve(t, f, real, rw, r)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// fault is one corruption of what the API serves. Each hook is optional.
type fault struct {
	name string
	// remap serves batch remap[seq] where seq is asked for, in both routes.
	remap map[uint64]uint64
	// batch changes batch seq's contents; false serves not_found instead.
	batch func(t *testing.T, seq uint64, b *roles.BatchContents) bool
	// header changes header seq in both routes; listed in the header
	// route only.
	header func(seq uint64, h *money.BatchHeader)
	listed func(seq uint64, h *money.BatchHeader)
	// drop leaves the last n headers out of the header route.
	drop   int
	supply func(s *roles.LedgerSupply)
	info   func(i *roles.LedgerInfo)
	// checkpoint rewrites the signed checkpoint as served.
	signed func(t *testing.T, body []byte) []byte
	// rawBatch rewrites batch seq's JSON as served.
	rawBatch func(seq uint64, body []byte) []byte
	// afterClean: the fault is planted after a clean run on the same
	// state (history rewritten since the auditor saw it).
	afterClean bool
	// checkpoint: the run is fresh, given the clean run's checkpoint.
	checkpoint bool
	// trust: the run is given the honest keys on its command line.
	trust bool
	want  []audit.Finding // batch, tx, input, field, check; message ignored
}

func (w *world) serve(t *testing.T, f *fault, real http.Handler, rw http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if f != nil && f.remap != nil && strings.HasPrefix(path, "/v1/log/batches/") {
		seq, _ := strconv.ParseUint(strings.TrimPrefix(path, "/v1/log/batches/"), 10, 64)
		if to, ok := f.remap[seq]; ok {
			r = r.Clone(r.Context())
			r.URL.Path = "/v1/log/batches/" + strconv.FormatUint(to, 10)
		}
	}
	rec := httptest.NewRecorder()
	real.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if f == nil || rec.Code != http.StatusOK {
		rw.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		rw.WriteHeader(rec.Code)
		rw.Write(body)
		return
	}
	fail := func(err error) {
		t.Errorf("fault %q: rewriting %s: %v", f.name, path, err)
		http.Error(rw, err.Error(), http.StatusInternalServerError)
	}
	switch {
	case strings.HasPrefix(path, "/v1/log/batches/"):
		seq, _ := strconv.ParseUint(strings.TrimPrefix(path, "/v1/log/batches/"), 10, 64)
		var wb wire.Batch
		if err := json.Unmarshal(body, &wb); err != nil {
			fail(err)
			return
		}
		b, err := wb.ToBatch()
		if err != nil {
			fail(err)
			return
		}
		if f.header != nil {
			f.header(seq, &b.Header)
		}
		if f.batch != nil && !f.batch(t, seq, &b) {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusNotFound)
			rw.Write([]byte(`{"error":{"code":"not_found","message":"no such batch"}}`))
			return
		}
		body, _ = json.Marshal(wire.FromBatch(b, nil))
		if f.rawBatch != nil {
			body = f.rawBatch(seq, body)
		}
	case path == "/v1/log/headers":
		var wh wire.Headers
		if err := json.Unmarshal(body, &wh); err != nil {
			fail(err)
			return
		}
		hs, err := wh.ToHeaders()
		if err != nil {
			fail(err)
			return
		}
		from, _ := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		if f.remap != nil {
			for i := range hs {
				if to, ok := f.remap[from+uint64(i)]; ok {
					hs[i] = w.headers[to-1]
				}
			}
		}
		for i := range hs {
			seq := from + uint64(i)
			if f.header != nil {
				f.header(seq, &hs[i])
			}
			if f.listed != nil {
				f.listed(seq, &hs[i])
			}
		}
		if f.drop > 0 {
			hs = slices.DeleteFunc(hs, func(h money.BatchHeader) bool { return h.Seq > uint64(worldBatches-f.drop) })
		}
		body, _ = json.Marshal(wire.FromHeaders(hs, nil))
	case path == "/v1/log/checkpoint" && f.signed != nil:
		body = f.signed(t, body)
	case path == "/v1/supply":
		var ws wire.Supply
		if err := json.Unmarshal(body, &ws); err != nil {
			fail(err)
			return
		}
		s, err := ws.ToLedgerSupply()
		if err != nil {
			fail(err)
			return
		}
		if f.supply != nil {
			f.supply(&s)
		}
		body, _ = json.Marshal(wire.FromLedgerSupply(s, nil))
	case path == "/v1/info":
		var wi wire.Info
		if err := json.Unmarshal(body, &wi); err != nil {
			fail(err)
			return
		}
		info := wi.ToInfo()
		if f.info != nil {
			f.info(&info)
		}
		out := wire.FromInfo(info)
		out.LogKey = wi.LogKey
		body, _ = json.Marshal(out)
	}
	rw.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
	rw.Write(body)
}

// audit runs the auditor against the world's API as `specie audit` does.
func (w *world) audit(t *testing.T, f *fault, state string, trust *audit.Trust, cp *audit.Checkpoint) *audit.Report {
	t.Helper()
	return w.auditWith(t, f, audit.Options{StateDir: state, Trust: trust, Checkpoint: cp})
}

// auditWith runs the auditor with o, its API set to the world's.
func (w *world) auditWith(t *testing.T, f *fault, o audit.Options) *audit.Report {
	t.Helper()
	w.mu.Lock()
	w.fault = f
	w.mu.Unlock()
	c := client.New(w.srv.URL, "")
	o.Ledger, o.Batches, o.Checkpoints, o.API = c.Ledger(), c.Ledger().(roles.BatchSource), c.Ledger().(roles.CheckpointSource), w.srv.URL
	rep, err := audit.Run(ctx, o)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return rep
}

// tx rewrites transaction i of a batch: decoded, changed, encoded again
// (without Check, so the change may break any rule).
func tx(t *testing.T, b *roles.BatchContents, i int, change func(tx *money.Tx)) {
	t.Helper()
	var x money.Tx
	if err := x.UnmarshalBinary(b.Txs[i]); err != nil {
		t.Fatalf("honest tx %d: %v", i, err)
	}
	change(&x)
	enc, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b.Txs[i] = enc
}

func encode(t *testing.T, x *money.Tx) []byte {
	t.Helper()
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(batch uint64, tx, in int, field, check string) audit.Finding {
	return audit.Finding{Batch: batch, Tx: tx, Input: in, Field: field, Check: check}
}

// onBatch applies change to batch seq only.
func onBatch(seq uint64, change func(t *testing.T, b *roles.BatchContents)) func(*testing.T, uint64, *roles.BatchContents) bool {
	return func(t *testing.T, s uint64, b *roles.BatchContents) bool {
		if s == seq {
			change(t, b)
		}
		return true
	}
}

func onHeader(seq uint64, change func(h *money.BatchHeader)) func(uint64, *money.BatchHeader) {
	return func(s uint64, h *money.BatchHeader) {
		if s == seq {
			change(h)
		}
	}
}

func (w *world) faults() []*fault {
	n, net := w.n, w.n.Network
	stranger := ledgertest.KeyFrom(w.rng)
	// A consistent rewrite of batch 6 (alice pays carol, not bob), with
	// the chain recomputed from there: only a saved state or a checkpoint
	// can tell it from the truth.
	paid := n.Notes(w.pay3)
	pay6 := n.Spend(money.Transfer, paid[1:], []*crypto.PrivateKey{w.alice}, ledgertest.To(w.carol, 600))
	rewritten := slices.Clone(w.headers)
	rewritten[5].TxRoot = money.MerkleRoot([]money.Hash{net.TxID(pay6)})
	rewritten[6].Prev = net.HeaderHash(&rewritten[5])
	rewrite := func(f *fault) *fault {
		f.batch = onBatch(6, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = encode(t, pay6) })
		f.header = func(seq uint64, h *money.BatchHeader) {
			if seq >= 6 && seq <= worldBatches {
				*h = rewritten[seq-1]
			}
		}
		return f
	}
	// Alice spends the note of batch 2 again, properly signed.
	again := n.Spend(money.Transfer, n.Notes(w.mint2), []*crypto.PrivateKey{w.alice}, ledgertest.To(w.carol, 1000))
	ghost := money.Note{TxID: money.Hash{0x55}, Index: 0, Output: ledgertest.To(w.alice, 600)}
	spendGhost := n.Spend(money.Transfer, []money.Note{ghost}, []*crypto.PrivateKey{w.alice}, ledgertest.To(w.carol, 600))
	// The mint of batch 5 approved by officer 1 and a stranger.
	strangerMint := n.MintNonce(5, []int{1}, ledgertest.To(w.alice, 50))
	strangerMint.Auth = append(strangerMint.Auth, money.KeySig{Key: stranger.Public(), Sig: stranger.Sign(crypto.Mint, net.ID, net.TxID(strangerMint))})
	ledgertest.SortAuth(strangerMint)
	strangerAt := slices.IndexFunc(strangerMint.Auth, func(a money.KeySig) bool { return a.Key == stranger.Public() })
	officerAck := func(x *money.Tx) {
		o := n.Officers[0]
		x.Auth = []money.KeySig{{Key: o.Public(), Sig: o.Sign(crypto.Redeem, net.ID, net.TxID(x))}}
	}
	last := uint64(worldBatches)
	// resign signs the served checkpoint again after change, with signer.
	resign := func(signer *logtree.Signer, change func(c *logtree.Checkpoint)) func(*testing.T, []byte) []byte {
		return func(t *testing.T, body []byte) []byte {
			c, err := logtree.Open(body, w.signer.VerifierKey())
			if err != nil {
				t.Fatal(err)
			}
			change(&c)
			b, err := signer.Sign(&c)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	impostor, err := logtree.NewSigner("specie-test-log", ledgertest.KeyFrom(w.rng))
	if err != nil {
		panic(err)
	}
	return []*fault{
		{name: "checkpoint signed by another key", signed: resign(impostor, func(*logtree.Checkpoint) {}),
			want: []audit.Finding{at(0, -1, -1, "checkpoint", audit.CheckCheckpointSig)}},
		{name: "checkpoint signed over another tree", signed: resign(w.signer, func(c *logtree.Checkpoint) { c.Root[0] ^= 1 }),
			want: []audit.Finding{at(last, -1, -1, "checkpoint.root", audit.CheckSignedRoot)}},
		{name: "checkpoint signed for more batches than served", signed: resign(w.signer, func(c *logtree.Checkpoint) { c.Size++ }),
			want: []audit.Finding{at(last+1, -1, -1, "checkpoint.size", audit.CheckSignedRoot)}},
		{name: "changed output amount", batch: onBatch(3, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Outputs[0].Value++ })
		}), want: []audit.Finding{at(3, 0, -1, "rules", audit.CheckRules)}},
		{name: "changed input amount", batch: onBatch(3, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Inputs[0].Value-- })
		}), want: []audit.Finding{at(3, 0, -1, "rules", audit.CheckRules)}},
		{name: "input and output amounts raised together (sums still balance)", batch: onBatch(6, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Inputs[0].Value += 5; x.Outputs[0].Value += 5 })
		}), want: []audit.Finding{at(6, 0, 0, "inputs[0].signature", audit.CheckSignature), at(6, 0, 0, "inputs[0]", audit.CheckUnknownNote)}},
		{name: "dropped transaction", batch: onBatch(7, func(t *testing.T, b *roles.BatchContents) { b.Txs = b.Txs[:1] }),
			want: []audit.Finding{at(7, -1, -1, "header.tx_count", audit.CheckMerkle)}},
		{name: "duplicated transaction", batch: onBatch(7, func(t *testing.T, b *roles.BatchContents) { b.Txs = append(b.Txs, b.Txs[0]) }),
			want: []audit.Finding{at(7, 2, -1, "txid", audit.CheckDuplicateTx), at(7, 2, 0, "inputs[0]", audit.CheckDoubleSpend)}},
		{name: "reordered transactions", batch: onBatch(7, func(t *testing.T, b *roles.BatchContents) { b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0] }),
			want: []audit.Finding{at(7, -1, -1, "header.tx_root", audit.CheckMerkle)}},
		{name: "reordered batches", remap: map[uint64]uint64{3: 4, 4: 3},
			want: []audit.Finding{at(3, -1, -1, "header.seq", audit.CheckChain)}},
		{name: "mint with one approval", batch: onBatch(2, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Auth = x.Auth[:1] })
		}), want: []audit.Finding{at(2, 0, -1, "auth", audit.CheckQuorum)}},
		{name: "mint approved by a key that is not an officer's", batch: onBatch(5, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = encode(t, strangerMint) }),
			want: []audit.Finding{at(5, 0, -1, fmt.Sprintf("auth[%d].key", strangerAt), audit.CheckAuthority), at(5, 0, -1, "auth", audit.CheckQuorum)}},
		{name: "forged officer signature", batch: onBatch(5, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Auth[1].Sig[0] ^= 1 })
		}), want: []audit.Finding{at(5, 0, -1, "auth[1].signature", audit.CheckSignature), at(5, 0, -1, "auth", audit.CheckQuorum)}},
		{name: "unsigned mint outside genesis", batch: onBatch(5, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Auth = nil })
		}), want: []audit.Finding{at(5, 0, -1, "auth", audit.CheckQuorum)}},
		{name: "forged owner signature", batch: onBatch(3, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.InputSigs[0][5] ^= 0x20 })
		}), want: []audit.Finding{at(3, 0, 0, "inputs[0].signature", audit.CheckSignature)}},
		{name: "redeem without the issuer's acknowledgement", batch: onBatch(4, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Auth = nil })
		}), want: []audit.Finding{at(4, 0, -1, "auth", audit.CheckRedeemAck)}},
		{name: "redeem acknowledged by an officer key", batch: onBatch(4, func(t *testing.T, b *roles.BatchContents) { tx(t, b, 0, officerAck) }),
			want: []audit.Finding{at(4, 0, -1, "auth[0].key", audit.CheckAuthority)}},
		{name: "forged redeem acknowledgement", batch: onBatch(4, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Auth[0].Sig[63] ^= 1 })
		}), want: []audit.Finding{at(4, 0, -1, "auth[0].signature", audit.CheckSignature)}},
		{name: "redeem that destroys nothing", batch: onBatch(4, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Outputs[0].Value = 400 })
		}), want: []audit.Finding{at(4, 0, -1, "rules", audit.CheckRules)}},
		{name: "transfer relabelled as a mint", batch: onBatch(3, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 0, func(x *money.Tx) { x.Kind = money.Mint })
		}), want: []audit.Finding{at(3, 0, -1, "rules", audit.CheckRules)}},
		{name: "note spent again in a later batch", batch: onBatch(6, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = encode(t, again) }),
			want: []audit.Finding{at(6, 0, 0, "inputs[0]", audit.CheckDoubleSpend)}},
		{name: "spend of a note never created", batch: onBatch(6, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = encode(t, spendGhost) }),
			want: []audit.Finding{at(6, 0, 0, "inputs[0]", audit.CheckUnknownNote)}},
		{name: "mint replayed in a later batch", batch: onBatch(5, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = encode(t, w.mint2) }),
			want: []audit.Finding{at(5, 0, -1, "outputs[0]", audit.CheckDuplicateNote)}},
		{name: "genesis note amount changed", batch: onBatch(1, func(t *testing.T, b *roles.BatchContents) {
			tx(t, b, 2, func(x *money.Tx) { x.Outputs[3].Value++ })
		}), want: []audit.Finding{at(1, -1, -1, "header.tx_root", audit.CheckMerkle), at(1, -1, -1, "header.minted", audit.CheckSupply)}},
		{name: "truncated transaction bytes", batch: onBatch(3, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = b.Txs[0][:len(b.Txs[0])-1] }),
			want: []audit.Finding{at(3, 0, -1, "tx", audit.CheckEncoding)}},
		{name: "transaction with a trailing byte", batch: onBatch(6, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = append(b.Txs[0], 0) }),
			want: []audit.Finding{at(6, 0, -1, "tx", audit.CheckEncoding)}},
		{name: "header with a wrong previous hash", header: onHeader(4, func(h *money.BatchHeader) { h.Prev[0] ^= 1 }),
			want: []audit.Finding{at(4, -1, -1, "header.prev", audit.CheckChain)}},
		{name: "header minted off by one", header: onHeader(5, func(h *money.BatchHeader) { h.Minted++ }),
			want: []audit.Finding{at(5, -1, -1, "header.minted", audit.CheckSupply)}},
		{name: "header redeemed off by one", header: onHeader(4, func(h *money.BatchHeader) { h.Redeemed-- }),
			want: []audit.Finding{at(4, -1, -1, "header.redeemed", audit.CheckSupply)}},
		{name: "header with another Merkle root", header: onHeader(3, func(h *money.BatchHeader) { h.TxRoot[31] ^= 1 }),
			want: []audit.Finding{at(3, -1, -1, "header.tx_root", audit.CheckMerkle)}},
		{name: "header counting one transaction more", header: onHeader(3, func(h *money.BatchHeader) { h.TxCount++ }),
			want: []audit.Finding{at(3, -1, -1, "header.tx_count", audit.CheckMerkle)}},
		{name: "header route and batch route disagree", listed: onHeader(3, func(h *money.BatchHeader) { h.Minted++ }),
			want: []audit.Finding{at(3, -1, -1, "header", audit.CheckRouteMismatch)}},
		{name: "published minted off by one", supply: func(s *roles.LedgerSupply) { s.Minted++; s.Outstanding++ },
			want: []audit.Finding{at(last, -1, -1, "supply.minted", audit.CheckPublished)}},
		{name: "published redeemed off by one", supply: func(s *roles.LedgerSupply) { s.Redeemed++; s.Outstanding-- },
			want: []audit.Finding{at(last, -1, -1, "supply.redeemed", audit.CheckPublished)}},
		{name: "published outstanding off by one", supply: func(s *roles.LedgerSupply) { s.Outstanding-- },
			want: []audit.Finding{at(last, -1, -1, "supply.outstanding", audit.CheckPublished)}},
		{name: "published unspent note count off by one", supply: func(s *roles.LedgerSupply) { s.Unspent++ },
			want: []audit.Finding{at(last, -1, -1, "supply.unspent_notes", audit.CheckPublished)}},
		{name: "supply published for a batch the log does not serve", supply: func(s *roles.LedgerSupply) { s.Batches++ },
			want: []audit.Finding{at(last+1, -1, -1, "supply.batches", audit.CheckPublished)}},
		{name: "batch not served", batch: func(_ *testing.T, seq uint64, _ *roles.BatchContents) bool { return seq != 5 },
			want: []audit.Finding{at(5, -1, -1, "batch", audit.CheckUnavailable)}},
		{name: "batch served with bad base64", rawBatch: func(seq uint64, body []byte) []byte {
			if seq != 3 {
				return body
			}
			i := bytes.Index(body, []byte(`"transactions":["`)) + len(`"transactions":["`)
			return append(append(slices.Clone(body[:i]), '@'), body[i+1:]...)
		}, want: []audit.Finding{at(3, -1, -1, "batch", audit.CheckUnavailable)}},
		rewrite(&fault{name: "old batch rewritten with the chain recomputed, seen against the saved state", afterClean: true,
			want: []audit.Finding{at(6, -1, -1, "header", audit.CheckRewritten)}}),
		rewrite(&fault{name: "old batch rewritten with the chain recomputed, seen against a checkpoint", checkpoint: true,
			want: []audit.Finding{at(last, -1, -1, "header", audit.CheckCheckpoint)}}),
		{name: "log shrank since the last run", afterClean: true, drop: 1, supply: func(s *roles.LedgerSupply) { *s = roles.LedgerSupply{} },
			want: []audit.Finding{at(last, -1, -1, "headers", audit.CheckRewritten)}},
		{name: "issuer keys changed since they were pinned", afterClean: true, info: func(i *roles.LedgerInfo) { i.MintKeys = append(i.MintKeys, stranger.Public()) },
			want: []audit.Finding{at(0, -1, -1, "info", audit.CheckKeys)}},
		{name: "API publishes a stranger's key and a mint it signed", trust: true,
			info:  func(i *roles.LedgerInfo) { i.MintKeys = append(i.MintKeys, stranger.Public()) },
			batch: onBatch(5, func(t *testing.T, b *roles.BatchContents) { b.Txs[0] = encode(t, strangerMint) }),
			want:  []audit.Finding{at(0, -1, -1, "info", audit.CheckKeys), at(5, 0, -1, fmt.Sprintf("auth[%d].key", strangerAt), audit.CheckAuthority)}},
	}
}

// TestAuditorFindsEveryPlantedFault plants each fault in what the API
// serves and checks the auditor reports it at its exact place (batch, tx,
// input, field and check), with nothing reported at any batch before it
// (a fault may be seen again after it, as a later batch builds on it).
func TestAuditorFindsEveryPlantedFault(t *testing.T) {
	w := newWorld(t)
	clean := w.audit(t, nil, "", nil, nil)
	if !clean.Clean || clean.ToBatch != worldBatches || clean.Batches != worldBatches {
		t.Fatalf("clean run: %+v", clean)
	}
	faults := w.faults()
	if len(faults) < 30 {
		t.Fatalf("only %d planted faults", len(faults))
	}
	w.runFaults(t, faults, clean)
}

// runFaults plants each fault in turn and checks the auditor reports it
// at its place (every finding of f.want, and nothing before the first of
// them); clean is a clean run's report (its keys and checkpoint).
func (w *world) runFaults(t *testing.T, faults []*fault, clean *audit.Report) {
	trust := clean.Trust
	names := make(map[string]bool)
	for _, f := range faults {
		if names[f.name] {
			t.Fatalf("fault %q twice", f.name)
		}
		names[f.name] = true
		t.Run(f.name, func(t *testing.T) {
			state := t.TempDir()
			var tr *audit.Trust
			var cp *audit.Checkpoint
			if f.trust {
				tr = &trust
			}
			if f.checkpoint {
				cp = clean.Checkpoint
			}
			if f.afterClean {
				if rep := w.audit(t, nil, state, nil, nil); !rep.Clean {
					t.Fatalf("clean run before the fault: %+v", rep.Findings)
				}
			}
			rep := w.audit(t, f, state, tr, cp)
			if rep.Clean {
				t.Fatalf("nothing reported")
			}
			t.Logf("reported:\n%s", findings(rep))
			first := f.want[0].Batch
			for _, want := range f.want {
				first = min(first, want.Batch)
				if !slices.ContainsFunc(rep.Findings, func(g audit.Finding) bool {
					return g.Batch == want.Batch && g.Tx == want.Tx && g.Input == want.Input && g.Field == want.Field && g.Check == want.Check
				}) {
					t.Errorf("missing finding at %s (%s); got:\n%s", want.Location(), want.Check, findings(rep))
				}
			}
			for _, g := range rep.Findings {
				if g.Batch < first {
					t.Errorf("finding before the fault, at %s: %s", g.Location(), g.Message)
				}
			}
		})
	}
}

func findings(r *audit.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\t%s [%s] %s\n", f.Location(), f.Check, f.Message)
	}
	return b.String()
}

// TestAuditorDetectsASplitView: one operator, one log key, two histories
// that agree up to batch 5. An auditor that saw the first is then shown
// the second: its saved state and the signed checkpoints' consistency
// proof both say so. A party that replays nothing but holds the first
// checkpoint (a witness) detects it from the consistency proof alone.
func TestAuditorDetectsASplitView(t *testing.T) {
	a, b := newWorldOf(t, false), newWorldOf(t, true)
	state := t.TempDir()
	first := a.audit(t, nil, state, nil, nil)
	if !first.Clean || first.SignedCheckpoint == "" {
		t.Fatalf("the first history: %+v", first)
	}
	has := func(r *audit.Report, want audit.Finding) bool {
		return slices.ContainsFunc(r.Findings, func(g audit.Finding) bool {
			return g.Batch == want.Batch && g.Tx == want.Tx && g.Input == want.Input && g.Field == want.Field && g.Check == want.Check
		})
	}
	second := b.audit(t, nil, state, nil, nil)
	for _, want := range []audit.Finding{at(6, -1, -1, "header", audit.CheckRewritten), at(worldBatches, -1, -1, "consistency", audit.CheckConsistency)} {
		if !has(second, want) {
			t.Errorf("the auditor shown the other history: missing %s (%s); got:\n%s", want.Location(), want.Check, findings(second))
		}
	}
	witness := b.auditWith(t, nil, audit.Options{StateDir: t.TempDir(), SignedCheckpoint: []byte(first.SignedCheckpoint)})
	if len(witness.Findings) != 1 || !has(witness, at(worldBatches, -1, -1, "consistency", audit.CheckConsistency)) {
		t.Errorf("a fresh auditor holding the first checkpoint: got\n%s", findings(witness))
	}
	if clean := b.auditWith(t, nil, audit.Options{StateDir: t.TempDir()}); !clean.Clean {
		t.Errorf("the second history alone is consistent, yet:\n%s", findings(clean))
	}
}

// TestReportsSayWhereEachFindingIs: the HTML report names each finding's
// place and escapes what the ledger put in it; the JSON report carries
// the same findings.
func TestReportsSayWhereEachFindingIs(t *testing.T) {
	w := newWorld(t)
	f := &fault{name: "forged owner signature", batch: onBatch(3, func(t *testing.T, b *roles.BatchContents) {
		tx(t, b, 0, func(x *money.Tx) { x.InputSigs[0][5] ^= 0x20 })
	})}
	rep := w.audit(t, f, "", nil, nil)
	rep.Findings = append(rep.Findings, audit.Finding{Batch: 9, Tx: -1, Input: -1, Field: "x", Check: "test", Message: "<script>alert(1)</script>"})
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"<td>3</td><td>0</td><td>0</td><td><code>inputs[0].signature</code></td><td>signature</td>", "&lt;script&gt;", "batches 1 to 7"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("report.html carries the ledger's markup unescaped")
	}
	js, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(js), `"field":"inputs[0].signature"`) || !strings.Contains(string(js), `"minted":"`) {
		t.Errorf("report.json: %v\n%s", err, js)
	}
}

// TestAuditorAsWitness: an auditor running as a witness cosigns the log's
// checkpoint after a clean run only; a reader then accepts that checkpoint
// against the log served now with the cosignatures it asks for, and
// rejects it when shown the other history of a split view.
func TestAuditorAsWitness(t *testing.T) {
	a, b := newWorldOf(t, false), newWorldOf(t, true)
	witness, err := logtree.NewSigner("witness-auditor", ledgertest.KeyFrom(mrand.New(mrand.NewPCG(5, 5))))
	if err != nil {
		t.Fatal(err)
	}
	rep := a.auditWith(t, nil, audit.Options{Witness: witness})
	if !rep.Clean || rep.CosignedCheckpoint == "" || rep.WitnessKey != witness.VerifierKey() {
		t.Fatalf("clean run as a witness: %+v", rep)
	}
	forged := &fault{name: "forged owner signature", batch: onBatch(3, func(t *testing.T, bc *roles.BatchContents) {
		tx(t, bc, 0, func(x *money.Tx) { x.InputSigs[0][5] ^= 0x20 })
	})}
	if bad := a.auditWith(t, forged, audit.Options{Witness: witness}); bad.CosignedCheckpoint != "" {
		t.Fatal("the witness cosigned after finding a fault")
	}
	logKey := a.signer.VerifierKey()
	ws := []string{witness.VerifierKey()}
	check := func(w *world, need int) error {
		c := client.New(w.srv.URL, "")
		_, _, err := audit.VerifyCheckpoint(ctx, c.Ledger(), c.Ledger().(roles.CheckpointSource), w.n.Network, []byte(rep.CosignedCheckpoint), logKey, ws, need)
		return err
	}
	if err := check(a, 1); err != nil {
		t.Fatalf("the cosigned checkpoint against its own log: %v", err)
	}
	if err := check(a, 2); err == nil {
		t.Fatal("one cosignature passed for two")
	}
	if err := check(b, 1); err == nil || !strings.Contains(err.Error(), "not a prefix") {
		t.Fatalf("the cosigned checkpoint against the other history: %v", err)
	}
}

// corrupt stops the world's ledger, changes its store on disk, and serves
// the ledger reopened on what is left: a fault in the ledger's own data,
// not in what a proxy rewrites.
func (w *world) corrupt(t *testing.T, change func(db *store.DB)) {
	t.Helper()
	if err := w.l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(w.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	change(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(w.dir, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.l = l
	w.real = api.New(api.Config{Ledger: l, Checkpoints: logtree.NewLog(l, w.n.Network, w.signer)}).Handler()
	w.mu.Unlock()
}

// archiveKey is the ledger's store key of batch seq's archive entry
// (ledger.prefixArchive): the test reaches into the ledger's data as a
// broken disk or a dishonest operator would.
func archiveKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'x'}, seq)
}

// TestAuditorFindsCorruptedLedgerData changes the ledger's own stored
// archive (a flipped bit in a signature, a transaction replaced, an entry
// gone, an entry that no longer decodes) and checks the auditor reports
// each at its place, the ledger serving what its store holds.
func TestAuditorFindsCorruptedLedgerData(t *testing.T) {
	setTx := func(t *testing.T, db *store.DB, seq uint64, i int, change func(raw []byte) []byte) {
		t.Helper()
		v, err := db.Get(archiveKey(seq))
		if err != nil {
			t.Fatal(err)
		}
		// The entry: version u8, count u32, then (length u32, tx) each.
		off := 5
		for j := 0; j < i; j++ {
			off += 4 + int(binary.BigEndian.Uint32(v[off:]))
		}
		n := int(binary.BigEndian.Uint32(v[off:]))
		raw := change(slices.Clone(v[off+4 : off+4+n]))
		out := binary.BigEndian.AppendUint32(slices.Clone(v[:off]), uint32(len(raw)))
		out = append(append(out, raw...), v[off+4+n:]...)
		b := db.NewBatch()
		b.Set(archiveKey(seq), out)
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		change func(t *testing.T, w *world, db *store.DB)
		want   audit.Finding
	}{
		{"a bit flipped in a stored signature", func(t *testing.T, w *world, db *store.DB) {
			setTx(t, db, 3, 0, func(raw []byte) []byte { raw[len(raw)-2] ^= 1; return raw }) // the last input signature (no auth)
		}, at(3, 0, 0, "inputs[0].signature", audit.CheckSignature)},
		{"a stored transaction replaced by another, validly signed", func(t *testing.T, w *world, db *store.DB) {
			again := w.n.Spend(money.Transfer, w.n.Notes(w.mint2), []*crypto.PrivateKey{w.alice}, ledgertest.To(w.carol, 1000))
			setTx(t, db, 6, 0, func([]byte) []byte { return encode(t, again) })
		}, at(6, 0, 0, "inputs[0]", audit.CheckDoubleSpend)},
		{"a stored archive entry gone", func(t *testing.T, w *world, db *store.DB) {
			b := db.NewBatch()
			b.Delete(archiveKey(4))
			if err := b.Commit(true); err != nil {
				t.Fatal(err)
			}
		}, at(4, -1, -1, "batch", audit.CheckUnavailable)},
		{"a stored archive entry that no longer decodes", func(t *testing.T, w *world, db *store.DB) {
			v, err := db.Get(archiveKey(5))
			if err != nil {
				t.Fatal(err)
			}
			b := db.NewBatch()
			b.Set(archiveKey(5), v[:len(v)-3])
			if err := b.Commit(true); err != nil {
				t.Fatal(err)
			}
		}, at(5, -1, -1, "batch", audit.CheckUnavailable)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.corrupt(t, func(db *store.DB) { c.change(t, w, db) })
			rep := w.audit(t, nil, "", nil, nil)
			if !slices.ContainsFunc(rep.Findings, func(g audit.Finding) bool {
				return g.Batch == c.want.Batch && g.Tx == c.want.Tx && g.Input == c.want.Input && g.Field == c.want.Field && g.Check == c.want.Check
			}) {
				t.Errorf("missing finding at %s (%s); got:\n%s", c.want.Location(), c.want.Check, findings(rep))
			}
			for _, g := range rep.Findings {
				if g.Batch < c.want.Batch {
					t.Errorf("finding before the fault, at %s: %s", g.Location(), g.Message)
				}
			}
		})
	}
}

// TestAuditorResumesWhereItStopped: a run that cannot get batch 5 stops
// before it and saves its state at batch 4; the next run replays from 5
// only, finds nothing, and still reports that an earlier run found
// something.
func TestAuditorResumesWhereItStopped(t *testing.T) {
	w := newWorld(t)
	state := t.TempDir()
	missing := &fault{name: "batch not served", batch: func(_ *testing.T, seq uint64, _ *roles.BatchContents) bool { return seq != 5 }}
	first := w.audit(t, missing, state, nil, nil)
	if first.ToBatch != 4 || len(first.Findings) == 0 {
		t.Fatalf("first run: to batch %d, findings:\n%s", first.ToBatch, findings(first))
	}
	second := w.audit(t, nil, state, nil, nil)
	if !second.Clean || second.FromBatch != 5 || second.ToBatch != worldBatches || second.Batches != worldBatches-4 || second.EarlierFindings != uint64(len(first.Findings)) {
		t.Fatalf("second run: %+v\n%s", second, findings(second))
	}
}

// TestAuditorWhileTheLedgerCommits: a batch committed while a run is under
// way (here, as the auditor fetches the last batch) is left to the next
// run: this one verifies up to the head it started at and finds nothing,
// its supply and signed checkpoint both read at the start; the next run
// replays the new batch only.
func TestAuditorWhileTheLedgerCommits(t *testing.T) {
	w := newWorld(t)
	state := t.TempDir()
	var once sync.Once
	committing := &fault{name: "a commit during the run", batch: func(t *testing.T, seq uint64, _ *roles.BatchContents) bool {
		if seq == worldBatches {
			once.Do(func() {
				if _, err := w.l.Submit(ctx, w.n.MintNonce(77, []int{0, 1}, ledgertest.To(w.carol, 5))); err != nil {
					t.Errorf("commit during the run: %v", err)
				}
			})
		}
		return true
	}}
	first := w.audit(t, committing, state, nil, nil)
	if !first.Clean || first.ToBatch != worldBatches {
		t.Fatalf("the run during a commit: to batch %d\n%s", first.ToBatch, findings(first))
	}
	second := w.audit(t, nil, state, nil, nil)
	if !second.Clean || second.FromBatch != worldBatches+1 || second.ToBatch != worldBatches+1 || second.Batches != 1 {
		t.Fatalf("the next run: from %d to %d (%d batches)\n%s", second.FromBatch, second.ToBatch, second.Batches, findings(second))
	}
}

// rotationFaults are the planted faults of a rotation world: the rotation
// batch is 8, the mint by the new set batch 9 (tx 0), its fresh key's
// approval at auth[fi].
func (w *world) rotationFaults(t *testing.T, fresh *crypto.PrivateKey, mint *money.Tx) []*fault {
	const rot, next = worldBatches + 1, worldBatches + 2
	fi := slices.IndexFunc(mint.Auth, func(k money.KeySig) bool { return k.Key == fresh.Public() })
	honest, err := w.l.Batch(ctx, rot)
	if err != nil {
		t.Fatal(err)
	}
	var s policy.SignedKeySet
	if err := s.UnmarshalBinary(honest.KeySet); err != nil {
		t.Fatal(err)
	}
	// One approval of the two the founding quorum needs, the log
	// rewritten around it: batch 8's root and batch 9's previous hash
	// recomputed.
	short := s
	short.Approvals = s.Approvals[:1]
	shortRec, err := short.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	h8 := w.headers[rot-1]
	h8.TxRoot = money.MerkleRoot([]money.Hash{policy.RotationID(shortRec)})
	prev9 := w.n.Network.HeaderHash(&h8)
	// The record altered (quorum 1 of the new set), the log not.
	loose := s
	loose.KeySet.Quorum = 1
	looseRec, _ := loose.MarshalBinary()
	byFresh, err := policy.SignKeySet(&s.KeySet, fresh)
	if err != nil {
		t.Fatal(err)
	}
	o2 := w.n.Officers[2]
	authNew := at(next, 0, -1, "auth["+string(rune('0'+fi))+"].key", audit.CheckAuthority)
	return []*fault{
		{name: "rotation with too few approvals, chain recomputed",
			header: func(seq uint64, h *money.BatchHeader) {
				switch seq {
				case rot:
					*h = h8
				case next:
					h.Prev = prev9
				}
			},
			batch: onBatch(rot, func(t *testing.T, b *roles.BatchContents) { b.KeySet = shortRec }),
			want:  []audit.Finding{at(rot, -1, -1, "key_set", audit.CheckKeySet), authNew, at(next, 0, -1, "auth", audit.CheckQuorum)}},
		{name: "rotation record altered",
			batch: onBatch(rot, func(t *testing.T, b *roles.BatchContents) { b.KeySet = looseRec }),
			want:  []audit.Finding{at(rot, -1, -1, "header.tx_root", audit.CheckMerkle), authNew}},
		{name: "rotation served as an empty batch",
			batch: onBatch(rot, func(t *testing.T, b *roles.BatchContents) { b.KeySet = nil }),
			want:  []audit.Finding{at(rot, -1, -1, "header.tx_root", audit.CheckMerkle), authNew}},
		{name: "mint signed only by a rotated-out key after the rotation",
			batch: onBatch(next, func(t *testing.T, b *roles.BatchContents) {
				tx(t, b, 0, func(x *money.Tx) {
					x.Auth = []money.KeySig{{Key: o2.Public(), Sig: o2.Sign(crypto.Mint, w.n.Network.ID, w.n.Network.TxID(x))}}
				})
			}),
			want: []audit.Finding{at(next, 0, -1, "auth[0].key", audit.CheckAuthority), at(next, 0, -1, "auth", audit.CheckQuorum)}},
		{name: "info serves the rotation at another batch",
			info: func(i *roles.LedgerInfo) { i.KeySets[0].Batch, i.KeySets[0].FromBatch = 4, 5 },
			want: []audit.Finding{at(rot, -1, -1, "info.key_sets[0]", audit.CheckKeySet)}},
		{name: "info withholds the rotation",
			info: func(i *roles.LedgerInfo) { i.KeySets = nil },
			want: []audit.Finding{at(rot, -1, -1, "info.key_sets", audit.CheckKeySet)}},
		{name: "info serves the rotation with other approvals",
			info: func(i *roles.LedgerInfo) { i.KeySets[0].KeySet.Approvals[1] = byFresh },
			want: []audit.Finding{at(rot, -1, -1, "info.key_sets[0]", audit.CheckKeySet)}},
		{name: "info serves a rotation the log does not hold",
			info: func(i *roles.LedgerInfo) {
				i.KeySets = append(i.KeySets, roles.KeyEpoch{FromBatch: 3, KeySet: s})
			},
			want: []audit.Finding{at(3, -1, -1, "info.key_sets[1]", audit.CheckKeySet)}},
	}
}

// TestAuditorFindsPlantedRotationFaults: each fault of a rotation, in the
// log or in what GET /v1/info serves, is reported at its exact batch, and
// a mint is judged by the set the log puts in force, never by the served
// epochs.
func TestAuditorFindsPlantedRotationFaults(t *testing.T) {
	w, fresh, mint := rotationWorld(t)
	clean := w.audit(t, nil, "", nil, nil)
	if !clean.Clean || clean.ToBatch != worldBatches+2 {
		t.Fatalf("clean run: %s", findings(clean))
	}
	w.runFaults(t, w.rotationFaults(t, fresh, mint), clean)
}
