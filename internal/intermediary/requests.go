package intermediary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Request-to-pay (roles.Requests, roles.RequestRelay).
//
// The payee's intermediary owns a request: its record here is the truth.
// When the payer's wallet is at another intermediary, that one keeps a
// copy, offered by the owner (a push retried in the background until
// taken, like a delivery) and refreshed on every change the owner makes.
// The payer's intermediary answers the owner synchronously: claim before
// paying (so the payee can no longer cancel under the payment), release
// when the payment was refused, decline.
//
// Accepting pays with an idempotency key derived from the request ID and
// the attempt (a definite refusal, insufficient funds say, ends an
// attempt; anything else keeps it), so a retried or crashed accept pays
// once. The key's form ("\x01request <id> <attempt>") cannot be given by
// a customer, whose keys are printable. The applied payment marks the
// request paid in the same store batch that records it: the payer's copy
// when its own spend is applied (also when Open settles a spend a crash
// left pending), the owner's when the delivery, whose memo names the
// request, arrives (or at once when both wallets are here).
//
// Store layout:
//
//	rq/<id>                 requestRec (JSON)
//	rqw/<wallet>\x00<id>    empty: the wallet's requests, as payee or payer
//	rqo/<id>                owner's version (decimal): a change the payer's intermediary has not yet taken
const (
	pRequest       = "rq/"
	pRequestWallet = "rqw/"
	pRequestPush   = "rqo/"

	requestKeyTag = "\x01request "
)

// MaxRequestIDLen bounds a request ID in bytes.
const MaxRequestIDLen = 128

// MaxRequestLife bounds how far ahead a request may expire.
const MaxRequestLife = 366 * 24 * time.Hour

func requestKey(id string) []byte { return append([]byte(pRequest), id...) }

func requestWalletPrefix(wallet string) []byte {
	return append(append([]byte(pRequestWallet), wallet...), 0)
}

func requestWalletKey(wallet, id string) []byte { return append(requestWalletPrefix(wallet), id...) }

func requestPushKey(id string) []byte { return append([]byte(pRequestPush), id...) }

// requestIdemKey is the idempotency key of attempt n at paying request id.
func requestIdemKey(id string, n int) string { return requestKeyTag + id + " " + strconv.Itoa(n) }

// requestOfIdemKey is the request a payment's idempotency key pays, or "".
func requestOfIdemKey(k string) string {
	rest, ok := strings.CutPrefix(k, requestKeyTag)
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, ' '); i > 0 {
		return rest[:i]
	}
	return ""
}

// requestRec is a request as stored: the request, and what only this
// intermediary needs of it.
type requestRec struct {
	roles.PaymentRequest
	// Attempt numbers the payer's attempts at paying (payer's side): a
	// definite refusal ends one.
	Attempt int `json:"attempt,omitempty"`
	// Claimed is the amount the payer claimed the request for (owner's
	// side; an open request's amount).
	Claimed uint64 `json:"claimed,omitempty"`
}

// view is the request as a user sees it now: a claim (accepted) older than
// Config.RequestClaimTTL has lapsed, and the request is pending again; a
// pending request past its expiry is expired. Both are read, never
// written, so every reader (cancel, answer, accept, list) agrees with no
// background job; a payment that arrives after its claim lapsed still
// marks the request paid (requestPaidInto), and the payer's idempotency
// key for the request makes sure a second claim pays nothing more.
func (in *Intermediary) view(r requestRec) roles.PaymentRequest {
	p := r.PaymentRequest
	now := in.cfg.Now()
	if p.State == roles.RequestAccepted && !now.Before(in.claimLapses(r)) {
		p.State = roles.RequestPending
	}
	if p.State == roles.RequestPending && !now.Before(p.Expires) {
		p.State = roles.RequestExpired
	}
	return p
}

// claimLapses is when the claim on an accepted request lapses: the owner
// moved it to accepted at Updated (a payer's copy carries the owner's
// Updated), so both sides read the same.
func (in *Intermediary) claimLapses(r requestRec) time.Time {
	return r.Updated.Add(in.cfg.RequestClaimTTL)
}

