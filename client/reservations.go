package client

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Reservations of funds over HTTP: the roles.Intermediary that
// Client.Intermediary returns is also a roles.Reserver (for the
// intermediary's own staff and apps) and a roles.ReservationPeer (for the
// other intermediaries, which reach it with their own credential).

var (
	_ roles.Reserver        = interClient{}
	_ roles.ReservationPeer = interClient{}
)

func (ic interClient) reservationPath(id string) string {
	return ic.prefix + "/reservations/" + url.PathEscape(id)
}

func (ic interClient) reservationCall(ctx context.Context, method, path string, body any) (roles.FundsReservation, error) {
	var w wire.FundsReservation
	if err := ic.c.do(ctx, method, path, body, &w); err != nil {
		return roles.FundsReservation{}, err
	}
	return w.ToFundsReservation()
}

// Reserve locks funds of a wallet for a payee until the expiry.
func (ic interClient) Reserve(ctx context.Context, r roles.ReservationRequest) (roles.FundsReservation, error) {
	req := wire.FundsReservationRequest{From: r.From, To: r.To, Amount: wire.FormatAmount(r.Amount),
		ExpiresIn: r.ExpiresIn.String(), Reference: r.Reference, Key: r.Key}
	return ic.reservationCall(ctx, http.MethodPost, ic.prefix+"/reservations", req)
}

// Capture takes amount of a reservation for its payee, once.
func (ic interClient) Capture(ctx context.Context, id string, amount uint64) (roles.FundsReservation, error) {
	return ic.reservationCall(ctx, http.MethodPost, ic.reservationPath(id)+"/capture", wire.CaptureRequest{Amount: wire.FormatAmount(amount)})
}

// Void releases a reservation to its payer.
func (ic interClient) Void(ctx context.Context, id string) (roles.FundsReservation, error) {
	return ic.reservationCall(ctx, http.MethodPost, ic.reservationPath(id)+"/void", nil)
}

// Refund returns an expired reservation to its payer.
func (ic interClient) Refund(ctx context.Context, id string) (roles.FundsReservation, error) {
	return ic.reservationCall(ctx, http.MethodPost, ic.reservationPath(id)+"/refund", nil)
}

// GetReservation reports one reservation.
func (ic interClient) GetReservation(ctx context.Context, id string) (roles.FundsReservation, error) {
	return ic.reservationCall(ctx, http.MethodGet, ic.reservationPath(id), nil)
}

// WalletReservations lists a wallet's reservations, as payer or payee.
func (ic interClient) WalletReservations(ctx context.Context, wallet string) ([]roles.FundsReservation, error) {
	var w wire.FundsReservations
	if err := ic.c.do(ctx, http.MethodGet, ic.prefix+"/reservations?wallet="+url.QueryEscape(wallet), nil, &w); err != nil {
		return nil, err
	}
	return w.ToFundsReservations()
}

// OfferReservation announces a reservation to the payee's intermediary.
func (ic interClient) OfferReservation(ctx context.Context, o roles.ReservationOffer) (roles.ReservationTerms, error) {
	var w wire.ReservationTerms
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/reservations/offers", wire.FromReservationOffer(o), &w); err != nil {
		return roles.ReservationTerms{}, err
	}
	return w.ToReservationTerms()
}

// ConfirmReservation hands a committed transaction of a reservation to
// the payee's intermediary.
// A nil tx withdraws the offer.
func (ic interClient) ConfirmReservation(ctx context.Context, id string, tx *money.Tx) error {
	req := wire.ReservationConfirm{Withdrawn: tx == nil}
	if tx != nil {
		var err error
		if req.Tx, err = encodeTx(tx); err != nil {
			return err
		}
	}
	return ic.c.do(ctx, http.MethodPost, ic.reservationPath(id)+"/confirm", req, nil)
}

// SettleReservation asks the payer's intermediary to co-sign and submit a
// capture or a void.
func (ic interClient) SettleReservation(ctx context.Context, s roles.ReservationSettle) (roles.ReservationSettled, error) {
	req := wire.ReservationSettle{Amount: wire.FormatAmount(s.Amount), PayeeSig: hex.EncodeToString(s.PayeeSig[:])}
	var w wire.ReservationSettled
	if err := ic.c.do(ctx, http.MethodPost, ic.reservationPath(s.ID)+"/settle", req, &w); err != nil {
		return roles.ReservationSettled{}, err
	}
	return w.ToReservationSettled()
}

// ExpireReservation asks the payee's intermediary to void a reservation
// past its expiry time.
func (ic interClient) ExpireReservation(ctx context.Context, id string) error {
	return ic.c.do(ctx, http.MethodPost, ic.reservationPath(id)+"/expire", nil, nil)
}
