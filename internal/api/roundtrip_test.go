package api_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantCall checks the last call a fake saw: method, arguments and caller.
// The server's own currency lookups (Ledger.Info, Issuer.Supply after the
// call) are skipped unless that is the method asked about.
func wantCall(t *testing.T, r *recorder, method string, caller *roles.Principal, args ...any) {
	t.Helper()
	var c call
	calls := r.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].method == method || calls[i].method != "Info" {
			c = calls[i]
			break
		}
	}
	if c.method != method {
		t.Fatalf("last call %q, want %q", c.method, method)
	}
	if caller == nil {
		if c.hasCaller {
			t.Fatalf("%s: caller %+v reached the service, want none", method, c.caller)
		}
	} else if !c.hasCaller || c.caller != *caller {
		t.Fatalf("%s: caller %+v (present %v), want %+v", method, c.caller, c.hasCaller, *caller)
	}
	if args != nil {
		same(t, method+" args", c.args, args)
	}
}

func txBytes(t *testing.T, tx *money.Tx) []byte {
	t.Helper()
	b, err := tx.MarshalBinary()
	noErr(t, err)
	return b
}

func TestLedgerRoundTrip(t *testing.T) {
	e := newEnv(t, envOpts{noIssuer: true})
	ctx := context.Background()
	l := e.bankC.Ledger()

	info, err := e.anonC.Ledger().Info(ctx)
	noErr(t, err)
	same(t, "info", info, ledgerInfo)
	wantCall(t, &e.ledger.recorder, "Info", nil)

	tx := transferTx(2500, 1)
	rc, err := l.Submit(ctx, tx)
	noErr(t, err)
	same(t, "receipt", rc, receiptFor(tx, 3))
	wantCall(t, &e.ledger.recorder, "Submit", &bankAP)
	got := e.ledger.last().args[0].(*money.Tx)
	if !bytes.Equal(txBytes(t, got), txBytes(t, tx)) {
		t.Fatal("the ledger received a different transaction than was sent")
	}

	e.ledger.batchErrs = map[int]error{1: errcode.New(errcode.DoubleSpend, "input 0 already spent")}
	txs := []*money.Tx{transferTx(1, 1), transferTx(2, 2), mintTx(3)}
	res, err := e.issuerC.Ledger().SubmitBatch(ctx, txs)
	noErr(t, err)
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	same(t, "batch[0]", res[0], roles.Result{Receipt: receiptFor(txs[0], 0)})
	same(t, "batch[2]", res[2], roles.Result{Receipt: receiptFor(txs[2], 2)})
	same(t, "batch[1] error", res[1].Err, error(&errcode.Error{Code: errcode.DoubleSpend, Message: "input 0 already spent"}))
	wantCall(t, &e.ledger.recorder, "SubmitBatch", &issuerP)
	for i, sent := range e.ledger.last().args[0].([]*money.Tx) {
		if !bytes.Equal(txBytes(t, sent), txBytes(t, txs[i])) {
			t.Fatalf("batch tx %d differs", i)
		}
	}

	ti, err := e.anonC.Ledger().Tx(ctx, hashOf(0x42))
	noErr(t, err)
	same(t, "tx info", ti, roles.TxInfo{TxID: hashOf(0x42), Status: "committed", Kind: "transfer", Header: header, Index: 2, Proof: []money.Hash{hashOf(1), hashOf(2)}})
	wantCall(t, &e.ledger.recorder, "Tx", nil, hashOf(0x42))

	ni, err := l.Note(ctx, hashOf(0x43))
	noErr(t, err)
	same(t, "note", ni, roles.NoteInfo{ID: hashOf(0x43), Status: roles.NoteUnspent, Value: 18446744073709551615})
	wantCall(t, &e.ledger.recorder, "Note", &bankAP, hashOf(0x43))
	ni, err = l.Note(ctx, hashOf(0))
	noErr(t, err)
	same(t, "unknown note", ni, roles.NoteInfo{ID: hashOf(0), Status: roles.NoteUnknown})

	sup, err := l.Supply(ctx)
	noErr(t, err)
	same(t, "ledger supply", sup, ledgerSupply)
	wantCall(t, &e.ledger.recorder, "Supply", &bankAP)
	// Without the issuer here, the issuer's view is not served.
	if _, err := e.issuerC.Issuer().Supply(ctx); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("issuer supply from a ledger-only server: %v, want not_found", err)
	}

	hs, err := l.Headers(ctx, 5, 10)
	noErr(t, err)
	h2 := header
	h2.Seq, h2.Prev = 8, hashOf(0xcc)
	same(t, "headers", hs, []money.BatchHeader{header, h2})
	wantCall(t, &e.ledger.recorder, "Headers", &bankAP, uint64(5), 10)
}

