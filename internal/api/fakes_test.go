package api_test

// Small test-only implementations of the role interfaces. They exist only
// to test the HTTP boundary (the real services are tested in their own
// packages): each records what reached it, including the caller, and
// answers with fixed values or an injected error.

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

var (
	testNet = money.Network{ID: "testnet", Currency: money.Currency{Code: "USD", Exponent: 2}}
	t0      = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
)

func key(seed byte) *crypto.PrivateKey {
	var s [32]byte
	for i := range s {
		s[i] = seed
	}
	k, err := crypto.KeyFromSeed(s[:])
	if err != nil {
		panic(err)
	}
	return k
}

func hashOf(b byte) money.Hash {
	var h money.Hash
	for i := range h {
		h[i] = b
	}
	return h
}

// transferTx is a well-formed, really signed transfer of value.
func transferTx(value uint64, nonce uint64) *money.Tx {
	owner := key(1)
	tx := &money.Tx{
		Kind:    money.Transfer,
		Nonce:   nonce,
		Inputs:  []money.Note{{TxID: hashOf(9), Index: 2, Output: money.Output{Value: value, Lock: money.KeyLock(owner.Public())}}},
		Outputs: []money.Output{{Value: value, Lock: money.KeyLock(key(2).Public())}},
	}
	tx.InputSigs = []money.Sig{owner.Sign(crypto.Spend, testNet.ID, testNet.TxID(tx))}
	return tx
}

// mintTx is a well-formed mint signed by two officers.
func mintTx(value uint64) *money.Tx {
	tx := &money.Tx{Kind: money.Mint, Nonce: 42, Outputs: []money.Output{{Value: value, Lock: money.KeyLock(key(3).Public())}}}
	id := testNet.TxID(tx)
	a, b := key(4), key(5)
	if string(a.Public().String()) > b.Public().String() {
		a, b = b, a
	}
	tx.Auth = []money.KeySig{
		{Key: a.Public(), Sig: a.Sign(crypto.Mint, testNet.ID, id)},
		{Key: b.Public(), Sig: b.Sign(crypto.Mint, testNet.ID, id)},
	}
	return tx
}

// call is one method call that reached a fake.
type call struct {
	method    string
	caller    roles.Principal
	hasCaller bool
	args      []any
}

type recorder struct {
	mu    sync.Mutex
	calls []call
	// err, when set, is returned by every method.
	err error
	// panicOn names a method that panics.
	panicOn string
	// block, when set, makes every method wait for it or ctx.
	block chan struct{}
}

func (r *recorder) record(ctx context.Context, method string, args ...any) error {
	p, ok := roles.Caller(ctx)
	r.mu.Lock()
	r.calls = append(r.calls, call{method: method, caller: p, hasCaller: ok, args: args})
	err, pan, block := r.err, r.panicOn, r.block
	r.mu.Unlock()
	if pan == method {
		panic("fake panics in " + method)
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (r *recorder) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// reset forgets the calls seen so far (long fuzz runs).
func (r *recorder) reset() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
}

func (r *recorder) last() call {
	c := r.Calls()
	if len(c) == 0 {
		return call{}
	}
	return c[len(c)-1]
}

func (r *recorder) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// --- ledger ---

type fakeLedger struct {
	recorder
	// batchErrs[i], when set, rejects the i-th transaction of a batch.
	batchErrs map[int]error
}

var ledgerInfo = roles.LedgerInfo{
	Network:    testNet,
	MintKeys:   []crypto.PublicKey{key(4).Public(), key(5).Public(), key(6).Public()},
	MintQuorum: 2,
	RedeemKeys: []crypto.PublicKey{key(7).Public()},
	Shards:     4,
}

var header = money.BatchHeader{Seq: 7, Prev: hashOf(0xaa), TxRoot: hashOf(0xbb), TxCount: 3, Minted: 100000000, Redeemed: 2550}

func receiptFor(tx *money.Tx, i int) roles.Receipt {
	return roles.Receipt{TxID: testNet.TxID(tx), Batch: 7, Index: uint32(i)}
}

// Health answers GET /healthz with the error set, unrecorded: a health
// check is not a call to the ledger's contract.
func (f *fakeLedger) Health(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeLedger) Info(ctx context.Context) (roles.LedgerInfo, error) {
	if err := f.record(ctx, "Info"); err != nil {
		return roles.LedgerInfo{}, err
	}
	return ledgerInfo, nil
}

func (f *fakeLedger) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	if err := f.record(ctx, "Submit", tx); err != nil {
		return roles.Receipt{}, err
	}
	return receiptFor(tx, 3), nil
}

