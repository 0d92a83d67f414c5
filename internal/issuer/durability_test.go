package issuer_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// faultyLink is the real ledger behind a connection that can fail the way a
// network does: an answer lost after the ledger committed, a request lost
// before it arrived, lookups that cannot get through.
type faultyLink struct {
	roles.Ledger

	mu          sync.Mutex
	loseAnswer  bool // Submit reaches the ledger, the answer is lost
	loseRequest bool // Submit never reaches the ledger
	lookupsDown bool // Tx cannot reach the ledger
}

var errLink = errcode.New(errcode.Unavailable, "connection reset")

func (f *faultyLink) set(loseAnswer, loseRequest, lookupsDown bool) {
	f.mu.Lock()
	f.loseAnswer, f.loseRequest, f.lookupsDown = loseAnswer, loseRequest, lookupsDown
	f.mu.Unlock()
}

func (f *faultyLink) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	f.mu.Lock()
	loseAnswer, loseRequest := f.loseAnswer, f.loseRequest
	f.mu.Unlock()
	if loseRequest {
		return roles.Receipt{}, errLink
	}
	rc, err := f.Ledger.Submit(ctx, tx)
	if loseAnswer {
		return roles.Receipt{}, errLink
	}
	return rc, err
}

func (f *faultyLink) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	f.mu.Lock()
	down := f.lookupsDown
	f.mu.Unlock()
	if down {
		return roles.TxInfo{}, errLink
	}
	return f.Ledger.Tx(ctx, id)
}

// withLink reopens the issuer talking to the ledger through a faulty link.
func (e *env) withLink() *faultyLink {
	e.t.Helper()
	f := &faultyLink{Ledger: e.ledger}
	e.lg = f
	e.reopen()
	return f
}

func TestReopenResumesBalancesAndProposals(t *testing.T) {
	e := newEnv(t)
	m := e.mint("bank-a", 4000)
	r, err := e.is.Redeem(bankCtx("bank-a"), e.redeemTx(e.banks["bank-a"], m.Tx, 1000))
	if err != nil {
		t.Fatal(err)
	}
	half := e.propose("bank-b", 30_000)
	if _, err := e.approve(2, half.ID); err != nil {
		t.Fatal(err)
	}
	before := e.state()

	// Different opening reserves in the config do not reset anything.
	e.cfg.Reserves = map[string]uint64{"bank-a": 5, "bank-b": 5}
	e.reopen()
	sameState(t, before, e.state())
	if got := e.reserve("bank-a"); got != openingA-4000+3000 {
		t.Fatalf("bank-a reserve %d", got)
	}
	got, err := e.is.GetMint(officerCtx, half.ID)
	if err != nil || got.Status != roles.MintPending || len(got.Approvers) != 1 || got.Approvers[0] != e.net.Officers[2].Public() {
		t.Fatalf("proposal after reopen: %+v %v", got, err)
	}
	// The pending proposal still holds its part of the reserve...
	_, err = e.is.ProposeMint(officerCtx, "bank-b", openingB-30_000+1)
	wantCode(t, err, errcode.InsufficientFunds)
	// ...its approvals still count...
	_, err = e.approve(2, half.ID)
	wantCode(t, err, errcode.Conflict)
	done, err := e.approve(1, half.ID)
	if err != nil || done.Status != roles.MintCommitted {
		t.Fatalf("%+v %v", done, err)
	}
	if got := e.reserve("bank-b"); got != openingB-30_000 {
		t.Fatalf("bank-b reserve %d", got)
	}
	// ...and a redeem already credited is not credited again.
	again, err := e.is.Redeem(bankCtx("bank-a"), e.redeemTx(e.banks["bank-a"], m.Tx, 1000))
	if err != nil || again != r {
		t.Fatalf("%+v %v", again, err)
	}
	if got := e.reserve("bank-a"); got != openingA-1000 {
		t.Fatalf("bank-a reserve %d", got)
	}
}

