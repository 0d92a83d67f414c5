// Package bench generates real signed load against a Specie ledger, in
// process or over HTTP, and measures committed throughput, commit latency,
// CPU, memory and disk. Every transaction is a fresh Ed25519-signed transfer;
// notes are pre-funded (genesis in process, real mints over HTTP) and
// transactions pre-signed before the clock starts, so the figures measure
// the ledger, not the load generator.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Options choose the load.
type Options struct {
	Duration    time.Duration // how long to offer load
	Rate        int           // transactions per second, open loop; 0 = as fast as possible (closed loop)
	Notes       uint64        // unspent notes before the run
	MaxTx       int           // transactions pre-signed (the run stops early if they run out)
	Inputs      int           // inputs per transaction
	Outputs     int           // outputs per transaction
	Workers     int           // concurrent submitters (closed loop)
	ClientBatch int           // transactions per submission, as an intermediary would batch
	Bound       bool          // also measure the signature-verification bound
	Progress    io.Writer     // progress line once a second, or nil
	Profile     io.Writer     // CPU profile of the timed run, or nil
	// Archive runs the in-process ledger with its archive of full
	// transactions (ledger.Config.Archive), as `specie up` does, to
	// measure what keeping them for auditors costs.
	Archive bool
	// Groups, for a sharded target (`specie up --groups G`), is its group
	// count, and Span shapes the load for it: SpanSingle makes every
	// transaction's notes live in one group, SpanCross puts its inputs and
	// change in one group and its first output in another (one prepare,
	// commits in two groups). The default, with Groups 0, is notes wherever
	// their IDs fall.
	Groups int
	Span   string
}

// Report is the one JSON object `specie bench` prints.
type Report struct {
	Mode         string         `json:"mode"`
	Groups       int            `json:"groups,omitempty"`
	Span         string         `json:"span,omitempty"`
	Notes        uint64         `json:"notes"`
	Inputs       int            `json:"inputs"`
	Outputs      int            `json:"outputs"`
	Rate         int            `json:"rate,omitempty"`
	DurationS    float64        `json:"duration_s"`
	Offered      int            `json:"offered"`
	Committed    int            `json:"committed"`
	CommittedTxS float64        `json:"committed_tx_s"`
	LatencyMs    Latency        `json:"latency_ms"`
	Rejected     map[string]int `json:"rejected"`
	CPUSPerTx    float64        `json:"cpu_s_per_tx"`
	CPUNote      string         `json:"cpu_note,omitempty"`
	RSSBytes     uint64         `json:"rss_bytes"`
	DiskPerNote  float64        `json:"disk_bytes_per_note,omitempty"`
	BoundTxS     float64        `json:"bound_tx_s,omitempty"`
	RatioToBound float64        `json:"ratio_to_bound,omitempty"`
	Cores        int            `json:"cores"`
	SetupS       float64        `json:"setup_s"`
}

// Latency percentiles, submit (or scheduled send) to durable commit.
type Latency struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Target is the ledger under load plus what the bench needs around it.
type Target struct {
	Ledger roles.Ledger
	// Fund makes `count` notes spendable by keys; in process it is the
	// genesis path, over HTTP real mints. It also brings the unspent set to
	// `total` notes where it can.
	Fund func(total uint64, owners []*crypto.PrivateKey, count int, value uint64) ([]money.Note, []int, error)
	// CPUSeconds reports the ledger's process CPU time (nil: this process).
	CPUSeconds func() (float64, error)
	// Disk reports bytes on disk of the ledger, or 0 if unknown.
	Disk func() uint64
	// RSS reports the ledger process's resident memory (nil: this process).
	RSS  func() uint64
	Mode string
}