// finishedAt is when a request as view shows it became final, or false
// while it is not: a stored final state at its last change, an expired one
// at its expiry, or at its claim's lapse when that came later.
func (in *Intermediary) finishedAt(r requestRec) (time.Time, bool) {
	switch v := in.view(r); {
	case v.State == roles.RequestExpired && r.State == roles.RequestAccepted:
		lapse := in.claimLapses(r)
		if lapse.After(r.Expires) {
			return lapse, true
		}
		return r.Expires, true
	case v.State == roles.RequestExpired && r.State == roles.RequestPending:
		return r.Expires, true
	case v.State.Final():
		return r.Updated, true
	}
	return time.Time{}, false
}

// lockRequest serialises the changes of one request here, with the
// idempotency keys' locks (a key no customer can give).
func (in *Intermediary) lockRequest(ctx context.Context, id string) (func(), error) {
	unlock, err := in.lockIdem(ctx, "\x02request "+id)
	if err != nil {
		return nil, errcode.New(errcode.Unavailable, "request %s is busy: %v", id, err)
	}
	return unlock, nil
}

func (in *Intermediary) loadRequest(id string) (requestRec, error) {
	var r requestRec
	found, err := getRec(in.db, requestKey(id), &r)
	if err != nil {
		return r, internalErr("request "+id, err)
	}
	if !found {
		return r, errcode.New(errcode.NotFound, "no request %s at %s", id, in.cfg.Name)
	}
	return r, nil
}

func checkRequestID(id string) error {
	if id == "" || len(id) > MaxRequestIDLen || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return errcode.New(errcode.Malformed, "request id: want 1 to %d bytes of UTF-8 text", MaxRequestIDLen)
	}
	return nil
}

// walletRef resolves how a customer names a wallet in a request to its
// wallet ID: a wallet ID ("<intermediary>.<id>") as it is, an alias (a
// phone number, an email address) through the alias directory, as a
// payment to an alias is (LookupAlias, within the caller's lookup
// budget).
func (in *Intermediary) walletRef(ctx context.Context, ref, what string) (string, error) {
	if ref == "" {
		return "", errcode.New(errcode.Malformed, "no %s wallet", what)
	}
	if roles.LooksLikeAlias(ref) {
		e, err := in.LookupAlias(ctx, ref)
		if err != nil {
			return "", err
		}
		return e.Wallet, nil
	}
	if len(ref) > MaxOwnerLen || !utf8.ValidString(ref) || strings.ContainsRune(ref, 0) || roles.IntermediaryOf(ref) == "" {
		return "", errcode.New(errcode.Malformed, "%s: want a wallet id <intermediary>.<id> or an alias", what)
	}
	return ref, nil
}

// relay is the request relay of intermediary name, a peer.
func (in *Intermediary) relay(name string) (roles.RequestRelay, error) {
	p, ok := in.peer(name)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "no intermediary %q", name)
	}
	r, ok := p.(roles.RequestRelay)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s takes no payment requests", name)
	}
	return r, nil
}

