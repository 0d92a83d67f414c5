package intermediary_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

const testWindow = time.Hour

// strictAML is the screening policy of these tests: a one-hour window,
// more than 2 payments or more than 1,000 in it trips Velocity, 500 is the
// reporting threshold and 2 payments in [450, 500) trip Structuring.
func strictAML(actions map[policy.Rule]policy.Action) policy.AML {
	a := policy.AML{WindowSeconds: int64(testWindow / time.Second), VelocityCount: 2, VelocityAmount: 1000,
		ReportingThreshold: 500, StructuringMargin: 50, StructuringCount: 2}
	for _, r := range policy.Rules {
		act := policy.Alert
		if x, ok := actions[r]; ok {
			act = x
		}
		a.Actions = append(a.Actions, policy.RuleAction{Rule: r, Action: act})
	}
	return a
}

// screenEnv is a network of bank-a and bank-b screening with pol (no rule
// at all until the test sets pol.AML: funding wallets trips nothing) and
// the sanctions file it returns, on a fake clock.
type screenEnv struct {
	*env
	clock     *fakeClock
	pol       *policy.Policy
	src       *policies // what the banks fetch: pol, signed, as of the last enact
	sanctions string
}

func newScreenEnv(t *testing.T, listed ...string) *screenEnv {
	t.Helper()
	e := newEnv(t)
	s := &screenEnv{env: e, clock: newFakeClock(), sanctions: filepath.Join(t.TempDir(), "sanctions.txt")}
	e.now = s.clock.Now
	p := policy.Default(e.net.Network.ID, e.net.Network.Currency)
	p.AML = policy.AML{}
	s.pol = &p
	s.src = &policies{s: e.sign(p, 0, 1)}
	s.writeList(listed...)
	for _, n := range []string{"bank-a", "bank-b"} {
		s.openWith(s.config(n))
	}
	return s
}

func (s *screenEnv) config(name string) intermediary.Config {
	cfg := s.env.config(name)
	cfg.Policies = s.src
	cfg.SanctionsFile = s.sanctions
	return cfg
}

// enact puts s.pol in force as the next version: signed by two officers,
// published, and fetched by every open bank at once (not at the
// background loop's next refresh).
func (s *screenEnv) enact() {
	s.t.Helper()
	s.pol.Version++
	s.src.publish(s.env.sign(*s.pol, 0, 1))
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, b := range s.banks {
		intermediary.RefreshPolicy(b)
		if v := b.PolicyInForce().Policy.Version; v != s.pol.Version {
			s.t.Fatalf("%s applies policy version %d, want %d", name, v, s.pol.Version)
		}
	}
}

