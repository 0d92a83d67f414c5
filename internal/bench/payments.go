package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// PayOptions choose the load of a payments bench: customers paying each
// other through their intermediaries.
type PayOptions struct {
	WalletsPer  int           // wallets opened at each intermediary
	Fund        uint64        // minor units each wallet is funded with; 0 = up to 1,000.00, as the reserves allow
	Amount      uint64        // minor units per payment
	Cross       float64       // fraction of payments to a wallet at another intermediary
	Clients     int           // concurrent callers (closed loop)
	Rate        int           // payments per second offered (open loop); 0 = closed loop
	Duration    time.Duration // how long to offer load
	Seed        uint64        // seeds the choice of payer and payee
	FundMints   int           // mints per intermediary, so its treasury holds that many notes to pay from concurrently
	FundClients int           // concurrent callers opening and funding wallets, per intermediary
	NoIdemKeys  bool          // send measured payments without idempotency keys
	SDKClient   bool          // send measured payments through the client package, not the generator's own requests (rawPayer)
	Verify      bool          // after the run, check through the API that the wallets hold what was funded
	Progress    io.Writer     // progress lines, or nil
	Terminal    bool          // Progress is a terminal: rewrite one line
	Profile     io.Writer     // CPU profile of the timed run, or nil
	MutexProf   io.Writer     // mutex contention profile of the timed run, or nil
	BlockProf   io.Writer     // blocking profile of the timed run, or nil
	HeapProf    io.Writer     // heap profile at the end of the timed run (after a collection), or nil
	Via         string        // ViaWallet (""), ViaAlias or ViaRequest: how each payment reaches its payee
	// OTPFile is where intermediary bank writes its one-time codes (the
	// devnet's otp.log), read to register aliases for ViaAlias.
	OTPFile func(bank string) string
}

// PayTarget is a network whose intermediaries are paid through.
type PayTarget struct {
	Mode     string
	Network  money.Network
	Banks    []roles.Intermediary // each acting as itself (see As)
	Issuer   roles.Issuer         // acting as the issuer
	Officers []*crypto.PrivateKey // officer keys for mint approvals
	// As makes ctx carry the credential of principal name; nil when the
	// roles are HTTP clients that hold their own token.
	As func(ctx context.Context, name string) context.Context
	// CPUSeconds reports the server's process CPU time (nil: this process).
	CPUSeconds func() (float64, error)
	// RSS reports the server's resident memory (nil: this process).
	RSS func() uint64
	// Counters reads the ledger's counters (committed transactions,
	// batches) if the target exposes them, else nil.
	Counters func() (committed, batches float64, err error)
	CPUNote  string
	// raw prepares the generator's own requests for the measured
	// payments (rawPayer), keeping up to conns connections idle; nil when
	// the banks are not reached over HTTP.
	raw func(conns int) (*rawPayer, bool, error)
}

// PayReport is the one JSON object `specie bench --payments` prints.
type PayReport struct {
	Mode            string         `json:"mode"`
	Generator       string         `json:"generator"` // how the measured payments are sent: "raw HTTP/1.1", "client package" or "in process"
	Via             string         `json:"via"`
	Wallets         int            `json:"wallets"`
	WalletsPer      int            `json:"wallets_per_intermediary"`
	Intermediaries  []string       `json:"intermediaries"`
	Clients         int            `json:"clients,omitempty"`
	Rate            int            `json:"rate,omitempty"`
	Cross           float64        `json:"cross"`
	Amount          uint64         `json:"amount"`
	FundEach        uint64         `json:"fund_each"`
	Seed            uint64         `json:"seed"`
	IdemKeys        bool           `json:"idempotency_keys"`
	DurationS       float64        `json:"duration_s"`
	Offered         int            `json:"offered"`
	Committed       int            `json:"committed"`
	PaymentsS       float64        `json:"payments_s"`
	LatencyMs       Latency        `json:"latency_ms"`
	Rejected        map[string]int `json:"rejected"`
	CPUSPerPayment  float64        `json:"cpu_s_per_payment"`
	CPUNote         string         `json:"cpu_note"`
	RSSBytes        uint64         `json:"rss_bytes"`
	LedgerTxPerPay  float64        `json:"ledger_tx_per_payment,omitempty"`
	LedgerBatchPerP float64        `json:"ledger_batches_per_payment,omitempty"`
	CoreTxS         float64        `json:"core_tx_s,omitempty"`
	RatioToCore     float64        `json:"ratio_to_core,omitempty"`
	Balances        string         `json:"balances_check,omitempty"`
	WalletsGained   int            `json:"wallets_gained,omitempty"` // with Verify: wallets holding more than they were funded with
	OpenS           float64        `json:"open_s"`
	FundS           float64        `json:"fund_s"`
	LoadAvg         string         `json:"load_avg_at_start"`
	Cores           int            `json:"cores"`
}

