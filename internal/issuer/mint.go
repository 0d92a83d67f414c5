package issuer

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// lookupTimeout bounds a question to the ledger made after the caller's own
// request failed or was cancelled.
const lookupTimeout = 10 * time.Second

// ProposeMint drafts a mint of amount to intermediary `to`, payable to its
// treasury wallet. The amount must fit in the intermediary's reserve after
// the other mints proposed for it; nothing moves until a quorum approves.
func (is *Issuer) ProposeMint(ctx context.Context, to string, amount uint64) (roles.Mint, error) {
	if err := requireIssuer(ctx); err != nil {
		return roles.Mint{}, err
	}
	if amount == 0 {
		return roles.Mint{}, errcode.New(errcode.Malformed, "mint amount must be more than zero")
	}
	if err := is.canPropose(to, amount); err != nil {
		return roles.Mint{}, err
	}

	inter, ok := is.dir(to)
	if !ok {
		return roles.Mint{}, errcode.New(errcode.Unavailable, "intermediary %q cannot be reached", to)
	}
	lock, err := inter.ReceiveLock(roles.WithCaller(ctx, self), to+roles.TreasurySuffix)
	if err != nil {
		return roles.Mint{}, fmt.Errorf("mint to %s: treasury lock: %w", to, err)
	}
	if lock.Kind != money.LockEd25519 {
		return roles.Mint{}, errcode.New(errcode.Unavailable, "intermediary %q gave a lock of unknown kind %d", to, lock.Kind)
	}
	nonce, err := is.nonce()
	if err != nil {
		return roles.Mint{}, errcode.New(errcode.Internal, "mint nonce: %v", err)
	}
	tx := &money.Tx{
		Kind:    money.Mint,
		Nonce:   nonce,
		Outputs: []money.Output{{Value: amount, Lock: lock}},
	}
	if err := tx.Check(); err != nil {
		return roles.Mint{}, errcode.New(errcode.Malformed, "mint: %v", err)
	}
	body, err := tx.MarshalBinary()
	if err != nil {
		return roles.Mint{}, errcode.New(errcode.Internal, "encode mint: %v", err)
	}
	id := is.cfg.Network.TxID(tx)
	p := &proposal{To: to, Amount: amount, Status: roles.MintPending, Tx: body, Created: time.Now().UTC()}

	is.mu.Lock()
	defer is.mu.Unlock()
	// Another proposal may have taken the reserve while we asked for the lock.
	if err := is.canProposeLocked(to, amount); err != nil {
		return roles.Mint{}, err
	}
	if has, err := is.db.Has(key(prefProp, id[:])); err != nil {
		return roles.Mint{}, errcode.New(errcode.Internal, "read proposal %s: %v", id, err)
	} else if has {
		return roles.Mint{}, errcode.New(errcode.Conflict, "mint %s already exists", id)
	}
	if err := is.saveProposal(id, p); err != nil {
		return roles.Mint{}, err
	}
	is.log.Info("mint proposed", "id", id, "to", to, "amount", is.cfg.Network.Currency.Format(amount))
	return is.view(id, p)
}

// canPropose says whether a mint of amount to `to` may be proposed now.
func (is *Issuer) canPropose(to string, amount uint64) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.canProposeLocked(to, amount)
}

// canProposeLocked is canPropose for a caller that holds mu.
func (is *Issuer) canProposeLocked(to string, amount uint64) error {
	if err := is.usable(); err != nil {
		return err
	}
	return is.checkReserve(to, amount)
}

