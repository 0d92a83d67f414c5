package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/replica"
)

// TestLedgerClusterCommands drives `specie ledger cluster status|add|remove`
// against `specie up --replicas 3`, through a follower: the changes follow
// its not_leader answer to the leader.
func TestLedgerClusterCommands(t *testing.T) {
	t.Setenv("SPECIE_API", "")
	t.Setenv("SPECIE_TOKEN", "")
	dir := t.TempDir()
	n, _, err := devnet.UpReplicated(dir, "127.0.0.1:0", 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var follower string
	for _, r := range n.Replicas {
		if r.Replica.Status().Leader != r.ID {
			follower = r.URL
		}
	}
	status := func() replica.StatusInfo {
		t.Helper()
		out, err := runCLI("--api", follower, "ledger", "cluster", "status", "--json")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		var st replica.StatusInfo
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status output %q: %v", out, err)
		}
		return st
	}
	if st := status(); st.Leader == 0 || !slices.Equal(st.Members, []uint64{1, 2, 3}) {
		t.Fatalf("status %+v", st)
	}
	if out, err := runCLI("--api", follower, "--data", dir, "ledger", "cluster", "add", "4=http://127.0.0.1:9"); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	if out, err := runCLI("--api", follower, "--data", dir, "ledger", "cluster", "remove", "4"); err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	// The follower applies the changes after the leader: wait for it.
	for i := 0; ; i++ {
		st := status()
		if slices.Equal(st.Members, []uint64{1, 2, 3}) {
			break
		}
		if i == 1000 {
			t.Fatalf("members %v after add and remove", st.Members)
		}
	}
	for _, c := range []struct {
		args []string
		code errcode.Code
	}{
		{[]string{"remove", "9"}, errcode.NotFound},
		{[]string{"remove", "x"}, errcode.Malformed},
		{[]string{"add", "x"}, errcode.Malformed},
		{[]string{"add", "2=http://127.0.0.1:9"}, errcode.Conflict},
	} {
		out, err := runCLI(append([]string{"--api", follower, "--data", dir, "ledger", "cluster"}, c.args...)...)
		if !errcode.Is(err, c.code) {
			t.Fatalf("%s: got %v (%s), want %s", strings.Join(c.args, " "), err, out, c.code)
		}
	}
}

// TestLedgerClusterChangesNeedTheGroupKey: a membership change made
// without the replicas' group key (no devnet config to read it from, or
// another network's key) is refused, and the members stay as they were.
func TestLedgerClusterChangesNeedTheGroupKey(t *testing.T) {
	t.Setenv("SPECIE_API", "")
	t.Setenv("SPECIE_TOKEN", "")
	dir := t.TempDir()
	n, _, err := devnet.UpReplicated(dir, "127.0.0.1:0", 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	api := n.Replicas[0].URL
	if out, err := runCLI("--api", api, "--data", t.TempDir(), "ledger", "cluster", "add", "4=http://127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), "group key") {
		t.Fatalf("add with no devnet config: %v\n%s", err, out)
	}
	// A copy of the config with another group key.
	other := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(dir, devnet.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, devnet.ConfigFile), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(other, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "keys", "raft-group.key"), []byte(strings.Repeat("ab", replica.MinKeyLen)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "4=http://127.0.0.1:9"}, {"remove", "3"}} {
		out, err := runCLI(append([]string{"--api", api, "--data", other, "ledger", "cluster"}, args...)...)
		if !errcode.Is(err, errcode.Unauthorized) {
			t.Fatalf("%s under another key: %v (%s), want unauthorized", strings.Join(args, " "), err, out)
		}
	}
	out, err := runCLI("--api", api, "ledger", "cluster", "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st replica.StatusInfo
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Members, []uint64{1, 2, 3}) {
		t.Fatalf("members %v after refused changes", st.Members)
	}
}

// TestParseCluster pins the --cluster flag's syntax.
func TestParseCluster(t *testing.T) {
	p, err := devnet.ParseCluster(" 1=http://127.0.0.1:7001/, 2=http://127.0.0.1:7002,3=http://h:7003 ")
	if err != nil || len(p) != 3 || p[1] != "http://127.0.0.1:7001" || p[3] != "http://h:7003" {
		t.Fatalf("got %v, %v", p, err)
	}
	for _, bad := range []string{"", "1", "0=http://a:1", "x=http://a:1", "1=http://a:1,1=http://b:1", "1=not a url"} {
		if _, err := devnet.ParseCluster(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