func (s *screenEnv) writeList(entries ...string) {
	s.t.Helper()
	body := "# test sanctions list\n" + strings.Join(entries, "\n") + "\n"
	if err := os.WriteFile(s.sanctions, []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// strict puts the test policy in force, after the funding payments have
// left the window.
func (s *screenEnv) strict(actions map[policy.Rule]policy.Action) {
	s.clock.advance(2 * testWindow)
	s.pol.AML = strictAML(actions)
	s.enact()
}

func (s *screenEnv) alerts(bank string) []roles.Alert {
	s.t.Helper()
	as, err := s.bank(bank).Alerts(as(bank), "")
	if err != nil {
		s.t.Fatal(err)
	}
	return as
}

// windows is every wallet's window counts, for "nothing changed".
func (s *screenEnv) windows(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		bank := s.bank(roles.IntermediaryOf(id))
		for _, in := range []bool{false, true} {
			n, sum := intermediary.WindowOf(bank, id, in)
			fmt.Fprintf(&b, "%s/%v:%d,%d ", id, in, n, sum)
		}
	}
	return b.String()
}

// state is all a blocked payment must leave as it was: wallets, ledger,
// pending and outbox, windows and both banks' alerts.
func (s *screenEnv) state(ids ...string) string {
	return fmt.Sprint(s.snapshot(ids...), s.windows(ids...), len(s.alerts("bank-a")), len(s.alerts("bank-b")))
}

func (s *screenEnv) pay(from, to string, amount uint64) (roles.PaymentResult, error) {
	bank := roles.IntermediaryOf(from)
	return s.bank(bank).Pay(as(bank), roles.Payment{From: from, To: to, Amount: amount})
}

type leg struct {
	from, to int // indexes into payers and payees
	amount   uint64
}

// TestScreeningRules runs every rule on the payer's and on the payee's
// side, same bank and across banks, with both actions: every payment but
// the last trips nothing; the last trips the rule, which either blocks it
// (errcode.Blocked naming the rule, nothing changed anywhere) or lets it
// through with an alert carrying it as evidence.
func TestScreeningRules(t *testing.T) {
	cases := []struct {
		rule  policy.Rule
		side  string
		legs  []leg
		lists string // "payer" or "payee": who is on the sanctions list
	}{
		{rule: policy.Velocity, side: "payer", legs: []leg{{0, 0, 10}, {0, 1, 10}, {0, 2, 10}}},
		{rule: policy.Velocity, side: "payee", legs: []leg{{0, 0, 10}, {1, 0, 10}, {2, 0, 10}}},
		{rule: policy.Velocity, side: "payer", legs: []leg{{0, 0, 450}, {0, 1, 551}}},             // 1,001 is over the amount limit, 1,000
		{rule: policy.Structuring, side: "payer", legs: []leg{{0, 0, 460}, {0, 1, 470}}},          // two just under 500 out of one wallet
		{rule: policy.Structuring, side: "payee", legs: []leg{{0, 0, 460}, {1, 0, 499}}},          // two just under 500 into one wallet
		{rule: policy.LargeValue, side: "payer", legs: []leg{{0, 0, 449}, {1, 1, 500}}},           // at the threshold
		{rule: policy.Listed, side: "payer", lists: "payer", legs: []leg{{1, 0, 10}, {0, 1, 10}}}, // payer 0 is listed
		{rule: policy.Listed, side: "payee", lists: "payee", legs: []leg{{0, 1, 10}, {1, 0, 10}}}, // payee 0 is listed
	}
	for _, c := range cases {
		for _, cross := range []bool{false, true} {
			for _, act := range []policy.Action{policy.Alert, policy.Block} {
				name := fmt.Sprintf("%s/%s/cross=%v/%s/%d", c.rule, c.side, cross, act, c.legs[len(c.legs)-1].amount)
				t.Run(name, func(t *testing.T) {
					s := newScreenEnv(t)
					payeeBank := "bank-a"
					if cross {
						payeeBank = "bank-b"
					}
					var payers, payees, all []string
					for i := range 3 {
						payers = append(payers, s.wallet("bank-a", fmt.Sprintf("payer %d", i), 2000))
						payees = append(payees, s.wallet(payeeBank, fmt.Sprintf("payee %d", i), 2000))
					}
					all = append(append(all, payers...), payees...)
					switch c.lists {
					case "payer":
						s.writeList(payers[0])
					case "payee":
						s.writeList("payee 0") // by owner
					}
					for _, b := range []string{"bank-a", "bank-b"} {
						if err := s.bank(b).ReloadSanctions(); err != nil {
							t.Fatal(err)
						}
					}
					s.strict(map[policy.Rule]policy.Action{c.rule: act})
					// Only the rule under test may trip.
					if c.rule != policy.Velocity {
						s.pol.AML.VelocityCount, s.pol.AML.VelocityAmount = 0, 0
					}
					if c.rule != policy.LargeValue && c.rule != policy.Structuring {
						s.pol.AML.ReportingThreshold, s.pol.AML.StructuringCount = 0, 0
					}
					s.enact()
					for _, l := range c.legs[:len(c.legs)-1] {
						if _, err := s.pay(payers[l.from], payees[l.to], l.amount); err != nil {
							t.Fatalf("leg %+v: %v", l, err)
						}
						s.clock.advance(time.Minute)
					}
					if n := len(s.alerts("bank-a")) + len(s.alerts("bank-b")); n != 0 {
						t.Fatalf("%d alerts before the last payment: %+v %+v", n, s.alerts("bank-a"), s.alerts("bank-b"))
					}
					last := c.legs[len(c.legs)-1]
					before := s.state(all...)
					res, err := s.pay(payers[last.from], payees[last.to], last.amount)
					if act == policy.Block {
						wantCode(t, err, errcode.Blocked, 422)
						if !strings.Contains(err.Error(), "("+string(c.rule)+" rule)") {
							t.Fatalf("error %q does not name the rule %s", err, c.rule)
						}
						if after := s.state(all...); after != before {
							t.Fatalf("blocked payment changed the state:\nbefore %s\nafter  %s", before, after)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					// The side that screens this rule opened an alert about the
					// wallet on that side, with the payment as evidence.
					bank, wallet := "bank-a", payers[last.from]
					if c.side == "payee" {
						bank, wallet = payeeBank, payees[last.to]
					}
					found := false
					for _, a := range append(s.alerts("bank-a"), s.alerts("bank-b")...) {
						if a.Rule != string(c.rule) || a.State != roles.AlertOpen {
							t.Fatalf("unexpected alert %+v", a)
						}
						if a.Wallet == wallet && a.Side == c.side && roles.IntermediaryOf(a.Wallet) == bank {
							found = true
							if a.Evidence[0].TxID != res.TxID || a.Evidence[0].Amount != last.amount {
								t.Fatalf("alert evidence %+v; want txid %s amount %d first", a.Evidence, res.TxID, last.amount)
							}
							if c.rule == policy.Velocity || c.rule == policy.Structuring {
								if len(a.Evidence) != len(c.legs) {
									t.Fatalf("alert evidence has %d payments; want the %d in the window", len(a.Evidence), len(c.legs))
								}
							}
						}
					}
					if !found {
						t.Fatalf("no %s alert on the %s side for %s: a %+v b %+v", c.rule, c.side, wallet, s.alerts("bank-a"), s.alerts("bank-b"))
					}
				})
			}
		}
	}
}

// TestScreeningWindowSlides: payments older than the window no longer
// count, and the window is back after it passes.
func TestScreeningWindowSlides(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-a", "payee", 0)
	s.strict(map[policy.Rule]policy.Action{policy.Velocity: policy.Block})
	for range 2 {
		if _, err := s.pay(p, q, 10); err != nil {
			t.Fatal(err)
		}
		s.clock.advance(10 * time.Minute)
	}
	_, err := s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0)
	// The first payment was 20 minutes ago: 40 more and it leaves the window.
	s.clock.advance(40*time.Minute - time.Second)
	_, err = s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0)
	s.clock.advance(time.Second)
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatalf("a payment out of the window still counts: %v", err)
	}
	if n, sum := intermediary.WindowOf(s.bank("bank-a"), p, false); n != 2 || sum != 20 {
		t.Fatalf("window %d payments %d; want 2, 20", n, sum)
	}
}