// nonce draws a mint nonce from cfg.Rand.
func (is *Issuer) nonce() (uint64, error) {
	is.randMu.Lock()
	defer is.randMu.Unlock()
	var b [8]byte
	if _, err := io.ReadFull(is.cfg.Rand, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// usable rejects calls after Close. Caller holds mu.
func (is *Issuer) usable() error {
	if is.closed {
		return errcode.New(errcode.Unavailable, "issuer is closed")
	}
	return nil
}

// checkReserve says whether amount fits in to's reserve once every other
// open proposal for it is set aside. Caller holds mu.
func (is *Issuer) checkReserve(to string, amount uint64) error {
	bal, ok := is.reserves[to]
	if !ok {
		return errcode.New(errcode.NotFound, "no intermediary %q with a reserve account", to)
	}
	var held uint64
	for _, op := range is.open {
		if op.to != to {
			continue
		}
		if h, err := money.Add(held, op.amount); err == nil {
			held = h
		} else {
			held = ^uint64(0)
		}
	}
	cur := is.cfg.Network.Currency
	if held > bal || amount > bal-held {
		return errcode.New(errcode.InsufficientFunds, "reserve of %s is %s with %s held by pending mints; cannot mint %s",
			to, cur.Format(bal), cur.Format(held), cur.Format(amount))
	}
	return nil
}

// GetMint reports a proposal.
func (is *Issuer) GetMint(ctx context.Context, id money.TxID) (roles.Mint, error) {
	if err := requireIssuer(ctx); err != nil {
		return roles.Mint{}, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.Mint{}, err
	}
	p, err := is.getProposal(id)
	if err != nil {
		return roles.Mint{}, err
	}
	return is.view(id, p)
}

// ApproveMint records one officer's signature over the mint's txid. At the
// quorum it commits the mint on the ledger, debits the reserve and delivers
// the notes to the intermediary; a failed delivery is retried later and
// never undoes the mint.
//
// A proposal that reached its quorum but was not committed (the ledger was
// unreachable, or the desk crashed) is back to pending with its approvals;
// any officer's valid approval then submits it again.
func (is *Issuer) ApproveMint(ctx context.Context, id money.TxID, k crypto.PublicKey, sig money.Sig) (roles.Mint, error) {
	if err := requireIssuer(ctx); err != nil {
		return roles.Mint{}, err
	}
	// Verified before the lock: the signature is over id alone, so no
	// state is needed, and no other approval waits for an Ed25519 check.
	// decideApproval still reports a bad one only after the checks that
	// come first, so the answers are as they always were.
	// Whether k is an officer is read under the lock: a key rotation
	// (keys.go) changes the officer keys.
	signer := approver{key: k, sig: sig, verified: crypto.Verify(k, crypto.Mint, is.cfg.Network.ID, id, sig)}

	p, step, err := func() (*proposal, approvalStep, error) {
		is.mu.Lock()
		defer is.mu.Unlock()
		if err := is.usable(); err != nil {
			return nil, 0, err
		}
		p, err := is.getProposal(id)
		if err != nil {
			return nil, 0, err
		}
		signer.officer = is.mkeys[k]
		// Approvals by keys a rotation replaced since (keys.go) no longer
		// count: the ledger would refuse the mint they sign.
		p.Approvals = slices.DeleteFunc(p.Approvals, func(x approval) bool { return !is.mkeys[x.Key] })
		step, err := decideApproval(id, p, is.busy[id], signer, is.cfg.MintQuorum, is.reserves[p.To], is.cfg.Network.Currency)
		if err != nil {
			return nil, 0, err
		}
		// The decision is recorded before the lock is let go: the next
		// approval must decide on the state this one leaves.
		if err := is.saveProposal(id, p); err != nil {
			return nil, 0, err
		}
		if step == stepSubmit {
			is.busy[id] = true
		}
		return p, step, nil
	}()
	if err != nil {
		return roles.Mint{}, err
	}

	switch step {
	case stepRecord:
		is.log.Info("mint approved", "id", id, "by", k, "approvals", len(p.Approvals), "quorum", is.cfg.MintQuorum)
		return is.view(id, p)
	case stepReject:
		is.log.Warn("mint rejected", "id", id, "reason", p.Reason)
		return roles.Mint{}, errcode.New(errcode.InsufficientFunds, "mint %s: %s", id, p.Reason)
	}
	is.log.Info("mint quorum reached, submitting", "id", id, "approvals", len(p.Approvals))
	tx, err := txOf(id, p)
	if err != nil {
		is.backToPending(id)
		return roles.Mint{}, err
	}
	m, err := is.submitMint(ctx, id, tx)
	if err != nil {
		return m, err
	}
	if derr := is.deliverOne(ctx, id); derr != nil {
		is.log.Warn("mint committed but not delivered yet; will retry", "id", id, "to", m.To, "err", derr)
	}
	return m, nil
}

// approver is one officer's approval as it arrived, checked outside the
// lock: whether the key is an officer's and whether the signature verifies.
type approver struct {
	key      crypto.PublicKey
	sig      money.Sig
	officer  bool
	verified bool
}

// approvalStep is what an approval leads to.
type approvalStep int

const (
	stepRecord approvalStep = iota // below the quorum: the approval is recorded
	stepReject                     // the quorum is reached but the reserve no longer covers the mint
	stepSubmit                     // the quorum is reached: the signed mint goes to the ledger
)

// decideApproval is ApproveMint's decision, a pure function of the stored
// proposal p, whether it is at the ledger right now (busy), the approval,
// the quorum and the reserve of the intermediary the mint pays. It returns
// a rejection, or the step and p as it must be saved: with the approval
// added, rejected with its reason, or submitting with its Auth set.
func decideApproval(id money.TxID, p *proposal, busy bool, a approver, quorum int, reserve uint64, cur money.Currency) (approvalStep, error) {
	if p.Status != roles.MintPending || busy {
		return 0, errcode.New(errcode.Conflict, "mint %s is %s, not pending", id, p.Status)
	}
	if !a.officer {
		return 0, errcode.New(errcode.Unauthorized, "key %s is not a mint officer key", a.key)
	}
	already := slices.ContainsFunc(p.Approvals, func(x approval) bool { return x.Key == a.key })
	resubmit := len(p.Approvals) >= quorum
	if already && !resubmit {
		return 0, errcode.New(errcode.Conflict, "key %s already approved mint %s", a.key, id)
	}
	if !a.verified {
		return 0, errcode.New(errcode.BadSignature, "approval of mint %s by %s does not verify", id, a.key)
	}
	if !already && len(p.Approvals) < money.MaxAuth {
		p.Approvals = append(p.Approvals, approval{Key: a.key, Sig: slices.Clone(a.sig[:])})
	}
	if len(p.Approvals) < quorum {
		return stepRecord, nil
	}
	if p.Amount > reserve {
		p.Status = roles.MintRejected
		p.Reason = fmt.Sprintf("reserve of %s is %s, less than %s", p.To, cur.Format(reserve), cur.Format(p.Amount))
		return stepReject, nil
	}
	tx, err := txOf(id, p)
	if err != nil {
		return 0, err
	}
	tx.Auth = authOf(p.Approvals)
	if p.Tx, err = tx.MarshalBinary(); err != nil {
		return 0, errcode.New(errcode.Internal, "encode mint %s: %v", id, err)
	}
	// The intent is saved first: after a crash, Open asks the ledger.
	p.Status = statusSubmitting
	return stepSubmit, nil
}

// submitMint sends a quorum-signed mint to the ledger and records the
// outcome. Only a definite rejection rejects the proposal; when the answer
// is lost or ambiguous, the ledger is asked whether the mint committed.
func (is *Issuer) submitMint(ctx context.Context, id money.TxID, tx *money.Tx) (roles.Mint, error) {
	rc, err := is.ledger.Submit(ctx, tx)
	if err == nil {
		return is.finishMint(id, rc)
	}
	code := errcode.Of(err)
	switch code {
	case errcode.DoubleSpend, errcode.Unavailable, errcode.Internal:
		// double_spend: perhaps an earlier submission committed it.
		// unavailable, internal: the outcome is unknown.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		found, rc, lerr := is.lookupTx(lctx, id)
		cancel()
		switch {
		case lerr != nil:
			is.release(id) // left submitting: the retry loop asks again
			is.log.Warn("mint outcome unknown; will ask the ledger again", "id", id, "submit", err, "lookup", lerr)
			return roles.Mint{}, errcode.New(errcode.Unavailable, "mint %s: outcome unknown, it will be reconciled with the ledger: %v", id, err)
		case found:
			return is.finishMint(id, rc)
		case code != errcode.DoubleSpend:
			is.backToPending(id)
			return roles.Mint{}, fmt.Errorf("mint %s not committed; approve again to resubmit: %w", id, err)
		}
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.busy, id)
	p, gerr := is.getProposal(id)
	if gerr != nil {
		return roles.Mint{}, gerr
	}
	if p.Status == roles.MintCommitted {
		return is.view(id, p)
	}
	p.Status = roles.MintRejected
	p.Reason = err.Error()
	if serr := is.saveProposal(id, p); serr != nil {
		is.log.Error("cannot record mint rejection", "id", id, "err", serr)
	}
	is.log.Warn("ledger rejected mint", "id", id, "err", err)
	return roles.Mint{}, err
}

// lookupTx asks the ledger whether a transaction committed.
func (is *Issuer) lookupTx(ctx context.Context, id money.TxID) (bool, roles.Receipt, error) {
	info, err := is.ledger.Tx(ctx, id)
	if err == nil {
		return true, roles.Receipt{TxID: id, Batch: info.Header.Seq, Index: info.Index}, nil
	}
	if errcode.Is(err, errcode.NotFound) {
		return false, roles.Receipt{}, nil
	}
	return false, roles.Receipt{}, err
}

// finishMint records a committed mint: in one batch the proposal becomes
// committed, the reserve is debited and the delivery queued. A proposal
// already committed is left alone, so nothing is debited twice.
func (is *Issuer) finishMint(id money.TxID, rc roles.Receipt) (roles.Mint, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.busy, id)
	if err := is.usable(); err != nil {
		return roles.Mint{}, err
	}
	p, err := is.getProposal(id)
	if err != nil {
		return roles.Mint{}, err
	}
	if p.Status == roles.MintCommitted {
		return is.view(id, p)
	}
	if p.Status == roles.MintRejected {
		is.log.Warn("mint recorded as rejected is committed on the ledger; recording it", "id", id)
	}
	bal := is.reserves[p.To]
	if bal < p.Amount {
		// Cannot happen while pending mints hold their reserve; refuse to
		// wrap around and leave it for an operator.
		is.log.Error("committed mint exceeds reserve", "id", id, "to", p.To, "reserve", bal, "amount", p.Amount)
		return roles.Mint{}, errcode.New(errcode.Internal, "mint %s committed but reserve of %s is %d < %d", id, p.To, bal, p.Amount)
	}
	p.Status = roles.MintCommitted
	p.Receipt = &rc
	p.Reason = ""
	b := is.db.NewBatch()
	if err := putProposal(b, id, p); err != nil {
		b.Discard()
		return roles.Mint{}, errcode.New(errcode.Internal, "%v", err)
	}
	b.Delete(key(prefOpen, id[:]))
	b.Set(key(prefReserv, []byte(p.To)), encodeU64(bal-p.Amount))
	b.Set(key(prefOutbox, id[:]), []byte(p.To))
	if err := is.journal(b, ReserveEntry{Intermediary: p.To, Kind: ReserveMint, Ref: id.String(), Amount: p.Amount, Balance: bal - p.Amount}); err != nil {
		b.Discard()
		return roles.Mint{}, errcode.New(errcode.Internal, "%v", err)
	}
	if err := b.Commit(true); err != nil {
		return roles.Mint{}, storeErr(err, "record mint %s", id)
	}
	is.reserves[p.To] = bal - p.Amount
	delete(is.open, id)
	is.log.Info("mint committed", "id", id, "to", p.To, "amount", is.cfg.Network.Currency.Format(p.Amount),
		"batch", rc.Batch, "reserve", is.cfg.Network.Currency.Format(bal-p.Amount))
	return is.view(id, p)
}

// backToPending returns a submitting proposal that did not commit to
// pending, keeping its approvals.
func (is *Issuer) backToPending(id money.TxID) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.busy, id)
	if is.closed {
		return
	}
	p, err := is.getProposal(id)
	if err != nil || p.Status != statusSubmitting {
		return
	}
	p.Status = roles.MintPending
	if err := is.saveProposal(id, p); err != nil {
		is.log.Error("cannot return mint to pending", "id", id, "err", err)
		return
	}
	is.log.Warn("mint was not committed; back to pending, any officer's approval resubmits it", "id", id)
}
