package intermediary_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// registry is the central bank's holding-limit registry as the
// intermediaries reach it: the issuer's real one (issuer.Registry, in the
// issuer's store, outliving the intermediaries' restarts), behind a link
// a test can cut (down: every call is unavailable, nothing reaches it) or
// hook: fail, when set, fails every call; afterReserve, when set, runs after a reservation is stored, and a
// test crashes the intermediary there.
type registry struct {
	real         roles.Registry
	mu           sync.Mutex
	fail         error // every call fails with it, reaching nothing
	afterReserve func(r roles.Reservation)
}

func (g *registry) link() (func(roles.Reservation), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.afterReserve, g.fail
}

// setDown cuts the link (every call unavailable) or mends it.
func (g *registry) setDown(down bool) {
	var err error
	if down {
		err = errcode.New(errcode.Unavailable, "the registry cannot be reached")
	}
	g.setFail(err)
}

// setFail makes every call fail with err (nil: none).
func (g *registry) setFail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = err
}

func (g *registry) setAfterReserve(f func(roles.Reservation)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterReserve = f
}

func (g *registry) Reserve(ctx context.Context, r roles.Reservation) (roles.Reservation, error) {
	hook, err := g.link()
	if err != nil {
		return roles.Reservation{}, err
	}
	out, err := g.real.Reserve(ctx, r)
	if err == nil && hook != nil {
		hook(out)
	}
	return out, err
}

func (g *registry) Release(ctx context.Context, person, wallet string) error {
	if _, err := g.link(); err != nil {
		return err
	}
	return g.real.Release(ctx, person, wallet)
}

func (g *registry) Reservations(ctx context.Context) ([]roles.Reservation, error) {
	if _, err := g.link(); err != nil {
		return nil, err
	}
	return g.real.Reservations(ctx)
}

// all is every reservation the registry holds, as the banks see theirs.
func (g *registry) all(t *testing.T) []roles.Reservation {
	t.Helper()
	var out []roles.Reservation
	for _, bank := range []string{"bank-a", "bank-b"} {
		rs, err := g.real.Reservations(as(bank))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

// wallets lists the wallets holding a share, sorted.
func (g *registry) wallets(t *testing.T) []string {
	var out []string
	for _, r := range g.all(t) {
		out = append(out, r.Wallet)
	}
	sort.Strings(out)
	return out
}

// shares is person's reservations, by wallet.
func (g *registry) shares(t *testing.T, person string) map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range g.all(t) {
		if r.Person == person {
			out[r.Wallet] = r.Share
		}
	}
	return out
}

func newRegistryEnv(t *testing.T) (*tierEnv, *registry) {
	te := newTierEnv(t, jan31)
	g := &registry{real: te.issuer.Registry()}
	for _, name := range []string{"bank-a", "bank-b"} {
		te.openWith(te.registryConfig(name, g))
	}
	return te, g
}

func (te *tierEnv) registryConfig(name string, g *registry) intermediary.Config {
	cfg := te.config(name)
	cfg.Registry, cfg.PseudonymSalt = g, []byte("salt the intermediaries share")
	return cfg
}

// TestHoldingLimitIsPerPerson pins that a person's wallets at two
// intermediaries share one holding limit through the registry, that a
// refused open leaves nothing behind, and that closing releases.
func TestHoldingLimitIsPerPerson(t *testing.T) {
	te, g := newRegistryEnv(t)
	a, b := te.bank("bank-a"), te.bank("bank-b")
	req := func(share uint64) roles.WalletRequest {
		r := tier(0, phone)
		r.Share = share
		return r
	}
	wa, err := a.OpenWallet(as("bank-a"), req(200*usd))
	if err != nil || wa.HoldingLimit != 200*usd {
		t.Fatalf("open at bank-a: %+v, %v", wa, err)
	}
	_, err = b.OpenWallet(as("bank-b"), req(0)) // the whole 500.00: 200.00 is taken
	wantCode(t, err, errcode.LimitExceeded, 422)
	if got := g.wallets(t); len(got) != 1 || got[0] != wa.ID {
		t.Fatalf("reservations after a refused open: %v", got)
	}
	// The same person, spelled differently, is the same pseudonym.
	spaced := req(301 * usd)
	spaced.Evidence[0].Ref = "+1 555-123-4567"
	_, err = b.OpenWallet(as("bank-b"), spaced)
	wantCode(t, err, errcode.LimitExceeded, 422)
	wb, err := b.OpenWallet(as("bank-b"), req(300*usd))
	if err != nil || wb.HoldingLimit != 300*usd {
		t.Fatalf("open at bank-b: %+v, %v", wb, err)
	}

	// The share is the wallet's holding limit.
	payer := te.walletAt("bank-a", unlimited("payer"), 1_000*usd)
	te.reject(t, payer, wa.ID, 200*usd+1, errcode.LimitExceeded, "holding limit 200.00")

	if _, err := a.CloseWallet(as("bank-a"), wa.ID, "customer left"); err != nil {
		t.Fatal(err)
	}
	if got := g.wallets(t); len(got) != 1 || got[0] != wb.ID {
		t.Fatalf("reservations after closing: %v", got)
	}
	// An upgrade reserves the new tier's limit.
	w, err := b.SetTier(as("bank-b"), wb.ID, roles.TierChange{Tier: 1, Evidence: []roles.EvidenceRef{identity}, Reason: "kyc"})
	if err != nil || w.HoldingLimit != 3_000*usd {
		t.Fatalf("upgrade: %+v, %v", w, err)
	}
}

// TestCrashBetweenReservationAndOpen pins that an intermediary that stops
// after the registry reserved a wallet's share, before the wallet was
// written, releases that share when it opens again: no share stays
// reserved for nobody.
func TestCrashBetweenReservationAndOpen(t *testing.T) {
	te, g := newRegistryEnv(t)
	mem := vfs.NewCrashableMem()
	te.close("bank-a")
	cfg := te.registryConfig("bank-a", g)
	cfg.FS = mem
	a := te.openWith(cfg)

	kept, err := a.OpenWallet(as("bank-a"), tier(0, phone))
	if err != nil {
		t.Fatal(err)
	}
	var crashed vfs.FS
	var lost string
	g.setAfterReserve(func(r roles.Reservation) {
		if crashed == nil {
			crashed, lost = mem.CrashClone(vfs.CrashCloneCfg{}), r.Wallet // what a crash here leaves
		}
	})
	other := tier(1, roles.EvidenceRef{Kind: "phone", Ref: "+15550000002"}, identity)
	if _, err := a.OpenWallet(as("bank-a"), other); err != nil {
		t.Fatal(err)
	}
	g.setAfterReserve(nil)
	if got := g.wallets(t); len(got) != 2 {
		t.Fatalf("reservations before the crash: %v", got)
	}

	te.openOnWith("bank-a", crashed, cfg)
	if got := g.wallets(t); len(got) != 1 || got[0] != kept.ID {
		t.Fatalf("reservations after restarting from the crash: %v; want only %s (released %s)", got, kept.ID, lost)
	}
	if _, err := te.bank("bank-a").Wallet(as("bank-a"), lost); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("the wallet whose open crashed: %v", err)
	}
	// The person may open again: their limit is free.
	if _, err := te.bank("bank-a").OpenWallet(as("bank-a"), other); err != nil {
		t.Fatal(err)
	}
}

