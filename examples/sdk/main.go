// Command specie-sdk-example uses Specie's public Go SDK from its own
// module, as a bank's or a merchant's program would: it imports only
// github.com/specie/specie/{client,money,crypto,roles,errcode}, never
// internal/..., and talks to a running `specie up` over HTTP.
//
//	go run ./cmd/specie up --data /tmp/specie &       # in the Specie repository
//	cd examples/sdk && go run . --api http://127.0.0.1:8080 --data /tmp/specie
//
// Credentials come from <data>/devnet.json, which `specie up` writes: the
// issuer's and the intermediaries' bearer tokens and the officers' key
// files. It mints to bank-a with two of three officers, opens wallets at
// bank-a and bank-b, pays across them, proves the payment is in the log,
// and has an over-balance payment rejected with insufficient_funds. On the
// way it calls every method of roles.Ledger, roles.Issuer and
// roles.Intermediary through the client. Every check prints one line; it
// exits 0 only if every check passed. Run it again on the same network and
// it passes again: it checks changes, not totals.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// devnetFile is the part of <data>/devnet.json this program reads. The
// file belongs to `specie up`; its other fields are not needed here.
type devnetFile struct {
	Issuer          struct{ Token string } `json:"issuer"`
	Intermediaries  []struct{ Name, Token string }
	OfficerKeyFiles []string `json:"officer_key_files"` // relative to the data directory
}

func loadDevnet(dir string) (*devnetFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, "devnet.json"))
	if err != nil {
		return nil, err
	}
	var d devnetFile
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("devnet.json: %w", err)
	}
	for i, f := range d.OfficerKeyFiles {
		if !filepath.IsAbs(f) {
			d.OfficerKeyFiles[i] = filepath.Join(dir, f)
		}
	}
	return &d, nil
}

func (d *devnetFile) token(name string) string {
	if name == "issuer" {
		return d.Issuer.Token
	}
	for _, e := range d.Intermediaries {
		if e.Name == name {
			return e.Token
		}
	}
	return ""
}

// run holds the checks' outcome: every failed check is printed and counted.
type run struct{ failed int }

func (r *run) check(ok bool, format string, a ...any) bool {
	status := "ok  "
	if !ok {
		status = "FAIL"
		r.failed++
	}
	fmt.Printf("%s %s\n", status, fmt.Sprintf(format, a...))
	return ok
}

// must stops the run when a step that later steps depend on fails.
func (r *run) must(err error, what string) {
	if err != nil {
		r.check(false, "%s: %v", what, err)
		fmt.Printf("stopped after %d failed check(s)\n", r.failed)
		os.Exit(1)
	}
}