// TestScreeningCountsOnlyCommitted: payments refused for funds, rejected
// by the ledger, or never committed leave the windows as they were.
func TestScreeningCountsOnlyCommitted(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 100)
	q := s.wallet("bank-b", "payee", 0)
	s.strict(nil)
	a := s.bank("bank-a")
	_, err := s.pay(p, q, 1000)
	wantCode(t, err, errcode.InsufficientFunds, 0)

	s.link.tamper.Store(true)
	_, err = s.pay(p, q, 10)
	s.link.tamper.Store(false)
	wantCode(t, err, errcode.BadSignature, 0)

	s.link.down.Store(true)
	_, err = s.pay(p, q, 10)
	wantCode(t, err, errcode.Unavailable, 0)
	if n, _ := intermediary.WindowOf(a, p, false); n != 1 {
		t.Fatalf("a payment of unknown outcome is counted %d times; want once, until it settles", n)
	}
	s.link.down.Store(false)
	if err := a.ResolvePending(context.Background()); err != nil { // never reached the ledger: released
		t.Fatal(err)
	}
	if w := s.windows(p, q); w != fmt.Sprintf("%s/false:0,0 %s/true:0,0 %s/false:0,0 %s/true:0,0 ", p, p, q, q) {
		t.Fatalf("windows after failed payments: %s", w)
	}
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatal(err)
	}
	if n, sum := intermediary.WindowOf(a, p, false); n != 1 || sum != 10 {
		t.Fatalf("payer window %d, %d; want 1, 10", n, sum)
	}
	if n, sum := intermediary.WindowOf(s.bank("bank-b"), q, true); n != 1 || sum != 10 {
		t.Fatalf("payee window %d, %d; want 1, 10", n, sum)
	}
}

