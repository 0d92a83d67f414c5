// Package roles holds the contracts between Specie's organisations: the
// ledger operator, the issuer (central bank) and the intermediaries. Each is
// a Go interface with plain data types. The services implement them, and so
// does the HTTP client, so a role never imports another role's package and
// in-process wiring is the same contract without the socket.
//
// It is public because these interfaces and their data (Payment, Receipt,
// TxInfo, Mint, Wallet, ...) are also the contract with programs outside
// Specie: a program written against roles.Intermediary works with the
// client package over HTTP, and a test double of a role is just another
// implementation. Amounts are minor units (uint64); failures are
// *errcode.Error values.
package roles

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// Ledger is the central bank's ledger core: it validates and commits
// transactions and serves the verifiable log. It never learns who owns what.
type Ledger interface {
	// Info describes the network: its ID, currency and authority keys.
	Info(ctx context.Context) (LedgerInfo, error)
	// Submit validates tx and returns once it is durably committed, or
	// with an *errcode.Error saying why it was rejected (then nothing changed).
	Submit(ctx context.Context, tx *money.Tx) (Receipt, error)
	// SubmitBatch submits many transactions; results are in the same order.
	// A rejected transaction does not affect the others.
	SubmitBatch(ctx context.Context, txs []*money.Tx) ([]Result, error)
	// Tx reports a committed transaction with its batch header and an
	// inclusion proof; errcode.NotFound if it was never committed.
	Tx(ctx context.Context, id money.TxID) (TxInfo, error)
	// Note reports whether a note is unspent, spent, or unknown.
	Note(ctx context.Context, id money.NoteID) (NoteInfo, error)
	// Supply reports minted, redeemed and outstanding totals.
	Supply(ctx context.Context) (LedgerSupply, error)
	// Headers returns up to limit batch headers starting at sequence from.
	Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error)
}

// TxLocator is a Ledger that confirms many committed transactions in one
// call: for each its receipt (batch and index), or why not (NotFound when
// it was never committed), without the inclusion proof Tx builds. An
// intermediary confirms the payments delivered to it this way, a delivery
// batch at a time; a Ledger without it is asked Tx for each.
type TxLocator interface {
	// Locate answers for each of ids, in order. An error for the whole
	// call (the ledger cannot be reached) says nothing of any of them.
	Locate(ctx context.Context, ids []money.TxID) ([]Result, error)
}

// LedgerInfo is what a participant needs to build valid transactions.
type LedgerInfo struct {
	Network    money.Network      `json:"network"`
	MintKeys   []crypto.PublicKey `json:"mint_keys"`   // issuer officer keys
	MintQuorum int                `json:"mint_quorum"` // m of len(MintKeys)
	RedeemKeys []crypto.PublicKey `json:"redeem_keys"` // issuer keys that may acknowledge a redeem
	Shards     int                `json:"shards"`
	// KeySets are the officer key rotations the ledger applied, oldest
	// first; MintKeys and MintQuorum are the founding set, which applies
	// before the first (roles.KeyRotator).
	KeySets []KeyEpoch `json:"key_sets,omitempty"`
	// Groups, on a sharded network (docs/scale-out.md), says where each
	// group's own log is served: a sharded network has one hash chain per
	// group, and an auditor must be able to reach each of them to check
	// the network's supply. Empty on an unsharded ledger.
	Groups []GroupLog `json:"groups,omitempty"`
	// Coordinator, on a sharded network, lists the base URLs serving the
	// two-phase-commit coordinator's decision log, whose minted total is
	// the value moved between groups.
	Coordinator []string `json:"coordinator,omitempty"`
}

// GroupLog is where one group of a sharded network serves its log.
type GroupLog struct {
	Index int      `json:"index"` // the group's index (shard.GroupOf)
	URLs  []string `json:"urls"`  // base URLs of its replicas' APIs, any of which serves its log
}

// Receipt says where a committed transaction sits in the log.
type Receipt struct {
	TxID  money.TxID `json:"txid"`
	Batch uint64     `json:"batch"`
	Index uint32     `json:"index"`
}

// Result is one transaction's outcome within a batch submission.
type Result struct {
	Receipt Receipt `json:"receipt"`
	Err     error   `json:"-"` // nil when committed; an *errcode.Error otherwise
}

// TxInfo proves a transaction's inclusion in the log.
type TxInfo struct {
	TxID   money.TxID        `json:"txid"`
	Status string            `json:"status"` // "committed"
	Kind   string            `json:"kind"`
	Header money.BatchHeader `json:"header"`
	Index  uint32            `json:"index"`
	Proof  []money.Hash      `json:"proof"`
}

