package api_test

import (
	"context"
	"time"

	"github.com/specie/specie/roles"
)

// fakeInter's alert desk, so the conformance test can make the alert
// routes fail on demand.

var _ roles.AlertDesk = (*fakeInter)(nil)

func (f *fakeInter) fakeAlert(id string) roles.Alert {
	return roles.Alert{ID: id, Rule: "large_value", Action: "alert", Side: "payee", Wallet: f.name + ".k3j9x2",
		Message:  "payment of 10000.00 XTS into wallet " + f.name + ".k3j9x2 is at or above the reporting threshold 10000.00 XTS",
		Evidence: []roles.AlertEvidence{{TxID: hashOf(3), From: "bank-b.zz", To: f.name + ".k3j9x2", Amount: 1000000, Time: t0}},
		State:    roles.AlertOpen, Created: t0}
}

func (f *fakeInter) Alerts(ctx context.Context, state roles.AlertState) ([]roles.Alert, error) {
	if err := f.record(ctx, "Alerts", state); err != nil {
		return nil, err
	}
	return []roles.Alert{f.fakeAlert("a1")}, nil
}

func (f *fakeInter) Alert(ctx context.Context, id string) (roles.Alert, error) {
	if err := f.record(ctx, "Alert", id); err != nil {
		return roles.Alert{}, err
	}
	return f.fakeAlert(id), nil
}

func (f *fakeInter) CloseAlert(ctx context.Context, id string, c roles.AlertClose) (roles.Alert, error) {
	if err := f.record(ctx, "CloseAlert", c); err != nil {
		return roles.Alert{}, err
	}
	a := f.fakeAlert(id)
	a.State, a.Reason, a.ClosedBy, a.Closed = c.State, c.Reason, c.By, t0.Add(time.Hour)
	return a, nil
}
