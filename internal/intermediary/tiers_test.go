package intermediary_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Minor units of the test network's currency (USD, two decimals).
const usd = 100

// set moves the clock to t, across days and months (outage_test.go has
// the rest of fakeClock).
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// policies is the central bank's policy source as an intermediary sees
// it: it returns whatever signed policy the test publishes (the contract
// of roles.Policies, until the issuer's service is on this branch).
type policies struct {
	mu sync.Mutex
	s  policy.Signed
}

func (p *policies) Policy(context.Context) (policy.Signed, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s, nil
}

func (p *policies) publish(s policy.Signed) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s = s
}

// sign has the test network's officers at the given indexes approve p.
func (e *env) sign(p policy.Policy, officers ...int) policy.Signed {
	s := policy.Signed{Policy: p}
	for _, i := range officers {
		s.Approvals = append(s.Approvals, policy.Sign(&p, e.net.Officers[i]))
	}
	return s
}

// testPolicy is the default policy with two more tiers: 4, "daily only",
// whose only limits are 1,000.00 a day and 3,000.00 a month (limits a
// wallet's balance does not hide), and 5, "holding only", whose only
// limit is holding 100.00.
func (e *env) testPolicy(version uint64) policy.Policy {
	p := policy.Default(e.net.Network.ID, e.net.Network.Currency)
	p.Version = version
	p.Tiers = append(p.Tiers, policy.Tier{Level: 4, Name: "daily only", Evidence: []policy.Evidence{policy.Phone},
		Daily: 1_000 * usd, Monthly: 3_000 * usd},
		policy.Tier{Level: 5, Name: "holding only", Evidence: []policy.Evidence{policy.Phone}, Holding: 100 * usd})
	return p
}

// tierEnv is bank-a (and bank-b) on a fake clock in time zone loc,
// applying the signed testPolicy.
type tierEnv struct {
	*env
	clock *fakeClock
	pol   *policies
	loc   *time.Location
}

func newTierEnv(t *testing.T, start time.Time, names ...string) *tierEnv {
	t.Helper()
	e := newEnv(t)
	te := &tierEnv{env: e, clock: &fakeClock{now: start}, pol: &policies{}, loc: start.Location()}
	te.pol.publish(e.sign(e.testPolicy(2), 0, 1))
	e.now = te.clock.Now
	for _, n := range names {
		te.open(n)
	}
	return te
}

func (te *tierEnv) config(name string) intermediary.Config {
	cfg := te.env.config(name)
	cfg.Policies, cfg.Location = te.pol, te.loc
	return cfg
}

func (te *tierEnv) open(name string) *intermediary.Intermediary {
	return te.openWith(te.config(name))
}

// walletAt opens a wallet at bank with req and funds it with amount from
// the treasury.
func (te *tierEnv) walletAt(bank string, req roles.WalletRequest, amount uint64) string {
	te.t.Helper()
	b := te.bank(bank)
	w, err := b.OpenWallet(as(bank), req)
	if err != nil {
		te.t.Fatal(err)
	}
	if amount > 0 {
		te.fund(w.ID, amount)
	}
	return w.ID
}

// fund pays amount to wallet id from its bank's treasury, issuing it.
func (te *tierEnv) fund(id string, amount uint64) {
	te.t.Helper()
	bank := roles.IntermediaryOf(id)
	te.issue(bank, amount)
	if _, err := te.bank(bank).Pay(as(bank), roles.Payment{From: bank + roles.TreasurySuffix, To: id, Amount: amount}); err != nil {
		te.t.Fatal(err)
	}
}

func (te *tierEnv) pay(from, to string, amount uint64) error {
	bank := roles.IntermediaryOf(from)
	_, err := te.bank(bank).Pay(as(bank), roles.Payment{From: from, To: to, Amount: amount})
	return err
}

// reject asserts that paying fails with code and a message containing
// msg, and that nothing changed anywhere: balances, notes, histories,
// the ledger, pending spends, and the payer's daily and monthly windows.
func (te *tierEnv) reject(t *testing.T, from, to string, amount uint64, code errcode.Code, msg string) {
	t.Helper()
	before := te.snapshot(from, to)
	day, month := te.outgoing(from)
	err := te.pay(from, to, amount)
	wantCode(t, err, code, 422)
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q: want it to say %q", err, msg)
	}
	te.unchanged(t, before, from, to)
	if d, m := te.outgoing(from); d != day || m != month {
		t.Fatalf("windows of %s moved from %d/%d to %d/%d", from, day, month, d, m)
	}
}

