package main

import (
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/specie/specie/internal/bench"
	"github.com/specie/specie/internal/devnet"
)

// `specie bench --payments --via wallet|alias|request`: what reaching the
// payee by alias or by request-to-pay costs against a plain payment
// (docs/performance.md, issue 10).

// Alias lookup budget of the bench's in-process network under --via
// alias: one lookup a nanosecond in bursts of a billion, so no lookup is
// refused and the limiter's own cost is still measured. A served network
// (--target) keeps its configured budget (by default 20, then 10 a
// minute per caller), so there --via alias runs out after a few lookups.
const (
	benchLookupEvery = time.Nanosecond
	benchLookupBurst = 1 << 30
)

func (p *payFlags) registerVia(f *pflag.FlagSet) {
	f.StringVar(&p.via, "via", bench.ViaWallet, "with --payments: how each payment reaches its payee: wallet (its ID), alias (a phone number registered for every wallet first, looked up at the payer's intermediary before paying; with --target the network's lookup limit applies, so use --inproc) or request (a request created by the payee's intermediary and accepted by the payer's)")
}

// viaOptions are the in-process network's options for --via.
func (p *payFlags) viaOptions() []func(*devnet.Node) {
	if p.via != bench.ViaAlias {
		return nil
	}
	return []func(*devnet.Node){bench.AliasLookups(benchLookupEvery, benchLookupBurst)}
}

// otpFiles is where a devnet under dir (as `specie up` lays it out)
// writes each intermediary's one-time codes (under --target, --data:
// `specie up`'s layout; separate `specie serve` processes keep theirs
// wherever their --data is).
func otpFiles(dir string) func(bank string) string {
	return func(bank string) string { return filepath.Join(dir, bank, devnet.OTPFileName) }
}
