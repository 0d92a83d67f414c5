package intermediary_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/roles"
)

// BenchmarkAliasPay measures what resolving an alias adds to a payment:
// one payer at bank-a paying 0.01 to a payee at bank-b, by wallet ID
// ("wallet") and by phone number ("alias": a lookup through bank-a, which
// hashes the number and reads the issuer's directory, then the same
// payment), and the lookup alone ("lookup"). In process, on the real
// ledger, issuer and Pebble stores; one caller, so the figure is the
// latency of one payment (ns/op) more than throughput. With
// ALIAS_DIRECTORY=http in the environment bank-a reaches the directory
// over HTTP on loopback (a real API server in front of the issuer), as an
// intermediary in its own process does.
func BenchmarkAliasPay(b *testing.B) {
	e := newEnv(b)
	var dir roles.AliasDirectory = &aliasLink{real: e.issuer.Aliases()}
	if os.Getenv("ALIAS_DIRECTORY") == "http" {
		srv := httptest.NewServer(api.New(api.Config{
			AliasDirectory: e.issuer.Aliases(), Logger: slog.New(slog.DiscardHandler),
			Credentials: []api.Credential{{Token: "bank-a-token", Principal: roles.Principal{Name: "bank-a", Role: roles.RoleIntermediary}}},
		}).Handler())
		b.Cleanup(srv.Close)
		dir = client.New(srv.URL, "bank-a-token").AliasDirectory()
	}
	for _, name := range []string{"bank-a", "bank-b"} {
		cfg := e.config(name)
		cfg.Aliases, cfg.PseudonymSalt = dir, aliasSalt
		cfg.AliasLookupEvery, cfg.AliasLookupBurst = time.Nanosecond, 1<<30 // no limit: measure the work
		e.openWith(cfg)
	}
	payer := e.wallet("bank-a", "Carol", 50_000_00)
	payee, err := e.bank("bank-b").OpenWallet(as("bank-b"), unlimited("Alice Smith"))
	if err != nil {
		b.Fatal(err)
	}
	const phone = "+15551234567"
	bk := e.bank("bank-b")
	if _, err := bk.RequestAliasCode(as("bank-b"), roles.AliasRequest{Wallet: payee.ID, Alias: phone}); err != nil {
		b.Fatal(err)
	}
	// The code went to the log only (no OTPFile): bind directly at the
	// directory instead, as bank-b would after the code.
	if _, err := e.issuer.Aliases().BindAlias(as("bank-b"), roles.AliasBinding{Hash: roles.AliasHash(roles.AliasKey(aliasSalt), phone), Wallet: payee.ID, Display: "Alice S."}, false); err != nil {
		b.Fatal(err)
	}
	a := e.bank("bank-a")
	pay := func(to string) {
		if _, err := a.Pay(as("bank-a"), roles.Payment{From: payer, To: to, Amount: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("wallet", func(b *testing.B) {
		for b.Loop() {
			pay(payee.ID)
		}
	})
	b.Run("alias", func(b *testing.B) {
		for b.Loop() {
			got, err := a.LookupAlias(as("bank-a"), phone)
			if err != nil {
				b.Fatal(err)
			}
			pay(got.Wallet)
		}
	})
	b.Run("lookup", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			alias := phone
			if i%2 == 1 {
				alias = fmt.Sprintf("+1555%07d", i%10_000_000) // unknown: not_found
			}
			if _, err := a.LookupAlias(as("bank-a"), alias); err != nil && alias == phone {
				b.Fatal(err)
			}
		}
	})
}