// Run funds notes, pre-signs transactions, optionally measures the bound,
// then offers load for the duration and reports.
func Run(ctx context.Context, net money.Network, t Target, o Options) (Report, error) {
	o.defaults()
	r := Report{Mode: t.Mode, Groups: o.Groups, Span: o.Span, Notes: o.Notes, Inputs: o.Inputs, Outputs: o.Outputs, Rate: o.Rate, Cores: runtime.NumCPU(), Rejected: map[string]int{}}
	setup := time.Now()
	owners := make([]*crypto.PrivateKey, 256)
	for i := range owners {
		owners[i] = ledgertest.MustKey()
	}
	need := o.MaxTx * o.Inputs
	notes, owner, err := t.Fund(o.Notes, owners, need, 1_000_00)
	if err != nil {
		return r, fmt.Errorf("bench: fund notes: %w", err)
	}
	if o.Groups > 1 {
		notes, owner = byGroup(net, notes, owner, o)
	}
	txs, err := sign(net, notes, owner, owners, o)
	if err != nil {
		return r, err
	}
	r.SetupS = time.Since(setup).Seconds()
	if o.Bound {
		if r.BoundTxS, err = bound(net, txs, o.Inputs); err != nil {
			return r, err
		}
	}

	cpu0, err := t.cpu()
	if err != nil {
		return r, err
	}
	if o.Profile != nil {
		if err := pprof.StartCPUProfile(o.Profile); err != nil {
			return r, fmt.Errorf("bench: cpu profile: %w", err)
		}
	}
	lat, offered, elapsed := o.load(ctx, t.Ledger, txs, r.Rejected)
	if o.Profile != nil {
		pprof.StopCPUProfile()
	}
	cpu1, _ := t.cpu()
	r.DurationS = elapsed.Seconds()
	r.Offered = offered
	r.Committed = len(lat)
	if elapsed > 0 {
		r.CommittedTxS = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		r.LatencyMs = percentiles(lat)
		r.CPUSPerTx = (cpu1 - cpu0) / float64(len(lat))
	}
	if t.CPUSeconds == nil {
		r.CPUNote = "CPU of this process (ledger and load generator together)"
	} else {
		r.CPUNote = "CPU of the ledger process, from its /metrics"
	}
	if t.RSS != nil {
		r.RSSBytes = t.RSS()
	} else {
		r.RSSBytes = rss()
	}
	if t.Disk != nil && o.Notes > 0 {
		r.DiskPerNote = float64(t.Disk()) / float64(o.Notes)
	}
	if r.BoundTxS > 0 {
		r.RatioToBound = r.CommittedTxS / r.BoundTxS
	}
	return r, nil
}

// The load's shapes for a sharded target (Options.Span).
const (
	SpanSingle = "single"
	SpanCross  = "cross"
)

// byGroup reorders the funded notes so that each transaction's inputs
// (Options.Inputs consecutive notes) live in one group; notes left over in
// a group are dropped.
func byGroup(net money.Network, notes []money.Note, owner []int, o Options) ([]money.Note, []int) {
	ns := make([][]money.Note, o.Groups)
	ow := make([][]int, o.Groups)
	for i := range notes {
		g := shard.GroupOf(net.NoteID(&notes[i]), o.Groups)
		ns[g] = append(ns[g], notes[i])
		ow[g] = append(ow[g], owner[i])
	}
	var outN []money.Note
	var outO []int
	for g := range ns {
		k := len(ns[g]) / o.Inputs * o.Inputs
		outN, outO = append(outN, ns[g][:k]...), append(outO, ow[g][:k]...)
	}
	return outN, outO
}

// shape picks tx's nonce (from i<<20 up) so that its outputs fall as
// Options.Span says, relative to the group of its inputs.
func (o *Options) shape(net money.Network, tx *money.Tx, i uint64) {
	home := shard.GroupOf(net.NoteID(&tx.Inputs[0]), o.Groups)
	for nonce := i << 20; ; nonce++ {
		tx.Nonce = nonce
		id := net.TxID(tx)
		fits := true
		for j := range tx.Outputs {
			n := money.Note{TxID: id, Index: uint32(j), Output: tx.Outputs[j]}
			at := shard.GroupOf(net.NoteID(&n), o.Groups) == home
			if o.Span == SpanCross && j == 0 {
				at = !at
			}
			if !at {
				fits = false
				break
			}
		}
		if fits || o.Span == "" {
			return
		}
	}
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 15 * time.Second
	}
	if o.Inputs <= 0 {
		o.Inputs = 2
	}
	if o.Outputs <= 0 {
		o.Outputs = 2
	}
	if o.MaxTx <= 0 {
		o.MaxTx = 600_000
	}
	if o.Notes < uint64(o.MaxTx*o.Inputs) {
		o.Notes = uint64(o.MaxTx * o.Inputs)
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.ClientBatch <= 0 {
		o.ClientBatch = 256
	}
}

func (t Target) cpu() (float64, error) {
	if t.CPUSeconds != nil {
		return t.CPUSeconds()
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("bench: getrusage: %w", err)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), nil
}

// signed holds the pre-signed transactions in canonical binary form, in
// memory without pointers, so the garbage collector has nothing to mark in
// it during the timed run: a real ledger's transactions arrive over the
// network and die after commit, and hundreds of MB of live *money.Tx would
// lengthen every GC cycle in the bench's process and inflate the ledger's
// tail latency. All have one shape, so transaction i is
// buf[i*size:(i+1)*size].
type signed struct {
	buf  []byte
	size int
}