// Note statuses. There is no "spent": the ledger keeps only the unspent
// notes (that is what lets it hold 100 million of them in a few GB), so
// from a note ID alone it cannot tell a spent note from one that never
// existed, and says NoteUnknown for both. Whether a note was spent is
// answered where the ledger has the whole note (creating txid, index,
// value, lock): a transaction spending it is rejected with
// errcode.DoubleSpend when the transaction that created it is committed
// with an output at that index (the note was spent, or the value or lock
// presented are not the output's), and errcode.UnknownNote when no such
// output was ever created.
const (
	NoteUnspent = "unspent"
	NoteUnknown = "unknown" // spent, or never created
)

// NoteInfo reports one note ID's state: NoteUnspent with its value, or
// NoteUnknown.
type NoteInfo struct {
	ID     money.NoteID `json:"id"`
	Status string       `json:"status"`
	Value  uint64       `json:"value,omitempty"` // known while unspent
}

// LedgerSupply is the ledger's own view of the money supply.
type LedgerSupply struct {
	Minted      uint64 `json:"minted"`
	Redeemed    uint64 `json:"redeemed"`
	Outstanding uint64 `json:"outstanding"`
	Unspent     uint64 `json:"unspent_notes"`
	Batches     uint64 `json:"batches"`
}

// Issuer is the central bank's issuance desk: m-of-n approved mints against
// an intermediary's reserves, and redemption back into reserves.
type Issuer interface {
	// ProposeMint drafts a mint of amount to intermediary `to`, checked
	// against its reserves. Nothing moves until a quorum approves.
	ProposeMint(ctx context.Context, to string, amount uint64) (Mint, error)
	// ApproveMint adds one officer's signature over the mint's txid (domain
	// crypto.Mint). When the quorum is reached the mint is committed, the
	// reserve debited and the notes delivered to the intermediary.
	ApproveMint(ctx context.Context, id money.TxID, key crypto.PublicKey, sig money.Sig) (Mint, error)
	// GetMint reports a proposal.
	GetMint(ctx context.Context, id money.TxID) (Mint, error)
	// Redeem takes a redeem transaction signed by the calling intermediary,
	// acknowledges it with an issuer key, commits it, and credits the
	// destroyed amount to the caller's reserve account.
	Redeem(ctx context.Context, tx *money.Tx) (Redemption, error)
	// Supply reports the ledger supply together with every reserve account.
	Supply(ctx context.Context) (Supply, error)
}

// Mint statuses.
const (
	MintPending   = "pending"
	MintCommitted = "committed"
	MintRejected  = "rejected"
)

// Mint is a proposal to create money for an intermediary.
type Mint struct {
	ID        money.TxID         `json:"id"` // the mint transaction's txid: what officers sign
	To        string             `json:"to"`
	Amount    uint64             `json:"amount"`
	Status    string             `json:"status"`
	Approvals []money.KeySig     `json:"-"`
	Approvers []crypto.PublicKey `json:"approvers"`
	Quorum    int                `json:"quorum"`
	Receipt   *Receipt           `json:"receipt,omitempty"`
	Reason    string             `json:"reason,omitempty"` // why it was rejected
	Tx        *money.Tx          `json:"-"`
	Created   time.Time          `json:"created"`
}

// Redemption is the outcome of a redeem.
type Redemption struct {
	Intermediary string  `json:"intermediary"`
	Amount       uint64  `json:"amount"`
	Receipt      Receipt `json:"receipt"`
}

// Supply is the whole picture the central bank publishes.
type Supply struct {
	LedgerSupply
	Currency money.Currency `json:"currency"`
	Reserves []Reserve      `json:"reserves"`
}

// Reserve is an intermediary's reserve account at the central bank.
type Reserve struct {
	Intermediary string `json:"intermediary"`
	Balance      uint64 `json:"balance"`
}