// openOnWith is openOn with cfg, the running one stopped as by a crash.
func (te *tierEnv) openOnWith(name string, fs vfs.FS, cfg intermediary.Config) {
	te.t.Helper()
	te.mu.Lock()
	old := te.banks[name]
	delete(te.banks, name)
	te.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	cfg.FS = fs
	te.openWith(cfg)
}

// TestCrashBetweenReservationAndTierChange pins that an upgrade whose new
// share the registry reserved but whose store write a crash lost is put
// back to the wallet's share when the intermediary opens again.
func TestCrashBetweenReservationAndTierChange(t *testing.T) {
	te, g := newRegistryEnv(t)
	mem := vfs.NewCrashableMem()
	te.close("bank-a")
	cfg := te.registryConfig("bank-a", g)
	cfg.FS = mem
	a := te.openWith(cfg)
	w, err := a.OpenWallet(as("bank-a"), tier(0, phone))
	if err != nil {
		t.Fatal(err)
	}
	var crashed vfs.FS
	g.setAfterReserve(func(roles.Reservation) { crashed = mem.CrashClone(vfs.CrashCloneCfg{}) })
	if _, err := a.SetTier(as("bank-a"), w.ID, roles.TierChange{Tier: 1, Evidence: []roles.EvidenceRef{identity}, Reason: "kyc"}); err != nil {
		t.Fatal(err)
	}
	g.setAfterReserve(nil)
	person := roles.Pseudonym(cfg.PseudonymSalt, "phone:"+phone.Ref)
	share := g.shares(t, person)[w.ID]
	if share != 3_000*usd {
		t.Fatalf("share after the upgrade %d", share)
	}

	te.openOnWith("bank-a", crashed, cfg)
	got, err := te.bank("bank-a").Wallet(as("bank-a"), w.ID)
	if err != nil || got.Tier != 0 || got.HoldingLimit != 500*usd {
		t.Fatalf("after the crash the wallet is %+v, %v; want tier 0", got, err)
	}
	share = g.shares(t, person)[w.ID]
	if share != 500*usd {
		t.Fatalf("share after restarting from the crash %d, want the wallet's 500.00", share)
	}
}

