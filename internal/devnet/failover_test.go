package devnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/money"
)

// TestLeaderSIGKILL runs a 3-replica ledger as three `specie serve ledger
// --cluster` processes, puts mints on it through clients that follow the
// leader, and SIGKILLs the leader's process: another replica takes over,
// commits resume, and once the killed replica is restarted every replica
// holds one header chain with every mint reported committed in the batch
// its receipt named, and no transaction twice.
//
// It times each failover (from the SIGKILL to the first commit of a mint
// submitted after it) and logs it, but asserts nothing about time. One
// trial by default; SPECIE_FAILOVER_TRIALS=10 measures (docs/performance.md).
func TestLeaderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts three processes")
	}
	trials := 1
	if v, err := strconv.Atoi(os.Getenv("SPECIE_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	lc := startLedgers(t)
	cfg, urls, start, leader := lc.cfg, lc.urls, lc.start, lc.leader

	// The load: mints with seeded nonces, each retried (the same
	// transaction) until it is committed or known committed.
	var officers []*crypto.PrivateKey
	for _, f := range cfg.OfficerKeyFiles[:cfg.MintQuorum] {
		k, err := crypto.LoadKey(f)
		if err != nil {
			t.Fatal(err)
		}
		officers = append(officers, k)
	}
	const seed = 5
	t.Logf("seed %d", seed)
	type ack struct {
		batch         uint64
		sent, arrived time.Time
	}
	var mu sync.Mutex
	acks := map[money.TxID]ack{}
	sent := map[money.TxID]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)))
			which := uint64(w%3) + 1
			cl := client.New(urls[which], cfg.Issuer.Token, client.WithTimeout(10*time.Second)).Ledger()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx := &money.Tx{Kind: money.Mint, Nonce: rng.Uint64(), Outputs: []money.Output{{Value: 1 + rng.Uint64N(100), Lock: money.KeyLock(officers[0].Public())}}}
				id := cfg.Network.TxID(tx)
				for _, k := range officers {
					tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, cfg.Network.ID, id)})
				}
				slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
				mu.Lock()
				sent[id] = true
				mu.Unlock()
				t0 := time.Now()
				retried := false
				for {
					rc, err := cl.Submit(context.Background(), tx)
					if err == nil {
						mu.Lock()
						acks[id] = ack{rc.Batch, t0, time.Now()}
						mu.Unlock()
						break
					}
					if retried && errcode.Is(err, errcode.DoubleSpend) {
						if info, terr := cl.Tx(context.Background(), id); terr == nil {
							mu.Lock()
							acks[id] = ack{info.Header.Seq, t0, time.Now()}
							mu.Unlock()
							break
						}
					}
					if !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.NotLeader) {
						t.Errorf("mint %s: %v", id, err)
						return
					}
					retried = true
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					// The replica this client was made for may be the
					// one killed: move on to the next.
					which = which%3 + 1
					cl = client.New(urls[which], cfg.Issuer.Token, client.WithTimeout(10*time.Second)).Ledger()
				}
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	waitCount := func(what string, n int) {
		end := time.Now().Add(90 * time.Second)
		for count() < n {
			if time.Now().After(end) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	var took []time.Duration
	for trial := 0; trial < trials; trial++ {
		waitCount("commits before the kill", count()+40)
		l := leader()
		killed := time.Now()
		lc.kill(l)
		end := time.Now().Add(90 * time.Second)
		var first time.Duration
		for first == 0 {
			mu.Lock()
			for _, a := range acks {
				if a.sent.After(killed) && (first == 0 || a.arrived.Sub(killed) < first) {
					first = a.arrived.Sub(killed)
				}
			}
			mu.Unlock()
			if time.Now().After(end) {
				t.Fatal("no commit within 90s of the leader's SIGKILL")
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, first)
		t.Logf("trial %d: SIGKILL of leader %d; first commit of a mint sent after it %v later", trial+1, l, first.Round(time.Millisecond))
		start(l)
		waitHealthy(t, urls[l])
	}
	waitCount("commits after the last restart", count()+40)
	close(stop)
	wg.Wait()
	slices.Sort(took)
	t.Logf("failover over %d trials: median %v, max %v", len(took), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

	// All three converge on one chain that holds every acknowledged mint,
	// each in the batch its receipt named, and nothing twice.
	ctx := context.Background()
	var chains [][]money.BatchHeader
	end := time.Now().Add(90 * time.Second)
	for {
		chains = chains[:0]
		for id := uint64(1); id <= 3; id++ {
			hs, err := allHeaders(ctx, client.New(urls[id], "").Ledger())
			if err != nil {
				chains = nil
				break
			}
			chains = append(chains, hs)
		}
		if len(chains) == 3 && slices.Equal(chains[0], chains[1]) && slices.Equal(chains[1], chains[2]) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("replicas did not converge on one header chain")
		}
		time.Sleep(20 * time.Millisecond)
	}
	total := 0
	for _, h := range chains[0] {
		total += int(h.TxCount)
	}
	for id := uint64(1); id <= 3; id++ {
		cl := client.New(urls[id], "").Ledger()
		found := 0
		for txid := range sent {
			info, err := cl.Tx(ctx, txid)
			if errcode.Is(err, errcode.NotFound) {
				if _, ok := acks[txid]; ok {
					t.Fatalf("replica %d: mint %s was acknowledged and is lost", id, txid)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			found++
			if a, ok := acks[txid]; ok && a.batch != info.Header.Seq {
				t.Fatalf("replica %d: mint %s acknowledged in batch %d, found in %d", id, txid, a.batch, info.Header.Seq)
			}
		}
		if found != total {
			t.Fatalf("replica %d: the chain holds %d transactions, %d distinct mints are committed", id, total, found)
		}
	}
}

// ledgerCluster is a 3-replica ledger run as three `specie serve ledger
// --cluster` processes of a freshly built binary, on one devnet config.
type ledgerCluster struct {
	t     *testing.T
	dir   string
	bin   string
	cfg   *devnet.Config
	urls  map[uint64]string
	group string
	mu    sync.Mutex
	procs map[uint64]*exec.Cmd
}

// startLedgers builds the binary, creates the devnet config and starts
// the three replicas, waiting until each is healthy; they are killed when
// the test ends (with their logs' tails printed if it failed).
func startLedgers(t *testing.T) *ledgerCluster {
	dir := t.TempDir()
	lc := &ledgerCluster{t: t, dir: dir, bin: buildSpecie(t, dir), urls: map[uint64]string{}, procs: map[uint64]*exec.Cmd{}}
	cfg, err := devnet.Init(dir, devnet.DefaultInit("http://"+freeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	lc.cfg = cfg
	var parts []string
	for id := uint64(1); id <= 3; id++ {
		lc.urls[id] = "http://" + freeAddr(t)
		parts = append(parts, fmt.Sprintf("%d=%s", id, lc.urls[id]))
	}
	lc.group = strings.Join(parts, ",")
	t.Cleanup(func() {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		for _, cmd := range lc.procs {
			cmd.Process.Kill()
		}
		if t.Failed() {
			for id := uint64(1); id <= 3; id++ {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("r%d.log", id)))
				t.Logf("--- replica %d log (tail) ---\n%s", id, tail(string(b), 3000))
			}
		}
	})
	for id := range lc.urls {
		lc.start(id)
	}
	for _, u := range lc.urls {
		waitHealthy(t, u)
	}
	return lc
}

// start starts replica id's process (again).
func (lc *ledgerCluster) start(id uint64) {
	t := lc.t
	cmd := exec.Command(lc.bin, "serve", "ledger", "--config", filepath.Join(lc.dir, devnet.ConfigFile), "--data", filepath.Join(lc.dir, fmt.Sprintf("r%d", id)),
		"--id", fmt.Sprint(id), "--cluster", lc.group)
	logf, err := os.OpenFile(filepath.Join(lc.dir, fmt.Sprintf("r%d.log", id)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	lc.mu.Lock()
	lc.procs[id] = cmd
	lc.mu.Unlock()
}

// leader is the replica that says it leads, waiting up to a minute.
func (lc *ledgerCluster) leader() uint64 {
	id, _, err := raftLeader(lc.urls, 60*time.Second)
	if err != nil {
		lc.t.Fatal(err)
	}
	return id
}

// raftLeader is the replica of urls (replica ID -> URL) that says it
// leads, and its term, waiting up to limit; replicas that do not answer
// are passed over.
func raftLeader(urls map[uint64]string, limit time.Duration) (id, term uint64, err error) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		for id, u := range urls {
			var st replica.StatusInfo
			if getJSON(u+"/raft/status", &st) == nil && st.Leader == id {
				return id, st.Term, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("no replica of %v says it leads within %v", urls, limit)
}

// kill SIGKILLs replica id's process.
func (lc *ledgerCluster) kill(id uint64) {
	lc.mu.Lock()
	victim := lc.procs[id]
	lc.mu.Unlock()
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		lc.t.Fatal(err)
	}
}

func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func allHeaders(ctx context.Context, l interface {
	Headers(context.Context, uint64, int) ([]money.BatchHeader, error)
}) ([]money.BatchHeader, error) {
	var out []money.BatchHeader
	for from := uint64(1); ; {
		hs, err := l.Headers(ctx, from, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
		if len(hs) < 1000 {
			return out, nil
		}
		from += uint64(len(hs))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
