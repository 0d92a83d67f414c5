package intermediary

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Reservations (issue 10, part 5) at the intermediaries, on top of the
// core's escrow lock (money/escrow.go). The payer's intermediary keeps the
// authoritative record of each reservation and submits every spend of the
// escrowed note; the payee's intermediary keeps its own record of the
// terms and the key it contributed, and signs only the captures and voids
// its customer asks for. Every state change is written (synced) before
// anything leaves the intermediary, so a crash at any point is settled
// from the record and the ledger (settleReservations). See
// docs/architecture.md, "Reservations at the intermediaries".
//
// Store layout (beside storage.go's):
//
//	resv/<id>                 resRec (JSON): payer's side, authoritative
//	resp/<id>                 resRec (JSON): payee's side
//	resw/<wallet>\x00<id>     side byte ('p' payer, 'q' payee): a wallet's reservations
//	reso/<id>                 empty: the payer's side has work left on it (settleReservations)
const (
	pResPayer = "resv/"
	pResPayee = "resp/"
	pResIndex = "resw/"
	pResOpen  = "reso/"

	// kindReserve is the pending spend that moves a wallet's notes into
	// an escrowed note. It is not a payment: no payment limits, no
	// screening, no waterfall, and the settle loop does not resubmit it
	// blindly (settleReservations does, once the reservation's record
	// exists).
	kindReserve = "reserve"

	spendCapture = "capture"
	spendVoid    = "void"
	spendRefund  = "refund"
)

// DefaultReservationBatchInterval is the time a ledger batch is assumed to
// take when a reservation's expiry time is turned into a batch number,
// unless Config.ReservationBatchInterval says otherwise.
const DefaultReservationBatchInterval = time.Second

// MaxReservationExpiry bounds how long a reservation may last.
const MaxReservationExpiry = 90 * 24 * time.Hour

// MaxReservationKeyLen bounds a caller-chosen reservation key in bytes.
const MaxReservationKeyLen = 64

func resKey(prefix, id string) []byte { return append([]byte(prefix), id...) }

func resIndexPrefix(wallet string) []byte {
	k := append([]byte(pResIndex), wallet...)
	return append(k, 0)
}

func resIndexKey(wallet, id string) []byte { return append(resIndexPrefix(wallet), id...) }

// resRec is a reservation as stored, on either side.
type resRec struct {
	ID          string       `json:"id"`
	Side        string       `json:"side"`
	Payer       string       `json:"payer"`
	Payee       string       `json:"payee"`
	Amount      uint64       `json:"amount"`
	Reference   string       `json:"reference,omitempty"`
	Fingerprint string       `json:"fingerprint,omitempty"` // payer's side: of the request, for retries
	State       string       `json:"state"`
	Escrow      money.Escrow `json:"escrow"`
	PayerLock   money.Lock   `json:"payer_lock"`
	PayeeLock   money.Lock   `json:"payee_lock"`
	ExpiresAt   time.Time    `json:"expires_at"`
	// Note is the escrowed note: set on the payer's side when the
	// reserving transaction is built, on the payee's when it is confirmed.
	Note     money.Note `json:"note"`
	CreateTx []byte     `json:"create_tx,omitempty"` // payer's side: the reserving transaction
	// Confirmed (payer's side): the payee's intermediary has the
	// committed reserving transaction.
	Confirmed bool `json:"confirmed,omitempty"`
	// Told (payer's side): the payee's intermediary has the committed
	// settling transaction.
	Told bool   `json:"told,omitempty"`
	Seed []byte `json:"seed,omitempty"` // payee's side: the escrow key it contributed
	// Spend is the settling transaction: on the payer's side signed by
	// both (or by the payer alone for a refund) and written before it is
	// submitted.
	Spend     []byte        `json:"spend,omitempty"`
	SpendKind string        `json:"spend_kind,omitempty"`
	Captured  uint64        `json:"captured"`
	Receipt   roles.Receipt `json:"receipt,omitzero"`
	// Code and Message (payer's side, failed): the definite refusal a
	// retry with the same key answers; none when the reserving
	// transaction was only never committed (a retry reserves anew).
	Code    errcode.Code `json:"code,omitempty"`
	Message string       `json:"message,omitempty"`
	Created time.Time    `json:"created"`
}

func final(state string) bool {
	switch state {
	case roles.ReservationCaptured, roles.ReservationVoided, roles.ReservationRefunded, roles.ReservationFailed:
		return true
	}
	return false
}

// view is the reservation as roles shows it.
func (in *Intermediary) reservationView(r *resRec) roles.FundsReservation {
	v := roles.FundsReservation{ID: r.ID, Side: r.Side, Payer: r.Payer, Payee: r.Payee, Amount: r.Amount, Captured: r.Captured,
		Reference: r.Reference, State: r.State, Expiry: r.Escrow.Expiry, ExpiresAt: r.ExpiresAt, Created: r.Created}
	if r.Note.TxID != (money.TxID{}) {
		v.CreateTx = r.Note.TxID
		v.Note = in.cfg.Network.NoteID(&r.Note)
	}
	if final(r.State) && r.State != roles.ReservationFailed {
		v.SettleTx, v.Batch = r.Receipt.TxID, r.Receipt.Batch
	}
	return v
}

// loadRes reads a reservation record of one side; errcode.NotFound when
// there is none.
func (in *Intermediary) loadRes(prefix, id string) (resRec, error) {
	var r resRec
	found, err := getRec(in.db, resKey(prefix, id), &r)
	if err != nil {
		return r, internalErr("reservation "+id, err)
	}
	if !found {
		return r, errcode.New(errcode.NotFound, "no reservation %s at %s", id, in.cfg.Name)
	}
	return r, nil
}

// putRes writes r (synced), with extra in the same batch.
func (in *Intermediary) putRes(r *resRec, extra func(*store.Batch)) error {
	prefix := pResPayer
	if r.Side == sidePayee {
		prefix = pResPayee
	}
	v, err := recBytes(r)
	if err != nil {
		return internalErr("reservation "+r.ID, err)
	}
	b := in.db.NewBatch()
	b.Set(resKey(prefix, r.ID), v)
	if r.Side == sidePayer {
		if open := !final(r.State) || !r.Told; open {
			b.Set(resKey(pResOpen, r.ID), nil)
		} else {
			b.Delete(resKey(pResOpen, r.ID))
		}
	}
	if extra != nil {
		extra(b)
	}
	if err := b.Commit(true); err != nil {
		return internalErr("reservation "+r.ID, err)
	}
	return nil
}

// lockRes serialises everything done to one side of reservation id.
func (in *Intermediary) lockRes(ctx context.Context, prefix, id string) (func(), error) {
	unlock, err := in.lockIdem(ctx, "\x00"+prefix+id) // no idempotency key has a zero byte
	if err != nil {
		return nil, errcode.New(errcode.Unavailable, "reservation %s is busy: %v", id, err)
	}
	return unlock, nil
}

