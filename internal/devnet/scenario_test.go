package devnet_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// parties are the HTTP clients a scenario acts through, each with its own
// credential, as the organisations would.
type parties struct {
	cfg     *devnet.Config
	ledger  roles.Ledger // public reads
	issuer  roles.Issuer // with the issuer's credential
	bankA   roles.Intermediary
	bankB   roles.Intermediary
	aAsB    roles.Intermediary // bank-b's API with bank-a's credential
	officer []*crypto.PrivateKey
	// logs, when set, are the logs step 6 verifies instead of ledger's:
	// one per group of a sharded ledger, whose supplies add up.
	logs []roles.Ledger
}

func newParties(t *testing.T, cfg *devnet.Config, ledgerURL, issuerURL, aURL, bURL string) *parties {
	return newPartiesWith(t, cfg, ledgerURL, issuerURL, aURL, bURL, func(string) []client.Option { return nil })
}

// newPartiesWith is newParties whose clients for principal who take
// opts(who): each its own certificate under mutual TLS.
func newPartiesWith(t *testing.T, cfg *devnet.Config, ledgerURL, issuerURL, aURL, bURL string, opts func(who string) []client.Option) *parties {
	t.Helper()
	p := &parties{cfg: cfg}
	aTok, _ := cfg.Token("bank-a")
	bTok, _ := cfg.Token("bank-b")
	p.ledger = client.New(ledgerURL, "", opts(devnet.OperatorCert)...).Ledger()
	p.issuer = client.New(issuerURL, cfg.Issuer.Token, opts("issuer")...).Issuer()
	p.bankA = client.New(aURL, aTok, opts("bank-a")...).Intermediary("bank-a")
	p.bankB = client.New(bURL, bTok, opts("bank-b")...).Intermediary("bank-b")
	p.aAsB = client.New(bURL, aTok, opts("bank-a")...).Intermediary("bank-b")
	for _, f := range cfg.OfficerKeyFiles {
		k, err := crypto.LoadKey(f)
		if err != nil {
			t.Fatal(err)
		}
		p.officer = append(p.officer, k)
	}
	return p
}

const major = 100 // minor units per unit (USD)

