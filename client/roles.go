package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// ledgerClient implements roles.Ledger over HTTP.
type ledgerClient struct{ c *Client }

var _ roles.Ledger = ledgerClient{}

func (l ledgerClient) Info(ctx context.Context) (roles.LedgerInfo, error) {
	var w wire.Info
	if err := l.c.do(ctx, http.MethodGet, "/v1/info", nil, &w); err != nil {
		return roles.LedgerInfo{}, err
	}
	return w.ToInfo(), nil
}

func encodeTx(tx *money.Tx) (string, error) {
	if tx == nil {
		return "", errcode.New(errcode.Malformed, "nil transaction")
	}
	s, err := wire.EncodeTx(tx)
	if err != nil {
		return "", errcode.New(errcode.Malformed, "%v", err)
	}
	return s, nil
}

func (l ledgerClient) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	s, err := encodeTx(tx)
	if err != nil {
		return roles.Receipt{}, err
	}
	var rc roles.Receipt
	if err := l.c.do(ctx, http.MethodPost, "/v1/transactions", wire.TxRequest{Tx: s}, &rc); err != nil {
		return roles.Receipt{}, err
	}
	return rc, nil
}

func (l ledgerClient) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	req := wire.BatchRequest{Txs: make([]string, len(txs))}
	for i, tx := range txs {
		var err error
		if req.Txs[i], err = encodeTx(tx); err != nil {
			return nil, err
		}
	}
	return l.results(ctx, "/v1/transactions/batch", req, len(txs))
}

// results posts req to path and reads the n results, one per
// transaction, of the wire.BatchResponse it answers.
func (l ledgerClient) results(ctx context.Context, path string, req any, n int) ([]roles.Result, error) {
	var resp wire.BatchResponse
	if err := l.c.do(ctx, http.MethodPost, path, req, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != n {
		return nil, errcode.New(errcode.Internal, "%s: %d results for %d transactions", path, len(resp.Results), n)
	}
	out := make([]roles.Result, n)
	for i, r := range resp.Results {
		if r.Receipt != nil && r.Error == nil {
			out[i].Receipt = *r.Receipt
			continue
		}
		out[i].Err = wireError(r.Error)
	}
	return out, nil
}

func (l ledgerClient) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	var w wire.TxInfo
	if err := l.c.do(ctx, http.MethodGet, "/v1/transactions/"+id.String(), nil, &w); err != nil {
		return roles.TxInfo{}, err
	}
	return w.ToTxInfo()
}

// Locate implements roles.TxLocator with one request.
func (l ledgerClient) Locate(ctx context.Context, ids []money.TxID) ([]roles.Result, error) {
	return l.results(ctx, "/v1/transactions/locate", wire.LocateRequest{TxIDs: ids}, len(ids))
}

func (l ledgerClient) Note(ctx context.Context, id money.NoteID) (roles.NoteInfo, error) {
	var w wire.NoteInfo
	if err := l.c.do(ctx, http.MethodGet, "/v1/notes/"+id.String(), nil, &w); err != nil {
		return roles.NoteInfo{}, err
	}
	return w.ToNoteInfo()
}

func (l ledgerClient) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	var w wire.Supply
	if err := l.c.do(ctx, http.MethodGet, "/v1/supply", nil, &w); err != nil {
		return roles.LedgerSupply{}, err
	}
	return w.ToLedgerSupply()
}

// Headers asks for up to limit headers; the server caps one page at 1000.
func (l ledgerClient) Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	q := url.Values{}
	q.Set("from", strconv.FormatUint(from, 10))
	q.Set("limit", strconv.Itoa(limit))
	var w wire.Headers
	if err := l.c.do(ctx, http.MethodGet, "/v1/log/headers?"+q.Encode(), nil, &w); err != nil {
		return nil, err
	}
	return w.ToHeaders()
}

var _ roles.BatchSource = ledgerClient{}

// Batch fetches batch seq in full (GET /v1/log/batches/{seq}). The
// transactions come back as served, undecoded: an auditor judges each.
func (l ledgerClient) Batch(ctx context.Context, seq uint64) (roles.BatchContents, error) {
	var w wire.Batch
	if err := l.c.do(ctx, http.MethodGet, "/v1/log/batches/"+strconv.FormatUint(seq, 10), nil, &w); err != nil {
		return roles.BatchContents{}, err
	}
	return w.ToBatch()
}