// Intermediary is a bank or payment provider running custodial wallets.
type Intermediary interface {
	// Name is the intermediary's identifier, the prefix of its wallet IDs.
	Name() string
	// OpenWallet opens a custodial wallet for a customer at a tier of the
	// central bank's policy, with the identity evidence the tier asks for.
	OpenWallet(ctx context.Context, req WalletRequest) (Wallet, error)
	// Wallet reports a wallet and its balance (the sum of its unspent notes).
	Wallet(ctx context.Context, id string) (Wallet, error)
	// History lists a wallet's payments, newest last.
	History(ctx context.Context, id string) ([]Entry, error)
	// Pay moves amount from a wallet of this intermediary to any wallet,
	// here or at another intermediary, and returns once committed. With
	// p.IdempotencyKey set it is safe to retry (see Payment).
	Pay(ctx context.Context, p Payment) (PaymentResult, error)
	// ReceiveLock returns the lock that pays wallet id; other
	// intermediaries ask it before paying one of this one's wallets.
	ReceiveLock(ctx context.Context, id string) (money.Lock, error)
	// Deliver hands over a committed transaction that pays this
	// intermediary's wallets; it checks the ledger and credits them.
	// Delivering the same transaction twice credits once.
	Deliver(ctx context.Context, tx *money.Tx) error
	// Redeem returns r.Amount from the treasury wallet to the central
	// bank, credited to this intermediary's reserve account; with
	// r.IdempotencyKey it is safe to retry (see RedeemRequest).
	Redeem(ctx context.Context, r RedeemRequest) (Redemption, error)
}

// RedeemRequest asks an intermediary to redeem treasury money.
//
// IdempotencyKey, optional, works as Payment's and in the same key space
// (one per intermediary, shared with its payments, kept as long): a retry
// with the same key and Amount returns the first redemption (the same
// txid) or the same rejection and never redeems twice, also after a
// restart; while the first attempt's outcome is unknown it answers
// unavailable naming that txid; the same key with another Amount, or a
// key a payment used, is errcode.Conflict and changes nothing.
type RedeemRequest struct {
	Amount         uint64 `json:"amount"`
	IdempotencyKey string `json:"idempotency_key,omitempty"` // "" means none
}

// TreasurySuffix names an intermediary's own wallet, which receives mints,
// funds customers and holds notes it will redeem: "<name>.treasury".
const TreasurySuffix = ".treasury"

// WalletRequest asks an intermediary to open a wallet.
type WalletRequest struct {
	Owner string `json:"owner"` // the customer's reference at the intermediary
	// Tier is the policy tier (policy.Tier.Level) the wallet opens at;
	// Evidence must name every kind of evidence that tier lists.
	Tier     int           `json:"tier"`
	Evidence []EvidenceRef `json:"evidence"`
	// Share, when not 0, is a smaller part of the tier's holding limit for
	// this wallet to reserve in the holding-limit registry (a person who
	// keeps the rest for wallets elsewhere); 0 reserves the whole limit.
	Share uint64 `json:"share,omitempty"`
	// Person is the identity reference the registry's pseudonym is made
	// from; "" means the reference of the phone evidence, else of the
	// identity evidence. It is never stored by the registry.
	Person string `json:"person,omitempty"`
	Reason string `json:"reason,omitempty"` // why, for the audit trail
}

// EvidenceRef records that the intermediary checked one piece of identity
// evidence: its kind and a reference to it (a phone number, a document
// number), never the document itself.
type EvidenceRef struct {
	Kind policy.Evidence `json:"kind"`
	Ref  string          `json:"ref"`
}

// Wallet states.
const (
	WalletActive = "active" // pays and receives within its limits
	WalletFrozen = "frozen" // pays nothing and receives nothing
	WalletClosed = "closed" // at balance zero, for good
)

// Wallet is a custodial wallet.
type Wallet struct {
	ID      string     `json:"id"` // "<intermediary>.<random>", e.g. "bank-a.k3j9x2"
	Owner   string     `json:"owner"`
	Lock    money.Lock `json:"-"`
	Balance uint64     `json:"balance"`
	Notes   int        `json:"notes"`
	Created time.Time  `json:"created"`
	// Pending is the value of the wallet's notes held by its payments in
	// flight, whose outcome the ledger has not yet given (the ledger may be
	// unreachable). It is not part of Balance, which is what the wallet can
	// spend now; Balance+Pending is what it holds. When such a payment
	// settles, its notes leave Pending: spent (its change joins Balance) if
	// it committed, back into Balance if it did not.
	Pending uint64 `json:"pending"`
	// Reserved is the value the wallet has locked in active reservations
	// for payees (roles.Reserver): not in Balance, not spendable, and
	// back in Balance if a reservation is voided, refunded or captured
	// for less.
	Reserved uint64 `json:"reserved,omitempty"`
	// Tier and State are the wallet's policy tier and state (WalletActive,
	// WalletFrozen, WalletClosed); an intermediary's treasury, and wallets
	// opened before tiers existed, have State "" and no limits.
	Tier     int    `json:"tier"`
	TierName string `json:"tier_name,omitempty"`
	State    string `json:"state,omitempty"`
	// HoldingLimit is the most the wallet may hold: its share of the
	// person's holding limit (0: no limit).
	HoldingLimit uint64 `json:"holding_limit,omitempty"`
	Account      string `json:"account,omitempty"` // the linked deposit account, if any
}