func (o *PayOptions) defaults() {
	if o.WalletsPer <= 0 {
		o.WalletsPer = 50_000
	}
	if o.Amount == 0 {
		o.Amount = 1_00
	}
	if o.Clients <= 0 {
		o.Clients = 64
	}
	if o.Duration <= 0 {
		o.Duration = 15 * time.Second
	}
	if o.FundMints <= 0 {
		o.FundMints = 64
	}
	if o.FundClients <= 0 {
		o.FundClients = 64
	}
	o.Cross = min(max(o.Cross, 0), 1)
}

// wallet is one bench wallet: its intermediary's index and its ID.
type wallet struct {
	bank int
	id   string
}

// RunPayments opens and funds the wallets through the API (wallets, real
// mints approved by officers, treasury payments), then offers random
// payments between them for the duration and reports.
func RunPayments(ctx context.Context, t PayTarget, o PayOptions) (PayReport, error) {
	o.defaults()
	r := PayReport{Mode: t.Mode, WalletsPer: o.WalletsPer, Clients: o.Clients, Rate: o.Rate, Cross: o.Cross,
		Amount: o.Amount, Seed: o.Seed, IdemKeys: !o.NoIdemKeys, Rejected: map[string]int{}, Cores: runtime.NumCPU(), LoadAvg: loadAvg()}
	if o.Rate > 0 {
		r.Clients = 0
	}
	if len(t.Banks) == 0 {
		return r, fmt.Errorf("bench payments: no intermediaries")
	}
	var err error
	if r.Via, err = viaOf(o.Via); err != nil {
		return r, err
	}
	o.Via = r.Via
	if err := checkVia(t, o.Via); err != nil {
		return r, err
	}
	if o.WalletsPer < 2 {
		return r, fmt.Errorf("bench payments: need at least 2 wallets per intermediary, have %d", o.WalletsPer)
	}
	for _, b := range t.Banks {
		r.Intermediaries = append(r.Intermediaries, b.Name())
	}
	r.Wallets = o.WalletsPer * len(t.Banks)
	as := func(ctx context.Context, name string) context.Context {
		if t.As == nil {
			return ctx
		}
		return t.As(ctx, name)
	}
	p := newProgress(o.Progress, o.Terminal)
	defer p.stop()
	run := fmt.Sprintf("%x", time.Now().UnixNano())

	// Open the wallets.
	start := time.Now()
	wallets := make([][]string, len(t.Banks))
	var opened atomic.Int64
	p.set(func() string { return fmt.Sprintf("opening wallets: %d of %d", opened.Load(), r.Wallets) })
	err = forEach(ctx, t.Banks, o.WalletsPer, o.FundClients, func(ctx context.Context, b, i int) error {
		bank := t.Banks[b]
		w, err := bank.OpenWallet(as(ctx, bank.Name()), BenchWallet(fmt.Sprintf("bench-%s-%d", run, i)))
		if err != nil {
			return fmt.Errorf("open wallet %d at %s: %w", i, bank.Name(), err)
		}
		wallets[b][i] = w.ID
		opened.Add(1)
		return nil
	}, func(b int) { wallets[b] = make([]string, o.WalletsPer) })
	if err != nil {
		return r, fmt.Errorf("bench payments: %w", err)
	}
	r.OpenS = time.Since(start).Seconds()

	// Fund them: mints into each treasury, then treasury payments.
	start = time.Now()
	if r.FundEach, err = fundEach(ctx, t, o); err != nil {
		return r, err
	}
	var minted atomic.Int64
	mints := min(o.FundMints, o.WalletsPer)
	p.set(func() string {
		return fmt.Sprintf("minting: %d of %d mints approved", minted.Load(), mints*len(t.Banks))
	})
	err = forEach(ctx, t.Banks, mints, o.FundClients, func(ctx context.Context, b, i int) error {
		// Mint i covers an exact number of wallets, so the treasury's
		// notes never fragment below one funding payment.
		n := o.WalletsPer / mints
		if i < o.WalletsPer%mints {
			n++
		}
		if err := mint(as(ctx, "issuer"), t, t.Banks[b].Name(), uint64(n)*r.FundEach); err != nil {
			return err
		}
		minted.Add(1)
		return nil
	}, nil)
	if err != nil {
		return r, fmt.Errorf("bench payments: %w", err)
	}
	var funded atomic.Int64
	p.set(func() string {
		el := time.Since(start).Seconds()
		return fmt.Sprintf("funding wallets: %d of %d (%.0f/s)", funded.Load(), r.Wallets, float64(funded.Load())/el)
	})
	err = forEach(ctx, t.Banks, o.WalletsPer, min(o.FundClients, mints), func(ctx context.Context, b, i int) error {
		bank := t.Banks[b]
		pay := roles.Payment{From: bank.Name() + roles.TreasurySuffix, To: wallets[b][i], Amount: r.FundEach,
			Reference: "bench funding", IdempotencyKey: fmt.Sprintf("bench-fund-%s-%d-%d", run, b, i)}
		if err := payRetrying(as(ctx, bank.Name()), bank, pay); err != nil {
			return fmt.Errorf("fund %s: %w", pay.To, err)
		}
		funded.Add(1)
		return nil
	}, nil)
	if err != nil {
		return r, fmt.Errorf("bench payments: %w", err)
	}
	r.FundS = time.Since(start).Seconds()
	var aliases map[string]string
	if o.Via == ViaAlias {
		if aliases, err = registerAliases(ctx, t, o, as, wallets, p); err != nil {
			return r, err
		}
	}

	// Measure.
	flat := make([]wallet, 0, r.Wallets)
	for b := range wallets {
		for _, id := range wallets[b] {
			flat = append(flat, wallet{b, id})
		}
	}
	cpu0, err := t.cpu()
	if err != nil {
		return r, err
	}
	var c0, b0 float64
	if t.Counters != nil {
		if c0, b0, err = t.Counters(); err != nil {
			return r, err
		}
	}
	stopProf, err := startProfiles(o)
	if err != nil {
		return r, err
	}
	l := &payLoad{t: t, o: o, as: as, flat: flat, per: o.WalletsPer, run: run, rejected: r.Rejected, aliases: aliases}
	if t.raw != nil && !o.SDKClient && o.Via == ViaWallet {
		raw, ok, err := t.raw(max(o.Clients, 1024))
		if err != nil {
			return r, err
		}
		if ok {
			l.raw = raw
			defer raw.close()
			r.Generator = "raw HTTP/1.1"
		}
	}
	switch {
	case r.Generator != "":
	case t.raw != nil:
		r.Generator = "client package"
	default:
		r.Generator = "in process"
	}
	p.set(l.status)
	lat, offered, elapsed := l.offer(ctx)
	if err := stopProf(); err != nil {
		return r, err
	}
	cpu1, err := t.cpu()
	if err != nil {
		return r, err
	}
	p.set(nil)
	r.DurationS = elapsed.Seconds()
	r.Offered = offered
	r.Committed = len(lat)
	if elapsed > 0 {
		r.PaymentsS = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		r.LatencyMs = percentiles(lat)
		r.CPUSPerPayment = (cpu1 - cpu0) / float64(len(lat))
		if t.Counters != nil {
			if c1, b1, err := t.Counters(); err == nil {
				r.LedgerTxPerPay = (c1 - c0) / float64(len(lat))
				r.LedgerBatchPerP = (b1 - b0) / float64(len(lat))
			}
		}
	}
	r.CPUNote = t.CPUNote
	if t.RSS != nil {
		r.RSSBytes = t.RSS()
	} else {
		r.RSSBytes = rss()
	}
	if o.Verify {
		r.Balances, r.WalletsGained = verifyBalances(ctx, t, as, wallets, r.FundEach)
	}
	return r, nil
}

