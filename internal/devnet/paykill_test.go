package devnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// proc is a `specie` process the test runs, with its output in a log file
// shown when the test fails.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s ---\n%s", logPath, b)
		}
	})
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process as an operator would (SIGTERM), or kills it if it
// does not stop within 10 seconds.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// payLoad is `specie bench --payments`-style load: clients concurrent
// callers, closed loop, each paying a random amount between random funded
// wallets (half of the payments across banks), every other payment with
// an idempotency key, until stop is closed. Each answer goes to pl;
// committed calls each commit's number (from 1).
func payLoad(p *parties, pl *payLedger, wallets []string, seed uint64, clients int, tag string, stop <-chan struct{}, committed func(n int)) *sync.WaitGroup {
	var by [2][]string
	for _, w := range wallets {
		if roles.IntermediaryOf(w) == "bank-a" {
			by[0] = append(by[0], w)
		} else {
			by[1] = append(by[1], w)
		}
	}
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				side := rng.IntN(2)
				from := by[side][rng.IntN(len(by[side]))]
				if rng.IntN(2) == 0 {
					side = 1 - side
				}
				to := by[side][rng.IntN(len(by[side]))]
				if from == to {
					continue
				}
				pay := roles.Payment{From: from, To: to, Amount: 1 + rng.Uint64N(500), Reference: fmt.Sprintf("%s c%d #%d", tag, c, i)}
				if i%2 == 0 {
					pay.IdempotencyKey = fmt.Sprintf("%s-c%d-%d", tag, c, i)
				}
				r, err := p.bank(from).Pay(context.Background(), pay)
				pl.record(pay, r, err)
				if err == nil {
					mu.Lock()
					n++
					k := n
					mu.Unlock()
					committed(k)
				}
			}
		})
	}
	return &wg
}

// killUnderLoad runs payLoad and SIGKILLs target once killAt payments
// have been reported committed, then stops the load; it returns when the
// SIGKILL was sent.
func killUnderLoad(t *testing.T, target *proc, p *parties, pl *payLedger, wallets []string, seed uint64, clients, killAt int, tag string) time.Time {
	t.Helper()
	stop := make(chan struct{})
	killed := make(chan struct{})
	var at time.Time
	var once sync.Once
	wg := payLoad(p, pl, wallets, seed, clients, tag, stop, func(n int) {
		if n >= killAt {
			once.Do(func() {
				at = time.Now()
				target.cmd.Process.Signal(syscall.SIGKILL)
				close(killed)
			})
		}
	})
	select {
	case <-killed:
	case <-time.After(time.Minute):
		close(stop)
		wg.Wait()
		t.Fatalf("%s: not %d payments committed in a minute", tag, killAt)
	}
	<-target.done
	close(stop)
	wg.Wait()
	return at
}

// killRounds is how the SIGKILL tests scale: rounds, funded wallets per
// bank, concurrent clients.
func killRounds() (rounds, wallets, clients int) {
	if testing.Short() {
		return 3, 4, 8
	}
	return 3, 8, 32
}