// TierChange asks to move a wallet to another tier: up with the new
// tier's evidence, down when the balance fits the lower holding limit.
type TierChange struct {
	Tier     int           `json:"tier"`
	Evidence []EvidenceRef `json:"evidence,omitempty"`
	Share    uint64        `json:"share,omitempty"` // as in WalletRequest
	Reason   string        `json:"reason"`
}

// AuditEntry is one change to a wallet: who made it (the credential),
// what and why.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // "open", "tier", "freeze", "unfreeze", "close", "link"
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Account is a deposit account at an intermediary: its ordinary bank
// money, not digital currency, to which a wallet may be linked for the
// waterfall.
type Account struct {
	ID      string `json:"id"`
	Wallet  string `json:"wallet"` // the linked wallet
	Balance uint64 `json:"balance"`
}

// AccountEntry is one line of a deposit account's history.
type AccountEntry struct {
	TxID      money.TxID `json:"txid,omitzero"`
	Direction string     `json:"direction"` // "in" or "out"
	Amount    uint64     `json:"amount"`
	Reference string     `json:"reference,omitempty"`
	Time      time.Time  `json:"time"`
}

// WalletAdmin is what an intermediary's staff do to its wallets under the
// central bank's policy. Each change is in the wallet's audit trail with
// the caller's credential and the reason given. Implemented by
// intermediaries that enforce tiers, and by their clients.
type WalletAdmin interface {
	// SetTier moves a wallet to another tier.
	SetTier(ctx context.Context, id string, c TierChange) (Wallet, error)
	// Freeze stops a wallet paying and receiving; Unfreeze lets it again.
	Freeze(ctx context.Context, id, reason string) (Wallet, error)
	Unfreeze(ctx context.Context, id, reason string) (Wallet, error)
	// CloseWallet closes a wallet at balance zero (pay it out first).
	CloseWallet(ctx context.Context, id, reason string) (Wallet, error)
	// Link links a wallet to a deposit account at the intermediary,
	// opening the account if new.
	Link(ctx context.Context, id, account, reason string) (Wallet, error)
	// Audit lists a wallet's changes, oldest first.
	Audit(ctx context.Context, id string) ([]AuditEntry, error)
	// Account reports the deposit account linked to wallet id, and its
	// history.
	Account(ctx context.Context, id string) (Account, []AccountEntry, error)
}

// AmountReceiver is implemented by intermediaries that enforce the
// payee's side of the policy: ReceiveFor is ReceiveLock for a payment of
// amount, refused (errcode.LimitExceeded, errcode.Blocked) before the
// payer signs anything when the wallet may not receive it, and saying how
// to split it when the wallet's linked deposit account takes what the
// wallet may not hold (the waterfall).
type AmountReceiver interface {
	ReceiveFor(ctx context.Context, id string, amount uint64) (ReceivePlan, error)
}

// HoldReleaser is implemented by intermediaries whose ReceiveFor places
// holds (ReceivePlan.Hold): the payer's intermediary releases, best
// effort, the hold of a payment it abandons, which otherwise expires.
// Releasing a hold that is gone is not an error.
type HoldReleaser interface {
	ReleaseHold(ctx context.Context, id, hold string) error
}

// ReceivePlan says how to pay an amount to a wallet: amount minus
// Overflow to Lock, and Overflow, when not 0, to OverflowLock (the payee
// intermediary's treasury, which credits it to the wallet's linked
// deposit account when the payment is delivered with its memo).
//
// Hold, when not empty, names the hold the payee's intermediary placed on
// the wallet's incoming capacity for this payment: the payer passes it
// back in the delivery's Memo, and the payee's intermediary then turns
// the hold into the credit. A hold it is not given back expires.
type ReceivePlan struct {
	Lock         money.Lock `json:"lock"`
	Overflow     uint64     `json:"overflow,omitempty"`
	OverflowLock money.Lock `json:"overflow_lock,omitzero"`
	Hold         string     `json:"hold,omitempty"`
}