func (t PayTarget) cpu() (float64, error) {
	return Target{CPUSeconds: t.CPUSeconds}.cpu()
}

// forEach runs f(b, i) for every intermediary b and i < n, with `workers`
// goroutines per intermediary; the first error stops it. init(b), if not
// nil, runs first for each intermediary.
func forEach(ctx context.Context, banks []roles.Intermediary, n, workers int, f func(ctx context.Context, b, i int) error, init func(b int)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for b := range banks {
		if init != nil {
			init(b)
		}
		var next atomic.Int64
		for range max(1, min(workers, n)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := f(ctx, b, i); err != nil {
						cancel(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	return context.Cause(ctx)
}

// fundEach is what each wallet receives: o.Fund, or 1,000.00 where the
// reserves allow, else as much in whole currency units as 90% of the
// smallest reserve spread over the wallets allows.
func fundEach(ctx context.Context, t PayTarget, o PayOptions) (uint64, error) {
	cur := t.Network.Currency
	unit := uint64(1)
	for range cur.Exponent {
		unit *= 10
	}
	if o.Fund > 0 {
		return o.Fund, nil
	}
	s, err := t.Issuer.Supply(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench payments: read reserves: %w", err)
	}
	each := 1_000 * unit
	for _, b := range t.Banks {
		found := false
		for _, res := range s.Reserves {
			if res.Intermediary == b.Name() {
				found = true
				each = min(each, res.Balance/10*9/uint64(o.WalletsPer)/unit*unit)
			}
		}
		if !found {
			return 0, fmt.Errorf("bench payments: the issuer reports no reserve account for %s", b.Name())
		}
	}
	if each < 10*o.Amount {
		return 0, fmt.Errorf("bench payments: reserves allow only %s %s per wallet for %d wallets per intermediary; want at least 10 payments' worth (use fewer --wallets)",
			cur.Format(each), cur.Code, o.WalletsPer)
	}
	return each, nil
}

// mint proposes a mint of amount to bank and approves it with officer
// keys until the quorum commits it.
func mint(ctx context.Context, t PayTarget, bank string, amount uint64) error {
	m, err := t.Issuer.ProposeMint(ctx, bank, amount)
	if err != nil {
		return fmt.Errorf("propose mint of %d to %s: %w", amount, bank, err)
	}
	for _, k := range t.Officers {
		if m.Status != roles.MintPending {
			break
		}
		if m, err = t.Issuer.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, t.Network.ID, m.ID)); err != nil {
			return fmt.Errorf("approve mint %s: %w", m.ID, err)
		}
	}
	if m.Status != roles.MintCommitted {
		return fmt.Errorf("mint %s to %s is %s after %d officer approvals (%s)", m.ID, bank, m.Status, len(t.Officers), m.Reason)
	}
	return nil
}

// payRetrying pays with an idempotency key, retrying the same request
// while the answer is unavailable (outcome unknown), so funding never
// pays twice nor gives up on a transient failure.
func payRetrying(ctx context.Context, bank roles.Intermediary, p roles.Payment) error {
	wait := 10 * time.Millisecond
	for try := 0; ; try++ {
		_, err := bank.Pay(ctx, p)
		if err == nil || !errcode.Is(err, errcode.Unavailable) || try == 50 {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("%w (last answer: %w)", ctx.Err(), err)
		}
		wait = min(2*wait, time.Second)
	}
}

// payLoad is the timed part of a payments bench.
type payLoad struct {
	t    PayTarget
	o    PayOptions
	as   func(context.Context, string) context.Context
	flat []wallet
	per  int
	run  string
	// aliases is each wallet's alias, for ViaAlias.
	aliases map[string]string
	// raw sends the measured payments, when set (ViaWallet over HTTP).
	raw *rawPayer

	mu       sync.Mutex
	lat      []int64
	rejected map[string]int
	done     atomic.Int64
	start    time.Time // set by offer under mu; status reads it from the progress goroutine
}

// pick chooses a payer uniformly among all wallets and a payee: with
// probability Cross at another intermediary, else another wallet at the
// payer's.
func (l *payLoad) pick(rng *rand.Rand) (from, to wallet) {
	from = l.flat[rng.IntN(len(l.flat))]
	banks := len(l.t.Banks)
	if banks > 1 && rng.Float64() < l.o.Cross {
		b := (from.bank + 1 + rng.IntN(banks-1)) % banks
		return from, l.flat[b*l.per+rng.IntN(l.per)]
	}
	for {
		to = l.flat[from.bank*l.per+rng.IntN(l.per)]
		if to.id != from.id {
			return from, to
		}
	}
}

func (l *payLoad) pay(ctx context.Context, from, to wallet, key string, since time.Time) {
	err := l.send(ctx, from, to, key)
	d := time.Since(since).Nanoseconds()
	l.mu.Lock()
	if err != nil {
		l.rejected[string(errcode.Of(err))]++
	} else {
		l.lat = append(l.lat, d)
	}
	l.mu.Unlock()
	l.done.Add(1)
}

func (l *payLoad) key(client, seq int) string {
	if l.o.NoIdemKeys {
		return ""
	}
	// Appended, not fmt.Sprintf'd: the generator's CPU counts in the
	// in-process CPU per payment.
	b := make([]byte, 0, len("bench--")+len(l.run)+24)
	b = append(append(append(b, "bench-"...), l.run...), '-')
	b = append(strconv.AppendInt(b, int64(client), 10), '-')
	return string(strconv.AppendInt(b, int64(seq), 10))
}

func (l *payLoad) status() string {
	l.mu.Lock()
	el := time.Since(l.start) // start is set under mu: the progress line runs beside offer
	ok, bad := len(l.lat), 0
	for _, n := range l.rejected {
		bad += n
	}
	l.mu.Unlock()
	return fmt.Sprintf("paying: %3.0f%%  %d committed  %d rejected  %.0f payments/s",
		min(100, 100*el.Seconds()/l.o.Duration.Seconds()), ok, bad, float64(ok)/el.Seconds())
}

// offer runs the load: Clients callers each paying as soon as its last
// payment answered (closed loop), or Rate payments a second on a schedule
// with latency timed from each scheduled moment (open loop), so a slow
// server's queueing shows in the figures instead of slowing the offer.
func (l *payLoad) offer(ctx context.Context) ([]int64, int, time.Duration) {
	start := time.Now()
	l.mu.Lock()
	l.start = start
	l.mu.Unlock()
	deadline := start.Add(l.o.Duration)
	var wg sync.WaitGroup
	offered := 0
	if l.o.Rate <= 0 {
		var sent atomic.Int64
		for c := range l.o.Clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(l.o.Seed, uint64(c)))
				for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
					from, to := l.pick(rng)
					sent.Add(1)
					l.pay(ctx, from, to, l.key(c, seq), time.Now())
				}
			}()
		}
		wg.Wait()
		offered = int(sent.Load())
	} else {
		rng := rand.New(rand.NewPCG(l.o.Seed, 0))
		tick := time.NewTicker(time.Millisecond)
		for now := range tick.C {
			if !now.Before(deadline) || ctx.Err() != nil {
				break
			}
			due := int(float64(l.o.Rate) * now.Sub(l.start).Seconds())
			for ; offered < due; offered++ {
				sched := l.start.Add(time.Duration(float64(offered) / float64(l.o.Rate) * float64(time.Second)))
				from, to := l.pick(rng)
				wg.Add(1)
				go func(seq int) {
					defer wg.Done()
					l.pay(ctx, from, to, l.key(0, seq), sched)
				}(offered)
			}
		}
		tick.Stop()
		wg.Wait()
	}
	return l.lat, offered, time.Since(l.start)
}