// CreateRequest makes a payment request of wallet s.Payee, here, to wallet
// s.Payer, here or at a peer. A payer elsewhere is offered the request at
// once; if its intermediary cannot be reached the request is still made
// and offered again in the background until taken. A refusal by it (no
// such wallet) makes nothing.
func (in *Intermediary) CreateRequest(ctx context.Context, s roles.RequestSpec) (roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentRequest{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.PaymentRequest{}, err
	}
	payee, err := in.walletRef(ctx, s.Payee, "payee")
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	payer, err := in.walletRef(ctx, s.Payer, "payer")
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	switch {
	case payee == payer:
		return roles.PaymentRequest{}, errcode.New(errcode.Malformed, "a wallet cannot request a payment from itself")
	case len(s.Reference) > MaxReferenceLen || !utf8.ValidString(s.Reference):
		return roles.PaymentRequest{}, errcode.New(errcode.Malformed, "reference: want at most %d bytes of UTF-8 text", MaxReferenceLen)
	case s.Expires.IsZero():
		return roles.PaymentRequest{}, errcode.New(errcode.Malformed, "no expiry")
	}
	now := in.now()
	if !s.Expires.After(now) {
		return roles.PaymentRequest{}, errcode.New(errcode.Malformed, "expiry %s is not in the future", s.Expires.UTC().Format(time.RFC3339))
	}
	if s.Expires.Sub(now) > MaxRequestLife {
		return roles.PaymentRequest{}, errcode.New(errcode.Malformed, "expiry more than %s ahead", MaxRequestLife)
	}
	if err := in.ownWallet(payee); err != nil {
		return roles.PaymentRequest{}, err
	}
	if _, err := in.loadWallet(payee); err != nil {
		return roles.PaymentRequest{}, err
	}
	peer := roles.IntermediaryOf(payer)
	var relay roles.RequestRelay
	if peer == in.cfg.Name {
		if _, err := in.loadWallet(payer); err != nil {
			return roles.PaymentRequest{}, err
		}
		peer = ""
	} else if relay, err = in.relay(peer); err != nil {
		return roles.PaymentRequest{}, err
	}
	var id string
	if s.IdempotencyKey != "" {
		// A keyed create names its request after the payee and the key, so
		// a resent create finds the first one's request under its lock.
		if err := checkIdempotencyKey(s.IdempotencyKey); err != nil {
			return roles.PaymentRequest{}, err
		}
		sum := sha256.Sum256([]byte(payee + "\x00" + s.IdempotencyKey))
		id = in.cfg.Name + ".rqk" + hex.EncodeToString(sum[:10])
		unlock, err := in.lockRequest(ctx, id)
		if err != nil {
			return roles.PaymentRequest{}, err
		}
		defer unlock()
		old, err := in.loadRequest(id)
		switch {
		case err == nil:
			if old.Payer != payer || old.Amount != s.Amount || old.Reference != s.Reference {
				return roles.PaymentRequest{}, errcode.New(errcode.Conflict, "idempotency key %q already made request %s, for another payer, amount or reference", s.IdempotencyKey, id)
			}
			return in.view(old), nil
		case !errcode.Is(err, errcode.NotFound):
			return roles.PaymentRequest{}, err
		}
	} else {
		suffix, err := in.randomSuffix()
		if err != nil {
			return roles.PaymentRequest{}, internalErr("request id", err)
		}
		id = in.cfg.Name + ".rq" + suffix
	}
	rec := requestRec{PaymentRequest: roles.PaymentRequest{ID: id, Payee: payee, Payer: payer,
		Amount: s.Amount, Reference: s.Reference, Expires: s.Expires.UTC(), State: roles.RequestPending,
		Created: now, Updated: now, Version: 1}}
	offered := false
	if relay != nil {
		err := relay.OfferRequest(in.asSelf(ctx), rec.PaymentRequest)
		switch {
		case err == nil:
			offered = true
		case rejected(err):
			return roles.PaymentRequest{}, err
		default:
			in.log.Warn("payment request not taken by the payer's intermediary yet; offering it again in the background", "request", rec.ID, "peer", peer, "err", err)
		}
	}
	b := in.db.NewBatch()
	if err := in.putRequest(b, rec, peer != "" && !offered); err != nil {
		b.Discard()
		return roles.PaymentRequest{}, err
	}
	b.Set(requestWalletKey(payee, rec.ID), nil)
	if peer == "" {
		b.Set(requestWalletKey(payer, rec.ID), nil)
	}
	if err := b.Commit(true); err != nil {
		return roles.PaymentRequest{}, internalErr("store request", err)
	}
	in.log.Debug("payment request created", "request", rec.ID, "payee", payee, "payer", payer, "amount", s.Amount)
	return in.view(rec), nil
}

// putRequest adds rec to b, and with push an entry that offers this
// version to the payer's intermediary.
func (in *Intermediary) putRequest(b *store.Batch, rec requestRec, push bool) error {
	v, err := recBytes(rec)
	if err != nil {
		return internalErr("encode request", err)
	}
	b.Set(requestKey(rec.ID), v)
	if push {
		b.Set(requestPushKey(rec.ID), strconv.AppendUint(nil, rec.Version, 10))
	}
	return nil
}

// saveRequest stores rec alone, synced.
func (in *Intermediary) saveRequest(rec requestRec, push bool) error {
	b := in.db.NewBatch()
	if err := in.putRequest(b, rec, push); err != nil {
		b.Discard()
		return err
	}
	if err := b.Commit(true); err != nil {
		return internalErr("store request "+rec.ID, err)
	}
	return nil
}

// Request reports one request as this intermediary knows it: the owner's
// record, or the payer's copy.
func (in *Intermediary) Request(ctx context.Context, id string) (roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentRequest{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.PaymentRequest{}, err
	}
	if err := checkRequestID(id); err != nil {
		return roles.PaymentRequest{}, err
	}
	rec, err := in.loadRequest(id)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	return in.view(rec), nil
}