// Memo is what the payer's intermediary tells the payee's about a payment
// it delivers: who paid, whom, and the payer's reference. It travels
// between intermediaries only, never to the ledger, which learns no names.
//
// Hold is the hold the payee's intermediary answered ReceiveFor with
// (ReceivePlan.Hold), if any.
type Memo struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Reference string `json:"reference,omitempty"`
	Hold      string `json:"hold,omitempty"`
	// Request is the payment request (PaymentRequest.ID) the payment pays,
	// if any: the payee's intermediary marks it paid.
	Request string `json:"request,omitempty"`
	// RefundOf is the original payment's txid when the delivered payment
	// is a refund of it, for the payee's history line.
	RefundOf money.TxID `json:"refund_of,omitzero"`
}

// Delivery is one committed transaction handed over to the payee's
// intermediary, with the payment's memo when the payer's intermediary
// gives one.
type Delivery struct {
	Tx   *money.Tx
	Memo *Memo
}

// BatchDeliverer is implemented by intermediaries (and their clients)
// that accept many deliveries in one call, each with its memo. Results
// are per delivery, in order: nil means delivered (or already delivered).
// The error is for the call as a whole (no result was produced). An
// intermediary that does not implement it is given one Deliver per
// transaction, without memos.
type BatchDeliverer interface {
	DeliverBatch(ctx context.Context, ds []Delivery) ([]error, error)
}

// Payment asks an intermediary to pay.
//
// IdempotencyKey, optional, makes the payment safe to retry after a timeout
// or an unavailable answer, when the caller cannot tell whether money
// moved. It is 1 to MaxIdempotencyKeyLen printable ASCII characters (0x20
// to 0x7e); anything else is malformed. The intermediary remembers, per
// intermediary (one key space shared by all its wallets) and durably, each
// key with its request (From, To, Amount, Reference) and outcome: a retry
// with the same key and request returns the original result (the same
// txid) or the same rejection and never pays twice, even after a restart;
// while the first attempt's outcome is still unknown it answers
// unavailable naming that txid. The same key with a different request is
// errcode.Conflict and changes nothing. A request refused before any money
// could move (malformed, unauthorized, unknown wallet, a policy limit or a
// frozen wallet: limit_exceeded, blocked) is not remembered,
// and a key whose payment the ledger never committed is released once
// that is certain, so a retry then pays.
//
// Keys are remembered for the intermediary's retention (7 days unless
// configured otherwise), counted from the first attempt: a retry after
// that is a new payment.
type Payment struct {
	From           string `json:"from"`
	To             string `json:"to"`
	Amount         uint64 `json:"amount"`
	Reference      string `json:"reference,omitempty"`       // free text shown in history
	IdempotencyKey string `json:"idempotency_key,omitempty"` // see above; "" means none
	// RefundOf, when set, makes the payment a refund of the payment with
	// that txid, which wallet From received: To may be left empty (it is
	// the wallet that paid; any other is refused), and the refunds of one
	// payment never add up to more than it.
	RefundOf money.TxID `json:"refund_of,omitzero"`
}

// MaxIdempotencyKeyLen bounds Payment.IdempotencyKey and
// RedeemRequest.IdempotencyKey in bytes.
const MaxIdempotencyKeyLen = 128

// PaymentResult is a committed payment.
type PaymentResult struct {
	TxID    money.TxID `json:"txid"`
	Receipt Receipt    `json:"receipt"`
	From    string     `json:"from"`
	To      string     `json:"to"`
	Amount  uint64     `json:"amount"`
}

// Entry is one line of a wallet's history.
type Entry struct {
	TxID         money.TxID `json:"txid"`
	Direction    string     `json:"direction"` // "in" or "out"
	Amount       uint64     `json:"amount"`
	Counterparty string     `json:"counterparty,omitempty"`
	Reference    string     `json:"reference,omitempty"`
	Batch        uint64     `json:"batch"`
	Time         time.Time  `json:"time"`
	// RefundOf is set on both lines of a refund: the txid of the payment
	// it refunds.
	RefundOf money.TxID `json:"refund_of,omitzero"`
}

// Policies is where the central bank publishes its policy (package
// policy): proposed and approved by an m-of-n quorum of officers, like a
// mint, and in force once approved. Intermediaries fetch the version in
// force and verify its signatures before applying it.
type Policies interface {
	// Policy returns the version in force with its approvals.
	Policy(ctx context.Context) (policy.Signed, error)
}