func TestIssuerRoundTrip(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	is := e.issuerC.Issuer()

	m, err := is.ProposeMint(ctx, "bank-a", 5000)
	noErr(t, err)
	want := mintFor("bank-a", 5000)
	want.Status, want.Approvals, want.Approvers, want.Receipt = roles.MintPending, nil, nil, nil
	same(t, "proposed mint", m, want)
	wantCall(t, &e.issuer.recorder, "ProposeMint", &issuerP, "bank-a", uint64(5000))

	officer := key(4)
	sig := officer.Sign(crypto.Mint, testNet.ID, m.ID)
	m, err = is.ApproveMint(ctx, m.ID, officer.Public(), sig)
	noErr(t, err)
	same(t, "approved mint", m, mintFor("bank-a", 5000))
	wantCall(t, &e.issuer.recorder, "ApproveMint", &issuerP, want.ID, officer.Public(), sig)

	m, err = is.GetMint(ctx, hashOf(0x77))
	noErr(t, err)
	rejected := mintFor("bank-b", 777)
	rejected.Status, rejected.Reason, rejected.Receipt = roles.MintRejected, "reserve too small", nil
	same(t, "rejected mint", m, rejected)
	wantCall(t, &e.issuer.recorder, "GetMint", &issuerP, hashOf(0x77))

	rtx := transferTx(1234, 9)
	rtx.Kind = money.Redeem
	rtx.Outputs = nil
	rtx.InputSigs = []money.Sig{key(1).Sign(crypto.Spend, testNet.ID, testNet.TxID(rtx))}
	red, err := e.bankC.Issuer().Redeem(ctx, rtx)
	noErr(t, err)
	same(t, "redemption", red, roles.Redemption{Intermediary: "bank-a", Amount: 1234, Receipt: receiptFor(rtx, 5)})
	wantCall(t, &e.issuer.recorder, "Redeem", &bankAP)

	// With the issuer here, /v1/supply is the issuer's view: the ledger's
	// plus reserves, and the ledger client reads its part of it.
	sup, err := e.anonC.Issuer().Supply(ctx)
	noErr(t, err)
	same(t, "issuer supply", sup, issuerSupply)
	wantCall(t, &e.issuer.recorder, "Supply", nil)
	ls, err := e.anonC.Ledger().Supply(ctx)
	noErr(t, err)
	same(t, "ledger part of issuer supply", ls, ledgerSupply)
}

func TestIntermediaryRoundTrip(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	for _, name := range []string{"bank-a", "bank-b"} {
		t.Run(name, func(t *testing.T) {
			in := e.bankC.Intermediary(name)
			f := e.banks[name]
			if in.Name() != name {
				t.Fatalf("Name() = %q", in.Name())
			}
			w, err := in.OpenWallet(ctx, unlimited("Zoë O'Brien"))
			noErr(t, err)
			wantW := f.walletFor(name+".k3j9x2", "Zoë O'Brien")
			wantW.Balance, wantW.Notes = 0, 0
			same(t, "opened wallet", w, wantW)
			wantCall(t, &f.recorder, "OpenWallet", &bankAP, "Zoë O'Brien")

			// Wallet IDs are path segments: odd characters survive escaping.
			for _, id := range []string{name + ".k3j9x2", name + ".a/b c?d#e%f"} {
				w, err = in.Wallet(ctx, id)
				noErr(t, err)
				same(t, "wallet", w, f.walletFor(id, "alice"))
				wantCall(t, &f.recorder, "Wallet", &bankAP, id)
			}

			wantH, _ := f.History(ctx, "") // the fixed answer
			h, err := in.History(ctx, name+".w1")
			noErr(t, err)
			same(t, "history", h, wantH)
			wantCall(t, &f.recorder, "History", &bankAP, name+".w1")

			p := roles.Payment{From: name + ".w1", To: "bank-b.w2", Amount: 18446744073709551615, Reference: "rent \"march\""}
			pr, err := in.Pay(ctx, p)
			noErr(t, err)
			same(t, "payment", pr, roles.PaymentResult{TxID: hashOf(5), Receipt: roles.Receipt{TxID: hashOf(5), Batch: 11}, From: p.From, To: p.To, Amount: p.Amount})
			wantCall(t, &f.recorder, "Pay", &bankAP, p)

			l, err := in.ReceiveLock(ctx, name+".w1")
			noErr(t, err)
			same(t, "lock", l, money.KeyLock(key(8).Public()))
			wantCall(t, &f.recorder, "ReceiveLock", &bankAP, name+".w1")

			tx := transferTx(99, 3)
			noErr(t, in.Deliver(ctx, tx))
			wantCall(t, &f.recorder, "Deliver", &bankAP)
			if !bytes.Equal(txBytes(t, f.last().args[0].(*money.Tx)), txBytes(t, tx)) {
				t.Fatal("delivered transaction differs")
			}

			red, err := in.Redeem(ctx, roles.RedeemRequest{Amount: 700, IdempotencyKey: "r-700"})
			noErr(t, err)
			same(t, "redemption", red, roles.Redemption{Intermediary: name, Amount: 700, Receipt: roles.Receipt{TxID: hashOf(6), Batch: 12, Index: 4}})
			wantCall(t, &f.recorder, "Redeem", &bankAP, roles.RedeemRequest{Amount: 700, IdempotencyKey: "r-700"})
		})
	}
	if n := len(e.ledger.Calls()) + len(e.issuer.Calls()); n > 2 {
		// Only the currency lookup (Ledger.Info) may touch other roles.
		t.Fatalf("intermediary calls reached the ledger or issuer %d times", n)
	}
}

