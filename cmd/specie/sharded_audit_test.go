package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/shard"
)

// TestShardedCheckpoints: on `specie up --groups 2 --replicas 3` every
// replica of each group and of the coordinator's log serves signed
// checkpoints of its log, under an origin naming the log and a log key of
// the log's own. `specie audit --witness-key` audits the network and
// cosigns each log's checkpoint; after more payments `specie log verify
// --checkpoint` accepts the three cosigned checkpoints with the one
// cosignature asked for, and refuses: two cosignatures asked for, a log
// with no checkpoint held, one log's checkpoint given twice, a checkpoint
// without the cosignature, and a checkpoint whose text was edited.
func TestShardedCheckpoints(t *testing.T) {
	e := newShardedEnv(t)
	n := e.node
	ctx := context.Background()
	sh := n.Sharded
	net := n.Config.Network

	e.must("iso20022", "fund", "--intermediary", "bank-a", "--amount", "1000.00", "--ref", "RTGS-20261202-0002")
	mint := capture(t, e.must("issuer", "propose", "--to", "bank-a", "--amount", "1000.00"), `^mint ([0-9a-f]{64}) proposed`)
	e.must("issuer", "approve", mint, "--officer", "1")
	e.must("issuer", "approve", mint, "--officer", "3")
	bob := capture(t, e.must("wallet", "open", "--intermediary", "bank-b", "--owner", "bob", "--tier", "0", "--evidence", "phone=+15557654322"), `^wallet (bank-b\.\S+) opened`)
	pay := func() { e.must("wallet", "pay", "--from", "bank-a.treasury", "--to", bob, "--amount", "1.00") }
	for i := 0; ; i++ {
		g0, _ := sh.Router.Group(0).Supply(ctx)
		g1, _ := sh.Router.Group(1).Supply(ctx)
		co, _ := sh.Coordinator[0].Ledger.Supply(ctx)
		if g0.Batches >= 1 && g1.Batches >= 1 && co.Batches > 0 {
			break
		}
		if i == 12 {
			t.Fatalf("after %d payments: group batches %d and %d, coordinator %d", i, g0.Batches, g1.Batches, co.Batches)
		}
		pay()
	}

	// Every replica serves its log's checkpoint, named by the log, under
	// the log's key.
	logs := map[int][]*devnet.Replica{-1: sh.Coordinator, 0: sh.Groups[0], 1: sh.Groups[1]}
	keys := map[string]int{}
	for g, reps := range logs {
		for _, r := range reps {
			resp, err := http.Get(r.URL + "/v1/log/checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), shard.LogOrigin(net, g)+"\n") {
				t.Fatalf("%s: checkpoint %d %q; want one of %s", r.URL, resp.StatusCode, body, shard.LogOrigin(net, g))
			}
			k, err := client.New(r.URL, "").Ledger().(interface {
				LogKey(context.Context) (string, error)
			}).LogKey(ctx)
			if err != nil || k == "" {
				t.Fatalf("%s: log key %q, %v", r.URL, k, err)
			}
			if h, ok := keys[k]; ok && h != g {
				t.Fatalf("logs %d and %d publish one log key", h, g)
			}
			keys[k] = g
		}
	}
	if len(keys) != 3 {
		t.Fatalf("%d log keys for three logs (every replica of a log signs with its log's key)", len(keys))
	}

	wdir := t.TempDir()
	var rep audit.Report
	e.mustJSON(&rep, "audit", "--state", filepath.Join(wdir, "state"), "--out", wdir, "--witness-key", filepath.Join(wdir, "auditor.key"))
	if !rep.Clean || rep.WitnessKey == "" || len(rep.Logs) != 3 {
		t.Fatalf("witness run: clean %v, witness key %q, %d logs; findings %+v", rep.Clean, rep.WitnessKey, len(rep.Logs), rep.Findings)
	}
	var held []string
	for _, l := range rep.Logs {
		if l.SignedCheckpoint == "" || l.CosignedCheckpoint == "" {
			t.Fatalf("%s: no checkpoint verified or cosigned", l.Log)
		}
		held = append(held, filepath.Join(wdir, "cosigned-checkpoint-"+strings.ReplaceAll(l.Log, " ", "-")+".txt"))
	}
	pay()
	pay()

	all := strings.Join(held, ",")
	out := e.must("log", "verify", "--checkpoint", all, "--witness-keys", rep.WitnessKey, "--witnesses", "1")
	for _, name := range []string{"group 0", "group 1", "coordinator"} {
		if !strings.Contains(out, name+": checkpoint of ") || !strings.Contains(out, "the log now extends it") {
			t.Fatalf("log verify --checkpoint printed\n%s\nwithout %s's checkpoint", out, name)
		}
	}
	edited := filepath.Join(t.TempDir(), "edited.txt")
	b, err := os.ReadFile(held[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	lines[1] = lines[1] + "0" // the tree size, ten times larger
	if err := os.WriteFile(edited, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	signedOnly := filepath.Join(wdir, "signed-checkpoint-group-0.txt")
	for _, c := range []struct {
		name, files, witnesses, want string
	}{
		{"two cosignatures asked for", all, "2", ""},
		{"no checkpoint of the coordinator", held[0] + "," + held[1], "1", "none held for coordinator"},
		{"group 0's twice", held[0] + "," + held[0] + "," + held[2], "1", "two checkpoints of group 0"},
		{"not cosigned", signedOnly + "," + held[1] + "," + held[2], "1", ""},
		{"edited", edited + "," + held[1] + "," + held[2], "0", ""},
	} {
		out, err := e.run("log", "verify", "--checkpoint", c.files, "--witness-keys", rep.WitnessKey, "--witnesses", c.witnesses)
		if err == nil || !strings.Contains(out+err.Error(), c.want) {
			t.Fatalf("%s: log verify --checkpoint: %v\n%s; want an error saying %q", c.name, err, out, c.want)
		}
	}

	// The witness again: each log's checkpoint extends the one it saw.
	var again audit.Report
	e.mustJSON(&again, "audit", "--state", filepath.Join(wdir, "state"), "--out", wdir, "--witness-key", filepath.Join(wdir, "auditor.key"))
	if !again.Clean || again.Batches == 0 {
		t.Fatalf("second witness run: clean %v, %d batches replayed; findings %+v", again.Clean, again.Batches, again.Findings)
	}
}