func main() {
	api := flag.String("api", "http://127.0.0.1:8080", "base URL of the Specie HTTP API")
	data := flag.String("data", "./specie-data", "data directory of `specie up` (for devnet.json and the officers' keys)")
	wait := flag.Duration("wait", 0, "wait up to this long for the API to answer /healthz (for a network just started)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := &run{}
	r.must(waitHealthy(ctx, client.New(*api, ""), *wait), "GET /healthz")
	r.sdk(ctx, *api, *data)
	if r.failed > 0 {
		fmt.Printf("%d check(s) failed\n", r.failed)
		os.Exit(1)
	}
	fmt.Println("all checks passed")
}

// waitHealthy polls the API's health until it answers or wait has passed;
// errcode.Unavailable is what a server not yet listening gives.
func waitHealthy(ctx context.Context, c *client.Client, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := c.Health(ctx)
		if err == nil || !errcode.Is(err, errcode.Unavailable) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *run) sdk(ctx context.Context, api, data string) {
	d, err := loadDevnet(data)
	r.must(err, "read the devnet's credentials")
	public := client.New(api, "") // anonymous: the public reads
	issuer := client.New(api, d.token("issuer")).Issuer()
	bankA := client.New(api, d.token("bank-a")).Intermediary("bank-a")
	bankB := client.New(api, d.token("bank-b")).Intermediary("bank-b")
	ledger := public.Ledger()

	info, err := ledger.Info(ctx)
	r.must(err, "ledger info")
	net, cur := info.Network, info.Network.Currency
	fmt.Printf("network %s, currency %s, mint quorum %d of %d\n", net.ID, cur.Code, info.MintQuorum, len(info.MintKeys))
	amt := func(v uint64) string { return cur.Format(v) + " " + cur.Code }

	// 1. A transaction built and signed here: the ledger validates it up
	// to its state and refuses it by code, because its input never existed.
	asBankA := client.New(api, d.token("bank-a"), client.WithTimeout(30*time.Second), client.WithUserAgent("specie-sdk-example/1"))
	r.selfBuiltTx(ctx, net, asBankA.Ledger(), asBankA.Issuer())

	// 2. The issuer mints to bank-a: one proposal, a quorum of officers
	// each checks the mint transaction and signs its txid.
	const mintAmount = 1_000_00 // 1,000.00 in minor units
	m, err := issuer.ProposeMint(ctx, "bank-a", mintAmount)
	r.must(err, "propose mint")
	r.must(checkMintTx(net, m, mintAmount), "check the proposed mint transaction")
	for i := 0; i < info.MintQuorum && i < len(d.OfficerKeyFiles); i++ {
		key, err := crypto.LoadKey(d.OfficerKeyFiles[i])
		r.must(err, "officer key")
		m, err = issuer.ApproveMint(ctx, m.ID, key.Public(), key.Sign(crypto.Mint, net.ID, m.ID))
		r.must(err, fmt.Sprintf("officer %d approves", i+1))
	}
	got, err := issuer.GetMint(ctx, m.ID)
	r.must(err, "get mint")
	r.check(got.Status == roles.MintCommitted && got.Receipt != nil,
		"mint %s of %s to bank-a: %s with %d approvals", m.ID, amt(mintAmount), got.Status, len(got.Approvers))
	r.noteStates(ctx, net, ledger, m)
	treasury := "bank-a" + roles.TreasurySuffix
	tb, err := bankA.Wallet(ctx, treasury)
	r.must(err, "bank-a's treasury")
	err = bankA.Deliver(ctx, got.Tx) // the issuer delivered it already
	ta, _ := bankA.Wallet(ctx, treasury)
	r.check(err == nil && ta.Balance == tb.Balance, "delivering the mint to bank-a again credits nothing twice (treasury %s)", amt(ta.Balance))

	// 3. Wallets at two banks; bank-a funds alice, alice pays bob.
	// Tier 0 of the default policy: a verified phone number opens it;
	// it may hold 500.00 and pay 200.00 at a time, 500.00 a day.
	alice, err := bankA.OpenWallet(ctx, roles.WalletRequest{Owner: "alice", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100001"}}, Reason: "sdk example"})
	r.must(err, "open alice's wallet at bank-a")
	bob, err := bankB.OpenWallet(ctx, roles.WalletRequest{Owner: "bob", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100002"}}, Reason: "sdk example"})
	r.must(err, "open bob's wallet at bank-b")
	lock, err := bankB.ReceiveLock(ctx, bob.ID)
	r.check(err == nil && lock.Kind == money.LockEd25519, "wallets %s and %s opened; bob receives at %v", alice.ID, bob.ID, lock)
	_, err = bankA.Pay(ctx, roles.Payment{From: treasury, To: alice.ID, Amount: 500_00, Reference: "welcome"})
	r.must(err, "bank-a funds alice")
	pay, err := bankA.Pay(ctx, roles.Payment{From: alice.ID, To: bob.ID, Amount: 120_00, Reference: "lunch", IdempotencyKey: "sdk-example-" + alice.ID})
	r.must(err, "alice pays bob")
	r.check(pay.Amount == 120_00, "alice paid bob %s in tx %s (batch %d, index %d)", amt(pay.Amount), pay.TxID, pay.Receipt.Batch, pay.Receipt.Index)
	again, err := bankA.Pay(ctx, roles.Payment{From: alice.ID, To: bob.ID, Amount: 120_00, Reference: "lunch", IdempotencyKey: "sdk-example-" + alice.ID})
	r.check(err == nil && again.TxID == pay.TxID, "retrying with the same idempotency key returns the same tx, paying once")
	r.balances(ctx, bankA, alice.ID, 380_00, amt)
	r.balances(ctx, bankB, bob.ID, 120_00, amt)
	hist, err := bankA.History(ctx, alice.ID)
	r.check(err == nil && len(hist) == 2 && hist[1].TxID == pay.TxID && hist[1].Direction == "out" && hist[1].Counterparty == bob.ID && hist[1].Reference == "lunch",
		"alice's history at bank-a: %d entries, the last the payment out to %s, reference %q", len(hist), bob.ID, "lunch")

	// 4. The payment is in the log: its inclusion proof leads to the root
	// of its batch header, and that header is the one the hash chain from
	// batch 1 holds at its sequence number.
	r.proveInclusion(ctx, net, ledger, pay.TxID)

	// 5. Paying more than the tier allows in one payment is refused by
	// code, before anything is signed, and moves nothing.
	_, err = bankA.Pay(ctx, roles.Payment{From: alice.ID, To: bob.ID, Amount: 250_00})
	r.check(errcode.Is(err, errcode.LimitExceeded), "paying %s from a tier-0 wallet (at most 200.00 a payment) is refused: %v", amt(250_00), err)
	var ce *errcode.Error
	if errors.As(err, &ce) {
		r.check(ce.Status == 422, "the rejection came as HTTP %d with code %s", ce.Status, ce.Code)
	}
	r.balances(ctx, bankA, alice.ID, 380_00, amt)

	// 6. Bob cashes out to bank-b, which redeems at the central bank:
	// bank-b's reserve account grows by the amount destroyed.
	before, err := issuer.Supply(ctx)
	r.must(err, "issuer supply")
	_, err = bankB.Pay(ctx, roles.Payment{From: bob.ID, To: "bank-b" + roles.TreasurySuffix, Amount: 20_00, Reference: "cash out"})
	r.must(err, "bob pays bank-b's treasury")
	red, err := bankB.Redeem(ctx, roles.RedeemRequest{Amount: 20_00})
	r.must(err, "bank-b redeems")
	after, err := issuer.Supply(ctx)
	r.must(err, "issuer supply")
	r.check(reserve(after, "bank-b") == reserve(before, "bank-b")+20_00 && after.Redeemed == before.Redeemed+20_00,
		"bank-b redeemed %s in batch %d; its reserve %s -> %s", amt(red.Amount), red.Receipt.Batch, amt(reserve(before, "bank-b")), amt(reserve(after, "bank-b")))
	ls, err := ledger.Supply(ctx)
	r.check(err == nil && ls.Outstanding == ls.Minted-ls.Redeemed,
		"supply: minted %s, redeemed %s, outstanding %s", amt(ls.Minted), amt(ls.Redeemed), amt(ls.Outstanding))
}

// selfBuiltTx builds a transfer by hand, signs it with a fresh key, checks
// its encoding round trip and signature offline, then submits it (alone and
// in a batch): the ledger refuses it with unknown_note, not malformed or
// bad_signature, so everything but the made-up input was acceptable. A
// redeem of the same note, handed to the issuer as bank-a, is refused the
// same way and credits no reserve.
func (r *run) selfBuiltTx(ctx context.Context, net money.Network, l roles.Ledger, is roles.Issuer) {
	key, err := crypto.GenerateKey()
	r.must(err, "generate a key")
	lock := money.KeyLock(key.Public())
	tx := &money.Tx{
		Kind:    money.Transfer,
		Inputs:  []money.Note{{TxID: money.Hash{0x5e, 0xed}, Index: 0, Output: money.Output{Value: 10_00, Lock: lock}}},
		Outputs: []money.Output{{Value: 7_00, Lock: lock}, {Value: 3_00, Lock: lock}},
	}
	txid := net.TxID(tx)
	tx.InputSigs = []money.Sig{key.Sign(crypto.Spend, net.ID, txid)}
	b, err := tx.MarshalBinary()
	r.must(err, "encode")
	var back money.Tx
	ok := back.UnmarshalBinary(b) == nil && net.TxID(&back) == txid &&
		crypto.Verify(key.Public(), crypto.Spend, net.ID, txid, back.InputSigs[0])
	r.check(ok, "built and signed transfer %s (%d bytes): decodes to the same txid, signature verifies", txid, len(b))
	_, err = l.Submit(ctx, tx)
	r.check(errcode.Is(err, errcode.UnknownNote), "submitting it is refused as %s: %v", errcode.Of(err), err)
	res, err := l.SubmitBatch(ctx, []*money.Tx{tx})
	r.check(err == nil && len(res) == 1 && errcode.Is(res[0].Err, errcode.UnknownNote), "submitted in a batch, its result is refused as unknown_note too")

	red := &money.Tx{Kind: money.Redeem, Inputs: tx.Inputs, Outputs: tx.Outputs[:1]}
	red.InputSigs = []money.Sig{key.Sign(crypto.Spend, net.ID, net.TxID(red))}
	_, err = is.Redeem(ctx, red)
	r.check(errcode.Is(err, errcode.UnknownNote), "redeeming it at the issuer is refused as %s", errcode.Of(err))
}

// checkMintTx is what an officer checks before signing: the transaction
// hashes to the ID being signed, is a mint, and creates the amount asked.
func checkMintTx(net money.Network, m roles.Mint, amount uint64) error {
	if m.Tx == nil {
		return fmt.Errorf("proposal carries no transaction")
	}
	if got := net.TxID(m.Tx); got != m.ID {
		return fmt.Errorf("transaction hashes to %s, proposal ID is %s", got, m.ID)
	}
	_, out := m.Tx.Sums()
	if m.Tx.Kind != money.Mint || out != amount || m.Amount != amount {
		return fmt.Errorf("a %s of %d, want a mint of %d", m.Tx.Kind, out, amount)
	}
	return nil
}

// noteStates asks the ledger about the notes the mint created, before
// bank-a spends any: each is unspent (the ledger keeps no spent set, so a
// spent note would read unknown).
func (r *run) noteStates(ctx context.Context, net money.Network, l roles.Ledger, m roles.Mint) {
	for _, n := range m.Tx.OutputNotes(m.ID) {
		ni, err := l.Note(ctx, net.NoteID(&n))
		r.check(err == nil && ni.Status == roles.NoteUnspent,
			"minted note %d (%d minor units) is %s on the ledger", n.Index, n.Value, ni.Status)
	}
}

func (r *run) balances(ctx context.Context, bank roles.Intermediary, id string, want uint64, amt func(uint64) string) {
	w, err := bank.Wallet(ctx, id)
	r.check(err == nil && w.Balance == want, "%s at %s holds %s (want %s)", id, bank.Name(), amt(w.Balance), amt(want))
}

// proveInclusion fetches the transaction's inclusion report and checks it
// against the log without trusting the server: the Merkle proof against
// the header's root, and the header against the hash chain from batch 1.
func (r *run) proveInclusion(ctx context.Context, net money.Network, l roles.Ledger, id money.TxID) {
	ti, err := l.Tx(ctx, id)
	r.must(err, "fetch the payment's transaction")
	h := ti.Header
	r.check(ti.TxID == id && h.VerifyInclusion(id, ti.Index, ti.Proof) == nil,
		"tx %s: inclusion proof (%d hashes) leads to batch %d's root %s", id, len(ti.Proof), h.Seq, h.TxRoot)
	forged := ti.Proof
	if len(forged) > 0 {
		forged = append([]money.Hash{}, ti.Proof...)
		forged[0][0] ^= 1
	}
	r.check(h.VerifyInclusion(money.Hash{1}, ti.Index, forged) != nil, "a wrong txid or proof does not verify")
	var prev *money.BatchHeader
	var chained *money.BatchHeader
	for from := uint64(1); from <= h.Seq; {
		hs, err := l.Headers(ctx, from, 1000)
		r.must(err, "fetch batch headers")
		if len(hs) == 0 {
			break
		}
		for i := range hs {
			r.must(net.VerifyNext(prev, &hs[i]), "hash chain")
			prev = &hs[i]
			if prev.Seq == h.Seq {
				chained = prev
			}
		}
		from += uint64(len(hs))
	}
	r.check(chained != nil && net.HeaderHash(chained) == net.HeaderHash(&h),
		"headers from batch 1 chain by hash, and batch %d's header in the chain is the one the proof names", h.Seq)
}

func reserve(s roles.Supply, name string) uint64 {
	for _, r := range s.Reserves {
		if r.Intermediary == name {
			return r.Balance
		}
	}
	return 0
}
