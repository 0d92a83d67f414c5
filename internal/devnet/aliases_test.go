package devnet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// aliasAcrossProcesses binds a phone number to a wallet at bank-b, each
// role in its own process: bank-b sends the code to otp.log in its data
// directory (dataDir) and binds at the issuer process's directory over
// HTTP; bank-a's process resolves the number through the same directory.
func aliasAcrossProcesses(t *testing.T, cfg *devnet.Config, dataDir func(name string) string) {
	t.Helper()
	ctx := context.Background()
	a, b := cfg.Intermediaries[0], cfg.Intermediaries[1]
	bankB := client.New(b.URL, b.Token).Intermediary(b.Name)
	w, err := bankB.OpenWallet(ctx, roles.WalletRequest{Owner: "Dana Smith", Tier: 0, Evidence: []roles.EvidenceRef{{Kind: "phone", Ref: "+15559990000"}}})
	if err != nil {
		t.Fatal(err)
	}
	book := bankB.(roles.AliasBook)
	const phone = "+15559990000"
	if _, err := book.RequestAliasCode(ctx, roles.AliasRequest{Wallet: w.ID, Alias: phone}); err != nil {
		t.Fatal(err)
	}
	sent, err := os.ReadFile(filepath.Join(dataDir(b.Name), devnet.OTPFileName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(strings.TrimSpace(string(sent)))
	if len(lines) < 4 || lines[len(lines)-3] != phone || lines[len(lines)-2] != w.ID {
		t.Fatalf("otp.log: %q", sent)
	}
	if _, err := book.ConfirmAlias(ctx, w.ID, phone, lines[len(lines)-1]); err != nil {
		t.Fatal(err)
	}
	got, err := client.New(a.URL, a.Token).Intermediary(a.Name).(roles.AliasBook).LookupAlias(ctx, phone)
	if err != nil || got.Wallet != w.ID || got.Display != "Dana S." {
		t.Fatalf("lookup at %s: %+v, %v", a.Name, got, err)
	}
	if _, err := client.New(a.URL, a.Token).Intermediary(a.Name).(roles.AliasBook).LookupAlias(ctx, "+15559990001"); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("unknown alias: %v", err)
	}
}