func (f *fakeLedger) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	if err := f.record(ctx, "SubmitBatch", txs); err != nil {
		return nil, err
	}
	out := make([]roles.Result, len(txs))
	for i, tx := range txs {
		if e := f.batchErrs[i]; e != nil {
			out[i].Err = e
			continue
		}
		out[i].Receipt = receiptFor(tx, i)
	}
	return out, nil
}

func (f *fakeLedger) Locate(ctx context.Context, ids []money.TxID) ([]roles.Result, error) {
	if err := f.record(ctx, "Locate", ids); err != nil {
		return nil, err
	}
	out := make([]roles.Result, len(ids))
	for i, id := range ids {
		out[i].Receipt = roles.Receipt{TxID: id, Batch: 7, Index: uint32(i)}
	}
	return out, nil
}

func (f *fakeLedger) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	if err := f.record(ctx, "Tx", id); err != nil {
		return roles.TxInfo{}, err
	}
	return roles.TxInfo{TxID: id, Status: "committed", Kind: "transfer", Header: header, Index: 2, Proof: []money.Hash{hashOf(1), hashOf(2)}}, nil
}

func (f *fakeLedger) Note(ctx context.Context, id money.NoteID) (roles.NoteInfo, error) {
	if err := f.record(ctx, "Note", id); err != nil {
		return roles.NoteInfo{}, err
	}
	if id == hashOf(0) {
		return roles.NoteInfo{ID: id, Status: roles.NoteUnknown}, nil
	}
	return roles.NoteInfo{ID: id, Status: roles.NoteUnspent, Value: 18446744073709551615}, nil
}

var ledgerSupply = roles.LedgerSupply{Minted: 100000000, Redeemed: 2550, Outstanding: 99997450, Unspent: 12, Batches: 7}

func (f *fakeLedger) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	if err := f.record(ctx, "Supply"); err != nil {
		return roles.LedgerSupply{}, err
	}
	return ledgerSupply, nil
}

func (f *fakeLedger) Batch(ctx context.Context, seq uint64) (roles.BatchContents, error) {
	if err := f.record(ctx, "Batch", seq); err != nil {
		return roles.BatchContents{}, err
	}
	b, err := transferTx(10, 1).MarshalBinary()
	if err != nil {
		return roles.BatchContents{}, err
	}
	return roles.BatchContents{Header: header, Txs: [][]byte{b}}, nil
}

func (f *fakeLedger) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := f.record(ctx, "Checkpoint"); err != nil {
		return nil, err
	}
	return []byte("specie/test\n8\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 0\n\n— log sig\n"), nil
}

func (f *fakeLedger) Consistency(ctx context.Context, from, to uint64) ([]money.Hash, error) {
	if err := f.record(ctx, "Consistency", from, to); err != nil {
		return nil, err
	}
	return []money.Hash{hashOf(1)}, nil
}

// LogKey is a configuration value, answered even when the ledger fails.
func (f *fakeLedger) LogKey(context.Context) (string, error) { return "", nil }

func (f *fakeLedger) Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	if err := f.record(ctx, "Headers", from, limit); err != nil {
		return nil, err
	}
	h1 := header
	h2 := header
	h2.Seq, h2.Prev = 8, hashOf(0xcc)
	return []money.BatchHeader{h1, h2}, nil
}

// --- issuer ---

type fakeIssuer struct{ recorder }

func mintFor(to string, amount uint64) roles.Mint {
	tx := mintTx(amount)
	return roles.Mint{
		ID: testNet.TxID(tx), To: to, Amount: amount, Status: roles.MintCommitted,
		Approvals: tx.Auth, Approvers: []crypto.PublicKey{tx.Auth[0].Key, tx.Auth[1].Key},
		Quorum: 2, Receipt: &roles.Receipt{TxID: testNet.TxID(tx), Batch: 9, Index: 1},
		Tx: tx, Created: t0,
	}
}

func (f *fakeIssuer) ProposeMint(ctx context.Context, to string, amount uint64) (roles.Mint, error) {
	if err := f.record(ctx, "ProposeMint", to, amount); err != nil {
		return roles.Mint{}, err
	}
	m := mintFor(to, amount)
	m.Status, m.Approvals, m.Approvers, m.Receipt = roles.MintPending, nil, nil, nil
	return m, nil
}

func (f *fakeIssuer) ApproveMint(ctx context.Context, id money.TxID, k crypto.PublicKey, sig money.Sig) (roles.Mint, error) {
	if err := f.record(ctx, "ApproveMint", id, k, sig); err != nil {
		return roles.Mint{}, err
	}
	return mintFor("bank-a", 5000), nil
}