// runScenario is the foundation scenario: a 2-of-3 mint of 1,000,000.00 to
// bank-a; bank-a funds a customer; the customer pays a bank-b customer, who
// pays back part and cashes out the rest to bank-b, which redeems it. Supply,
// reserves and every balance are checked at each step.
func runScenario(t *testing.T, p *parties) {
	ctx := context.Background()
	net := p.cfg.Network
	openReserve := p.cfg.Reserves["bank-a"]
	balance := func(b roles.Intermediary, id string, want uint64) {
		t.Helper()
		w, err := b.Wallet(ctx, id)
		if err != nil {
			t.Fatalf("wallet %s: %v", id, err)
		}
		if w.Balance != want {
			t.Fatalf("wallet %s balance %s, want %s", id, net.Currency.Format(w.Balance), net.Currency.Format(want))
		}
	}
	supply := func(minted, redeemed, resA, resB uint64) {
		t.Helper()
		s, err := p.issuer.Supply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Minted != minted || s.Redeemed != redeemed || s.Outstanding != minted-redeemed {
			t.Fatalf("supply %+v, want minted %d redeemed %d", s.LedgerSupply, minted, redeemed)
		}
		got := map[string]uint64{}
		for _, r := range s.Reserves {
			got[r.Intermediary] = r.Balance
		}
		if got["bank-a"] != resA || got["bank-b"] != resB {
			t.Fatalf("reserves %v, want bank-a %d bank-b %d", got, resA, resB)
		}
	}
	supply(0, 0, openReserve, openReserve)

	// 1. Mint 1,000,000.00 to bank-a with 2 of 3 approvals.
	amount := uint64(1_000_000 * major)
	m, err := p.issuer.ProposeMint(ctx, "bank-a", amount)
	if err != nil {
		t.Fatal(err)
	}
	approve := func(i int) roles.Mint {
		t.Helper()
		k := p.officer[i]
		m, err := p.issuer.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, net.ID, m.ID))
		if err != nil {
			t.Fatalf("approval by officer %d: %v", i+1, err)
		}
		return m
	}
	if m1 := approve(0); m1.Status != roles.MintPending {
		t.Fatalf("after one approval: %s", m1.Status)
	}
	supply(0, 0, openReserve, openReserve)
	if m2 := approve(2); m2.Status != roles.MintCommitted || m2.Receipt == nil {
		t.Fatalf("after two approvals: %+v", m2)
	}
	supply(amount, 0, openReserve-amount, openReserve)
	balance(p.bankA, "bank-a.treasury", amount)

	// 2. bank-a funds alice; bob opens at bank-b.
	alice, err := p.bankA.OpenWallet(ctx, unlimited("alice"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := p.bankB.OpenWallet(ctx, unlimited("bob"))
	if err != nil {
		t.Fatal(err)
	}
	pay := func(b roles.Intermediary, from, to string, v uint64) roles.PaymentResult {
		t.Helper()
		r, err := b.Pay(ctx, roles.Payment{From: from, To: to, Amount: v, Reference: "scenario"})
		if err != nil {
			t.Fatalf("pay %s -> %s: %v", from, to, err)
		}
		return r
	}
	var txs []money.TxID
	txs = append(txs, pay(p.bankA, "bank-a.treasury", alice.ID, 2_500*major).TxID)
	balance(p.bankA, "bank-a.treasury", amount-2_500*major)
	balance(p.bankA, alice.ID, 2_500*major)

	// bank-a's credential cannot move bob's money at bank-b.
	if _, err := p.aAsB.Pay(ctx, roles.Payment{From: bob.ID, To: alice.ID, Amount: 1}); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("bank-a paying from bank-b's wallet: %v", err)
	}

	// 3. alice pays bob across intermediaries; 4. bob pays part back.
	txs = append(txs, pay(p.bankA, alice.ID, bob.ID, 1_000*major).TxID)
	balance(p.bankA, alice.ID, 1_500*major)
	balance(p.bankB, bob.ID, 1_000*major)
	txs = append(txs, pay(p.bankB, bob.ID, alice.ID, 300*major).TxID)
	balance(p.bankB, bob.ID, 700*major)
	balance(p.bankA, alice.ID, 1_800*major)

	// Overspending is refused and changes nothing.
	if _, err := p.bankB.Pay(ctx, roles.Payment{From: bob.ID, To: alice.ID, Amount: 701 * major}); !errcode.Is(err, errcode.InsufficientFunds) {
		t.Fatalf("overspend: %v", err)
	}
	balance(p.bankB, bob.ID, 700*major)

	// 5. bob cashes out the rest to bank-b, which redeems it.
	txs = append(txs, pay(p.bankB, bob.ID, "bank-b.treasury", 700*major).TxID)
	balance(p.bankB, bob.ID, 0)
	balance(p.bankB, "bank-b.treasury", 700*major)
	red, err := p.bankB.Redeem(ctx, roles.RedeemRequest{Amount: 700 * major})
	if err != nil {
		t.Fatal(err)
	}
	if red.Amount != 700*major {
		t.Fatalf("redeemed %d", red.Amount)
	}
	txs = append(txs, red.Receipt.TxID)
	balance(p.bankB, "bank-b.treasury", 0)
	supply(amount, 700*major, openReserve-amount, openReserve+700*major)

	// Every wallet together holds exactly the outstanding supply.
	var held uint64
	for _, w := range []struct {
		b  roles.Intermediary
		id string
	}{{p.bankA, "bank-a.treasury"}, {p.bankA, alice.ID}, {p.bankB, bob.ID}, {p.bankB, "bank-b.treasury"}} {
		got, err := w.b.Wallet(ctx, w.id)
		if err != nil {
			t.Fatal(err)
		}
		held += got.Balance
	}
	if held != amount-700*major {
		t.Fatalf("wallets hold %d, outstanding %d", held, amount-700*major)
	}

	// 6. The log verifies, and so does every transaction's proof.
	logs := p.logs
	if logs == nil {
		logs = []roles.Ledger{p.ledger}
	}
	var outstanding uint64
	for _, l := range logs {
		sum, err := audit.VerifyLog(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if !sum.SupplyMatches {
			t.Fatalf("log summary %+v", sum)
		}
		outstanding += sum.Outstanding
		t.Logf("log verify: %d batches, %d transactions, head %s, outstanding %s", sum.Batches, sum.Transactions, sum.Head, net.Currency.Format(sum.Outstanding))
	}
	if outstanding != amount-700*major {
		t.Fatalf("the logs' outstanding supply adds up to %d, want %d", outstanding, amount-700*major)
	}
	for _, id := range append(txs, m.ID) {
		info, err := p.ledger.Tx(ctx, id)
		if err != nil {
			t.Fatalf("tx %s: %v", id, err)
		}
		if err := audit.VerifyTx(net, info, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScenarioOneProcess runs the scenario against `specie up` (every role
// in one process) over its HTTP API, then restarts it and checks that it
// resumes exactly.
func TestScenarioOneProcess(t *testing.T) {
	dir := t.TempDir()
	n, created, err := devnet.Up(dir, "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("fresh directory not initialised")
	}
	p := newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	runScenario(t, p)
	before, _ := p.issuer.Supply(context.Background())
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n, created, err = devnet.Up(dir, "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if created {
		t.Fatal("restart re-created the network")
	}
	p = newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)
	after, err := p.issuer.Supply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if before.LedgerSupply != after.LedgerSupply || len(before.Reserves) != len(after.Reserves) || before.Reserves[0] != after.Reserves[0] || before.Reserves[1] != after.Reserves[1] {
		t.Fatalf("restart changed supply: %+v -> %+v", before, after)
	}
	if err := n.Ledger.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerMetrics checks that /metrics carries the ledger's counters.
func TestLedgerMetrics(t *testing.T) {
	n, _, err := devnet.Up(t.TempDir(), "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, m := range []string{"specie_ledger_batches_total 0", "specie_ledger_committed_total 0", "specie_ledger_queued 0", "process_cpu_seconds_total"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}