// WalletRequests lists the requests of a wallet here as payee, payer or
// either, oldest first.
func (in *Intermediary) WalletRequests(ctx context.Context, wallet string, role roles.RequestRole) ([]roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if role != roles.RequestEither && role != roles.RequestAsPayee && role != roles.RequestAsPayer {
		return nil, errcode.New(errcode.Malformed, "role %q: want payee or payer", role)
	}
	if err := in.readable(ctx, wallet); err != nil {
		return nil, err
	}
	prefix := requestWalletPrefix(wallet)
	var ids []string
	if err := in.db.Scan(prefix, nil, func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	}); err != nil {
		return nil, internalErr("requests of "+wallet, err)
	}
	out := []roles.PaymentRequest{}
	for _, id := range ids {
		rec, err := in.loadRequest(id)
		if err != nil {
			return nil, err
		}
		if (role == roles.RequestAsPayee && rec.Payee != wallet) || (role == roles.RequestAsPayer && rec.Payer != wallet) {
			continue
		}
		out = append(out, in.view(rec))
	}
	slices.SortStableFunc(out, func(a, b roles.PaymentRequest) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// CancelRequest withdraws a pending request, by its payee, at the owner.
// A request being paid (accepted) or final is a conflict.
func (in *Intermediary) CancelRequest(ctx context.Context, id, payee string) (roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentRequest{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.PaymentRequest{}, err
	}
	if err := checkRequestID(id); err != nil {
		return roles.PaymentRequest{}, err
	}
	if roles.IntermediaryOf(id) != in.cfg.Name {
		return roles.PaymentRequest{}, errcode.New(errcode.NotFound, "request %s is not owned by %s: cancel it at the payee's intermediary", id, in.cfg.Name)
	}
	unlock, err := in.lockRequest(ctx, id)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	defer unlock()
	rec, err := in.loadRequest(id)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	if rec.Payee != payee {
		return roles.PaymentRequest{}, errcode.Forbidden("request %s is not made by wallet %s", id, payee)
	}
	switch st := in.view(rec).State; st {
	case roles.RequestPending:
	case roles.RequestAccepted:
		return roles.PaymentRequest{}, errcode.New(errcode.Conflict, "request %s is being paid; it can no longer be cancelled", id)
	default:
		return roles.PaymentRequest{}, errcode.New(errcode.Conflict, "request %s is %s", id, st)
	}
	in.changeRequest(&rec, roles.RequestCancelled)
	remote := roles.IntermediaryOf(rec.Payer) != in.cfg.Name
	if err := in.saveRequest(rec, remote); err != nil {
		return roles.PaymentRequest{}, err
	}
	if remote {
		in.pushRequestLocked(ctx, id)
	}
	return in.view(rec), nil
}

// changeRequest moves rec to state, as a new version of the owner's.
func (in *Intermediary) changeRequest(rec *requestRec, state roles.RequestState) {
	rec.State, rec.Updated = state, in.now()
	rec.Version++
}

// DeclineRequest refuses a request, by its payer, at the payer's
// intermediary, which tells the owner first: if the owner cannot be
// reached, nothing changes (unavailable).
func (in *Intermediary) DeclineRequest(ctx context.Context, id, payer string) (roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentRequest{}, err
	}
	defer in.exit()
	rec, unlock, err := in.payerRequest(ctx, id, payer)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	defer unlock()
	switch st := in.view(rec).State; st {
	case roles.RequestPending:
	case roles.RequestAccepted:
		return roles.PaymentRequest{}, errcode.New(errcode.Conflict, "request %s is being paid; accept it again to learn the payment's outcome", id)
	default:
		return roles.PaymentRequest{}, errcode.New(errcode.Conflict, "request %s is %s", id, st)
	}
	rec, err = in.answer(ctx, rec, roles.RequestAnswer{ID: id, Payer: payer, Action: roles.AnswerDecline})
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	return in.view(rec), nil
}

