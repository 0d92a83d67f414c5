package api_test

import (
	"context"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// fakeInter's reservations, so the conformance test can make the
// reservation routes fail on demand.

var (
	_ roles.Reserver        = (*fakeInter)(nil)
	_ roles.ReservationPeer = (*fakeInter)(nil)
)

func (f *fakeInter) fakeReservation(id string) roles.FundsReservation {
	return roles.FundsReservation{ID: id, Side: "payer", Payer: f.name + ".k3j9x2", Payee: "bank-b.zz", Amount: 5000,
		State: roles.ReservationActive, Expiry: 42, ExpiresAt: t0, CreateTx: hashOf(6), Note: hashOf(7), Created: t0}
}

func (f *fakeInter) Reserve(ctx context.Context, r roles.ReservationRequest) (roles.FundsReservation, error) {
	if err := f.record(ctx, "Reserve", r); err != nil {
		return roles.FundsReservation{}, err
	}
	return f.fakeReservation(f.name + ".r1"), nil
}

func (f *fakeInter) Capture(ctx context.Context, id string, amount uint64) (roles.FundsReservation, error) {
	if err := f.record(ctx, "Capture", amount); err != nil {
		return roles.FundsReservation{}, err
	}
	return f.fakeReservation(id), nil
}

func (f *fakeInter) Void(ctx context.Context, id string) (roles.FundsReservation, error) {
	if err := f.record(ctx, "Void", id); err != nil {
		return roles.FundsReservation{}, err
	}
	return f.fakeReservation(id), nil
}

func (f *fakeInter) Refund(ctx context.Context, id string) (roles.FundsReservation, error) {
	if err := f.record(ctx, "Refund", id); err != nil {
		return roles.FundsReservation{}, err
	}
	return f.fakeReservation(id), nil
}

func (f *fakeInter) GetReservation(ctx context.Context, id string) (roles.FundsReservation, error) {
	if err := f.record(ctx, "GetReservation", id); err != nil {
		return roles.FundsReservation{}, err
	}
	return f.fakeReservation(id), nil
}

func (f *fakeInter) WalletReservations(ctx context.Context, wallet string) ([]roles.FundsReservation, error) {
	if err := f.record(ctx, "WalletReservations", wallet); err != nil {
		return nil, err
	}
	return []roles.FundsReservation{f.fakeReservation(f.name + ".r1")}, nil
}

func (f *fakeInter) OfferReservation(ctx context.Context, o roles.ReservationOffer) (roles.ReservationTerms, error) {
	if err := f.record(ctx, "OfferReservation", o); err != nil {
		return roles.ReservationTerms{}, err
	}
	return roles.ReservationTerms{PayeeKey: key(8).Public(), PayeeLock: money.KeyLock(key(8).Public())}, nil
}

func (f *fakeInter) ConfirmReservation(ctx context.Context, id string, tx *money.Tx) error {
	return f.record(ctx, "ConfirmReservation", id)
}

func (f *fakeInter) SettleReservation(ctx context.Context, s roles.ReservationSettle) (roles.ReservationSettled, error) {
	if err := f.record(ctx, "SettleReservation", s); err != nil {
		return roles.ReservationSettled{}, err
	}
	return roles.ReservationSettled{State: roles.ReservationVoided}, nil
}

func (f *fakeInter) ExpireReservation(ctx context.Context, id string) error {
	return f.record(ctx, "ExpireReservation", id)
}