// Under payment load at random moments (drawn from the seed), `specie up`
// (every role in one process) is killed with SIGKILL, restarted, and
// checked, several rounds: every payment the API reported committed is
// on the ledger and in its payer's history, and a payment made again with
// its idempotency key gets the same answer, over HTTP from the restarted
// process; then, with the process stopped and its data opened here, the
// books agree with the ledger note by note and hold the whole supply
// (books.check).
func TestUpKilledUnderPaymentLoadLosesNothing(t *testing.T) {
	seed := crashtest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	rounds, perBank, clients := killRounds()
	dir := t.TempDir()
	bin := buildSpecie(t, dir)
	root := filepath.Join(dir, "data")
	addr := freeAddr(t)
	start := func() *proc {
		p := startProc(t, bin, filepath.Join(dir, "up.log"), "up", "--data", root, "--http", addr)
		waitHealthy(t, "http://"+addr)
		return p
	}
	up := start()
	cfg, err := devnet.Load(filepath.Join(root, devnet.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr
	parties := newParties(t, cfg, url, url, url, url)
	pl := newPayLedger(parties.openFunded(t, perBank, 500_00)...)
	httpBanks := map[string]roles.Intermediary{"bank-a": parties.bankA, "bank-b": parties.bankB}
	for round := range rounds {
		killAt := 20 + rng.IntN(300)
		killUnderLoad(t, up, parties, pl, pl.wallets[2:], rng.Uint64(), clients, killAt, fmt.Sprintf("r%d", round))
		t.Logf("round %d: killed after %d payments reported committed; %d so far, %d keyed outcomes", round, killAt, len(pl.reported), len(pl.keyed))
		up = start()
		logViewAfterRestart(t, cfg, map[string]string{"bank-a": url, "bank-b": url}, parties.ledger, pl.wallets)
		pl.checkReported(t, parties.ledger, httpBanks)
		up.stop()
		k := openBooks(t, cfg, upDirs(root, cfg))
		k.check(t, pl)
		k.close(t)
		up = start()
	}
	if err := assertNoWrongRefusals(pl); err != nil {
		t.Fatal(err)
	}
}

// The same, with the ledger, the issuer, bank-a and bank-b as four
// `specie serve` processes and only bank-a killed: payments to its
// wallets from bank-b wait in bank-b's outbox and are delivered once
// bank-a is back.
func TestServedIntermediaryKilledUnderPaymentLoadLosesNothing(t *testing.T) {
	seed := crashtest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0x73657276))
	rounds, perBank, clients := killRounds()
	dir := t.TempDir()
	bin := buildSpecie(t, dir)
	names := []string{"ledger", "issuer", "bank-a", "bank-b"}
	root := filepath.Join(dir, "data")
	cfg, _, urls := servedNet(t, root)
	dirs := upDirs(root, cfg)
	start := func(name string) *proc {
		args := []string{"serve", name}
		if name != "ledger" && name != "issuer" {
			args = []string{"serve", "intermediary", "--name", name}
		}
		args = append(args, "--config", filepath.Join(root, devnet.ConfigFile), "--data", dirs[name])
		p := startProc(t, bin, filepath.Join(dir, name+".log"), args...)
		waitHealthy(t, urls[name])
		return p
	}
	procs := map[string]*proc{}
	startAll := func() {
		for _, n := range names {
			procs[n] = start(n)
		}
	}
	startAll()
	parties := newParties(t, cfg, cfg.Ledger.URL, cfg.Issuer.URL, urls["bank-a"], urls["bank-b"])
	pl := newPayLedger(parties.openFunded(t, perBank, 500_00)...)
	httpBanks := map[string]roles.Intermediary{"bank-a": parties.bankA, "bank-b": parties.bankB}
	for round := range rounds {
		killAt := 20 + rng.IntN(300)
		killUnderLoad(t, procs["bank-a"], parties, pl, pl.wallets[2:], rng.Uint64(), clients, killAt, fmt.Sprintf("r%d", round))
		t.Logf("round %d: bank-a killed after %d payments reported committed; %d so far, %d keyed outcomes", round, killAt, len(pl.reported), len(pl.keyed))
		procs["bank-a"] = start("bank-a")
		logViewAfterRestart(t, cfg, urls, parties.ledger, pl.wallets)
		pl.checkReported(t, parties.ledger, httpBanks)
		for i := len(names) - 1; i >= 0; i-- {
			procs[names[i]].stop()
		}
		k := openBooks(t, cfg, dirs)
		k.check(t, pl)
		k.close(t)
		startAll()
	}
	// bank-b's payments to bank-a made while it was down were refused as
	// unavailable (not recorded), never with a code that says no.
	if err := assertNoWrongRefusals(pl); err != nil {
		t.Fatal(err)
	}
}

// assertNoWrongRefusals fails when a keyed payment was refused with a
// code other than insufficient_funds: under this load nothing else is a
// right answer (unavailable and internal are not recorded as outcomes).
func assertNoWrongRefusals(pl *payLedger) error {
	for k, o := range pl.keyed {
		if o.code != "" && o.code != errcode.InsufficientFunds {
			return fmt.Errorf("payment %s %+v refused with %s", k, o.p, o.code)
		}
	}
	return nil
}

// logViewAfterRestart logs what the wallets show over HTTP right after
// the restart, before anything settles, against the outstanding supply.
// It asserts nothing: the gap is the payments in flight at the kill
// (their notes held until settled: at once if the ledger committed them,
// after SettleAfter, 30 s, if it never saw them) and committed payments
// not yet delivered to the payee's bank (retried every 5 s); an API that
// shows held notes as "pending" (issue 8 part 3) shows that too.
func logViewAfterRestart(t *testing.T, cfg *devnet.Config, urls map[string]string, led roles.Ledger, wallets []string) {
	t.Helper()
	var balance, pending uint64
	for _, id := range wallets {
		name := roles.IntermediaryOf(id)
		tok, _ := cfg.Token(name)
		req, err := http.NewRequest("GET", urls[name]+"/v1/intermediaries/"+name+"/wallets/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var w map[string]any
		err = json.NewDecoder(resp.Body).Decode(&w)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("wallet %s right after the restart: status %d, %v %v", id, resp.StatusCode, w, err)
		}
		balance += minorUnits(t, w["balance"])
		if v, ok := w["pending"]; ok {
			pending += minorUnits(t, v)
		}
	}
	sup, err := led.Supply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("right after the restart the wallets show %d settled and %d pending of the %d outstanding", balance, pending, sup.Outstanding)
}

// minorUnits reads an amount of the API: a string of minor units.
func minorUnits(t *testing.T, v any) uint64 {
	t.Helper()
	s, ok := v.(string)
	n, err := strconv.ParseUint(s, 10, 64)
	if !ok || err != nil {
		t.Fatalf("amount %v (%T): want a string of minor units", v, v)
	}
	return n
}