// payerRequest admits an act of wallet payer on request id at the payer's
// intermediary and returns the request under its lock.
func (in *Intermediary) payerRequest(ctx context.Context, id, payer string) (requestRec, func(), error) {
	if err := in.authorizeOwn(ctx); err != nil {
		return requestRec{}, nil, err
	}
	if err := checkRequestID(id); err != nil {
		return requestRec{}, nil, err
	}
	if payer == "" {
		return requestRec{}, nil, errcode.New(errcode.Malformed, "no payer wallet")
	}
	if err := in.ownWallet(payer); err != nil {
		return requestRec{}, nil, err
	}
	unlock, err := in.lockRequest(ctx, id)
	if err != nil {
		return requestRec{}, nil, err
	}
	rec, err := in.loadRequest(id)
	if err == nil && rec.Payer != payer {
		err = errcode.Forbidden("request %s is not addressed to wallet %s", id, payer)
	}
	if err != nil {
		unlock()
		return requestRec{}, nil, err
	}
	return rec, unlock, nil
}

// answer applies a payer's answer to rec, the payer's copy or (both
// wallets here) the owner's record: here when this intermediary owns it,
// else at the owner, whose answer becomes the copy. The caller holds the
// request's lock.
func (in *Intermediary) answer(ctx context.Context, rec requestRec, a roles.RequestAnswer) (requestRec, error) {
	owner := roles.IntermediaryOf(rec.ID)
	if owner == in.cfg.Name {
		return in.answerLocked(rec, a)
	}
	relay, err := in.relay(owner)
	if err != nil {
		return rec, err
	}
	got, err := relay.AnswerRequest(in.asSelf(ctx), a)
	if err != nil {
		return rec, err
	}
	if got.ID != rec.ID || got.Payer != rec.Payer || got.Payee != rec.Payee {
		return rec, errcode.New(errcode.Internal, "intermediary %s answered request %s for another request", owner, rec.ID)
	}
	if got.Version < rec.Version {
		return rec, nil // an answer older than the copy: keep the copy
	}
	keep := rec.Attempt
	if rec.State == roles.RequestPaid {
		return rec, nil // the payment, applied here, is final
	}
	rec = requestRec{PaymentRequest: got, Attempt: keep}
	if err := in.saveRequest(rec, false); err != nil {
		return rec, err
	}
	return rec, nil
}

// answerLocked applies a payer's answer to the owner's record rec.
func (in *Intermediary) answerLocked(rec requestRec, a roles.RequestAnswer) (requestRec, error) {
	st := in.view(rec).State
	switch a.Action {
	case roles.AnswerClaim:
		if err := requestAmount(rec.PaymentRequest, a.Amount); err != nil {
			return rec, err
		}
		switch st {
		case roles.RequestAccepted:
			if rec.Claimed != a.Amount {
				return rec, errcode.New(errcode.Conflict, "request %s is being paid %d, not %d", rec.ID, rec.Claimed, a.Amount)
			}
			return rec, nil
		case roles.RequestPending:
			in.changeRequest(&rec, roles.RequestAccepted)
			rec.Claimed = a.Amount
		default:
			return rec, errcode.New(errcode.Conflict, "request %s is %s", rec.ID, st)
		}
	case roles.AnswerRelease:
		if st != roles.RequestAccepted {
			return rec, nil // nothing held
		}
		in.changeRequest(&rec, roles.RequestPending)
		rec.Claimed = 0
	case roles.AnswerDecline:
		switch st {
		case roles.RequestDeclined:
			return rec, nil
		case roles.RequestPending, roles.RequestAccepted:
			in.changeRequest(&rec, roles.RequestDeclined)
		default:
			return rec, errcode.New(errcode.Conflict, "request %s is %s", rec.ID, st)
		}
	default:
		return rec, errcode.New(errcode.Malformed, "answer %q: want claim, release or decline", a.Action)
	}
	if err := in.saveRequest(rec, false); err != nil {
		return rec, err
	}
	return rec, nil
}

// requestAmount checks that amount may pay r: any positive amount for an
// open request, the requested one for a fixed request.
func requestAmount(r roles.PaymentRequest, amount uint64) error {
	switch {
	case amount == 0:
		return errcode.New(errcode.Malformed, "request %s is for an open amount: give the amount to pay", r.ID)
	case r.Amount != 0 && amount != r.Amount:
		return errcode.New(errcode.Conflict, "request %s is for %d, not %d", r.ID, r.Amount, amount)
	}
	return nil
}