// checkResID admits a reservation ID: "<intermediary>.<key>", printable.
func checkResID(id string) error {
	if roles.IntermediaryOf(id) == "" || len(id) > MaxOwnerLen || !utf8.ValidString(id) {
		return errcode.New(errcode.Malformed, "reservation id %q: want <intermediary>.<key>", id)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] > 0x7e || id[i] == '/' {
			return errcode.New(errcode.Malformed, "reservation id: byte %d is 0x%02x", i, id[i])
		}
	}
	return nil
}

// checkResKey admits a caller-chosen key: 1 to MaxReservationKeyLen of
// a-z, 0-9, '-' and '_'.
func checkResKey(k string) error {
	if k == "" || len(k) > MaxReservationKeyLen {
		return errcode.New(errcode.Malformed, "reservation key: want 1 to %d characters", MaxReservationKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return errcode.New(errcode.Malformed, "reservation key: want a-z, 0-9, '-' and '_'; byte %d is 0x%02x", i, c)
		}
	}
	return nil
}

// resFingerprint identifies a reservation request, so a retry with its key
// can be told from a different request.
func resFingerprint(r *roles.ReservationRequest) string {
	h := sha256.New()
	h.Write([]byte("specie/reservation-request/v1\x00"))
	for _, s := range []string{r.From, r.To, r.Reference} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	h.Write(binary.BigEndian.AppendUint64(nil, r.Amount))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(r.ExpiresIn)))
	return hex.EncodeToString(h.Sum(nil))
}

// resPeer is the intermediary holding wallets of name, as a reservation
// peer: this one itself for its own wallets.
func (in *Intermediary) resPeer(name string) (roles.ReservationPeer, error) {
	if name == in.cfg.Name {
		return in, nil
	}
	p, ok := in.peer(name)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "no intermediary %q", name)
	}
	rp, ok := p.(roles.ReservationPeer)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s takes no reservations", name)
	}
	return rp, nil
}

// settleTx is the unsigned transaction spending r's escrowed note: a
// capture pays captured to the payee and the rest to the payer; a void
// (joint) and a refund (the payer alone, after the expiry) pay everything
// to the payer. Both sides build it from their records, so the payee's
// intermediary signs exactly what the payer's will submit.
func settleTx(r *resRec, kind string, captured uint64) *money.Tx {
	path := money.PathJoint
	if kind == spendRefund {
		path = money.PathRefund
	}
	tx := &money.Tx{Kind: money.Transfer, Inputs: []money.Note{r.Note}, InputSigs: make([]money.Sig, 1),
		Witnesses: []money.Witness{{Escrow: r.Escrow, Path: path}}}
	if captured > 0 {
		tx.Outputs = append(tx.Outputs, money.Output{Value: captured, Lock: r.PayeeLock})
	}
	if rest := r.Amount - captured; rest > 0 {
		tx.Outputs = append(tx.Outputs, money.Output{Value: rest, Lock: r.PayerLock})
	}
	return tx
}

// batchesFor is how many ledger batches d is taken to last: at least one.
func (in *Intermediary) batchesFor(d time.Duration) uint64 {
	iv := in.cfg.ReservationBatchInterval
	if iv <= 0 {
		iv = DefaultReservationBatchInterval
	}
	n := uint64((d + iv - 1) / iv)
	return max(n, 1)
}

// ---- the payer's side ----

// Reserve locks r.Amount of wallet r.From for wallet r.To until r.ExpiresIn
// from now: it asks the payee's intermediary for its escrow key, spends the
// wallet's notes into one note locked to Escrow{the payer wallet's key,
// that key, expiry batch} (plus change), and, once committed, hands the
// transaction to the payee's intermediary. The reserved amount leaves the
// wallet's Balance and shows in its Reserved.
//
// The expiry batch is the ledger's next batch plus ExpiresIn divided by
// Config.ReservationBatchInterval, rounded up, at least one.
func (in *Intermediary) Reserve(ctx context.Context, r roles.ReservationRequest) (roles.FundsReservation, error) {
	if err := in.enter(); err != nil {
		return roles.FundsReservation{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.FundsReservation{}, err
	}
	switch {
	case r.Amount == 0:
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "amount must be positive")
	case r.To == "":
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "no payee wallet")
	case r.From == r.To:
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "a wallet cannot reserve for itself")
	case r.ExpiresIn <= 0 || r.ExpiresIn > MaxReservationExpiry:
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "expiry must be above 0 and at most %s", MaxReservationExpiry)
	case len(r.Reference) > MaxReferenceLen || !utf8.ValidString(r.Reference):
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "reference: at most %d bytes of UTF-8", MaxReferenceLen)
	case len(r.To) > MaxOwnerLen || !utf8.ValidString(r.To):
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "payee wallet id too long or not UTF-8")
	}
	if err := in.ownWallet(r.From); err != nil {
		return roles.FundsReservation{}, err
	}
	if r.Key != "" {
		if err := checkResKey(r.Key); err != nil {
			return roles.FundsReservation{}, err
		}
	} else {
		s, err := in.randomSuffix()
		if err != nil {
			return roles.FundsReservation{}, internalErr("reservation id", err)
		}
		r.Key = "r" + s
	}
	id := in.cfg.Name + "." + r.Key
	unlock, err := in.lockRes(ctx, pResPayer, id)
	if err != nil {
		return roles.FundsReservation{}, err
	}
	defer unlock()

	fp := resFingerprint(&r)
	if old, err := in.loadRes(pResPayer, id); err == nil {
		if old.Fingerprint != fp {
			return roles.FundsReservation{}, errcode.New(errcode.Conflict, "reservation key %s already names a different reservation", r.Key)
		}
		if old.State == roles.ReservationPending {
			_ = in.resolveCreate(ctx, &old)
		}
		switch {
		case old.State == roles.ReservationFailed && old.Code != "":
			return roles.FundsReservation{}, &errcode.Error{Code: old.Code, Message: old.Message} // the same refusal
		case old.State == roles.ReservationFailed && old.Told:
			// Certainly never committed, and the payee's side has
			// forgotten it: the key is free again.
		default:
			return in.reservationView(&old), nil
		}
	} else if !errcode.Is(err, errcode.NotFound) {
		return roles.FundsReservation{}, err
	}
	return in.reserveNew(ctx, id, fp, r)
}