func TestFailedDeliveryIsRetried(t *testing.T) {
	e := newEnv(t)
	a := e.banks["bank-a"]
	a.setFail(errcode.New(errcode.Unavailable, "bank-a is down"))

	m := e.mint("bank-a", 700) // committed although delivery failed
	if got := e.reserve("bank-a"); got != openingA-700 {
		t.Fatalf("reserve %d", got)
	}
	if n, _ := e.is.Undelivered(); n != 1 {
		t.Fatalf("outbox holds %d, want 1", n)
	}
	if err := e.is.RetryDeliveries(bg); err == nil {
		t.Fatal("retry succeeded while the bank is down")
	}
	// The outbox survives a restart; the mint is delivered once the bank is back.
	e.reopen()
	a.setFail(nil)
	if err := e.is.RetryDeliveries(bg); err != nil {
		t.Fatal(err)
	}
	d, calls := a.got()
	if d[m.ID] == nil || len(d) != 1 {
		t.Fatalf("delivered %v", d)
	}
	if n, _ := e.is.Undelivered(); n != 0 {
		t.Fatalf("outbox holds %d", n)
	}
	if err := e.is.RetryDeliveries(bg); err != nil {
		t.Fatal(err)
	}
	if _, again := a.got(); again != calls {
		t.Fatalf("delivered again: %d calls, then %d", calls, again)
	}
	if got := e.reserve("bank-a"); got != openingA-700 {
		t.Fatalf("reserve %d after deliveries", got)
	}
}