// AcceptRequest pays request id from wallet payer, here: it claims the
// request at the owner, then pays it with the request's idempotency key,
// and the applied payment marks the request paid. Retried, it pays at most
// once: an attempt whose outcome is unknown answers unavailable and is
// taken up again by the retry; a request already paid answers paid.
func (in *Intermediary) AcceptRequest(ctx context.Context, id, payer string, amount uint64) (roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentRequest{}, err
	}
	defer in.exit()
	rec, unlock, err := in.payerRequest(ctx, id, payer)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	defer unlock()
	st := in.view(rec).State
	switch st {
	case roles.RequestPaid:
		return in.view(rec), nil // a retry of the accept that paid it
	case roles.RequestPending, roles.RequestAccepted:
	default:
		return roles.PaymentRequest{}, errcode.New(errcode.Conflict, "request %s is %s", id, st)
	}
	if amount == 0 {
		amount = rec.Amount
	}
	if err := requestAmount(rec.PaymentRequest, amount); err != nil {
		return roles.PaymentRequest{}, err
	}
	if st == roles.RequestPending {
		if rec, err = in.answer(ctx, rec, roles.RequestAnswer{ID: id, Payer: payer, Action: roles.AnswerClaim, Amount: amount}); err != nil {
			return roles.PaymentRequest{}, err
		}
	}
	p := roles.Payment{From: payer, To: rec.Payee, Amount: amount, Reference: rec.Reference, IdempotencyKey: requestIdemKey(id, rec.Attempt)}
	if _, err := in.payOnce(ctx, p); err != nil {
		if rejected(err) && !errcode.Is(err, errcode.Conflict) {
			in.releaseRequest(ctx, id, payer, err)
		}
		return roles.PaymentRequest{}, err
	}
	if rec, err = in.loadRequest(id); err != nil {
		return roles.PaymentRequest{}, err
	}
	if rec.State != roles.RequestPaid {
		return roles.PaymentRequest{}, errcode.New(errcode.Internal, "request %s: its payment committed but the request is %s", id, rec.State)
	}
	return in.view(rec), nil
}

// releaseRequest ends the attempt of a payment of request id that was
// refused: the next accept pays under a new key, and the owner may let the
// payee cancel again. Telling the owner is best effort: while it holds the
// claim the payee cannot cancel, and the payer may accept or decline.
func (in *Intermediary) releaseRequest(ctx context.Context, id, payer string, cause error) {
	rec, err := in.loadRequest(id)
	if err != nil {
		in.log.Error("refused payment of a request not released", "request", id, "err", err)
		return
	}
	rec.Attempt++
	if roles.IntermediaryOf(id) != in.cfg.Name {
		rec.State, rec.Updated = roles.RequestPending, in.now() // the copy; the owner's version is not ours to count
	}
	if err := in.saveRequest(rec, false); err != nil {
		in.log.Error("refused payment of a request not released", "request", id, "err", err)
		return
	}
	if _, err := in.answer(ctx, rec, roles.RequestAnswer{ID: id, Payer: payer, Action: roles.AnswerRelease}); err != nil {
		in.log.Warn("owner not told that a request's payment was refused", "request", id, "err", err, "cause", cause)
	}
}

// requestPaidInto adds to b that request id is paid by txid, from payer
// to payee, amount (0: what the payer claimed): the applying of the
// payment, here. A request unknown here, or not between these wallets,
// is left alone.
func (in *Intermediary) requestPaidInto(b *store.Batch, id string, txid money.TxID, payer, payee string, amount uint64) error {
	var rec requestRec
	found, err := getRec(in.db, requestKey(id), &rec)
	if err != nil {
		return fmt.Errorf("request %s: %w", id, err)
	}
	if !found || rec.State == roles.RequestPaid {
		return nil
	}
	if rec.Payer != payer || rec.Payee != payee {
		in.log.Warn("payment names a request between other wallets; request left alone", "request", id, "txid", txid, "from", payer, "to", payee)
		return nil
	}
	if amount == 0 {
		amount = rec.Claimed
	}
	if rec.State != roles.RequestAccepted {
		in.log.Warn("request paid while not accepted", "request", id, "state", rec.State, "txid", txid)
	}
	rec.State, rec.Paid, rec.TxID, rec.Updated = roles.RequestPaid, amount, txid, in.now()
	if roles.IntermediaryOf(id) == in.cfg.Name {
		rec.Version++
	}
	v, err := recBytes(rec)
	if err != nil {
		return err
	}
	b.Set(requestKey(id), v)
	return nil
}