func (in *Intermediary) reserveNew(ctx context.Context, id, fp string, r roles.ReservationRequest) (roles.FundsReservation, error) {
	from, key, err := in.signer(r.From)
	if err != nil {
		return roles.FundsReservation{}, err
	}
	peer, err := in.resPeer(roles.IntermediaryOf(r.To))
	if err != nil {
		return roles.FundsReservation{}, err
	}
	sup, err := in.ledger.Supply(in.asSelf(ctx))
	if err != nil {
		return roles.FundsReservation{}, fmt.Errorf("reservation %s: the ledger's batch: %w", id, err)
	}
	now := in.now()
	rec := resRec{ID: id, Side: sidePayer, Payer: r.From, Payee: r.To, Amount: r.Amount, Reference: r.Reference, Fingerprint: fp,
		State: roles.ReservationPending, PayerLock: money.KeyLock(key.Public()), ExpiresAt: now.Add(r.ExpiresIn), Created: now}
	rec.Escrow.Payer = key.Public()
	rec.Escrow.Expiry = sup.Batches + 1 + in.batchesFor(r.ExpiresIn)
	terms, err := peer.OfferReservation(in.asSelf(ctx), roles.ReservationOffer{ID: id, Payer: r.From, Payee: r.To, Amount: r.Amount,
		Expiry: rec.Escrow.Expiry, ExpiresAt: rec.ExpiresAt, PayerKey: rec.Escrow.Payer, PayerLock: rec.PayerLock, Reference: r.Reference})
	if err != nil {
		return roles.FundsReservation{}, err
	}
	if terms.PayeeLock.Kind != money.LockEd25519 {
		_ = peer.ConfirmReservation(in.asSelf(ctx), id, nil) // withdrawn, best effort
		return roles.FundsReservation{}, errcode.New(errcode.Internal, "payee's intermediary answered a lock of kind %d", terms.PayeeLock.Kind)
	}
	rec.Escrow.Payee, rec.PayeeLock = terms.PayeeKey, terms.PayeeLock
	lock := rec.Escrow.Lock()

	pend := pendingRec{Kind: kindReserve, From: r.From, To: r.To, Amount: r.Amount, Reference: "reservation " + id}
	tx, txid, err := in.reserve(ctx, &from, key, r.Amount, &pend, func(inputs []money.Note, sum uint64) *money.Tx {
		tx := &money.Tx{Kind: money.Transfer, Inputs: inputs, Outputs: []money.Output{{Value: r.Amount, Lock: lock}}}
		if sum > r.Amount {
			tx.Outputs = append(tx.Outputs, money.Output{Value: sum - r.Amount, Lock: rec.PayerLock})
		}
		return tx
	})
	if err != nil {
		// Refused (too little, say): nothing was built. The payee's
		// intermediary forgets the offer; if it cannot be told now, a
		// failed record remembers to tell it (settleReservations).
		if werr := peer.ConfirmReservation(in.asSelf(ctx), id, nil); werr != nil {
			rec.State = roles.ReservationFailed
			if rejected(err) {
				rememberRefusal(&rec, err)
			}
			if perr := in.putRes(&rec, func(b *store.Batch) { b.Set(resIndexKey(r.From, id), []byte{'p'}) }); perr != nil {
				in.log.Error("reservation offer not withdrawn nor recorded", "id", id, "err", perr)
			}
		}
		return roles.FundsReservation{}, err
	}
	defer in.landed(txid)
	rec.Note = money.Note{TxID: txid, Index: 0, Output: tx.Outputs[0]}
	rec.CreateTx = pend.Tx
	if err := in.putRes(&rec, func(b *store.Batch) { b.Set(resIndexKey(r.From, id), []byte{'p'}) }); err != nil {
		// Not submitted: release the notes now, and withdraw the offer.
		if uerr := in.unreserve(txid, nil); uerr != nil {
			in.log.Error("reservation not recorded and its notes not released; they will be after the settle delay", "txid", txid, "err", uerr)
		}
		_ = peer.ConfirmReservation(in.asSelf(ctx), id, nil)
		return roles.FundsReservation{}, err
	}
	receipt, err := in.submit(ctx, tx)
	if err != nil {
		receipt, err = in.committedAnyway(ctx, txid, err)
	}
	if err != nil {
		err = in.settleFailure(txid, "reservation", err)
		if errcode.Is(err, errcode.Unavailable) {
			in.wakeSettle()
			return in.reservationView(&rec), err
		}
		rec.State = roles.ReservationFailed
		rememberRefusal(&rec, err)
		if perr := in.putRes(&rec, nil); perr != nil {
			in.log.Error("reservation rejected, its record not updated", "id", id, "err", perr)
		}
		in.tellPayee(ctx, &rec)
		return roles.FundsReservation{}, err
	}
	if err := in.applyCommitted(txid, tx, receipt.Batch, receipt.Index, nil, &pend); err != nil {
		return in.reservationView(&rec), internalErr("reservation "+id+" committed, recording it failed", err)
	}
	rec.State = roles.ReservationActive
	if err := in.putRes(&rec, nil); err != nil {
		return in.reservationView(&rec), err
	}
	in.confirmPayee(ctx, &rec, peer)
	in.log.Debug("reservation created", "id", id, "from", r.From, "to", r.To, "amount", r.Amount, "expiry_batch", rec.Escrow.Expiry)
	return in.reservationView(&rec), nil
}

// rememberRefusal keeps err, a definite refusal of r, for retries.
func rememberRefusal(r *resRec, err error) {
	var e *errcode.Error
	if errors.As(err, &e) {
		r.Code, r.Message = e.Code, e.Message
	}
}

// confirmPayee hands the committed reserving transaction to the payee's
// intermediary, best effort: settleReservations tries again.
func (in *Intermediary) confirmPayee(ctx context.Context, r *resRec, peer roles.ReservationPeer) {
	if r.Confirmed || r.State == roles.ReservationPending || r.State == roles.ReservationFailed {
		return
	}
	if peer == nil {
		var err error
		if peer, err = in.resPeer(roles.IntermediaryOf(r.Payee)); err != nil {
			return
		}
	}
	var tx money.Tx
	if err := tx.UnmarshalBinary(r.CreateTx); err != nil {
		in.log.Error("reservation: reserving transaction unreadable", "id", r.ID, "err", err)
		return
	}
	if err := peer.ConfirmReservation(in.asSelf(ctx), r.ID, &tx); err != nil {
		in.log.Warn("reservation not confirmed to the payee's intermediary; will retry", "id", r.ID, "err", err)
		return
	}
	r.Confirmed = true
	if err := in.putRes(r, nil); err != nil {
		in.log.Warn("reservation confirmed but not recorded; will confirm again", "id", r.ID, "err", err)
	}
}

// tellPayee hands the committed settling transaction (a refund, or a
// capture or void whose answer the payee's intermediary may not have had)
// to the payee's intermediary, or withdraws the offer of a reservation
// that failed, best effort: settleReservations tries again.
func (in *Intermediary) tellPayee(ctx context.Context, r *resRec) {
	if !final(r.State) || r.Told {
		return
	}
	peer, err := in.resPeer(roles.IntermediaryOf(r.Payee))
	if err != nil {
		return
	}
	var tx *money.Tx // nil: a failed reservation, withdrawn
	if r.State != roles.ReservationFailed {
		tx = new(money.Tx)
		if err := tx.UnmarshalBinary(r.Spend); err != nil {
			in.log.Error("reservation: settling transaction unreadable", "id", r.ID, "err", err)
			return
		}
	}
	if err := peer.ConfirmReservation(in.asSelf(ctx), r.ID, tx); err != nil {
		in.log.Warn("settlement not told to the payee's intermediary; will retry", "id", r.ID, "err", err)
		return
	}
	r.Told = true
	if err := in.putRes(r, nil); err != nil {
		in.log.Warn("settlement told but not recorded; will tell again", "id", r.ID, "err", err)
	}
}

