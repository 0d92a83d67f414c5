package devnet_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// TestUpSurvivesKill runs `specie up` as a process, mints and pays, kills
// it with SIGKILL, starts it again on the same data directory and checks
// that every reported payment, balance, reserve and the log survived.
func TestUpSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildSpecie(t, dir)
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	url := "http://" + addr
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "up", "--data", data, "--http", addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, url)
		return cmd
	}
	cmd := start()
	cfg, err := devnet.Load(filepath.Join(data, devnet.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aTok, _ := cfg.Token("bank-a")
	bTok, _ := cfg.Token("bank-b")
	iss := client.New(url, cfg.Issuer.Token).Issuer()
	bankA := client.New(url, aTok).Intermediary("bank-a")
	bankB := client.New(url, bTok).Intermediary("bank-b")

	m, err := iss.ProposeMint(ctx, "bank-a", 10_000_00)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.OfficerKeyFiles[:2] {
		k, err := crypto.LoadKey(f)
		if err != nil {
			t.Fatal(err)
		}
		if m, err = iss.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, cfg.Network.ID, m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := bankA.OpenWallet(ctx, unlimited("alice"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := bankB.OpenWallet(ctx, unlimited("bob"))
	if err != nil {
		t.Fatal(err)
	}
	var paid []roles.PaymentResult
	pay := func(b roles.Intermediary, from, to string, v uint64) {
		r, err := b.Pay(ctx, roles.Payment{From: from, To: to, Amount: v})
		if err != nil {
			t.Fatalf("pay %s -> %s: %v", from, to, err)
		}
		paid = append(paid, r)
	}
	pay(bankA, "bank-a.treasury", alice.ID, 5_000_00)
	for i := 0; i < 20; i++ {
		pay(bankA, alice.ID, bob.ID, 100_00)
	}
	pay(bankB, bob.ID, alice.ID, 50_00)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cmd = start()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()

	led := client.New(url, "").Ledger()
	for _, p := range paid {
		if _, err := led.Tx(ctx, p.TxID); err != nil {
			t.Fatalf("payment %s reported committed, lost after kill: %v", p.TxID, err)
		}
	}
	want := map[string]uint64{"bank-a.treasury": 5_000_00, alice.ID: 5_000_00 - 2_000_00 + 50_00}
	for id, v := range want {
		w, err := bankA.Wallet(ctx, id)
		if err != nil || w.Balance != v {
			t.Fatalf("after restart %s: %+v %v, want %d", id, w, err, v)
		}
	}
	if w, err := bankB.Wallet(ctx, bob.ID); err != nil || w.Balance != 2_000_00-50_00 {
		t.Fatalf("after restart bob: %+v %v", w, err)
	}
	s, err := iss.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Outstanding != 10_000_00 || s.Reserves[0].Balance != cfg.Reserves["bank-a"]-10_000_00 {
		t.Fatalf("after restart supply %+v", s)
	}
	if _, err := audit.VerifyLog(ctx, led); err != nil {
		t.Fatal(err)
	}
	// The network still works.
	pay(bankB, bob.ID, alice.ID, 1)
}