// OfferRequest stores (or refreshes) the copy of a request owned by the
// calling intermediary, whose payer is a wallet here. A version no newer
// than the copy's, or any version once the copy is paid, changes nothing.
func (in *Intermediary) OfferRequest(ctx context.Context, r roles.PaymentRequest) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return err
	}
	caller, _ := roles.Caller(ctx)
	if err := checkRequestID(r.ID); err != nil {
		return err
	}
	switch {
	case roles.IntermediaryOf(r.ID) != caller.Name || roles.IntermediaryOf(r.Payee) != caller.Name:
		return errcode.Forbidden("%s may offer only its own requests, for its own wallets", caller.Name)
	case len(r.Payee) > MaxOwnerLen || !utf8.ValidString(r.Payee) || len(r.Reference) > MaxReferenceLen || !utf8.ValidString(r.Reference):
		return errcode.New(errcode.Malformed, "request: payee or reference too long or not UTF-8")
	case r.State != roles.RequestPending && r.State != roles.RequestAccepted && !r.State.Final():
		return errcode.New(errcode.Malformed, "request state %q", r.State)
	case r.Version == 0 || r.Expires.IsZero():
		return errcode.New(errcode.Malformed, "request: want a version and an expiry")
	}
	if err := in.ownWallet(r.Payer); err != nil {
		return errcode.New(errcode.NotFound, "no wallet %s at %s", r.Payer, in.cfg.Name)
	}
	if _, err := in.loadWallet(r.Payer); err != nil {
		return err
	}
	unlock, err := in.lockRequest(ctx, r.ID)
	if err != nil {
		return err
	}
	defer unlock()
	var old requestRec
	found, err := getRec(in.db, requestKey(r.ID), &old)
	if err != nil {
		return internalErr("request "+r.ID, err)
	}
	if found && (old.Payer != r.Payer || old.Payee != r.Payee) {
		return errcode.New(errcode.Conflict, "request %s is known here between other wallets", r.ID)
	}
	if found && (r.Version <= old.Version || old.State == roles.RequestPaid) {
		return nil
	}
	rec := requestRec{PaymentRequest: r, Attempt: old.Attempt}
	b := in.db.NewBatch()
	if err := in.putRequest(b, rec, false); err != nil {
		b.Discard()
		return err
	}
	b.Set(requestWalletKey(r.Payer, r.ID), nil)
	if err := b.Commit(true); err != nil {
		return internalErr("store request "+r.ID, err)
	}
	return nil
}

// AnswerRequest applies the answer of the payer's intermediary (the
// caller) to a request owned here.
func (in *Intermediary) AnswerRequest(ctx context.Context, a roles.RequestAnswer) (roles.PaymentRequest, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentRequest{}, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return roles.PaymentRequest{}, err
	}
	caller, _ := roles.Caller(ctx)
	if err := checkRequestID(a.ID); err != nil {
		return roles.PaymentRequest{}, err
	}
	if roles.IntermediaryOf(a.Payer) != caller.Name {
		return roles.PaymentRequest{}, errcode.Forbidden("%s may answer only for its own wallets", caller.Name)
	}
	if roles.IntermediaryOf(a.ID) != in.cfg.Name {
		return roles.PaymentRequest{}, errcode.New(errcode.NotFound, "no request %s at %s", a.ID, in.cfg.Name)
	}
	unlock, err := in.lockRequest(ctx, a.ID)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	defer unlock()
	rec, err := in.loadRequest(a.ID)
	if err != nil {
		return roles.PaymentRequest{}, err
	}
	if rec.Payer != a.Payer {
		return roles.PaymentRequest{}, errcode.Forbidden("request %s is not addressed to wallet %s", a.ID, a.Payer)
	}
	if rec, err = in.answerLocked(rec, a); err != nil {
		return roles.PaymentRequest{}, err
	}
	return rec.PaymentRequest, nil
}

// pushRequest offers the owner's current version of request id to the
// payer's intermediary, once; it reports whether that is settled: taken,
// or refused for good (then logged and not offered again).
func (in *Intermediary) pushRequest(ctx context.Context, id string) bool {
	unlock, err := in.lockRequest(ctx, id)
	if err != nil {
		return false
	}
	defer unlock()
	return in.pushRequestLocked(ctx, id)
}