// resolveCreate settles a pending reservation from its pending spend and
// the ledger: committed makes it active, never committed failed. The
// caller holds the reservation's lock.
func (in *Intermediary) resolveCreate(ctx context.Context, r *resRec) error {
	txid := r.Note.TxID
	var pend pendingRec
	found, err := getRec(in.db, pendingKey(txid), &pend)
	if err != nil {
		return internalErr("pending "+txid.String(), err)
	}
	if found {
		if !in.claim(txid, pend.From) {
			return errors.New("reserving transaction in flight")
		}
		info, terr := in.ledger.Tx(in.asSelf(ctx), txid)
		switch {
		case terr == nil && info.Status == "committed":
			var tx money.Tx
			if err = tx.UnmarshalBinary(pend.Tx); err == nil {
				err = in.applyCommitted(txid, &tx, info.Header.Seq, info.Index, nil, nil)
			}
		case errcode.Is(terr, errcode.NotFound):
			// The record exists, so the spend may be sent again: it is
			// signed and its notes are reserved for it.
			err = in.resubmit(ctx, txid, &pend)
		default:
			err = terr
		}
		in.landed(txid)
		if err != nil {
			return err
		}
		if still, err := in.db.Has(pendingKey(txid)); err != nil || still {
			return errors.Join(err, errors.New("reserving transaction still pending"))
		}
	}
	info, err := in.ledger.Tx(in.asSelf(ctx), txid)
	switch {
	case err == nil && info.Status == "committed":
		r.State = roles.ReservationActive
	case errcode.Is(err, errcode.NotFound):
		r.State = roles.ReservationFailed
	case err == nil:
		return fmt.Errorf("ledger reports status %q", info.Status)
	default:
		return err
	}
	if err := in.putRes(r, nil); err != nil {
		return err
	}
	in.log.Info("pending reservation settled", "id", r.ID, "state", r.State)
	in.confirmPayee(ctx, r, nil)
	in.tellPayee(ctx, r)
	return nil
}

// SettleReservation co-signs and submits a capture (s.Amount > 0) or a
// void (0) asked for by the payee's intermediary: it builds the
// transaction from its own record (the payee's part to the payee's lock,
// the rest to the payer's wallet), checks the payee's signature over it,
// signs as the payer, records it and submits it. It implements
// roles.ReservationPeer; only the payee's intermediary may call it.
func (in *Intermediary) SettleReservation(ctx context.Context, s roles.ReservationSettle) (roles.ReservationSettled, error) {
	if err := in.enter(); err != nil {
		return roles.ReservationSettled{}, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return roles.ReservationSettled{}, err
	}
	if err := checkResID(s.ID); err != nil {
		return roles.ReservationSettled{}, err
	}
	caller, _ := roles.Caller(ctx)
	unlock, err := in.lockRes(ctx, pResPayer, s.ID)
	if err != nil {
		return roles.ReservationSettled{}, err
	}
	defer unlock()
	r, err := in.loadRes(pResPayer, s.ID)
	if err != nil {
		return roles.ReservationSettled{}, err
	}
	if caller.Name != roles.IntermediaryOf(r.Payee) {
		return roles.ReservationSettled{}, errcode.Forbidden("%s does not hold the payee wallet of reservation %s", caller.Name, s.ID)
	}
	if err := in.settleOpen(ctx, &r); err != nil {
		return roles.ReservationSettled{}, err
	}
	if r.State != roles.ReservationActive {
		return in.settled(&r), nil // an earlier outcome: the caller compares
	}
	kind := spendVoid
	if s.Amount > 0 {
		kind = spendCapture
	}
	if s.Amount > r.Amount {
		return roles.ReservationSettled{}, errcode.New(errcode.InsufficientFunds, "capture of %d is more than the %d reserved", s.Amount, r.Amount)
	}
	tx := settleTx(&r, kind, s.Amount)
	txid := in.cfg.Network.TxID(tx)
	if !crypto.Verify(r.Escrow.Payee, crypto.Spend, in.cfg.Network.ID, txid, s.PayeeSig) {
		return roles.ReservationSettled{}, errcode.New(errcode.BadSignature, "the payee's signature does not cover this %s of reservation %s", kind, s.ID)
	}
	tx.Witnesses[0].PayeeSig = s.PayeeSig
	if err := in.signAsPayer(&r, tx, txid); err != nil {
		return roles.ReservationSettled{}, err
	}
	if err := in.startSpend(&r, tx, kind, s.Amount); err != nil {
		return roles.ReservationSettled{}, err
	}
	if err := in.finishSpend(ctx, &r); err != nil {
		return roles.ReservationSettled{}, err
	}
	return in.settled(&r), nil
}

func (in *Intermediary) settled(r *resRec) roles.ReservationSettled {
	out := roles.ReservationSettled{State: r.State, Captured: r.Captured, Receipt: r.Receipt}
	if final(r.State) && len(r.Spend) > 0 {
		var tx money.Tx
		if err := tx.UnmarshalBinary(r.Spend); err == nil {
			out.Tx = &tx
		}
	}
	return out
}

// settleOpen finishes whatever r has in progress (its reserving
// transaction, or a settling one) before anything new is done to it.
func (in *Intermediary) settleOpen(ctx context.Context, r *resRec) error {
	switch r.State {
	case roles.ReservationPending:
		if err := in.resolveCreate(ctx, r); err != nil {
			return errcode.New(errcode.Unavailable, "reservation %s: its reserving transaction is not settled yet: %v", r.ID, err)
		}
	case roles.ReservationSettling:
		if err := in.finishSpend(ctx, r); err != nil {
			return err
		}
	}
	if r.State == roles.ReservationFailed {
		return errcode.New(errcode.Conflict, "reservation %s never reserved anything: its transaction was not committed", r.ID)
	}
	return nil
}

func (in *Intermediary) signAsPayer(r *resRec, tx *money.Tx, txid money.TxID) error {
	_, key, err := in.signer(r.Payer)
	if err != nil {
		return err
	}
	if key.Public() != r.Escrow.Payer {
		return internalErr("reservation "+r.ID, errors.New("payer wallet key does not match the escrow"))
	}
	sig, err := key.TrySign(crypto.Spend, in.cfg.Network.ID, txid)
	if err != nil {
		return errcode.New(errcode.Unavailable, "reservation %s: the payer's key could not sign: %v", r.ID, err)
	}
	tx.InputSigs[0] = sig
	return nil
}