var _ roles.CheckpointSource = ledgerClient{}

// Checkpoint fetches the log's signed checkpoint (GET /v1/log/checkpoint),
// unverified: check it with logtree.Open and the log key.
func (l ledgerClient) Checkpoint(ctx context.Context) ([]byte, error) {
	return l.c.getText(ctx, "/v1/log/checkpoint")
}

// Consistency fetches the proof that the log of size from is a prefix of
// the log of size to, unverified: check it with logtree.VerifyConsistency.
func (l ledgerClient) Consistency(ctx context.Context, from, to uint64) ([]money.Hash, error) {
	q := url.Values{}
	q.Set("from", strconv.FormatUint(from, 10))
	q.Set("to", strconv.FormatUint(to, 10))
	var w wire.Consistency
	if err := l.c.do(ctx, http.MethodGet, "/v1/log/consistency?"+q.Encode(), nil, &w); err != nil {
		return nil, err
	}
	if w.From != from || w.To != to {
		return nil, errcode.New(errcode.Internal, "consistency: asked %d to %d, answered %d to %d", from, to, w.From, w.To)
	}
	return w.Proof, nil
}

// LogKey is the key the ledger publishes (GET /v1/info) for its
// checkpoints; "" when it signs none. Whoever trusts it should pin it.
func (l ledgerClient) LogKey(ctx context.Context) (string, error) {
	var w wire.Info
	if err := l.c.do(ctx, http.MethodGet, "/v1/info", nil, &w); err != nil {
		return "", err
	}
	return w.LogKey, nil
}

// issuerClient implements roles.Issuer over HTTP.
type issuerClient struct{ c *Client }

var _ roles.Issuer = issuerClient{}

func (is issuerClient) ProposeMint(ctx context.Context, to string, amount uint64) (roles.Mint, error) {
	var w wire.Mint
	req := wire.MintRequest{To: to, Amount: wire.FormatAmount(amount)}
	if err := is.c.do(ctx, http.MethodPost, "/v1/issuer/mints", req, &w); err != nil {
		return roles.Mint{}, err
	}
	return w.ToMint()
}

func (is issuerClient) ApproveMint(ctx context.Context, id money.TxID, key crypto.PublicKey, sig money.Sig) (roles.Mint, error) {
	var w wire.Mint
	req := wire.ApprovalRequest{Key: key.String(), Signature: hexSig(sig)}
	if err := is.c.do(ctx, http.MethodPost, "/v1/issuer/mints/"+id.String()+"/approvals", req, &w); err != nil {
		return roles.Mint{}, err
	}
	return w.ToMint()
}

func (is issuerClient) GetMint(ctx context.Context, id money.TxID) (roles.Mint, error) {
	var w wire.Mint
	if err := is.c.do(ctx, http.MethodGet, "/v1/issuer/mints/"+id.String(), nil, &w); err != nil {
		return roles.Mint{}, err
	}
	return w.ToMint()
}

func (is issuerClient) Redeem(ctx context.Context, tx *money.Tx) (roles.Redemption, error) {
	s, err := encodeTx(tx)
	if err != nil {
		return roles.Redemption{}, err
	}
	var w wire.Redemption
	if err := is.c.do(ctx, http.MethodPost, "/v1/issuer/redeems", wire.TxRequest{Tx: s}, &w); err != nil {
		return roles.Redemption{}, err
	}
	return w.ToRedemption()
}

// Supply reads GET /v1/supply; from a server that does not run the issuer
// (no reserves in the answer) it is errcode.NotFound.
func (is issuerClient) Supply(ctx context.Context) (roles.Supply, error) {
	var w wire.Supply
	if err := is.c.do(ctx, http.MethodGet, "/v1/supply", nil, &w); err != nil {
		return roles.Supply{}, err
	}
	return w.ToSupply()
}

// interClient implements roles.Intermediary over HTTP.
type interClient struct {
	c      *Client
	name   string
	prefix string
}

var _ roles.Intermediary = interClient{}

func (ic interClient) Name() string { return ic.name }

func (ic interClient) walletPath(id string) string {
	return ic.prefix + "/wallets/" + url.PathEscape(id)
}