// startProfiles starts the CPU, mutex and block profiles asked for; the
// returned function stops them and writes the latter two, and the heap
// profile.
func startProfiles(o PayOptions) (func() error, error) {
	if o.Profile != nil {
		if err := pprof.StartCPUProfile(o.Profile); err != nil {
			return nil, fmt.Errorf("bench: cpu profile: %w", err)
		}
	}
	if o.MutexProf != nil {
		runtime.SetMutexProfileFraction(10)
	}
	if o.BlockProf != nil {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	}
	return func() error {
		if o.Profile != nil {
			pprof.StopCPUProfile()
		}
		if o.MutexProf != nil {
			runtime.SetMutexProfileFraction(0)
			if err := pprof.Lookup("mutex").WriteTo(o.MutexProf, 0); err != nil {
				return fmt.Errorf("bench: mutex profile: %w", err)
			}
		}
		if o.BlockProf != nil {
			runtime.SetBlockProfileRate(0)
			if err := pprof.Lookup("block").WriteTo(o.BlockProf, 0); err != nil {
				return fmt.Errorf("bench: block profile: %w", err)
			}
		}
		if o.HeapProf != nil {
			runtime.GC() // the profile's in-use figures are as of the last collection
			if err := pprof.Lookup("heap").WriteTo(o.HeapProf, 0); err != nil {
				return fmt.Errorf("bench: heap profile: %w", err)
			}
		}
		return nil
	}, nil
}