// startSpend records tx, a spend of r's note, before it is submitted.
func (in *Intermediary) startSpend(r *resRec, tx *money.Tx, kind string, captured uint64) error {
	b, err := tx.MarshalBinary()
	if err != nil {
		return internalErr("encode transaction", err)
	}
	old := *r
	r.State, r.Spend, r.SpendKind, r.Captured = roles.ReservationSettling, b, kind, captured
	if err := in.putRes(r, nil); err != nil {
		*r = old
		return err
	}
	return nil
}

// finishSpend submits r's recorded settling transaction (again, if it was
// before: it commits once) and applies the answer: committed credits the
// wallets here and makes r final (delivering to the payee's intermediary
// what pays its wallet); a definite rejection makes r active again with
// nothing changed; no answer leaves it settling and answers unavailable.
func (in *Intermediary) finishSpend(ctx context.Context, r *resRec) error {
	var tx money.Tx
	if err := tx.UnmarshalBinary(r.Spend); err != nil {
		return internalErr("reservation "+r.ID+" spend", err)
	}
	txid := in.cfg.Network.TxID(&tx)
	receipt, err := in.submit(ctx, cloneTx(&tx))
	if err != nil {
		receipt, err = in.committedAnyway(ctx, txid, err)
	}
	if err != nil {
		if !rejected(err) {
			return errcode.New(errcode.Unavailable, "%s of reservation %s (txid %s): outcome unknown, it will be settled with the ledger: %v", r.SpendKind, r.ID, txid, err)
		}
		kind := r.SpendKind
		r.State, r.Spend, r.SpendKind, r.Captured = roles.ReservationActive, nil, "", 0
		if perr := in.putRes(r, nil); perr != nil {
			return perr
		}
		in.log.Debug("reservation spend rejected", "id", r.ID, "kind", kind, "code", errcode.Of(err))
		return err
	}
	memo := &roles.Memo{From: r.Payer, To: r.Payee, Reference: r.Reference}
	if err := in.applyCommitted(txid, &tx, receipt.Batch, receipt.Index, memo, nil); err != nil {
		return internalErr("reservation "+r.ID+" settled, recording it failed", err)
	}
	switch r.SpendKind {
	case spendCapture:
		r.State = roles.ReservationCaptured
	case spendVoid:
		r.State = roles.ReservationVoided
	default:
		r.State = roles.ReservationRefunded
	}
	r.Receipt = receipt
	peer := roles.IntermediaryOf(r.Payee)
	deliver := r.Captured > 0 && peer != in.cfg.Name
	var ob []byte
	if deliver {
		if ob, err = recBytes(outboxRec{Peer: peer, Tx: r.Spend, From: r.Payer, To: r.Payee, Ref: r.Reference, Created: in.now()}); err != nil {
			return internalErr("outbox", err)
		}
	}
	if err := in.putRes(r, func(b *store.Batch) {
		if deliver {
			b.Set(outboxKey(txid), ob)
		}
	}); err != nil {
		return err
	}
	if deliver {
		in.deliverOne(ctx, txid)
	}
	in.tellPayee(ctx, r)
	in.log.Debug("reservation settled", "id", r.ID, "state", r.State, "captured", r.Captured, "txid", txid)
	return nil
}

// Refund returns everything reserved to the payer once the expiry has
// passed (both its time and its batch): the payer's intermediary alone
// spends the note on the refund path. Before, errcode.Conflict and nothing
// changes. The background loop refunds expired reservations by itself.
func (in *Intermediary) Refund(ctx context.Context, id string) (roles.FundsReservation, error) {
	if err := in.enter(); err != nil {
		return roles.FundsReservation{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.FundsReservation{}, err
	}
	if err := checkResID(id); err != nil {
		return roles.FundsReservation{}, err
	}
	r, err := func() (resRec, error) {
		unlock, err := in.lockRes(ctx, pResPayer, id)
		if err != nil {
			return resRec{}, err
		}
		defer unlock()
		r, err := in.loadRes(pResPayer, id)
		if err != nil {
			return r, err
		}
		return r, in.refund(ctx, &r)
	}()
	var bb *beforeBatch
	if errors.As(err, &bb) {
		// Past the time, not yet the batch: voided with the payee's
		// intermediary instead, if it agrees the time has passed.
		if r, err = in.voidExpired(ctx, id, r.Payee); err == nil && r.State != roles.ReservationVoided {
			err = errcode.New(errcode.Conflict, "reservation %s is %s", id, r.State)
		}
	}
	if err != nil {
		return roles.FundsReservation{}, err
	}
	return in.reservationView(&r), nil
}

// refund is Refund with the reservation's lock held.
func (in *Intermediary) refund(ctx context.Context, r *resRec) error {
	if err := in.settleOpen(ctx, r); err != nil {
		return err
	}
	switch r.State {
	case roles.ReservationRefunded:
		return nil
	case roles.ReservationActive:
	default:
		return errcode.New(errcode.Conflict, "reservation %s is already %s", r.ID, r.State)
	}
	if now := in.cfg.Now(); now.Before(r.ExpiresAt) {
		return errcode.New(errcode.Conflict, "reservation %s expires at %s, not before", r.ID, r.ExpiresAt.Format(time.RFC3339))
	}
	sup, err := in.ledger.Supply(in.asSelf(ctx))
	if err != nil {
		return err
	}
	if sup.Batches+1 <= r.Escrow.Expiry {
		return &beforeBatch{errcode.New(errcode.Conflict, "reservation %s can be refunded alone after batch %d; the ledger is at batch %d", r.ID, r.Escrow.Expiry, sup.Batches)}
	}
	tx := settleTx(r, spendRefund, 0)
	if err := in.signAsPayer(r, tx, in.cfg.Network.TxID(tx)); err != nil {
		return err
	}
	if err := in.startSpend(r, tx, spendRefund, 0); err != nil {
		return err
	}
	return in.finishSpend(ctx, r)
}

// beforeBatch is refund's conflict when the expiry time has passed but the
// ledger has not reached the expiry batch: then the payee's intermediary
// is asked to void instead (voidExpired).
type beforeBatch struct{ err *errcode.Error }

func (e *beforeBatch) Error() string { return e.err.Error() }

func (e *beforeBatch) Unwrap() error { return e.err }

// voidExpired asks the payee's intermediary to void reservation id, past
// its expiry time but not yet its batch, and reads the outcome. The
// caller does not hold the reservation's lock: the payee's intermediary
// voids through SettleReservation, which takes it.
func (in *Intermediary) voidExpired(ctx context.Context, id, payee string) (resRec, error) {
	peer, err := in.resPeer(roles.IntermediaryOf(payee))
	if err != nil {
		return resRec{}, err
	}
	if err := peer.ExpireReservation(in.asSelf(ctx), id); err != nil {
		return resRec{}, err
	}
	return in.lockedRes(ctx, pResPayer, id)
}

// ---- the payee's side ----

// ExpireReservation voids reservation id for the payer's intermediary
// once its expiry time has passed (on this intermediary's clock too), as
// the payee's customer could: both sign the return of everything to the
// payer. A reservation already settled is left as it is (nil);
// errcode.Conflict before the expiry time. It implements
// roles.ReservationPeer: the payer's intermediary asks it rather than
// wait for the expiry batch, which on a quiet ledger comes much later.
func (in *Intermediary) ExpireReservation(ctx context.Context, id string) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return err
	}
	if err := checkResID(id); err != nil {
		return err
	}
	caller, _ := roles.Caller(ctx)
	if roles.IntermediaryOf(id) != caller.Name {
		return errcode.Forbidden("%s may expire only its own reservations", caller.Name)
	}
	r, err := in.lockedRes(ctx, pResPayee, id)
	if err != nil {
		return err
	}
	if final(r.State) {
		return nil
	}
	if now := in.cfg.Now(); now.Before(r.ExpiresAt) {
		return errcode.New(errcode.Conflict, "reservation %s expires at %s, not before", id, r.ExpiresAt.Format(time.RFC3339))
	}
	_, err = in.payeeSettle(ctx, id, spendVoid, 0)
	if errcode.Is(err, errcode.Conflict) {
		return nil // settled otherwise meanwhile
	}
	return err
}