func (f *fakeIssuer) GetMint(ctx context.Context, id money.TxID) (roles.Mint, error) {
	if err := f.record(ctx, "GetMint", id); err != nil {
		return roles.Mint{}, err
	}
	m := mintFor("bank-b", 777)
	m.Status, m.Reason, m.Receipt = roles.MintRejected, "reserve too small", nil
	return m, nil
}

func (f *fakeIssuer) Redeem(ctx context.Context, tx *money.Tx) (roles.Redemption, error) {
	if err := f.record(ctx, "Redeem", tx); err != nil {
		return roles.Redemption{}, err
	}
	return roles.Redemption{Intermediary: "bank-a", Amount: 1234, Receipt: receiptFor(tx, 5)}, nil
}

var issuerSupply = roles.Supply{
	LedgerSupply: ledgerSupply,
	Currency:     testNet.Currency,
	Reserves:     []roles.Reserve{{Intermediary: "bank-a", Balance: 5000000}, {Intermediary: "bank-b", Balance: 0}},
}

func (f *fakeIssuer) Supply(ctx context.Context) (roles.Supply, error) {
	if err := f.record(ctx, "Supply"); err != nil {
		return roles.Supply{}, err
	}
	return issuerSupply, nil
}

// --- intermediary ---

type fakeInter struct {
	recorder
	name string
}

func (f *fakeInter) Name() string { return f.name }

func (f *fakeInter) walletFor(id, owner string) roles.Wallet {
	return roles.Wallet{ID: id, Owner: owner, Lock: money.KeyLock(key(8).Public()), Balance: 123456, Notes: 3, Created: t0}
}

func (f *fakeInter) OpenWallet(ctx context.Context, req roles.WalletRequest) (roles.Wallet, error) {
	owner := req.Owner
	if err := f.record(ctx, "OpenWallet", owner); err != nil {
		return roles.Wallet{}, err
	}
	w := f.walletFor(f.name+".k3j9x2", owner)
	w.Balance, w.Notes = 0, 0
	return w, nil
}

func (f *fakeInter) Wallet(ctx context.Context, id string) (roles.Wallet, error) {
	if err := f.record(ctx, "Wallet", id); err != nil {
		return roles.Wallet{}, err
	}
	return f.walletFor(id, "alice"), nil
}

func (f *fakeInter) History(ctx context.Context, id string) ([]roles.Entry, error) {
	if err := f.record(ctx, "History", id); err != nil {
		return nil, err
	}
	return []roles.Entry{
		{TxID: hashOf(3), Direction: "in", Amount: 100000, Counterparty: "bank-b.zz", Reference: "salary", Batch: 4, Time: t0},
		{TxID: hashOf(4), Direction: "out", Amount: 1, Batch: 5, Time: t0.Add(time.Hour)},
	}, nil
}

func (f *fakeInter) Pay(ctx context.Context, p roles.Payment) (roles.PaymentResult, error) {
	if err := f.record(ctx, "Pay", p); err != nil {
		return roles.PaymentResult{}, err
	}
	return roles.PaymentResult{TxID: hashOf(5), Receipt: roles.Receipt{TxID: hashOf(5), Batch: 11, Index: 0}, From: p.From, To: p.To, Amount: p.Amount}, nil
}

func (f *fakeInter) ReceiveLock(ctx context.Context, id string) (money.Lock, error) {
	if err := f.record(ctx, "ReceiveLock", id); err != nil {
		return money.Lock{}, err
	}
	return money.KeyLock(key(8).Public()), nil
}

func (f *fakeInter) ReleaseHold(ctx context.Context, id, hold string) error {
	return f.record(ctx, "ReleaseHold", hold)
}

func (f *fakeInter) Deliver(ctx context.Context, tx *money.Tx) error {
	return f.record(ctx, "Deliver", tx)
}

func (f *fakeInter) DeliverBatch(ctx context.Context, ds []roles.Delivery) ([]error, error) {
	if err := f.record(ctx, "DeliverBatch", ds); err != nil {
		return nil, err
	}
	return make([]error, len(ds)), nil
}

func (f *fakeInter) Redeem(ctx context.Context, r roles.RedeemRequest) (roles.Redemption, error) {
	if err := f.record(ctx, "Redeem", r); err != nil {
		return roles.Redemption{}, err
	}
	return roles.Redemption{Intermediary: f.name, Amount: r.Amount, Receipt: roles.Receipt{TxID: hashOf(6), Batch: 12, Index: 4}}, nil
}

// --- policy and registry (served by the fake issuer, as the real issuer
// process serves them) ---

func testPolicy() policy.Policy { return policy.Default(testNet.ID, testNet.Currency) }

