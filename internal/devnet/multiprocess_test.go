package devnet_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/devnet"
)

// TestScenarioFourProcesses runs the scenario with the ledger, the issuer,
// bank-a and bank-b as four separate `specie serve` processes, each with
// its own data directory, talking to each other only over HTTP on loopback.
func TestScenarioFourProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts four processes")
	}
	dir := t.TempDir()
	bin := buildSpecie(t, dir)
	cfg, _, _ := servedNet(t, dir)
	cfgPath := filepath.Join(dir, devnet.ConfigFile)
	start := func(args ...string) {
		name := args[0]
		if len(args) > 1 {
			name = args[len(args)-1]
		}
		full := append([]string{"serve"}, args...)
		full = append(full, "--config", cfgPath, "--data", filepath.Join(dir, "data-"+name))
		cmd := exec.Command(bin, full...)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("--- %s log ---\n%s", name, b)
			}
		})
	}
	start("ledger")
	start("issuer")
	start("intermediary", "--name", "bank-a")
	start("intermediary", "--name", "bank-b")
	for _, u := range []string{cfg.Ledger.URL, cfg.Issuer.URL, cfg.Intermediaries[0].URL, cfg.Intermediaries[1].URL} {
		waitHealthy(t, u)
	}
	// The issuer process put the default policy in force; it verifies with
	// the keys the ledger process publishes.
	ctx := context.Background()
	signed, err := client.New(cfg.Issuer.URL, "").Policies().Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.New(cfg.Ledger.URL, "").Ledger().Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
		t.Fatal(err)
	}
	p := newParties(t, cfg, cfg.Ledger.URL, cfg.Issuer.URL, cfg.Intermediaries[0].URL, cfg.Intermediaries[1].URL)
	runScenario(t, p)
	aliasAcrossProcesses(t, cfg, func(name string) string { return filepath.Join(dir, "data-"+name) }) // aliases_test.go
}

// handedOut holds every address freeAddr has returned in this test binary:
// the kernel may give a just-closed port to the next bind of port 0, so two
// calls in a row could name the same address for two processes (CI saw a
// bank's server refused with "address already in use" by the ledger's).
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr returns a loopback address no listener holds now and that no
// earlier call returned.
func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("no unused loopback port after 100 tries")
	return ""
}

// servedNet initialises a network in dir whose four roles each serve on
// a loopback address of their own (as `specie serve` processes), and
// returns its configuration and those addresses, by role: host:port and
// the URL.
func servedNet(t *testing.T, dir string) (cfg *devnet.Config, addrs, urls map[string]string) {
	t.Helper()
	o := devnet.DefaultInit("")
	addrs, o.RoleURLs = map[string]string{}, map[string]string{}
	for _, role := range []string{"ledger", "issuer", "bank-a", "bank-b"} {
		addrs[role] = freeAddr(t)
		o.RoleURLs[role] = "http://" + addrs[role]
	}
	cfg, err := devnet.Init(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, addrs, o.RoleURLs
}

func waitHealthy(t *testing.T, url string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(fmt.Errorf("%s not healthy after 30s", url))
}