func (s *signed) len() int { return len(s.buf) / s.size }

// decode returns fresh transactions lo..hi-1, as a server would decode a
// submission. One submission's transactions share three backing arrays
// (each slice capped to its own part) instead of three allocations each,
// so the generator's own garbage does not add GC cycles to the ledger's
// latency; they die once the ledger is done with them.
func (s *signed) decode(lo, hi int) ([]*money.Tx, error) {
	n := max(hi-lo, 0)
	if n == 0 {
		return nil, nil
	}
	ptrs := make([]*money.Tx, n)
	vals := make([]money.Tx, n)
	// All bench transactions have one shape: the first sizes the arrays.
	var first money.Tx
	if err := first.UnmarshalBinary(s.buf[lo*s.size : (lo+1)*s.size]); err != nil {
		return nil, fmt.Errorf("bench: decode pre-signed tx %d: %w", lo, err)
	}
	ni, no := len(first.Inputs), len(first.Outputs)
	ins := make([]money.Note, n*ni)
	sigs := make([]money.Sig, n*ni)
	outs := make([]money.Output, n*no)
	for k := range vals {
		i := lo + k
		tx := &vals[k]
		tx.Inputs = ins[k*ni : k*ni : (k+1)*ni]
		tx.InputSigs = sigs[k*ni : k*ni : (k+1)*ni]
		tx.Outputs = outs[k*no : k*no : (k+1)*no]
		if err := tx.UnmarshalBinary(s.buf[i*s.size : (i+1)*s.size]); err != nil {
			return nil, fmt.Errorf("bench: decode pre-signed tx %d: %w", i, err)
		}
		ptrs[k] = tx
	}
	return ptrs, nil
}

// sign builds and signs every transaction on all cores and keeps only its
// encoding: each spends the next `Inputs` funded notes and pays `Outputs`
// bench keys. All have one shape, so one encoded size, and each worker
// encodes straight into its transaction's place in the buffer.
func sign(net money.Network, notes []money.Note, owner []int, owners []*crypto.PrivateKey, o Options) (*signed, error) {
	n := len(notes) / o.Inputs
	size := (&money.Tx{Inputs: make([]money.Note, o.Inputs), Outputs: make([]money.Output, o.Outputs)}).EncodedSize()
	s := &signed{buf: make([]byte, n*size), size: size}
	var wg sync.WaitGroup
	var bad atomic.Int64
	bad.Store(-1)
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			keys := make([]*crypto.PrivateKey, o.Inputs)
			tx := &money.Tx{Kind: money.Transfer, Outputs: make([]money.Output, o.Outputs)}
			for i := w; i < n; i += workers {
				in := notes[i*o.Inputs : (i+1)*o.Inputs]
				var total uint64
				for j := range in {
					keys[j] = owners[owner[i*o.Inputs+j]]
					total += in[j].Value
				}
				outs := tx.Outputs
				for j := range outs {
					outs[j] = money.Output{Value: total / uint64(o.Outputs), Lock: money.KeyLock(owners[(i+j)%len(owners)].Public())}
				}
				outs[0].Value += total % uint64(o.Outputs)
				tx.Nonce = uint64(i)
				tx.Inputs = in
				if o.Groups > 1 {
					o.shape(net, tx, uint64(i))
				}
				ledgertest.SignSpend(net, tx, keys)
				dst := s.buf[i*size : i*size : (i+1)*size]
				if b, err := tx.AppendBinary(dst); err != nil || len(b) != size || &b[0] != &s.buf[i*size] {
					bad.CompareAndSwap(-1, int64(i))
				}
			}
		}(w)
	}
	wg.Wait()
	if i := bad.Load(); i >= 0 {
		return nil, fmt.Errorf("bench: pre-signed tx %d does not encode to %d bytes", i, size)
	}
	return s, nil
}