func testProposal() roles.PolicyProposal {
	p := testPolicy()
	return roles.PolicyProposal{ID: money.Hash(p.Hash()), Policy: p, Status: roles.PolicyPending, Quorum: 2, Created: t0}
}

func (f *fakeIssuer) Policy(ctx context.Context) (policy.Signed, error) {
	if err := f.record(ctx, "Policy"); err != nil {
		return policy.Signed{}, err
	}
	p := testPolicy()
	return policy.Signed{Policy: p, Approvals: []policy.Approval{policy.Sign(&p, key(4)), policy.Sign(&p, key(5))}}, nil
}

func (f *fakeIssuer) ProposePolicy(ctx context.Context, p policy.Policy) (roles.PolicyProposal, error) {
	if err := f.record(ctx, "ProposePolicy", p); err != nil {
		return roles.PolicyProposal{}, err
	}
	return testProposal(), nil
}

func (f *fakeIssuer) ApprovePolicy(ctx context.Context, id money.Hash, k crypto.PublicKey, sig policy.Signature) (roles.PolicyProposal, error) {
	if err := f.record(ctx, "ApprovePolicy", id, k, sig); err != nil {
		return roles.PolicyProposal{}, err
	}
	p := testProposal()
	p.Approvals = []policy.Approval{{Key: k, Sig: sig}}
	return p, nil
}

func (f *fakeIssuer) GetPolicyProposal(ctx context.Context, id money.Hash) (roles.PolicyProposal, error) {
	if err := f.record(ctx, "GetPolicyProposal", id); err != nil {
		return roles.PolicyProposal{}, err
	}
	return testProposal(), nil
}

func (f *fakeIssuer) ListPolicyProposals(ctx context.Context) ([]roles.PolicyProposal, error) {
	if err := f.record(ctx, "ListPolicyProposals"); err != nil {
		return nil, err
	}
	return []roles.PolicyProposal{testProposal()}, nil
}

func (f *fakeIssuer) Reserve(ctx context.Context, r roles.Reservation) (roles.Reservation, error) {
	if err := f.record(ctx, "Reserve", r); err != nil {
		return roles.Reservation{}, err
	}
	r.Used = r.Share
	return r, nil
}

func (f *fakeIssuer) Release(ctx context.Context, person, wallet string) error {
	return f.record(ctx, "Release", person, wallet)
}

func (f *fakeIssuer) Reservations(ctx context.Context) ([]roles.Reservation, error) {
	if err := f.record(ctx, "Reservations"); err != nil {
		return nil, err
	}
	return []roles.Reservation{{Person: strings.Repeat("ab", 32), Wallet: "bank-a.w1", Share: 100, Limit: 50000}}, nil
}

// The wallet administration of roles.WalletAdmin, recorded like the rest.

func (f *fakeInter) adminWallet(ctx context.Context, what, id string, args any) (roles.Wallet, error) {
	if err := f.record(ctx, what, args); err != nil {
		return roles.Wallet{}, err
	}
	w := f.walletFor(id, "alice")
	w.State, w.TierName, w.HoldingLimit = roles.WalletActive, "phone only", 50000
	return w, nil
}

func (f *fakeInter) SetTier(ctx context.Context, id string, c roles.TierChange) (roles.Wallet, error) {
	return f.adminWallet(ctx, "SetTier", id, c)
}

func (f *fakeInter) Freeze(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return f.adminWallet(ctx, "Freeze", id, reason)
}

func (f *fakeInter) Unfreeze(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return f.adminWallet(ctx, "Unfreeze", id, reason)
}

func (f *fakeInter) CloseWallet(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return f.adminWallet(ctx, "CloseWallet", id, reason)
}

func (f *fakeInter) Link(ctx context.Context, id, account, reason string) (roles.Wallet, error) {
	return f.adminWallet(ctx, "Link", id, account)
}

func (f *fakeInter) Audit(ctx context.Context, id string) ([]roles.AuditEntry, error) {
	if err := f.record(ctx, "Audit", id); err != nil {
		return nil, err
	}
	return []roles.AuditEntry{{Time: t0, Actor: f.name, Action: "open", Detail: "tier 0 (phone only), evidence phone"}}, nil
}

func (f *fakeInter) Account(ctx context.Context, id string) (roles.Account, []roles.AccountEntry, error) {
	if err := f.record(ctx, "Account", id); err != nil {
		return roles.Account{}, nil, err
	}
	return roles.Account{ID: "DE-1", Wallet: id, Balance: 100}, []roles.AccountEntry{{Direction: "in", Amount: 100, Reference: "waterfall", Time: t0}}, nil
}
