package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// env is a real network started in the test (real HTTP on loopback, real
// Pebble) and the API clients that check what the CLI did, independently of
// the CLI's own output.
type env struct {
	t      *testing.T
	dir    string
	node   *devnet.Node
	api    string
	ledger roles.Ledger
	issuer roles.Issuer
	banks  map[string]roles.Intermediary
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, func(dir string) (*devnet.Node, bool, error) {
		return devnet.Up(dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	})
}

// newShardedEnv is newEnv on `specie up --groups 2 --replicas 3`.
func newShardedEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, func(dir string) (*devnet.Node, bool, error) {
		return devnet.UpSharded(dir, "127.0.0.1:0", 2, 3, slog.New(slog.DiscardHandler))
	})
}

// newEnvOn starts a network with up in a fresh directory and the clients
// of each role against it.
func newEnvOn(t *testing.T, up func(dir string) (*devnet.Node, bool, error)) *env {
	t.Helper()
	// The CLI reads these; a developer's shell must not steer the tests.
	t.Setenv("SPECIE_API", "")
	t.Setenv("SPECIE_TOKEN", "")
	dir := t.TempDir()
	n, created, err := up(dir)
	if err != nil {
		t.Fatalf("devnet up: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("devnet close: %v", err)
		}
	})
	if !created {
		t.Fatal("devnet.Up in a fresh directory did not create a network")
	}
	e := &env{t: t, dir: dir, node: n, api: n.URL, banks: map[string]roles.Intermediary{}}
	e.ledger = client.New(n.URL, "").Ledger()
	e.issuer = client.New(n.URL, n.Config.Issuer.Token).Issuer()
	for _, b := range n.Config.Intermediaries {
		e.banks[b.Name] = client.New(n.URL, b.Token).Intermediary(b.Name)
	}
	return e
}

// run executes one CLI command in process against the env's network, as
// `specie --api URL --data DIR args...` would, and returns what it printed.
func (e *env) run(args ...string) (string, error) {
	e.t.Helper()
	return runCLI(append([]string{"--api", e.api, "--data", e.dir}, args...)...)
}

func runCLI(args ...string) (string, error) {
	var out bytes.Buffer
	root := newRoot(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// must runs a command that has to succeed.
func (e *env) must(args ...string) string {
	e.t.Helper()
	out, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("specie %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mustJSON runs a command with --json and decodes its output into v.
func (e *env) mustJSON(v any, args ...string) {
	e.t.Helper()
	out := e.must(append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		e.t.Fatalf("specie %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// mint commits a mint of amount (minor units) to bank through the API with
// two officers' signatures.
func (e *env) mint(bank string, amount uint64) {
	e.t.Helper()
	ctx := context.Background()
	m, err := e.issuer.ProposeMint(ctx, bank, amount)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		k := e.officer(i)
		m, err = e.issuer.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, e.node.Config.Network.ID, m.ID))
		if err != nil {
			e.t.Fatal(err)
		}
	}
	if m.Status != roles.MintCommitted {
		e.t.Fatalf("mint %s: %s", m.ID, m.Status)
	}
}

func (e *env) officer(i int) *crypto.PrivateKey {
	e.t.Helper()
	k, err := crypto.LoadKey(e.node.Config.OfficerKeyFiles[i])
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func (e *env) openWallet(bank, owner string) string {
	e.t.Helper()
	w, err := e.banks[bank].OpenWallet(context.Background(), unlimited(owner))
	if err != nil {
		e.t.Fatal(err)
	}
	return w.ID
}

func (e *env) pay(from, to string, amount uint64) {
	e.t.Helper()
	bank := roles.IntermediaryOf(from)
	if _, err := e.banks[bank].Pay(context.Background(), roles.Payment{From: from, To: to, Amount: amount}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) balance(id string) uint64 {
	e.t.Helper()
	w, err := e.banks[roles.IntermediaryOf(id)].Wallet(context.Background(), id)
	if err != nil {
		e.t.Fatalf("wallet %s: %v", id, err)
	}
	return w.Balance
}

// state is everything a rejected command must leave alone: the supply and
// reserves, the log's length, the given wallets' balances and note counts,
// and the given mints.
type state struct {
	Supply  roles.Supply
	Wallets map[string][2]uint64
	Mints   map[string]string
}

func (e *env) snapshot(wallets []string, mints []roles.Mint) state {
	e.t.Helper()
	ctx := context.Background()
	s := state{Wallets: map[string][2]uint64{}, Mints: map[string]string{}}
	var err error
	if s.Supply, err = e.issuer.Supply(ctx); err != nil {
		e.t.Fatal(err)
	}
	for _, id := range wallets {
		w, err := e.banks[roles.IntermediaryOf(id)].Wallet(ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		s.Wallets[id] = [2]uint64{w.Balance, uint64(w.Notes)}
	}
	for _, m := range mints {
		got, err := e.issuer.GetMint(ctx, m.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		s.Mints[m.ID.String()] = got.Status + " " + strings.Repeat("+", len(got.Approvers))
	}
	return s
}

func (s state) equal(o state) bool { return reflect.DeepEqual(s, o) }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