// TestScreeningExactUnderConcurrency: of many concurrent payments from one
// wallet with a velocity limit that blocks, exactly the limit go through.
func TestScreeningExactUnderConcurrency(t *testing.T) {
	s := newScreenEnv(t)
	const n = 24
	p := s.wallet("bank-a", "payer", 10_000)
	var payees []string
	for i := range n {
		payees = append(payees, s.wallet([]string{"bank-a", "bank-b"}[i%2], fmt.Sprint("payee ", i), 0))
	}
	s.strict(map[policy.Rule]policy.Action{policy.Velocity: policy.Block})
	s.pol.AML.VelocityCount, s.pol.AML.VelocityAmount = 5, 0
	s.enact()
	if ok, blocked := payAtOnce(t, n, func(i int) error { _, err := s.pay(p, payees[i], 10); return err }); ok != 5 || blocked != n-5 {
		t.Fatalf("%d paid, %d blocked; want 5 and %d", ok, blocked, n-5)
	}
	if got := s.balance(p); got != 10_000-50 {
		t.Fatalf("payer balance %d", got)
	}
}

// TestScreeningSurvivesRestart: windows are rebuilt from history and
// alerts (with their state) are kept across a restart.
func TestScreeningSurvivesRestart(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-b", "payee", 0)
	s.strict(map[policy.Rule]policy.Action{policy.Velocity: policy.Block})
	s.pol.AML.ReportingThreshold = 50
	s.pol.AML.StructuringCount = 0
	s.enact()
	for range 2 {
		if _, err := s.pay(p, q, 60); err != nil { // large value: alerts on both sides
			t.Fatal(err)
		}
	}
	alertsA, alertsB := s.alerts("bank-a"), s.alerts("bank-b")
	if len(alertsA) != 2 || len(alertsB) != 2 {
		t.Fatalf("alerts a %d b %d; want 2 each", len(alertsA), len(alertsB))
	}
	closed, err := s.bank("bank-a").CloseAlert(as("bank-a"), alertsA[0].ID, roles.AlertClose{State: roles.AlertReported, Reason: "filed", By: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"bank-a", "bank-b"} {
		s.close(b)
		s.openWith(s.config(b))
	}
	if got := s.alerts("bank-a"); fmt.Sprint(got[0]) != fmt.Sprint(closed) || len(got) != 2 || fmt.Sprint(got[1]) != fmt.Sprint(alertsA[1]) {
		t.Fatalf("alerts after restart %+v; want %+v then %+v", got, closed, alertsA[1])
	}
	if got := s.alerts("bank-b"); fmt.Sprint(got) != fmt.Sprint(alertsB) {
		t.Fatalf("bank-b alerts after restart %+v; want %+v", got, alertsB)
	}
	_, err = s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0) // the two before the restart still count
	if n, sum := intermediary.WindowOf(s.bank("bank-b"), q, true); n != 2 || sum != 120 {
		t.Fatalf("payee window after restart %d, %d; want 2, 120", n, sum)
	}
	s.clock.advance(testWindow + time.Second)
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatal(err)
	}
}

// TestScreeningSettledAfterRestartCounts: a payment whose outcome was
// unknown at a restart is counted, with its alerts, when it settles as
// committed.
func TestScreeningSettledAfterRestartCounts(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-a", "payee", 0)
	s.strict(nil)
	s.link.lostReply.Store(true) // reaches the ledger, the answer is lost
	_, err := s.pay(p, q, 600)   // large value: alerts payer and payee sides
	s.link.lostReply.Store(false)
	wantCode(t, err, errcode.Unavailable, 0)
	if n := len(s.alerts("bank-a")); n != 0 {
		t.Fatalf("%d alerts before the payment is known to have committed", n)
	}
	s.close("bank-a")
	a := s.openWith(s.config("bank-a")) // Open settles it: committed
	if p, _ := a.Pending(); len(p) != 0 {
		t.Fatalf("pending %v", p)
	}
	if got := s.alerts("bank-a"); len(got) != 2 || got[0].Rule != "large_value" {
		t.Fatalf("alerts %+v; want 2 large_value", got)
	}
	if w := s.windows(p, q); w != fmt.Sprintf("%s/false:1,600 %s/true:0,0 %s/false:0,0 %s/true:1,600 ", p, p, q, q) {
		t.Fatalf("windows %s", w)
	}
}