// TestTwoIntermediariesRaceForOnePerson pins that when two intermediaries
// open wallets for one person at once, each asking for the whole holding
// limit, one opens and the other is refused, leaving neither a wallet nor
// a share behind.
func TestTwoIntermediariesRaceForOnePerson(t *testing.T) {
	te, g := newRegistryEnv(t)
	for round := range 8 {
		p := roles.EvidenceRef{Kind: phone.Kind, Ref: fmt.Sprintf("+1555000%04d", round)}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		ids := make([]string, 2)
		for i, bank := range []string{"bank-a", "bank-b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := te.bank(bank).OpenWallet(as(bank), tier(0, p))
				ids[i], errs[i] = w.ID, err
			}()
		}
		wg.Wait()
		opened := 0
		for i, err := range errs {
			switch {
			case err == nil:
				opened++
			case !errcode.Is(err, errcode.LimitExceeded):
				t.Fatalf("round %d: %v", round, err)
			case ids[i] != "":
				t.Fatalf("round %d: refused, yet wallet %s", round, ids[i])
			}
		}
		if opened != 1 {
			t.Fatalf("round %d: %d wallets opened for one person's whole limit", round, opened)
		}
		person := roles.Pseudonym([]byte("salt the intermediaries share"), "phone:"+p.Ref)
		n := len(g.shares(t, person))
		if n != 1 {
			t.Fatalf("round %d: %d shares reserved for the person", round, n)
		}
	}
}

// TestRegistryOutage pins that a registry that cannot be reached reads as
// unavailable, never as a limit (and a refusal the bank did not expect as
// internal, never as an outage): an open or an upgrade that needs a share
// is refused with unavailable and leaves nothing behind (no wallet, no
// share, no audit entry, the tier as it was), and once the registry is
// back the same requests go through.
func TestRegistryOutage(t *testing.T) {
	te, g := newRegistryEnv(t)
	a := te.bank("bank-a")
	phone := roles.EvidenceRef{Kind: "phone", Ref: "+15550000077"}
	w, err := a.OpenWallet(as("bank-a"), tier(0, phone))
	if err != nil {
		t.Fatal(err)
	}
	trail, err := a.Audit(as("bank-a"), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	person := roles.Pseudonym([]byte("salt the intermediaries share"), "phone:"+phone.Ref)

	g.setDown(true)
	other := tier(0, roles.EvidenceRef{Kind: "phone", Ref: "+15550000078"})
	_, err = a.OpenWallet(as("bank-a"), other)
	wantCode(t, err, errcode.Unavailable, 503)
	_, err = a.SetTier(as("bank-a"), w.ID, roles.TierChange{Tier: 1, Evidence: []roles.EvidenceRef{identity}, Reason: "kyc"})
	wantCode(t, err, errcode.Unavailable, 503)
	// A refusal the bank did not expect (its credential) is its own
	// failure: internal, neither a limit nor an outage.
	g.setFail(errcode.Forbidden("bank-a may not use the registry"))
	_, err = a.OpenWallet(as("bank-a"), other)
	wantCode(t, err, errcode.Internal, 500)
	g.setFail(nil)

	if got := g.wallets(t); len(got) != 1 || got[0] != w.ID {
		t.Fatalf("reservations after the outage: %v; want only %s", got, w.ID)
	}
	if got := g.shares(t, person)[w.ID]; got != 500*usd {
		t.Fatalf("share after a refused upgrade %d, want 500.00", got)
	}
	got, err := a.Wallet(as("bank-a"), w.ID)
	if err != nil || got.Tier != 0 || got.HoldingLimit != 500*usd {
		t.Fatalf("wallet after a refused upgrade %+v, %v", got, err)
	}
	if after, err := a.Audit(as("bank-a"), w.ID); err != nil || len(after) != len(trail) {
		t.Fatalf("audit trail after a refused upgrade: %d entries, was %d (%v)", len(after), len(trail), err)
	}
	if _, err := a.OpenWallet(as("bank-a"), other); err != nil {
		t.Fatalf("open once the registry is back: %v", err)
	}
	if _, err := a.SetTier(as("bank-a"), w.ID, roles.TierChange{Tier: 1, Evidence: []roles.EvidenceRef{identity}, Reason: "kyc"}); err != nil {
		t.Fatalf("upgrade once the registry is back: %v", err)
	}
}