// PolicyDesk is the issuer's side of policy governance: officers propose
// a new version and approve it with their keys (domain crypto.Policy over
// policy.Hash), exactly like a mint; at the quorum it is in force. It is
// its own interface, beside Policies, because only the issuer's staff
// govern while every intermediary merely reads.
type PolicyDesk interface {
	Policies
	// ProposePolicy records a draft of the next version: it must be valid,
	// for this network, and numbered the version in force plus one.
	ProposePolicy(ctx context.Context, p policy.Policy) (PolicyProposal, error)
	// ApprovePolicy adds one officer's signature over the proposal's ID
	// (its policy.Hash). At the quorum the proposal is in force.
	ApprovePolicy(ctx context.Context, id money.Hash, key crypto.PublicKey, sig policy.Signature) (PolicyProposal, error)
	// GetPolicyProposal reports one proposal; errcode.NotFound if none.
	GetPolicyProposal(ctx context.Context, id money.Hash) (PolicyProposal, error)
	// ListPolicyProposals reports every proposal, oldest version first.
	ListPolicyProposals(ctx context.Context) ([]PolicyProposal, error)
}

// Policy proposal statuses.
const (
	PolicyPending    = "pending"    // collecting approvals
	PolicyInForce    = "in_force"   // the version in force
	PolicySuperseded = "superseded" // was in force; a later version replaced it
	PolicyStale      = "stale"      // never in force: another proposal of its version came into force first
)

// PolicyProposal is one proposed version of the policy with the approvals
// it has gathered.
type PolicyProposal struct {
	ID        money.Hash        `json:"id"` // policy.Hash of Policy: what officers sign
	Policy    policy.Policy     `json:"policy"`
	Status    string            `json:"status"`
	Approvals []policy.Approval `json:"approvals"`
	Quorum    int               `json:"quorum"`
	Created   time.Time         `json:"created"`
}

// Registry is the central bank's holding-limit registry. A person may hold
// wallets at several intermediaries but the holding limit is per person:
// each intermediary reserves the share of the person's limit its wallet
// uses, and the registry refuses (errcode.LimitExceeded) a reservation that
// would take the sum of a person's shares over the limit. It knows a person
// only by a salted pseudonym (Pseudonym), whose salt the intermediaries
// share and the registry never learns. The caller's credential names the
// intermediary; it sees and changes only its own reservations.
type Registry interface {
	// Reserve sets the share of r.Person's limit that wallet r.Wallet uses
	// (replacing any earlier share of that wallet). r.Limit is the holding
	// limit of the wallet's tier; the sum of the person's shares may not
	// exceed the largest Limit among their reservations.
	Reserve(ctx context.Context, r Reservation) (Reservation, error)
	// Release ends wallet's reservation (closing a wallet). Releasing one
	// that does not exist is not an error: the call is idempotent.
	Release(ctx context.Context, person, wallet string) error
	// Reservations lists the caller's reservations, so an intermediary can
	// release the ones of wallets it never finished opening.
	Reservations(ctx context.Context) ([]Reservation, error)
}

// Reservation is one wallet's share of a person's holding limit.
type Reservation struct {
	Person string `json:"person"` // Pseudonym of the person: 64 hex digits
	Wallet string `json:"wallet"` // the wallet ID; names the intermediary
	Share  uint64 `json:"share"`  // minor units of the limit this wallet may hold
	Limit  uint64 `json:"limit"`  // the holding limit of the wallet's tier
	// Used is, in a Reserve answer, the sum of the person's shares after
	// it (all intermediaries), so the caller can say what is left.
	// A Limit of 0 means no holding limit (as in package policy: a tier
	// without one), so such a reservation is never refused.
	Used uint64 `json:"used,omitempty"`
}

// Pseudonym is how the registry knows a person: HMAC-SHA256 of the
// person's normalised identity reference under salt, a secret shared by
// the intermediaries and never given to the registry, in hex.
func Pseudonym(salt []byte, identity string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(identity))
	return hex.EncodeToString(m.Sum(nil))
}

// Directory finds an intermediary by name: in process the service itself,
// across processes an HTTP client holding the caller's credential. The
// issuer uses one to deliver minted notes, intermediaries to reach peers.
type Directory func(name string) (Intermediary, bool)

// IntermediaryOf returns the intermediary name a wallet ID belongs to.
func IntermediaryOf(walletID string) string {
	for i := 0; i < len(walletID); i++ {
		if walletID[i] == '.' {
			return walletID[:i]
		}
	}
	return ""
}