// TestJSONShapes pins the wire format a non-Go client sees: amounts as
// strings of minor units with decimal twins, hashes and keys as hex.
func TestJSONShapes(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.rawS(t, "GET", "/v1/notes/"+hashOf(0x43).String(), "", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	same(t, "note JSON", r.json(t), map[string]any{
		"id": hashOf(0x43).String(), "status": "unspent",
		"value": "18446744073709551615", "value_decimal": "184467440737095516.15",
	})

	r = e.rawS(t, "GET", "/v1/supply", "", "")
	same(t, "supply JSON", r.json(t), map[string]any{
		"minted": "100000000", "redeemed": "2550", "outstanding": "99997450",
		"minted_decimal": "1000000.00", "redeemed_decimal": "25.50", "outstanding_decimal": "999974.50",
		"unspent_notes": float64(12), "batches": float64(7),
		"currency": map[string]any{"code": "USD", "exponent": float64(2)},
		"reserves": []any{
			map[string]any{"intermediary": "bank-a", "balance": "5000000", "balance_decimal": "50000.00"},
			map[string]any{"intermediary": "bank-b", "balance": "0", "balance_decimal": "0.00"},
		},
	})

	r = e.rawS(t, "GET", "/v1/info", "", "")
	m := r.json(t)
	same(t, "info network", m["network"], map[string]any{"id": "testnet", "currency": map[string]any{"code": "USD", "exponent": float64(2)}})
	same(t, "info mint key 0", m["mint_keys"].([]any)[0], key(4).Public().String())

	r = e.rawS(t, "POST", "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"1000000.00"}`)
	if r.status != 201 {
		t.Fatalf("propose mint: status %d: %s", r.status, r.body)
	}
	m = r.json(t)
	if m["amount"] != "100000000" || m["amount_decimal"] != "1000000.00" || m["status"] != "pending" {
		t.Fatalf("mint JSON: %s", r.body)
	}
	if m["created"] != "2025-03-04T05:06:07.123456789Z" {
		t.Fatalf("created %v", m["created"])
	}

	r = e.rawS(t, "GET", "/v1/intermediaries/bank-a/wallets/bank-a.w1", bankATok, "")
	m = r.json(t)
	if m["balance"] != "123456" || m["balance_decimal"] != "1234.56" || m["lock"] != money.KeyLock(key(8).Public()).String() {
		t.Fatalf("wallet JSON: %s", r.body)
	}

	r = e.rawS(t, "GET", "/v1/intermediaries/bank-a/wallets/bank-a.w1/lock", bankATok, "")
	same(t, "lock JSON", r.json(t), map[string]any{"lock": "ed25519:" + key(8).Public().String()})

	r = e.rawS(t, "GET", "/v1/log/headers", "", "")
	hs := r.json(t)["headers"].([]any)
	same(t, "header JSON", hs[0], map[string]any{
		"seq": float64(7), "prev": hashOf(0xaa).String(), "tx_root": hashOf(0xbb).String(), "tx_count": float64(3),
		"minted": "100000000", "redeemed": "2550", "outstanding": "99997450",
		"minted_decimal": "1000000.00", "redeemed_decimal": "25.50", "outstanding_decimal": "999974.50",
	})

	r = e.rawS(t, "POST", "/v1/intermediaries/bank-a/deliveries", bankATok, `{"tx":"`+b64(t, transferTx(5, 5))+`"}`)
	same(t, "delivery JSON", r.json(t), map[string]any{"status": "delivered"})

	r = e.rawS(t, "GET", "/healthz", "", "")
	same(t, "healthz", r.json(t), map[string]any{"status": "ok"})
}