// TestSanctionsReload: a changed file screens the next payment; a
// malformed one keeps the list in force; a missing or malformed file at
// Open is refused.
func TestSanctionsReload(t *testing.T) {
	s := newScreenEnv(t, "Nobody Listed")
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-b", "Mallory", 0)
	s.strict(map[policy.Rule]policy.Action{policy.Listed: policy.Block})
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatal(err)
	}
	s.writeList("Nobody Listed", "Mallory")
	b := s.bank("bank-b")
	if err := b.ReloadSanctions(); err != nil {
		t.Fatal(err)
	}
	_, err := s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0)
	if !strings.Contains(err.Error(), `"Mallory" is on bank-b's sanctions list`) {
		t.Fatalf("error %q", err)
	}
	// Malformed: a control character. The list in force stays.
	if err := os.WriteFile(s.sanctions, []byte("Nobody Listed\nbad\x01entry\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.ReloadSanctions(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("malformed list: error %v; want one naming line 2", err)
	}
	_, err = s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0)
	if n := intermediary.SanctionsEntries(b); n != 2 {
		t.Fatalf("%d entries in force; want the 2 of the last good list", n)
	}
	// A restart with the bad file is refused rather than run unscreened.
	s.close("bank-b")
	if _, err := intermediary.Open(filepath.Join(s.root, "bank-b"), s.config("bank-b"), s.link, s.issuer, s.directory); err == nil {
		t.Fatal("Open with a malformed sanctions file succeeded")
	}
	s.writeList()
	s.openWith(s.config("bank-b"))
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatal(err)
	}
}

