package api_test

import (
	"context"

	"github.com/specie/specie/roles"
)

// fakeInter's request-to-pay, so the conformance test can make the
// request routes fail on demand.

var (
	_ roles.Requests     = (*fakeInter)(nil)
	_ roles.RequestRelay = (*fakeInter)(nil)
)

func (f *fakeInter) fakeRequest(id string) roles.PaymentRequest {
	return roles.PaymentRequest{ID: id, Payee: f.name + ".k3j9x2", Payer: "bank-b.m2p8q1", Amount: 1250, Reference: "invoice 42",
		Expires: t0.Add(3600e9), State: roles.RequestPending, Created: t0, Updated: t0, Version: 1}
}

func (f *fakeInter) CreateRequest(ctx context.Context, s roles.RequestSpec) (roles.PaymentRequest, error) {
	if err := f.record(ctx, "CreateRequest", s); err != nil {
		return roles.PaymentRequest{}, err
	}
	return f.fakeRequest(f.name + ".rq1"), nil
}

func (f *fakeInter) WalletRequests(ctx context.Context, wallet string, role roles.RequestRole) ([]roles.PaymentRequest, error) {
	if err := f.record(ctx, "WalletRequests", wallet, role); err != nil {
		return nil, err
	}
	return []roles.PaymentRequest{f.fakeRequest(f.name + ".rq1")}, nil
}

func (f *fakeInter) Request(ctx context.Context, id string) (roles.PaymentRequest, error) {
	if err := f.record(ctx, "Request", id); err != nil {
		return roles.PaymentRequest{}, err
	}
	return f.fakeRequest(id), nil
}

func (f *fakeInter) AcceptRequest(ctx context.Context, id, payer string, amount uint64) (roles.PaymentRequest, error) {
	if err := f.record(ctx, "AcceptRequest", id, payer, amount); err != nil {
		return roles.PaymentRequest{}, err
	}
	r := f.fakeRequest(id)
	r.State, r.Paid, r.TxID = roles.RequestPaid, r.Amount, hashOf(5)
	return r, nil
}

func (f *fakeInter) DeclineRequest(ctx context.Context, id, payer string) (roles.PaymentRequest, error) {
	if err := f.record(ctx, "DeclineRequest", id, payer); err != nil {
		return roles.PaymentRequest{}, err
	}
	r := f.fakeRequest(id)
	r.State = roles.RequestDeclined
	return r, nil
}

func (f *fakeInter) CancelRequest(ctx context.Context, id, payee string) (roles.PaymentRequest, error) {
	if err := f.record(ctx, "CancelRequest", id, payee); err != nil {
		return roles.PaymentRequest{}, err
	}
	r := f.fakeRequest(id)
	r.State = roles.RequestCancelled
	return r, nil
}

func (f *fakeInter) OfferRequest(ctx context.Context, r roles.PaymentRequest) error {
	return f.record(ctx, "OfferRequest", r)
}

func (f *fakeInter) AnswerRequest(ctx context.Context, a roles.RequestAnswer) (roles.PaymentRequest, error) {
	if err := f.record(ctx, "AnswerRequest", a); err != nil {
		return roles.PaymentRequest{}, err
	}
	return f.fakeRequest(a.ID), nil
}