// verifyBalances reads every bench wallet through the API and compares
// the sum with what was funded (payments between them move money, never
// create or destroy it). Deliveries across intermediaries may still be
// in flight just after the run, so it looks again for up to 30 seconds.
// It also counts the wallets holding more than each: payees that were
// paid more than they paid.
func verifyBalances(ctx context.Context, t PayTarget, as func(context.Context, string) context.Context, wallets [][]string, each uint64) (string, int) {
	want := uint64(0)
	for _, ws := range wallets {
		want += uint64(len(ws)) * each
	}
	var got uint64
	var gained int
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		var sum atomic.Uint64
		var up atomic.Int64
		err = forEach(ctx, t.Banks, len(wallets[0]), 16, func(ctx context.Context, b, i int) error {
			bank := t.Banks[b]
			w, err := bank.Wallet(as(ctx, bank.Name()), wallets[b][i])
			if err != nil {
				return fmt.Errorf("read wallet %s: %w", wallets[b][i], err)
			}
			sum.Add(w.Balance)
			if w.Balance > each {
				up.Add(1)
			}
			return nil
		}, nil)
		got, gained = sum.Load(), int(up.Load())
		if (err == nil && got == want) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	cur := t.Network.Currency
	switch {
	case err != nil:
		return "error: " + err.Error(), gained
	case got != want:
		return fmt.Sprintf("MISMATCH: wallets hold %s, funded %s", cur.Format(got), cur.Format(want)), gained
	}
	return fmt.Sprintf("ok: wallets hold %s %s, as funded", cur.Format(got), cur.Code), gained
}