// pushRequestLocked is pushRequest for a caller holding the request's
// lock.
func (in *Intermediary) pushRequestLocked(ctx context.Context, id string) bool {
	v, err := in.db.Get(requestPushKey(id))
	if err != nil {
		return errors.Is(err, store.ErrNotFound)
	}
	rec, err := in.loadRequest(id)
	if err != nil {
		in.log.Error("request to offer not readable", "request", id, "err", err)
		return false
	}
	relay, err := in.relay(roles.IntermediaryOf(rec.Payer))
	if err == nil {
		err = relay.OfferRequest(in.asSelf(ctx), rec.PaymentRequest)
	}
	if err != nil && !rejected(err) {
		in.log.Warn("payment request not taken by the payer's intermediary; will offer it again", "request", id, "err", err)
		return false
	}
	if err != nil {
		// A definite refusal (the payer's wallet is gone, say) is not
		// retried: the payer's side will not show this version.
		in.log.Error("payment request refused by the payer's intermediary; not offered again", "request", id, "err", err)
	}
	if string(v) == strconv.FormatUint(rec.Version, 10) {
		b := in.db.NewBatch()
		b.Delete(requestPushKey(id))
		if err := b.Commit(true); err != nil {
			in.log.Warn("offered request not unmarked; it will be offered again", "request", id, "err", err)
		}
	}
	return true
}

// RetryRequestOffers offers every request change not yet taken by its
// payer's intermediary again, as the background loop does; it returns
// unavailable if some are still not taken.
func (in *Intermediary) RetryRequestOffers(ctx context.Context) error {
	var ids []string
	if err := in.db.Scan([]byte(pRequestPush), nil, func(k, _ []byte) error {
		ids = append(ids, string(k[len(pRequestPush):]))
		return nil
	}); err != nil {
		return internalErr("scan request offers", err)
	}
	left := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !in.pushRequest(ctx, id) {
			left++
		}
	}
	if left > 0 {
		return errcode.New(errcode.Unavailable, "%d of %d request offers not taken yet", left, len(ids))
	}
	return nil
}

// pruneRequests deletes the requests finished longer than
// Config.RequestRetention ago, with their wallet index entries, so
// requests do not pile up for ever. A request whose last change the
// payer's intermediary has not taken yet (rqo/) is kept until it has. It
// returns how many it deleted; at most 4096 a round, the rest next round.
func (in *Intermediary) pruneRequests(ctx context.Context) (int, error) {
	limit := in.cfg.Now().Add(-in.cfg.RequestRetention)
	var ids []string
	err := in.db.Scan([]byte(pRequest), nil, func(k, v []byte) error {
		var r requestRec
		if err := decodeRec(v, &r); err != nil {
			return fmt.Errorf("request %q: %w", k, err)
		}
		if at, done := in.finishedAt(r); done && !at.After(limit) {
			ids = append(ids, r.ID)
		}
		if len(ids) >= 4096 {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return 0, internalErr("scan payment requests", err)
	}
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		pruned, err := in.pruneRequest(ctx, id, limit)
		if err != nil {
			return n, err
		}
		if pruned {
			n++
		}
	}
	return n, nil
}

// pruneRequest deletes request id if, under its lock, it is still
// finished before limit and owes the payer's intermediary nothing.
func (in *Intermediary) pruneRequest(ctx context.Context, id string, limit time.Time) (bool, error) {
	unlock, err := in.lockRequest(ctx, id)
	if err != nil {
		return false, err
	}
	defer unlock()
	var r requestRec
	found, err := getRec(in.db, requestKey(id), &r)
	if err != nil {
		return false, internalErr("request "+id, err)
	}
	if !found {
		return false, nil
	}
	if at, done := in.finishedAt(r); !done || at.After(limit) {
		return false, nil
	}
	if owed, err := in.db.Has(requestPushKey(id)); err != nil {
		return false, internalErr("request "+id, err)
	} else if owed {
		return false, nil
	}
	b := in.db.NewBatch()
	b.Delete(requestKey(id))
	b.Delete(requestWalletKey(r.Payee, id))
	b.Delete(requestWalletKey(r.Payer, id))
	if err := b.Commit(false); err != nil {
		return false, internalErr("prune request "+id, err)
	}
	return true, nil
}