func TestRetryLoopDelivers(t *testing.T) {
	e := newEnv(t)
	a := e.banks["bank-a"]
	a.setFail(errcode.New(errcode.Unavailable, "bank-a is down"))
	e.cfg.RetryEvery = 10 * time.Millisecond
	e.reopen()
	m := e.mint("bank-a", 10)
	a.setFail(nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if d, _ := a.got(); d[m.ID] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background loop did not deliver")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLostMintAnswer(t *testing.T) {
	t.Run("found by asking the ledger", func(t *testing.T) {
		e := newEnv(t)
		link := e.withLink()
		link.set(true, false, false)
		m := e.propose("bank-a", 900)
		if _, err := e.approve(0, m.ID); err != nil {
			t.Fatal(err)
		}
		got, err := e.approve(1, m.ID)
		if err != nil || got.Status != roles.MintCommitted {
			t.Fatalf("%+v %v", got, err)
		}
		if r := e.reserve("bank-a"); r != openingA-900 {
			t.Fatalf("reserve %d", r)
		}
	})
	t.Run("reconciled at open after a crash", func(t *testing.T) {
		e := newEnv(t)
		link := e.withLink()
		link.set(true, false, true)
		m := e.propose("bank-a", 900)
		if _, err := e.approve(0, m.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.approve(1, m.ID)
		wantCode(t, err, errcode.Unavailable)
		// The ledger committed; the desk does not know yet and debits nothing.
		if s, _ := e.ledger.Supply(bg); s.Minted != 900 {
			t.Fatalf("ledger minted %d", s.Minted)
		}
		if r := e.reserve("bank-a"); r != openingA {
			t.Fatalf("reserve %d before reconciling", r)
		}
		got, _ := e.is.GetMint(officerCtx, m.ID)
		if got.Status != roles.MintPending {
			t.Fatalf("status %s", got.Status)
		}
		_, err = e.approve(2, m.ID) // in flight: approvals are closed
		wantCode(t, err, errcode.Conflict)

		link.set(false, false, false)
		for i := 0; i < 2; i++ { // reopening twice debits once
			e.reopen()
			got, err = e.is.GetMint(officerCtx, m.ID)
			if err != nil || got.Status != roles.MintCommitted || got.Receipt == nil {
				t.Fatalf("after reopen: %+v %v", got, err)
			}
			if r := e.reserve("bank-a"); r != openingA-900 {
				t.Fatalf("reserve %d after reopen %d", r, i)
			}
		}
		if d, _ := e.banks["bank-a"].got(); d[m.ID] == nil {
			t.Fatal("reconciled mint not delivered")
		}
	})
}

func TestUnsentMintReturnsToPending(t *testing.T) {
	e := newEnv(t)
	link := e.withLink()
	link.set(false, true, true)
	m := e.propose("bank-a", 900)
	if _, err := e.approve(0, m.ID); err != nil {
		t.Fatal(err)
	}
	before := e.state()
	_, err := e.approve(1, m.ID)
	wantCode(t, err, errcode.Unavailable)
	sameState(t, before, e.state())

	link.set(false, false, false)
	e.reopen()
	sameState(t, before, e.state())
	got, err := e.is.GetMint(officerCtx, m.ID)
	if err != nil || got.Status != roles.MintPending || len(got.Approvers) != 2 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	// Any officer's approval resubmits it, including one who approved.
	got, err = e.approve(0, m.ID)
	if err != nil || got.Status != roles.MintCommitted {
		t.Fatalf("resubmit: %+v %v", got, err)
	}
	if r := e.reserve("bank-a"); r != openingA-900 {
		t.Fatalf("reserve %d", r)
	}
	if s, _ := e.ledger.Supply(bg); s.Minted != 900 {
		t.Fatalf("ledger minted %d", s.Minted)
	}
}

func TestLostRedeemAnswerCreditsOnce(t *testing.T) {
	e := newEnv(t)
	m := e.mint("bank-a", 5000)
	link := e.withLink()
	link.set(true, false, true)
	tx := e.redeemTx(e.banks["bank-a"], m.Tx, 0)
	_, err := e.is.Redeem(bankCtx("bank-a"), tx)
	wantCode(t, err, errcode.Unavailable)
	if r := e.reserve("bank-a"); r != openingA-5000 {
		t.Fatalf("reserve %d before reconciling", r)
	}
	link.set(false, false, false)
	e.reopen()
	if r := e.reserve("bank-a"); r != openingA {
		t.Fatalf("reserve %d after reopen", r)
	}
	again, err := e.is.Redeem(bankCtx("bank-a"), tx)
	if err != nil || again.Amount != 5000 {
		t.Fatalf("%+v %v", again, err)
	}
	if r := e.reserve("bank-a"); r != openingA {
		t.Fatalf("reserve %d after repeat", r)
	}
}

func TestConcurrentApprovalsDebitOnce(t *testing.T) {
	e := newEnv(t)
	m := e.propose("bank-a", 123)
	if _, err := e.approve(0, m.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.approve(i+1, m.ID)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errcode.Is(err, errcode.Conflict) {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d approvals committed, want 1: %v", ok, errs)
	}
	if r := e.reserve("bank-a"); r != openingA-123 {
		t.Fatalf("reserve %d", r)
	}
	if s, _ := e.ledger.Supply(bg); s.Minted != 123 {
		t.Fatalf("minted %d", s.Minted)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		change func(c *issuer.Config)
	}{
		{"another network", func(c *issuer.Config) { c.Network.ID = "elsewhere" }},
		{"quorum above officers", func(c *issuer.Config) { c.MintQuorum = 4 }},
		{"zero quorum", func(c *issuer.Config) { c.MintQuorum = 0 }},
		{"duplicate officer", func(c *issuer.Config) { c.MintKeys = append(c.MintKeys[:2:2], c.MintKeys[0]) }},
		{"no redeem key", func(c *issuer.Config) { c.RedeemKey = nil }},
		{"bad currency", func(c *issuer.Config) { c.Network.Currency.Code = "DOLLAR" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := e.cfg
			cfg.MintKeys = slices.Clone(e.cfg.MintKeys)
			c.change(&cfg)
			is, err := issuer.Open(t.TempDir(), cfg, e.ledger, e.directory)
			if err == nil {
				is.Close()
				t.Fatal("opened")
			}
		})
	}
}