// OfferReservation records a reservation offered for a wallet here by the
// payer's intermediary and answers the terms: a fresh escrow key of this
// intermediary (kept with the record) and the lock that pays the payee.
// The same offer again answers the same terms; another offer under the
// same ID is a conflict. It implements roles.ReservationPeer.
func (in *Intermediary) OfferReservation(ctx context.Context, o roles.ReservationOffer) (roles.ReservationTerms, error) {
	if err := in.enter(); err != nil {
		return roles.ReservationTerms{}, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return roles.ReservationTerms{}, err
	}
	if err := checkResID(o.ID); err != nil {
		return roles.ReservationTerms{}, err
	}
	caller, _ := roles.Caller(ctx)
	switch {
	case roles.IntermediaryOf(o.ID) != caller.Name || roles.IntermediaryOf(o.Payer) != caller.Name:
		return roles.ReservationTerms{}, errcode.Forbidden("%s may offer only its own reservations of its own wallets", caller.Name)
	case roles.IntermediaryOf(o.Payee) != in.cfg.Name:
		return roles.ReservationTerms{}, errcode.New(errcode.NotFound, "no wallet %s at %s", o.Payee, in.cfg.Name)
	case o.Amount == 0 || o.Expiry == 0:
		return roles.ReservationTerms{}, errcode.New(errcode.Malformed, "reservation offer: amount and expiry must be positive")
	case o.PayerLock != money.KeyLock(o.PayerKey):
		return roles.ReservationTerms{}, errcode.New(errcode.Malformed, "reservation offer: the payer's lock is not its key's")
	case len(o.Reference) > MaxReferenceLen || !utf8.ValidString(o.Reference):
		return roles.ReservationTerms{}, errcode.New(errcode.Malformed, "reference: at most %d bytes of UTF-8", MaxReferenceLen)
	}
	if err := in.screenReceiver(o.Payee); err != nil {
		return roles.ReservationTerms{}, err
	}
	payeeLock, err := in.receiveLock(o.Payee)
	if err != nil {
		return roles.ReservationTerms{}, err
	}
	if err := in.receivable(o.Payee); err != nil {
		return roles.ReservationTerms{}, err
	}
	unlock, err := in.lockRes(ctx, pResPayee, o.ID)
	if err != nil {
		return roles.ReservationTerms{}, err
	}
	defer unlock()
	if old, err := in.loadRes(pResPayee, o.ID); err == nil {
		same := old.Payer == o.Payer && old.Payee == o.Payee && old.Amount == o.Amount && old.Escrow.Expiry == o.Expiry && old.Escrow.Payer == o.PayerKey
		switch {
		case same:
			return roles.ReservationTerms{PayeeKey: old.Escrow.Payee, PayeeLock: old.PayeeLock}, nil
		case old.State != roles.ReservationPending || old.Payer != o.Payer:
			return roles.ReservationTerms{}, errcode.New(errcode.Conflict, "reservation %s was offered with other terms", o.ID)
		}
		// An offer never confirmed, made again with new terms (its first
		// attempt never committed): the new terms replace it.
		if err := in.dropOffer(&old); err != nil {
			return roles.ReservationTerms{}, err
		}
	} else if !errcode.Is(err, errcode.NotFound) {
		return roles.ReservationTerms{}, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if err := in.random(seed); err != nil {
		return roles.ReservationTerms{}, internalErr("escrow key", err)
	}
	key, err := crypto.KeyFromSeed(seed)
	if err != nil {
		return roles.ReservationTerms{}, internalErr("escrow key", err)
	}
	r := resRec{ID: o.ID, Side: sidePayee, Payer: o.Payer, Payee: o.Payee, Amount: o.Amount, Reference: o.Reference,
		State: roles.ReservationPending, PayerLock: o.PayerLock, PayeeLock: payeeLock, ExpiresAt: o.ExpiresAt,
		Escrow: money.Escrow{Payer: o.PayerKey, Payee: key.Public(), Expiry: o.Expiry}, Seed: key.Seed(), Created: in.now()}
	if err := in.putRes(&r, func(b *store.Batch) { b.Set(resIndexKey(o.Payee, o.ID), []byte{'q'}) }); err != nil {
		return roles.ReservationTerms{}, err
	}
	return roles.ReservationTerms{PayeeKey: r.Escrow.Payee, PayeeLock: payeeLock}, nil
}

// ConfirmReservation takes the committed transaction that reserved the
// funds of an offered reservation: it must be committed on the ledger and
// its first output must be the reserved amount locked to the terms this
// intermediary agreed (its own key among them). Only then does the payee's
// side treat the funds as reserved. It implements roles.ReservationPeer.
func (in *Intermediary) ConfirmReservation(ctx context.Context, id string, tx *money.Tx) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return err
	}
	if err := checkResID(id); err != nil {
		return err
	}
	caller, _ := roles.Caller(ctx)
	if roles.IntermediaryOf(id) != caller.Name {
		return errcode.Forbidden("%s may confirm only its own reservations", caller.Name)
	}
	unlock, err := in.lockRes(ctx, pResPayee, id)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := in.loadRes(pResPayee, id)
	if tx == nil && errcode.Is(err, errcode.NotFound) {
		return nil // withdrawn before
	}
	if err != nil {
		return err
	}
	if tx == nil {
		// Withdrawn: the payer's intermediary never reserved the funds.
		// The offer is forgotten, so a refused reservation leaves nothing.
		if r.State != roles.ReservationPending {
			return errcode.New(errcode.Conflict, "reservation %s is %s here: it cannot be withdrawn", id, r.State)
		}
		return in.dropOffer(&r)
	}
	want := money.Output{Value: r.Amount, Lock: r.Escrow.Lock()}
	if tx != nil && len(tx.Inputs) == 1 && tx.Inputs[0].Output == want {
		return in.confirmSettled(ctx, &r, tx)
	}
	if r.State != roles.ReservationPending {
		return nil // confirmed before
	}
	d, err := in.checkDelivery(ctx, roles.Delivery{Tx: tx})
	if err != nil {
		return err
	}
	if len(tx.Outputs) == 0 || tx.Outputs[0] != want {
		return errcode.New(errcode.Conflict, "transaction %s does not reserve %d under the agreed terms", d.txid, r.Amount)
	}
	r.Note = money.Note{TxID: d.txid, Index: 0, Output: want}
	r.State = roles.ReservationActive
	return in.putRes(&r, nil)
}

