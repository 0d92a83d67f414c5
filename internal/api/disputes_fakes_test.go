package api_test

import (
	"context"

	"github.com/specie/specie/roles"
)

// fakeInter's dispute desk and hand-over, so the conformance test can make
// the dispute routes fail on demand.

var (
	_ roles.DisputeDesk      = (*fakeInter)(nil)
	_ roles.DisputeExchanger = (*fakeInter)(nil)
)

func (f *fakeInter) fakeDispute(id string) roles.Dispute {
	return roles.Dispute{ID: id, TxID: hashOf(3), Payer: "bank-b.zz", Merchant: f.name + ".k3j9x2", Amount: 1000,
		Reason: "never arrived", State: roles.DisputeWithMerchant, Opened: t0, Updated: t0}
}

func (f *fakeInter) OpenDispute(ctx context.Context, r roles.DisputeRequest) (roles.Dispute, error) {
	if err := f.record(ctx, "OpenDispute", r); err != nil {
		return roles.Dispute{}, err
	}
	return f.fakeDispute(f.name + ".d1"), nil
}

func (f *fakeInter) Disputes(ctx context.Context, wallet string) ([]roles.Dispute, error) {
	if err := f.record(ctx, "Disputes", wallet); err != nil {
		return nil, err
	}
	return []roles.Dispute{f.fakeDispute(f.name + ".d1")}, nil
}

func (f *fakeInter) Dispute(ctx context.Context, id string) (roles.Dispute, error) {
	if err := f.record(ctx, "Dispute", id); err != nil {
		return roles.Dispute{}, err
	}
	return f.fakeDispute(id), nil
}

func (f *fakeInter) RejectDispute(ctx context.Context, id, reason string) (roles.Dispute, error) {
	if err := f.record(ctx, "RejectDispute", id, reason); err != nil {
		return roles.Dispute{}, err
	}
	d := f.fakeDispute(id)
	d.State, d.Resolution = roles.DisputeRejected, reason
	return d, nil
}

func (f *fakeInter) RefundDispute(ctx context.Context, id string, amount uint64, reference string) (roles.Dispute, error) {
	if err := f.record(ctx, "RefundDispute", id, amount, reference); err != nil {
		return roles.Dispute{}, err
	}
	d := f.fakeDispute(id)
	d.State, d.Refund, d.RefundAmount = roles.DisputeRefunded, hashOf(4), d.Amount
	return d, nil
}

func (f *fakeInter) ExchangeDispute(ctx context.Context, d roles.Dispute) (roles.Dispute, error) {
	if err := f.record(ctx, "ExchangeDispute", d); err != nil {
		return roles.Dispute{}, err
	}
	return d, nil
}