func (ic interClient) OpenWallet(ctx context.Context, req roles.WalletRequest) (roles.Wallet, error) {
	body := wire.OpenWalletRequest{Owner: req.Owner, Tier: req.Tier, Evidence: req.Evidence, Person: req.Person, Reason: req.Reason}
	if req.Share != 0 {
		body.Share = wire.FormatAmount(req.Share)
	}
	var w wire.Wallet
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/wallets", body, &w); err != nil {
		return roles.Wallet{}, err
	}
	return w.ToWallet()
}

var (
	_ roles.WalletAdmin    = interClient{}
	_ roles.AmountReceiver = interClient{}
	_ roles.HoldReleaser   = interClient{}
)

// walletPost posts body to one of a wallet's administration routes and
// reads back the wallet.
func (ic interClient) walletPost(ctx context.Context, id, action string, body any) (roles.Wallet, error) {
	var w wire.Wallet
	if err := ic.c.do(ctx, http.MethodPost, ic.walletPath(id)+"/"+action, body, &w); err != nil {
		return roles.Wallet{}, err
	}
	return w.ToWallet()
}

func (ic interClient) SetTier(ctx context.Context, id string, c roles.TierChange) (roles.Wallet, error) {
	body := wire.TierRequest{Tier: c.Tier, Evidence: c.Evidence, Reason: c.Reason}
	if c.Share != 0 {
		body.Share = wire.FormatAmount(c.Share)
	}
	return ic.walletPost(ctx, id, "tier", body)
}

func (ic interClient) Freeze(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return ic.walletPost(ctx, id, "freeze", wire.ReasonRequest{Reason: reason})
}

func (ic interClient) Unfreeze(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return ic.walletPost(ctx, id, "unfreeze", wire.ReasonRequest{Reason: reason})
}

func (ic interClient) CloseWallet(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return ic.walletPost(ctx, id, "close", wire.ReasonRequest{Reason: reason})
}

func (ic interClient) Link(ctx context.Context, id, account, reason string) (roles.Wallet, error) {
	return ic.walletPost(ctx, id, "link", wire.LinkRequest{Account: account, Reason: reason})
}

func (ic interClient) Audit(ctx context.Context, id string) ([]roles.AuditEntry, error) {
	var a wire.Audit
	if err := ic.c.do(ctx, http.MethodGet, ic.walletPath(id)+"/audit", nil, &a); err != nil {
		return nil, err
	}
	return a.Entries, nil
}

func (ic interClient) Account(ctx context.Context, id string) (roles.Account, []roles.AccountEntry, error) {
	var a wire.Account
	if err := ic.c.do(ctx, http.MethodGet, ic.walletPath(id)+"/account", nil, &a); err != nil {
		return roles.Account{}, nil, err
	}
	return a.ToAccount()
}

// ReceiveFor asks how to pay wallet id amount, which the payee's
// intermediary refuses when the wallet may not receive it.
func (ic interClient) ReceiveFor(ctx context.Context, id string, amount uint64) (roles.ReceivePlan, error) {
	var w wire.LockResponse
	if err := ic.c.do(ctx, http.MethodGet, ic.walletPath(id)+"/lock?amount="+wire.FormatAmount(amount), nil, &w); err != nil {
		return roles.ReceivePlan{}, err
	}
	var plan roles.ReceivePlan
	var err error
	if plan.Lock, err = wire.ParseLock(w.Lock); err != nil {
		return roles.ReceivePlan{}, errcode.New(errcode.Internal, "response lock: %v", err)
	}
	if w.Overflow != "" {
		if plan.Overflow, err = wire.ParseMinor(w.Overflow); err != nil {
			return roles.ReceivePlan{}, errcode.New(errcode.Internal, "response overflow: %v", err)
		}
		if plan.OverflowLock, err = wire.ParseLock(w.OverflowLock); err != nil {
			return roles.ReceivePlan{}, errcode.New(errcode.Internal, "response overflow lock: %v", err)
		}
		if plan.Overflow > amount {
			return roles.ReceivePlan{}, errcode.New(errcode.Internal, "response overflow %d above the amount %d", plan.Overflow, amount)
		}
	}
	plan.Hold = w.Hold
	return plan, nil
}

// ReleaseHold tells the payee's intermediary that the payment it placed
// hold for on wallet id is abandoned.
func (ic interClient) ReleaseHold(ctx context.Context, id, hold string) error {
	return ic.c.do(ctx, http.MethodDelete, ic.walletPath(id)+"/holds/"+url.PathEscape(hold), nil, nil)
}