// dropOffer forgets an offer on the payee's side, record and index.
func (in *Intermediary) dropOffer(r *resRec) error {
	b := in.db.NewBatch()
	b.Delete(resKey(pResPayee, r.ID))
	b.Delete(resIndexKey(r.Payee, r.ID))
	if err := b.Commit(true); err != nil {
		return internalErr("withdraw reservation "+r.ID, err)
	}
	return nil
}

// confirmSettled records on the payee's side a committed transaction
// spending the reservation's note, told by the payer's intermediary (a
// refund, or a capture or void whose answer this side may have missed):
// what it paid the payee, if anything, is the capture, credited here now
// (once, however often it also arrives as a delivery).
func (in *Intermediary) confirmSettled(ctx context.Context, r *resRec, tx *money.Tx) error {
	if final(r.State) {
		return nil
	}
	d, err := in.checkDelivery(ctx, roles.Delivery{Tx: tx})
	if err != nil {
		return err
	}
	if len(tx.Witnesses) != 1 || tx.Witnesses[0].Escrow != r.Escrow {
		return errcode.New(errcode.Conflict, "transaction %s does not spend reservation %s", d.txid, r.ID)
	}
	var captured uint64
	for _, o := range tx.Outputs {
		if o.Lock == r.PayeeLock {
			captured += o.Value
		}
	}
	switch {
	case captured > 0:
		r.State = roles.ReservationCaptured
	case tx.Witnesses[0].Path == money.PathRefund:
		r.State = roles.ReservationRefunded
	default:
		r.State = roles.ReservationVoided
	}
	if captured > 0 {
		memo := &roles.Memo{From: r.Payer, To: r.Payee, Reference: r.Reference}
		if err := in.applyCommitted(d.txid, tx, d.batch, d.index, memo, nil); err != nil {
			return internalErr("credit the capture of "+r.ID, err)
		}
	}
	r.Captured = captured
	r.Receipt = roles.Receipt{TxID: d.txid, Batch: d.batch, Index: d.index}
	if r.Spend, err = tx.MarshalBinary(); err != nil {
		return internalErr("encode transaction", err)
	}
	return in.putRes(r, nil)
}

// Capture takes amount, 1 to the reserved amount, for the payee: this
// intermediary (the payee's) builds the spend of the escrowed note, signs
// it with its escrow key and has the payer's intermediary co-sign and
// submit it; the payee's wallet is credited at once. It happens once: the
// same capture again answers the same outcome; a capture of another
// amount, or after a void or a refund, is errcode.Conflict; more than
// reserved is errcode.InsufficientFunds; nothing changes on a refusal.
func (in *Intermediary) Capture(ctx context.Context, id string, amount uint64) (roles.FundsReservation, error) {
	if amount == 0 {
		return roles.FundsReservation{}, errcode.New(errcode.Malformed, "capture amount must be positive (void releases everything)")
	}
	return in.settleAsPayee(ctx, id, spendCapture, amount)
}

// Void releases everything reserved back to the payer, once: the payee's
// intermediary signs the return and the payer's co-signs and submits it.
func (in *Intermediary) Void(ctx context.Context, id string) (roles.FundsReservation, error) {
	return in.settleAsPayee(ctx, id, spendVoid, 0)
}