// bound measures how many of these transactions' signatures all cores
// verify per second with the ledger's verification code (crypto.Batch,
// with a crypto.KeyCache of the owners' keys as the ledger's verifiers
// keep: a repeat owner's key is expanded once), doing nothing else, and
// converts it to transactions per second. The sample is decoded before the
// clock starts.
func bound(net money.Network, txs *signed, inputs int) (float64, error) {
	sample, err := txs.decode(0, min(txs.len(), 40_000))
	if err != nil {
		return 0, err
	}
	if len(sample) == 0 {
		return 0, nil
	}
	keys := crypto.NewKeyCache(8192)
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(sample) + workers - 1) / workers
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < len(sample); s += chunk {
		wg.Add(1)
		go func(part []*money.Tx) {
			defer wg.Done()
			b := crypto.NewBatch(512).WithKeys(keys)
			for _, tx := range part {
				id := net.TxID(tx)
				for j := range tx.Inputs {
					b.Add(crypto.PublicKey(tx.Inputs[j].Lock.Key), crypto.Spend, net.ID, id, tx.InputSigs[j])
				}
				if b.Len() >= 512 {
					b.Verify()
				}
			}
			b.Verify()
		}(sample[s:min(s+chunk, len(sample))])
	}
	wg.Wait()
	return float64(len(sample)) / time.Since(start).Seconds(), nil
}

// load offers the transactions and returns each committed one's latency in
// nanoseconds. Each submission's transactions are decoded from their
// encoding just before it is sent, inside the measured latency (as a
// server's decoding would be).
func (o Options) load(ctx context.Context, l roles.Ledger, txs *signed, rejected map[string]int) ([]int64, int, time.Duration) {
	var mu sync.Mutex
	n := txs.len()
	lat := make([]int64, 0, n)
	var next atomic.Int64
	var committed atomic.Int64
	record := func(rs []roles.Result, err error, since time.Time, n int) {
		d := time.Since(since).Nanoseconds()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rejected[string(errcode.Of(err))] += n
			return
		}
		for _, r := range rs {
			if r.Err != nil {
				rejected[string(errcode.Of(r.Err))]++
				continue
			}
			lat = append(lat, d)
		}
		committed.Add(int64(len(rs)))
	}
	start := time.Now()
	deadline := start.Add(o.Duration)
	stop := make(chan struct{})
	if o.Progress != nil {
		go func() {
			tk := time.NewTicker(time.Second)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					fmt.Fprintf(o.Progress, "\r\033[K")
					return
				case now := <-tk.C:
					el := now.Sub(start)
					frac := min(1, el.Seconds()/o.Duration.Seconds())
					bar := int(frac * 30)
					fmt.Fprintf(o.Progress, "\r[%-30s] %3.0f%%  %d committed  %.0f tx/s", string(slices.Repeat([]byte{'#'}, bar)), frac*100, committed.Load(), float64(committed.Load())/el.Seconds())
				}
			}
		}()
	}
	var wg sync.WaitGroup
	offered := 0
	if o.Rate <= 0 {
		for w := 0; w < o.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					s := int(next.Add(int64(o.ClientBatch))) - o.ClientBatch
					if s >= n {
						return
					}
					e := min(s+o.ClientBatch, n)
					t0 := time.Now()
					part, err := txs.decode(s, e)
					if err != nil {
						record(nil, err, t0, e-s)
						continue
					}
					rs, err := l.SubmitBatch(ctx, part)
					record(rs, err, t0, len(part))
				}
			}()
		}
		wg.Wait()
		offered = min(int(next.Load()), n)
	} else {
		// Open loop: every millisecond send what the schedule says is due,
		// timing latency from the scheduled moment, so queueing in a slow
		// server shows up in the figures instead of slowing the generator.
		tick := time.NewTicker(time.Millisecond)
		sent := 0
		for now := range tick.C {
			if !now.Before(deadline) || sent >= n || ctx.Err() != nil {
				break
			}
			due := min(int(float64(o.Rate)*now.Sub(start).Seconds()), n)
			if due <= sent {
				continue
			}
			lo, hi := sent, due
			sched := start.Add(time.Duration(float64(sent) / float64(o.Rate) * float64(time.Second)))
			sent = due
			wg.Add(1)
			go func() {
				defer wg.Done()
				part, err := txs.decode(lo, hi)
				if err != nil {
					record(nil, err, sched, hi-lo)
					return
				}
				rs, err := l.SubmitBatch(ctx, part)
				record(rs, err, sched, len(part))
			}()
		}
		tick.Stop()
		wg.Wait()
		offered = sent
	}
	elapsed := time.Since(start)
	close(stop)
	return lat, offered, elapsed
}

// percentiles sorts latencies in nanoseconds and returns p50, p99 and
// p99.9 in milliseconds.
func percentiles(lat []int64) Latency {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	return Latency{P50: pct(0.50), P99: pct(0.99), P999: pct(0.999)}
}

// rss is this process's resident set size.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	fmt.Sscan(string(b), &size, &res)
	return res * uint64(os.Getpagesize())
}