// outgoing is what wallet id paid out today and this month.
func (te *tierEnv) outgoing(id string) (uint64, uint64) {
	te.t.Helper()
	d, m, err := intermediary.Outgoing(te.bank(roles.IntermediaryOf(id)), id)
	if err != nil {
		te.t.Fatal(err)
	}
	return d, m
}

func tier(level int, evidence ...roles.EvidenceRef) roles.WalletRequest {
	return roles.WalletRequest{Owner: fmt.Sprintf("owner of tier %d", level), Tier: level, Evidence: evidence}
}

var (
	phone    = roles.EvidenceRef{Kind: policy.Phone, Ref: "+15551234567"}
	identity = roles.EvidenceRef{Kind: policy.Identity, Ref: "P1234567"}
	address  = roles.EvidenceRef{Kind: policy.Address, Ref: "utility bill 2026-11"}
)

var jan31 = time.Date(2026, 1, 31, 22, 0, 0, 0, time.UTC)

func TestOpenWalletNeedsTheTiersEvidence(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	a := te.bank("bank-a")
	tests := []struct {
		name  string
		req   roles.WalletRequest
		code  errcode.Code
		limit uint64
	}{
		{"tier 0 with a phone", tier(0, phone), "", 500 * usd},
		{"tier 0 without evidence", tier(0), errcode.Malformed, 0},
		{"tier 1 with a phone only", tier(1, phone), errcode.Malformed, 0},
		{"tier 1 with phone and identity", tier(1, phone, identity), "", 3_000 * usd},
		{"tier 2 with phone, identity and address", tier(2, phone, identity, address), "", 10_000 * usd},
		{"no such tier", tier(9, phone), errcode.Malformed, 0},
		{"unknown evidence kind", tier(0, phone, roles.EvidenceRef{Kind: "selfie", Ref: "x"}), errcode.Malformed, 0},
		{"empty reference", tier(0, roles.EvidenceRef{Kind: policy.Phone, Ref: " "}), errcode.Malformed, 0},
		{"evidence twice", tier(0, phone, phone), errcode.Malformed, 0},
		{"smaller share", roles.WalletRequest{Owner: "o", Tier: 0, Evidence: []roles.EvidenceRef{phone}, Share: 100 * usd}, "", 100 * usd},
		{"share above the limit", roles.WalletRequest{Owner: "o", Tier: 0, Evidence: []roles.EvidenceRef{phone}, Share: 501 * usd}, errcode.Malformed, 0},
		{"person too long", roles.WalletRequest{Owner: "o", Tier: 0, Evidence: []roles.EvidenceRef{phone}, Person: strings.Repeat("x", 257)}, errcode.Malformed, 0},
		{"reason too long", roles.WalletRequest{Owner: "o", Tier: 0, Evidence: []roles.EvidenceRef{phone}, Reason: strings.Repeat("x", 513)}, errcode.Malformed, 0},
		{"no owner", roles.WalletRequest{Tier: 0, Evidence: []roles.EvidenceRef{phone}}, errcode.Malformed, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := a.OpenWallet(as("bank-a"), tc.req)
			if tc.code != "" {
				wantCode(t, err, tc.code, 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Wallet(as("bank-a"), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Tier != tc.req.Tier || got.State != roles.WalletActive || got.HoldingLimit != tc.limit {
				t.Fatalf("wallet %+v: want tier %d, active, holding limit %d", got, tc.req.Tier, tc.limit)
			}
			audit, err := a.Audit(as("bank-a"), w.ID)
			if err != nil || len(audit) != 1 || audit[0].Action != "open" || audit[0].Actor != "bank-a" {
				t.Fatalf("audit %+v, %v", audit, err)
			}
		})
	}
}

func TestPaymentLimits(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	shop := te.walletAt("bank-a", unlimited("shop"), 0)
	shopB := te.walletAt("bank-b", unlimited("shop at bank-b"), 0)

	t.Run("per payment", func(t *testing.T) {
		alice := te.walletAt("bank-a", tier(0, phone), 500*usd)
		te.reject(t, alice, shop, 200*usd+1, errcode.LimitExceeded, "per-payment limit 200.00 exceeded")
		if err := te.pay(alice, shop, 200*usd); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("daily, across midnight", func(t *testing.T) {
		alice := te.walletAt("bank-a", tier(4, phone), 0)
		te.fund(alice, 1_500*usd)
		if err := te.pay(alice, shop, 880*usd); err != nil {
			t.Fatal(err)
		}
		te.reject(t, alice, shop, 121*usd, errcode.LimitExceeded, "daily outgoing limit 1000.00 reached: 120.00 left today")
		te.reject(t, alice, shopB, 121*usd, errcode.LimitExceeded, "daily outgoing limit 1000.00 reached: 120.00 left today")
		if err := te.pay(alice, shopB, 120*usd); err != nil {
			t.Fatal(err)
		}
		te.clock.set(jan31.Add(2*time.Hour + time.Second)) // Feb 1, 00:00:01
		defer te.clock.set(jan31)
		if err := te.pay(alice, shop, 500*usd); err != nil {
			t.Fatalf("a new day: %v", err)
		}
	})
	t.Run("monthly, across the month", func(t *testing.T) {
		te.clock.set(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
		defer te.clock.set(jan31)
		alice := te.walletAt("bank-a", tier(4, phone), 0)
		te.fund(alice, 4_000*usd)
		for day := range 3 {
			te.clock.set(time.Date(2026, 3, 1+day, 9, 0, 0, 0, time.UTC))
			if err := te.pay(alice, shop, 1_000*usd); err != nil {
				t.Fatalf("day %d: %v", day+1, err)
			}
		}
		te.clock.set(time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC))
		te.reject(t, alice, shop, 1, errcode.LimitExceeded, "monthly outgoing limit 3000.00 reached: 0.00 left this month")
		te.clock.set(time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC))
		if err := te.pay(alice, shop, 1_000*usd); err != nil {
			t.Fatalf("a new month: %v", err)
		}
	})
	t.Run("holding, same intermediary", func(t *testing.T) {
		bob := te.walletAt("bank-a", tier(0, phone), 400*usd)
		payer := te.walletAt("bank-a", unlimited("payer"), 1_000*usd)
		te.reject(t, payer, bob, 100*usd+1, errcode.LimitExceeded, "holding limit 500.00 of wallet "+bob+" reached: 100.00 left to receive")
		if err := te.pay(payer, bob, 100*usd); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("holding, across intermediaries", func(t *testing.T) {
		bob := te.walletAt("bank-b", tier(0, phone), 400*usd)
		payer := te.walletAt("bank-a", unlimited("payer"), 1_000*usd)
		te.reject(t, payer, bob, 100*usd+1, errcode.LimitExceeded, "holding limit 500.00 of wallet "+bob+" reached: 100.00 left to receive")
		if err := te.pay(payer, bob, 100*usd); err != nil {
			t.Fatal(err)
		}
		if err := te.bank("bank-a").RetryDeliveries(as("bank-a")); err != nil {
			t.Fatal(err)
		}
		if got := te.balance(bob); got != 500*usd {
			t.Fatalf("bob holds %d", got)
		}
	})
}

// TestWindowCountsOnlyWhatCommits pins that a payment the ledger rejects
// consumes no limit, and that the windows survive a restart.
func TestWindowCountsOnlyWhatCommits(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 0)
	alice := te.walletAt("bank-a", tier(4, phone), 1_500*usd)
	if err := te.pay(alice, shop, 600*usd); err != nil {
		t.Fatal(err)
	}
	te.link.tamper.Store(true)
	before := te.snapshot(alice, shop)
	if err := te.pay(alice, shop, 400*usd); !errcode.Is(err, errcode.BadSignature) {
		t.Fatalf("tampered payment: %v", err)
	}
	te.link.tamper.Store(false)
	te.unchanged(t, before, alice, shop)
	if d, m := te.outgoing(alice); d != 600*usd || m != 600*usd {
		t.Fatalf("a rejected payment moved the windows to %d/%d", d, m)
	}

	// A payment whose outcome is unknown counts until the ledger says it
	// never committed; then it is taken out again.
	te.link.down.Store(true)
	err := te.pay(alice, shop, 300*usd)
	wantCode(t, err, errcode.Unavailable, 0)
	if d, _ := te.outgoing(alice); d != 900*usd {
		t.Fatalf("a payment in flight: today %d", d)
	}
	te.link.down.Store(false)
	te.clock.set(jan31.Add(time.Second)) // the pending spend is older than SettleAfter
	if err := te.bank("bank-a").ResolvePending(as("bank-a")); err != nil {
		t.Fatal(err)
	}
	if d, _ := te.outgoing(alice); d != 600*usd {
		t.Fatalf("a payment that never committed still counts: today %d", d)
	}

	te.close("bank-a")
	te.open("bank-a")
	te.reject(t, alice, shop, 401*usd, errcode.LimitExceeded, "daily outgoing limit 1000.00 reached: 400.00 left today")
	if err := te.pay(alice, shop, 400*usd); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsHoldUnderConcurrency pins that payments racing from one wallet
// never together break its daily limit, nor to one wallet its holding
// limit.
func TestLimitsHoldUnderConcurrency(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 0)
	alice := te.walletAt("bank-a", tier(4, phone), 2_000*usd)
	bob := te.walletAt("bank-a", tier(0, phone), 0)
	payer := te.walletAt("bank-a", unlimited("payer"), 2_000*usd)

	var wg sync.WaitGroup
	var mu sync.Mutex
	okOut, okIn := 0, 0
	for range 16 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := te.pay(alice, shop, 100*usd)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				okOut++
			} else if !errcode.Is(err, errcode.LimitExceeded) {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			err := te.pay(payer, bob, 50*usd)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				okIn++
			} else if !errcode.Is(err, errcode.LimitExceeded) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if okOut != 10 || te.balance(alice) != 1_000*usd {
		t.Fatalf("%d payments of 100.00 passed a daily limit of 1000.00; alice holds %d", okOut, te.balance(alice))
	}
	if okIn != 10 || te.balance(bob) != 500*usd {
		t.Fatalf("%d payments of 50.00 passed a holding limit of 500.00; bob holds %d", okIn, te.balance(bob))
	}
}

func TestWalletStates(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	a := te.bank("bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 1_000*usd)
	shopB := te.walletAt("bank-b", unlimited("shop at bank-b"), 1_000*usd)
	alice := te.walletAt("bank-a", tier(0, phone), 300*usd)

	if _, err := a.Freeze(as("bank-a"), alice, ""); !errcode.Is(err, errcode.Malformed) {
		t.Fatalf("freeze without a reason: %v", err)
	}
	if _, err := a.Freeze(as("bank-a"), alice, "court order 17"); err != nil {
		t.Fatal(err)
	}
	te.reject(t, alice, shop, 10*usd, errcode.Blocked, "frozen: it pays nothing")
	te.reject(t, shop, alice, 10*usd, errcode.Blocked, "frozen: it receives nothing")
	te.reject(t, shopB, alice, 10*usd, errcode.Blocked, "frozen: it receives nothing")
	if _, err := a.Freeze(as("bank-a"), alice, "again"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("freeze a frozen wallet: %v", err)
	}
	if _, err := a.Unfreeze(as("bank-a"), alice, "order lifted"); err != nil {
		t.Fatal(err)
	}
	if err := te.pay(alice, shop, 100*usd); err != nil {
		t.Fatal(err)
	}

	if _, err := a.CloseWallet(as("bank-a"), alice, "customer left"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("close with money in it: %v", err)
	}
	if err := te.pay(alice, shop, 200*usd); err != nil {
		t.Fatal(err)
	}
	w, err := a.CloseWallet(as("bank-a"), alice, "customer left")
	if err != nil || w.State != roles.WalletClosed {
		t.Fatalf("close: %+v, %v", w, err)
	}
	te.reject(t, shop, alice, 10*usd, errcode.Blocked, "closed")
	if _, err := a.Unfreeze(as("bank-a"), alice, "undo"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("unfreeze a closed wallet: %v", err)
	}

	audit, err := a.Audit(as("bank-a"), alice)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range audit {
		got = append(got, e.Action+":"+e.Reason+":"+e.Actor)
	}
	want := "open::bank-a freeze:court order 17:bank-a unfreeze:order lifted:bank-a close:customer left:bank-a"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit trail %q, want %q", strings.Join(got, " "), want)
	}
}

func TestTierChanges(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	a := te.bank("bank-a")
	alice := te.walletAt("bank-a", tier(0, phone), 400*usd)
	change := func(level int, ev ...roles.EvidenceRef) (roles.Wallet, error) {
		return a.SetTier(as("bank-a"), alice, roles.TierChange{Tier: level, Evidence: ev, Reason: "review"})
	}
	tests := []struct {
		name  string
		level int
		ev    []roles.EvidenceRef
		code  errcode.Code
		limit uint64
	}{
		{"up without the evidence", 1, nil, errcode.Malformed, 0},
		{"up with identity", 1, []roles.EvidenceRef{identity}, "", 3_000 * usd},
		{"up again with address", 2, []roles.EvidenceRef{address}, "", 10_000 * usd},
		{"down, the balance fits", 0, nil, "", 500 * usd},
		{"to a tier the policy lacks", 7, nil, errcode.Malformed, 0},
	}
	trail := func() int {
		audit, err := a.Audit(as("bank-a"), alice)
		if err != nil {
			t.Fatal(err)
		}
		return len(audit)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, entries := te.snapshot(alice), trail()
			w, err := change(tc.level, tc.ev...)
			if tc.code != "" {
				wantCode(t, err, tc.code, 0)
				te.unchanged(t, before, alice)
				if trail() != entries {
					t.Fatal("a refused change is in the audit trail")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Tier != tc.level || w.HoldingLimit != tc.limit {
				t.Fatalf("wallet %+v: want tier %d, limit %d", w, tc.level, tc.limit)
			}
		})
	}
	t.Run("down, the balance does not fit", func(t *testing.T) {
		if _, err := change(1); err != nil {
			t.Fatal(err)
		}
		te.fund(alice, 200*usd)
		_, err := change(0)
		wantCode(t, err, errcode.LimitExceeded, 422)
		if w, _ := a.Wallet(as("bank-a"), alice); w.Tier != 1 {
			t.Fatalf("tier %d after a refused downgrade", w.Tier)
		}
	})
}

// TestPolicyIsAppliedOnlyWhenSigned pins that an intermediary applies a
// new policy version only when the officers' quorum signed it for its
// network, and keeps the one in force otherwise.
func TestPolicyIsAppliedOnlyWhenSigned(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	if v := te.bank("bank-a").PolicyInForce().Policy.Version; v != 2 {
		t.Fatalf("version %d in force, want 2", v)
	}
	other := te.testPolicy(3)
	other.Network = "another-net"
	tests := []struct {
		name    string
		s       policy.Signed
		applied uint64
	}{
		{"unsigned", policy.Signed{Policy: te.testPolicy(3)}, 2},
		{"under the quorum", te.sign(te.testPolicy(3), 1), 2},
		{"signed twice by one officer", te.sign(te.testPolicy(3), 1, 1), 2},
		{"for another network", te.sign(other, 0, 1), 2},
		{"older", te.sign(te.testPolicy(1), 0, 2), 2},
		{"newer, signed", te.sign(te.testPolicy(3), 1, 2), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te.pol.publish(tc.s)
			te.close("bank-a")
			b := te.open("bank-a")
			if v := b.PolicyInForce().Policy.Version; v != tc.applied {
				t.Fatalf("version %d in force, want %d", v, tc.applied)
			}
		})
	}
}

// TestDefaultPolicyWithoutASource pins that an intermediary with no policy
// source enforces the network's default policy.
func TestDefaultPolicyWithoutASource(t *testing.T) {
	e := newEnv(t, "bank-a")
	s := e.bank("bank-a").PolicyInForce()
	if s.Policy.Version != 1 || len(s.Approvals) != 0 || len(s.Policy.Tiers) != 4 {
		t.Fatalf("policy in force %+v", s)
	}
	alice, err := e.bank("bank-a").OpenWallet(as("bank-a"), phoneOnly("alice", "+15550000000"))
	if err != nil || alice.HoldingLimit != 500*usd {
		t.Fatalf("tier-0 wallet %+v, %v", alice, err)
	}
}

// TestLimitRejectionIsNotRemembered pins that a payment refused by a
// limit is not remembered with its idempotency key: the same request pays
// once the limit allows it.
func TestLimitRejectionIsNotRemembered(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 0)
	alice := te.walletAt("bank-a", tier(4, phone), 1_500*usd)
	p := roles.Payment{From: alice, To: shop, Amount: 600 * usd, IdempotencyKey: "rent-feb"}
	if _, err := te.bank("bank-a").Pay(as("bank-a"), roles.Payment{From: alice, To: shop, Amount: 600 * usd}); err != nil {
		t.Fatal(err)
	}
	_, err := te.bank("bank-a").Pay(as("bank-a"), p)
	wantCode(t, err, errcode.LimitExceeded, 422)
	te.clock.set(jan31.Add(3 * time.Hour)) // the next day
	if _, err := te.bank("bank-a").Pay(as("bank-a"), p); err != nil {
		t.Fatalf("the same key the next day: %v", err)
	}
}

// TestWindowsFollowTheTimeZone pins that the daily window turns at
// midnight in the intermediary's time zone, not UTC's.
func TestWindowsFollowTheTimeZone(t *testing.T) {
	tokyo := time.FixedZone("UTC+9", 9*3600)
	start := time.Date(2026, 1, 31, 23, 30, 0, 0, tokyo) // 14:30 UTC
	te := newTierEnv(t, start, "bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 0)
	alice := te.walletAt("bank-a", tier(4, phone), 2_000*usd)
	if err := te.pay(alice, shop, 900*usd); err != nil {
		t.Fatal(err)
	}
	te.reject(t, alice, shop, 101*usd, errcode.LimitExceeded, "100.00 left today")
	te.clock.set(start.Add(time.Hour)) // 00:30 on Feb 1 there; still Jan 31 in UTC
	if err := te.pay(alice, shop, 900*usd); err != nil {
		t.Fatalf("after midnight in the intermediary's time zone: %v", err)
	}
}