func (in *Intermediary) settleAsPayee(ctx context.Context, id, kind string, amount uint64) (roles.FundsReservation, error) {
	if err := in.enter(); err != nil {
		return roles.FundsReservation{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.FundsReservation{}, err
	}
	if err := checkResID(id); err != nil {
		return roles.FundsReservation{}, err
	}
	return in.payeeSettle(ctx, id, kind, amount)
}

// payeeSettle is a capture or void on the payee's side, checked.
func (in *Intermediary) payeeSettle(ctx context.Context, id, kind string, amount uint64) (roles.FundsReservation, error) {
	want := roles.ReservationCaptured
	if kind == spendVoid {
		want = roles.ReservationVoided
	}
	// The payee's record is read under its lock, which is not held while
	// the payer's intermediary is asked: the payer's holds its own lock
	// while it asks this side (a confirmation), and the payer's record
	// decides anyway. Asking twice at once gets the same outcome twice.
	r, err := in.lockedRes(ctx, pResPayee, id)
	if err != nil {
		return roles.FundsReservation{}, err
	}
	if final(r.State) {
		return in.sameOutcome(&r, want, amount)
	}
	if r.State == roles.ReservationPending {
		return roles.FundsReservation{}, errcode.New(errcode.Unavailable, "reservation %s: the payer's intermediary has not confirmed the reserved funds yet; retry later", id)
	}
	if amount > r.Amount {
		return roles.FundsReservation{}, errcode.New(errcode.InsufficientFunds, "capture of %d is more than the %d reserved", amount, r.Amount)
	}
	key, err := crypto.KeyFromSeed(r.Seed)
	if err != nil {
		return roles.FundsReservation{}, internalErr("escrow key", err)
	}
	tx := settleTx(&r, kind, amount)
	sig := key.Sign(crypto.Spend, in.cfg.Network.ID, in.cfg.Network.TxID(tx))
	peer, err := in.resPeer(roles.IntermediaryOf(r.Payer))
	if err != nil {
		return roles.FundsReservation{}, err
	}
	out, err := peer.SettleReservation(in.asSelf(ctx), roles.ReservationSettle{ID: id, Amount: amount, PayeeSig: sig})
	if err != nil {
		return roles.FundsReservation{}, err
	}
	if !final(out.State) {
		return roles.FundsReservation{}, errcode.New(errcode.Unavailable, "reservation %s is %s at the payer's intermediary; retry later", id, out.State)
	}
	if out.Tx != nil && out.Captured > 0 {
		// Credit the payee now (the payer's intermediary delivers it too;
		// a transaction is credited once).
		if err := in.deliver(ctx, roles.Delivery{Tx: out.Tx, Memo: &roles.Memo{From: r.Payer, To: r.Payee, Reference: r.Reference}}); err != nil {
			in.log.Warn("reservation settled, payee not credited yet; the delivery will", "id", id, "err", err)
		}
	}
	unlock, err := in.lockRes(ctx, pResPayee, id)
	if err != nil {
		return roles.FundsReservation{}, err
	}
	defer unlock()
	if r, err = in.loadRes(pResPayee, id); err != nil {
		return roles.FundsReservation{}, err
	}
	if !final(r.State) {
		r.State, r.Captured, r.Receipt = out.State, out.Captured, out.Receipt
		if out.Tx != nil {
			if r.Spend, err = out.Tx.MarshalBinary(); err != nil {
				return roles.FundsReservation{}, internalErr("encode transaction", err)
			}
		}
		if err := in.putRes(&r, nil); err != nil {
			return roles.FundsReservation{}, err
		}
	}
	return in.sameOutcome(&r, want, amount)
}

// lockedRes reads a reservation record of one side under its lock.
func (in *Intermediary) lockedRes(ctx context.Context, prefix, id string) (resRec, error) {
	unlock, err := in.lockRes(ctx, prefix, id)
	if err != nil {
		return resRec{}, err
	}
	defer unlock()
	return in.loadRes(prefix, id)
}

// sameOutcome answers a settled reservation to a request for want (and
// amount): its view when that is what happened, else errcode.Conflict.
func (in *Intermediary) sameOutcome(r *resRec, want string, amount uint64) (roles.FundsReservation, error) {
	if r.State == want && (want != roles.ReservationCaptured || r.Captured == amount) {
		return in.reservationView(r), nil
	}
	what := r.State
	if r.State == roles.ReservationCaptured {
		what = fmt.Sprintf("captured (%d)", r.Captured)
	}
	return roles.FundsReservation{}, errcode.New(errcode.Conflict, "reservation %s is already %s", r.ID, what)
}

// ---- reading ----

// GetReservation reports reservation id as this intermediary sees it: the
// payer's side when it holds the payer's wallet, else the payee's.
func (in *Intermediary) GetReservation(ctx context.Context, id string) (roles.FundsReservation, error) {
	if err := in.enter(); err != nil {
		return roles.FundsReservation{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.FundsReservation{}, err
	}
	if err := checkResID(id); err != nil {
		return roles.FundsReservation{}, err
	}
	r, err := in.loadRes(pResPayer, id)
	if errcode.Is(err, errcode.NotFound) {
		r, err = in.loadRes(pResPayee, id)
	}
	if err != nil {
		return roles.FundsReservation{}, err
	}
	return in.reservationView(&r), nil
}

// WalletReservations lists the reservations of a wallet here, as payer or
// payee, oldest first.
func (in *Intermediary) WalletReservations(ctx context.Context, wallet string) ([]roles.FundsReservation, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.readable(ctx, wallet); err != nil {
		return nil, err
	}
	recs, err := in.walletReservations(wallet)
	if err != nil {
		return nil, err
	}
	out := make([]roles.FundsReservation, 0, len(recs))
	for i := range recs {
		out = append(out, in.reservationView(&recs[i]))
	}
	return out, nil
}

func (in *Intermediary) walletReservations(wallet string) ([]resRec, error) {
	p := resIndexPrefix(wallet)
	var out []resRec
	err := in.db.Scan(p, nil, func(k, v []byte) error {
		prefix := pResPayer
		if len(v) == 1 && v[0] == 'q' {
			prefix = pResPayee
		}
		r, err := in.loadRes(prefix, string(k[len(p):]))
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, internalErr("reservations of "+wallet, err)
	}
	slices.SortStableFunc(out, func(a, b resRec) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// reservedBy is what wallet has locked in its active reservations as
// payer: not in its Balance, still its money until captured.
func (in *Intermediary) reservedBy(wallet string) (uint64, error) {
	recs, err := in.walletReservations(wallet)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, r := range recs {
		if r.Side == sidePayer && (r.State == roles.ReservationActive || r.State == roles.ReservationSettling) {
			if sum, err = money.Add(sum, r.Amount); err != nil {
				return 0, internalErr("reserved of "+wallet, err)
			}
		}
	}
	return sum, nil
}

// ---- background ----

// SettleReservations finishes what is left open on the payer's side:
// reserving transactions of unknown outcome, payees not yet told, spends
// of unknown outcome, and refunds of expired reservations. The background
// loop calls it; it returns how many reservations remain open with work
// to do (not counting active ones waiting for their expiry).
func (in *Intermediary) SettleReservations(ctx context.Context) (int, error) {
	if err := in.enter(); err != nil {
		return 0, err
	}
	defer in.exit()
	return in.settleReservations(ctx)
}

func (in *Intermediary) settleReservations(ctx context.Context) (int, error) {
	var ids []string
	err := in.db.Scan([]byte(pResOpen), nil, func(k, _ []byte) error {
		ids = append(ids, string(k[len(pResOpen):]))
		return nil
	})
	if err != nil {
		return 0, internalErr("scan reservations", err)
	}
	left := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return left, ctx.Err()
		}
		if !in.settleReservation(ctx, id) {
			left++
		}
	}
	return left, nil
}

// settleReservation does what reservation id needs; false when work is
// left for later.
func (in *Intermediary) settleReservation(ctx context.Context, id string) bool {
	done, payee := in.settleLocked(ctx, id)
	if payee == "" {
		return done
	}
	r, err := in.voidExpired(ctx, id, payee)
	if err != nil {
		in.log.Debug("expired reservation not voided by the payee's intermediary; refund after the expiry batch", "id", id, "err", err)
		return false
	}
	in.log.Info("expired reservation voided with the payee's intermediary", "id", id, "state", r.State)
	return final(r.State) && r.Told
}

// settleLocked is settleReservation's work under the reservation's lock.
// payee, when not "", is the payee wallet of a reservation past its time
// but not its batch, which the payee's intermediary is to void.
func (in *Intermediary) settleLocked(ctx context.Context, id string) (done bool, payee string) {
	unlock, err := in.lockRes(ctx, pResPayer, id)
	if err != nil {
		return false, ""
	}
	defer unlock()
	r, err := in.loadRes(pResPayer, id)
	if err != nil {
		return false, ""
	}
	if err := in.settleOpen(ctx, &r); err != nil && !errcode.Is(err, errcode.Conflict) {
		in.log.Debug("reservation not settled yet", "id", id, "err", err)
		return false, ""
	}
	if final(r.State) {
		in.tellPayee(ctx, &r)
		return r.Told, ""
	}
	if r.State != roles.ReservationActive {
		return true, ""
	}
	in.confirmPayee(ctx, &r, nil)
	if in.cfg.Now().Before(r.ExpiresAt) {
		return r.Confirmed, ""
	}
	err = in.refund(ctx, &r)
	var bb *beforeBatch
	switch {
	case errors.As(err, &bb) && r.Confirmed:
		return false, r.Payee
	case err != nil:
		in.log.Debug("expired reservation not refunded yet", "id", id, "err", err)
		return false, ""
	}
	in.log.Info("expired reservation refunded", "id", id, "amount", r.Amount)
	return true, ""
}

var (
	_ roles.Reserver        = (*Intermediary)(nil)
	_ roles.ReservationPeer = (*Intermediary)(nil)
)
