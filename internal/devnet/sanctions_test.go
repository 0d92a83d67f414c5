package devnet_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// A devnet intermediary screens against sanctions.txt in its data
// directory: after a restart with the file in place, opening a lock for a
// listed owner's wallet is refused and so is a payment to it.
func TestDevnetSanctionsFile(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	n, _, err := devnet.Up(dir, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := roles.WithCaller(context.Background(), roles.Principal{Name: "bank-b", Role: roles.RoleIntermediary})
	w, err := n.Banks["bank-b"].OpenWallet(ctx, unlimited("Mallory"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bank-b", devnet.SanctionsFileName), []byte("# sanctioned\nMallory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, _, err = devnet.Up(dir, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	asA := roles.WithCaller(context.Background(), roles.Principal{Name: "bank-a", Role: roles.RoleIntermediary})
	_, err = n.Banks["bank-b"].ReceiveLock(asA, w.ID)
	if !errcode.Is(err, errcode.Blocked) {
		t.Fatalf("lock of a listed wallet: %v; want blocked", err)
	}
	_, err = n.Banks["bank-a"].Pay(asA, roles.Payment{From: "bank-a.treasury", To: w.ID, Amount: 1})
	if !errcode.Is(err, errcode.Blocked) {
		t.Fatalf("payment to a listed wallet: %v; want blocked", err)
	}
}