func (ic interClient) Wallet(ctx context.Context, id string) (roles.Wallet, error) {
	var w wire.Wallet
	if err := ic.c.do(ctx, http.MethodGet, ic.walletPath(id), nil, &w); err != nil {
		return roles.Wallet{}, err
	}
	return w.ToWallet()
}

func (ic interClient) History(ctx context.Context, id string) ([]roles.Entry, error) {
	var w wire.History
	if err := ic.c.do(ctx, http.MethodGet, ic.walletPath(id)+"/history", nil, &w); err != nil {
		return nil, err
	}
	return w.ToEntries()
}

// Pay sends p.IdempotencyKey, when set, both in the body and as the
// Idempotency-Key header, so calling Pay again with the same Payment after
// a timeout or an unavailable answer is safe.
func (ic interClient) Pay(ctx context.Context, p roles.Payment) (roles.PaymentResult, error) {
	req := wire.PaymentRequest{From: p.From, To: p.To, Amount: wire.FormatAmount(p.Amount), Reference: p.Reference, IdempotencyKey: p.IdempotencyKey, RefundOf: p.RefundOf}
	var w wire.PaymentResult
	if err := ic.c.doWith(ctx, http.MethodPost, ic.prefix+"/payments", idemHeader(p.IdempotencyKey), req, &w); err != nil {
		return roles.PaymentResult{}, err
	}
	return w.ToPaymentResult()
}

func (ic interClient) ReceiveLock(ctx context.Context, id string) (money.Lock, error) {
	var w wire.LockResponse
	if err := ic.c.do(ctx, http.MethodGet, ic.walletPath(id)+"/lock", nil, &w); err != nil {
		return money.Lock{}, err
	}
	l, err := wire.ParseLock(w.Lock)
	if err != nil {
		return money.Lock{}, errcode.New(errcode.Internal, "response lock: %v", err)
	}
	return l, nil
}

func (ic interClient) Deliver(ctx context.Context, tx *money.Tx) error {
	s, err := encodeTx(tx)
	if err != nil {
		return err
	}
	return ic.c.do(ctx, http.MethodPost, ic.prefix+"/deliveries", wire.TxRequest{Tx: s}, nil)
}

// DeliverBatch hands many committed transactions over in one request,
// each with its memo; it implements roles.BatchDeliverer.
func (ic interClient) DeliverBatch(ctx context.Context, ds []roles.Delivery) ([]error, error) {
	req := wire.DeliveryBatchRequest{Deliveries: make([]wire.DeliveryRequest, len(ds))}
	for i, d := range ds {
		s, err := encodeTx(d.Tx)
		if err != nil {
			return nil, err
		}
		req.Deliveries[i] = wire.DeliveryRequest{Tx: s, Memo: wire.FromMemo(d.Memo)}
	}
	var resp wire.DeliveryBatchResponse
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/deliveries/batch", req, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(ds) {
		return nil, errcode.New(errcode.Internal, "delivery batch: %d results for %d deliveries", len(resp.Results), len(ds))
	}
	out := make([]error, len(ds))
	for i, r := range resp.Results {
		if r.Error != nil {
			out[i] = wireError(r.Error)
		}
	}
	return out, nil
}

// Redeem sends r.IdempotencyKey, when set, as Pay sends a payment's: in
// the body and as the Idempotency-Key header.
func (ic interClient) Redeem(ctx context.Context, r roles.RedeemRequest) (roles.Redemption, error) {
	var w wire.Redemption
	req := wire.RedeemRequest{Amount: wire.FormatAmount(r.Amount), IdempotencyKey: r.IdempotencyKey}
	if err := ic.c.doWith(ctx, http.MethodPost, ic.prefix+"/redeems", idemHeader(r.IdempotencyKey), req, &w); err != nil {
		return roles.Redemption{}, err
	}
	return w.ToRedemption()
}

// idemHeader is the Idempotency-Key header for key, or none. A key that is
// no valid header value travels in the body alone, for the server to
// reject as malformed.
func idemHeader(key string) http.Header {
	if key == "" || !headerSafe(key) {
		return nil
	}
	return http.Header{wire.IdempotencyKeyHeader: {key}}
}

// headerSafe reports whether s is printable ASCII, safe as a header value.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