// TestSanctionsReloadedByLoop: the background loop notices the file
// changed, without a call.
func TestSanctionsReloadedByLoop(t *testing.T) {
	s := newScreenEnv(t)
	s.close("bank-a")
	cfg := s.config("bank-a")
	cfg.RetryInterval = 5 * time.Millisecond
	a := s.openWith(cfg)
	s.writeList("one", "two", "three")
	// The file's time may not change within the clock's granularity; its size does.
	deadline := time.Now().Add(10 * time.Second)
	for intermediary.SanctionsEntries(a) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not reload the changed sanctions file")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAlertStates: list by state, show, close as dismissed or reported
// once, with exact codes for what is refused.
func TestAlertStates(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 5000)
	q := s.wallet("bank-a", "payee", 0)
	s.strict(nil)
	if _, err := s.pay(p, q, 700); err != nil { // large value: payer and payee side
		t.Fatal(err)
	}
	a := s.bank("bank-a")
	ctx := as("bank-a")
	all := s.alerts("bank-a")
	if len(all) != 2 {
		t.Fatalf("alerts %+v", all)
	}
	id := all[0].ID
	got, err := a.Alert(ctx, id)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(all[0]) {
		t.Fatalf("Alert %+v %v", got, err)
	}
	_, err = a.Alert(ctx, "nope")
	wantCode(t, err, errcode.NotFound, 404)
	_, err = a.CloseAlert(ctx, "nope", roles.AlertClose{State: roles.AlertDismissed, Reason: "x"})
	wantCode(t, err, errcode.NotFound, 404)
	_, err = a.CloseAlert(ctx, id, roles.AlertClose{State: roles.AlertOpen, Reason: "x"})
	wantCode(t, err, errcode.Malformed, 400)
	_, err = a.CloseAlert(ctx, id, roles.AlertClose{State: "closed", Reason: "x"})
	wantCode(t, err, errcode.Malformed, 400)
	_, err = a.CloseAlert(ctx, id, roles.AlertClose{State: roles.AlertDismissed, Reason: "  "})
	wantCode(t, err, errcode.Malformed, 400)
	_, err = a.CloseAlert(as("bank-b"), id, roles.AlertClose{State: roles.AlertDismissed, Reason: "x"})
	wantCode(t, err, errcode.Unauthorized, 403)
	_, err = a.Alerts(ctx, "weird")
	wantCode(t, err, errcode.Malformed, 400)

	s.clock.advance(time.Minute)
	c, err := a.CloseAlert(ctx, id, roles.AlertClose{State: roles.AlertDismissed, Reason: "salary, known employer"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != roles.AlertDismissed || c.ClosedBy != "bank-a" || c.Reason != "salary, known employer" || !c.Closed.Equal(s.clock.Now()) {
		t.Fatalf("closed alert %+v", c)
	}
	_, err = a.CloseAlert(ctx, id, roles.AlertClose{State: roles.AlertReported, Reason: "changed my mind"})
	wantCode(t, err, errcode.Conflict, 409)
	if _, err := a.CloseAlert(ctx, all[1].ID, roles.AlertClose{State: roles.AlertReported, Reason: "filed", By: "compliance officer 7"}); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[roles.AlertState][]string{roles.AlertOpen: nil, roles.AlertDismissed: {id}, roles.AlertReported: {all[1].ID}} {
		got, err := a.Alerts(ctx, state)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range got {
			ids = append(ids, x.ID)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("alerts %s: %v; want %v", state, ids, want)
		}
	}
}

// TestBlockRuleAtDeliveryOpensAlert: a payer's intermediary that cannot
// ask the payee's before signing (here a peer reached over a link, as over
// HTTP) delivers a payment a block rule would have stopped; it arrives
// committed, so the payee's intermediary opens an alert saying so.
func TestBlockRuleAtDeliveryOpensAlert(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-b", "payee", 0)
	s.strict(map[policy.Rule]policy.Action{policy.LargeValue: policy.Block})
	s.pol.AML.Actions = []policy.RuleAction{{Rule: policy.LargeValue, Action: policy.Block}}
	s.enact()
	s.mu.Lock()
	s.peers["bank-b"] = &flakyPeer{Intermediary: s.banks["bank-b"]}
	s.mu.Unlock()
	// The payer's side blocks first: open it up there only.
	s.close("bank-a")
	cfg := s.config("bank-a")
	lenient := *s.pol
	lenient.AML.Actions = nil
	lenient.Version++ // a bank applies only a newer version than its own
	cfg.Policies = &policies{s: s.env.sign(lenient, 0, 1)}
	s.openWith(cfg)
	res, err := s.pay(p, q, 600)
	if err != nil {
		t.Fatal(err)
	}
	got := s.alerts("bank-b")
	if len(got) != 1 || got[0].Action != "block" || got[0].Evidence[0].TxID != res.TxID || !strings.Contains(got[0].Message, "could not be stopped") {
		t.Fatalf("payee alerts %+v", got)
	}
}

// TestBlockedIsRememberedWithItsIdempotencyKey: a blocked payment is a
// definite rejection; its retry with the same key answers it again, even
// once the window would let a new payment through.
func TestBlockedIsRememberedWithItsIdempotencyKey(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-b", "payee", 0)
	s.strict(map[policy.Rule]policy.Action{policy.LargeValue: policy.Block})
	a := s.bank("bank-a")
	pay := roles.Payment{From: p, To: q, Amount: 600, IdempotencyKey: "k-600"}
	_, err := a.Pay(as("bank-a"), pay)
	wantCode(t, err, errcode.Blocked, 422)
	s.pol.AML.ReportingThreshold, s.pol.AML.StructuringCount = 0, 0 // the rule no longer trips
	s.enact()
	_, again := a.Pay(as("bank-a"), pay)
	wantCode(t, again, errcode.Blocked, 422)
	if again.Error() != err.Error() {
		t.Fatalf("retry answered %q; want the original %q", again, err)
	}
	pay.IdempotencyKey = "k-600-b"
	if _, err := a.Pay(as("bank-a"), pay); err != nil {
		t.Fatalf("a new key: %v", err)
	}
}

// TestTreasuryIsScreenedAgainstTheList: the treasury keeps no windows, but
// it may neither pay a listed wallet nor be paid by one.
func TestTreasuryIsScreenedAgainstTheList(t *testing.T) {
	s := newScreenEnv(t)
	mallory := s.wallet("bank-b", "Mallory", 1000)
	s.issue("bank-a", 1000)
	s.writeList(mallory) // bank-a's list; bank-b's own is empty
	if err := s.bank("bank-a").ReloadSanctions(); err != nil {
		t.Fatal(err)
	}
	s.close("bank-b")
	cfg := s.config("bank-b")
	cfg.SanctionsFile = filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(cfg.SanctionsFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.openWith(cfg)
	s.strict(map[policy.Rule]policy.Action{policy.Listed: policy.Block})
	ids := []string{"bank-a.treasury", mallory}
	before := s.state(ids...)
	_, err := s.pay("bank-a.treasury", mallory, 10)
	wantCode(t, err, errcode.Blocked, 0)
	_, err = s.pay(mallory, "bank-a.treasury", 10) // bank-b lets it go; bank-a, asked before signing, does not
	wantCode(t, err, errcode.Blocked, 0)
	if !strings.Contains(err.Error(), "payee screening at bank-a") {
		t.Fatalf("error %q; want bank-a's payee screening", err)
	}
	if after := s.state(ids...); after != before {
		t.Fatalf("blocked payments changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// TestScreeningExactUnderConcurrencyAcrossBanks: many concurrent payments
// from wallets at bank-a into one wallet at bank-b, whose incoming
// velocity limit blocks: bank-b counts each as bank-a asks, so exactly the
// limit go through, and its window then holds exactly those, delivered.
func TestScreeningExactUnderConcurrencyAcrossBanks(t *testing.T) {
	s := newScreenEnv(t)
	const n = 24
	var payers []string
	for i := range n {
		payers = append(payers, s.wallet("bank-a", fmt.Sprint("payer ", i), 100))
	}
	q := s.wallet("bank-b", "payee", 0)
	s.strict(map[policy.Rule]policy.Action{policy.Velocity: policy.Block})
	s.pol.AML.VelocityCount, s.pol.AML.VelocityAmount = 5, 0
	s.enact()
	if ok, blocked := payAtOnce(t, n, func(i int) error { _, err := s.pay(payers[i], q, 10); return err }); ok != 5 || blocked != n-5 {
		t.Fatalf("%d paid, %d blocked; want 5 and %d", ok, blocked, n-5)
	}
	if got := s.balance(q); got != 50 {
		t.Fatalf("payee balance %d", got)
	}
	if c, sum := intermediary.WindowOf(s.bank("bank-b"), q, true); c != 5 || sum != 50 {
		t.Fatalf("payee window %d, %d; want 5, 50", c, sum)
	}
}

// payAtOnce runs pay(0) to pay(n-1) concurrently and counts the payments
// that went through and the ones blocked; any other answer fails t.
func payAtOnce(t *testing.T, n int, pay func(i int) error) (ok, blocked int) {
	var okN, blockedN atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := pay(i); {
			case err == nil:
				okN.Add(1)
			case errcode.Is(err, errcode.Blocked):
				blockedN.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return int(okN.Load()), int(blockedN.Load())
}

// TestIdleWindowsAreEvicted: windows that count nothing any more are
// forgotten, and a wallet's next payments are counted as before (its
// window read from history again).
func TestIdleWindowsAreEvicted(t *testing.T) {
	s := newScreenEnv(t)
	p := s.wallet("bank-a", "payer", 1000)
	q := s.wallet("bank-a", "payee", 0)
	s.strict(map[policy.Rule]policy.Action{policy.Velocity: policy.Block})
	a := s.bank("bank-a")
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatal(err)
	}
	intermediary.EvictIdleWindows(a) // the funding's, out of the window since strict
	if w := intermediary.Windows(a); w != 2 {
		t.Fatalf("%d windows; want 2 counting the payment", w)
	}
	s.clock.advance(30 * time.Minute)
	if _, err := s.pay(p, q, 10); err != nil {
		t.Fatal(err)
	}
	s.clock.advance(30*time.Minute + time.Second) // the first payment leaves the window
	if n := intermediary.EvictIdleWindows(a); n != 0 {
		t.Fatalf("evicted %d windows that still count a payment", n)
	}
	s.clock.advance(30 * time.Minute)
	if n := intermediary.EvictIdleWindows(a); n != 2 {
		t.Fatalf("evicted %d; want both windows, idle", n)
	}
	// Read from history again: the two payments are out of the window, so
	// two more go through and a third is blocked.
	for range 2 {
		if _, err := s.pay(p, q, 10); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0)
	s.close("bank-a") // and after a restart, a window read from history counts what is in it
	s.openWith(s.config("bank-a"))
	_, err = s.pay(p, q, 10)
	wantCode(t, err, errcode.Blocked, 0)
}
