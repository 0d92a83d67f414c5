package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// rewriteProxy serves GETs by fetching them from backend and passing the
// body through rewrite (keyed by path): what a dishonest or broken server
// would answer, over real HTTP.
func rewriteProxy(t *testing.T, backend func() string, rewrite func(path string, body []byte) []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(backend() + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if resp.StatusCode == http.StatusOK {
			body = rewrite(r.URL.Path, body)
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func recode[T any](t *testing.T, body []byte, edit func(*T)) []byte {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("proxy: %v", err)
		return body
	}
	edit(&v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Errorf("proxy: %v", err)
	}
	return out
}

// TestLogVerifySharded runs `specie log verify --api URL` against `specie up
// --groups 2 --replicas 3` as a central bank's auditor would: it passes on
// the honest network (every group's chain and the coordinator's verified,
// their supplies adding up to the network's), and names the group and
// batch of a header one group's replica tampers, passes over a replica
// that cannot be reached, and reports the published supply the main API
// misstates.
func TestLogVerifySharded(t *testing.T) {
	e := newShardedEnv(t)
	n := e.node
	ctx := context.Background()
	sh := n.Sharded

	e.must("iso20022", "fund", "--intermediary", "bank-a", "--amount", "1000.00", "--ref", "RTGS-20261202-0001")
	mint := capture(t, e.must("issuer", "propose", "--to", "bank-a", "--amount", "1000.00"), `^mint ([0-9a-f]{64}) proposed`)
	e.must("issuer", "approve", mint, "--officer", "1")
	e.must("issuer", "approve", mint, "--officer", "3")
	bob := capture(t, e.must("wallet", "open", "--intermediary", "bank-b", "--owner", "bob", "--tier", "0", "--evidence", "phone=+15557654321"), `^wallet (bank-b\.\S+) opened`)
	// Pay until both groups hold two batches and a payment crossed them.
	var paid []string // txids
	for i := 0; ; i++ {
		g0, _ := sh.Router.Group(0).Supply(ctx)
		g1, _ := sh.Router.Group(1).Supply(ctx)
		co, _ := sh.Coordinator[0].Ledger.Supply(ctx)
		if g0.Batches >= 2 && g1.Batches >= 2 && co.Batches > 0 {
			break
		}
		if i == 12 {
			t.Fatalf("after %d payments: group batches %d and %d, coordinator %d", i, g0.Batches, g1.Batches, co.Batches)
		}
		paid = append(paid, capture(t, e.must("wallet", "pay", "--from", "bank-a.treasury", "--to", bob, "--amount", "1.00"), `, tx ([0-9a-f]{64})`))
	}

	// Honest: verified, with the network's supply as the groups' sum.
	out := e.must("log", "verify")
	want, err := n.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur := n.Config.Network.Currency
	for _, s := range []string{
		"network of 2 groups: every group's log and the coordinator's verified\n",
		"group 0: ", "group 1: ", "coordinator: ",
		fmt.Sprintf("supply: minted %s, redeemed %s, outstanding %s USD; the groups' logs add up to the published supply", cur.Format(want.Minted), cur.Format(want.Redeemed), cur.Format(want.Outstanding)),
	} {
		if !strings.Contains(out, s) {
			t.Errorf("log verify printed\n%s\nwithout %q", out, s)
		}
	}
	var js shardedLogSummary
	e.mustJSON(&js, "log", "verify")
	if len(js.Groups) != 2 || js.Batches != js.Groups[0].Batches+js.Groups[1].Batches || js.Batches != want.Batches ||
		js.Outstanding != wire.FormatAmount(want.Outstanding) || js.Minted != wire.FormatAmount(want.Minted) || !js.SupplyMatches || js.Coordinator.Batches == 0 {
		t.Errorf("log verify --json: %+v; network supply %+v", js, want)
	}

	// A checkpoint of a log that is none of this network's (the unsharded
	// origin) is refused; TestShardedCheckpoints verifies real ones.
	held := filepath.Join(t.TempDir(), "held.txt")
	if err := os.WriteFile(held, []byte("specie/"+n.Config.Network.ID+"\n1\nAAAA\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.run("log", "verify", "--checkpoint", held); !errcode.Is(err, errcode.Malformed) || !strings.Contains(err.Error(), "none of this network's logs") {
		t.Errorf("log verify --checkpoint of another log on a sharded network: %v", err)
	}

	// tx show finds each payment in a group's log and chains its batch
	// there (the main API's chain is the coordinator's).
	for _, id := range append(paid, mint) {
		if out := e.must("tx", "show", id); !strings.Contains(out, " "+id+": committed in batch ") || !strings.Contains(out, "verified in the hash chain from batch 1") {
			t.Errorf("tx show %s: %s", id, out)
		}
	}
	if _, err := e.run("tx", "show", strings.Repeat("ab", 32)); err == nil || !strings.HasPrefix(err.Error(), "not_found: ") {
		t.Errorf("tx show of no transaction: %v", err)
	}

	// One group's replica serves batch 1 with another Merkle root: the
	// chain breaks at batch 2 of group 1. The main API (through a proxy)
	// points at that replica for group 1.
	g1 := sh.Groups[1][0].URL
	var tamper atomic.Bool
	tamper.Store(true)
	bad := rewriteProxy(t, func() string { return g1 }, func(path string, body []byte) []byte {
		if path != "/v1/log/headers" || !tamper.Load() {
			return body
		}
		return recode(t, body, func(w *wire.Headers) {
			for i := range w.Headers {
				if w.Headers[i].Seq == 1 {
					w.Headers[i].TxRoot[0] ^= 1
				}
			}
		})
	})
	var wrongSupply atomic.Bool
	var group1 atomic.Pointer[[]string] // the URLs /v1/info lists for group 1
	group1.Store(&[]string{bad.URL})
	front := rewriteProxy(t, func() string { return n.URL }, func(path string, body []byte) []byte {
		switch {
		case path == "/v1/info":
			return recode(t, body, func(w *wire.Info) { w.Groups[1].URLs = *group1.Load() })
		case path == "/v1/supply" && wrongSupply.Load():
			return recode(t, body, func(w *wire.Supply) {
				w.Minted, w.Outstanding = wire.FormatAmount(want.Minted+100), wire.FormatAmount(want.Outstanding+100)
				w.MintedDecimal, w.OutstandingDecimal = "", ""
			})
		}
		return body
	})
	real1, err := sh.Router.Group(1).Headers(ctx, 1, 1)
	if err != nil || len(real1) != 1 {
		t.Fatalf("group 1 header 1: %v %v", real1, err)
	}
	netw := n.Config.Network
	tamperedH1 := real1[0]
	tamperedH1.TxRoot[0] ^= 1
	_, err = runCLI("--api", front.URL, "log", "verify")
	wantErr := fmt.Sprintf("group 1 at %s: verify log: batch 2: previous hash %s, but batch 1 hashes to %s", bad.URL, netw.HeaderHash(&real1[0]), netw.HeaderHash(&tamperedH1))
	if err == nil || err.Error() != wantErr {
		t.Fatalf("log verify with group 1's header tampered: %v\nwant %s", err, wantErr)
	}

	// A replica that cannot be reached is passed over for the next one
	// listed; when none answers, the group is named with the cause.
	tamper.Store(false)
	down := "http://" + closedAddr(t)
	group1.Store(&[]string{down, bad.URL})
	if out, err := runCLI("--api", front.URL, "log", "verify"); err != nil || !strings.Contains(out, "the groups' logs add up to the published supply") {
		t.Fatalf("log verify with group 1's first replica down: %v\n%s", err, out)
	}
	group1.Store(&[]string{down})
	_, err = runCLI("--api", front.URL, "log", "verify")
	if prefix := "group 1 at " + down + ": verify log: unavailable: "; err == nil || !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("log verify with group 1 unreachable: %v, want %s...", err, prefix)
	}

	// The main API misstates the network's supply; every log is honest.
	group1.Store(&[]string{bad.URL})
	wrongSupply.Store(true)
	co, err := sh.Coordinator[0].Ledger.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runCLI("--api", front.URL, "log", "verify")
	wantErr = fmt.Sprintf("verify log: published supply (minted %d, redeemed %d, outstanding %d, %d batches) differs from the 2 groups' logs (minted %d, redeemed %d, outstanding %d, %d batches, with %d moved between groups)",
		want.Minted+100, want.Redeemed, want.Outstanding+100, want.Batches, want.Minted, want.Redeemed, want.Outstanding, want.Batches, co.Minted)
	if err == nil || err.Error() != wantErr {
		t.Fatalf("log verify with the network's supply misstated: %v\nwant %s", err, wantErr)
	}

	// Unsharded behaviour at a group's own replica is unchanged.
	if out := e.must("--api", sh.Groups[0][0].URL, "log", "verify"); !strings.Contains(out, "log verified: ") {
		t.Errorf("log verify at group 0's replica: %s", out)
	}
}