// loadAvg is /proc/loadavg's first three fields, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// progress keeps one status line on a writer: rewritten in place once a
// second on a terminal, else printed every five seconds.
type progress struct {
	w    io.Writer
	mu   sync.Mutex
	f    func() string
	done chan struct{}
	wg   sync.WaitGroup
	term bool
}

func newProgress(w io.Writer, term bool) *progress {
	p := &progress{w: w, term: term, done: make(chan struct{})}
	if w == nil {
		return p
	}
	every := 5 * time.Second
	if term {
		every = time.Second
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tk.C:
				p.print()
			}
		}
	}()
	return p
}

// set changes what the line shows (nil: nothing); the previous status is
// printed one last time first, so each phase's end shows.
func (p *progress) set(f func() string) {
	if p.w == nil {
		return
	}
	p.print()
	p.mu.Lock()
	if p.term && p.f != nil {
		fmt.Fprintln(p.w)
	}
	p.f = f
	p.mu.Unlock()
}

func (p *progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return
	}
	if p.term {
		fmt.Fprintf(p.w, "\r\033[K%s", p.f())
	} else {
		fmt.Fprintf(p.w, "%s %s\n", time.Now().UTC().Format("15:04:05"), p.f())
	}
}

func (p *progress) stop() {
	if p.w == nil {
		return
	}
	p.set(nil)
	close(p.done)
	p.wg.Wait()
	if p.term {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// BenchWallet asks for a wallet of the default policy's merchant tier
// (level 3), which has no holding, payment, daily or monthly limit: the
// benchmark measures the pay path with its policy checks, and a limit
// would stop its wallets after a few payments.
func BenchWallet(owner string) roles.WalletRequest {
	return roles.WalletRequest{Owner: owner, Tier: 3, Evidence: []roles.EvidenceRef{
		{Kind: policy.Identity, Ref: "ID-" + owner}, {Kind: policy.Address, Ref: "addr-" + owner}, {Kind: policy.Business, Ref: "REG-" + owner}},
		Reason: "benchmark"}
}
