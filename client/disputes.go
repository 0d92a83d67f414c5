package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// The intermediary's dispute desk (roles.DisputeDesk) and the hand-over
// between intermediaries (roles.DisputeExchanger) over HTTP: the
// roles.Intermediary that Client.Intermediary returns implements both.

var (
	_ roles.DisputeDesk      = interClient{}
	_ roles.DisputeExchanger = interClient{}
)

func (ic interClient) disputePath(id string) string {
	return ic.prefix + "/disputes/" + url.PathEscape(id)
}

// OpenDispute opens a dispute on a payment a wallet of the intermediary made.
func (ic interClient) OpenDispute(ctx context.Context, r roles.DisputeRequest) (roles.Dispute, error) {
	var w wire.Dispute
	req := wire.OpenDisputeRequest{Wallet: r.Wallet, TxID: r.TxID, Reason: r.Reason, Evidence: r.Evidence}
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/disputes", req, &w); err != nil {
		return roles.Dispute{}, err
	}
	return toDispute(w)
}

// Disputes lists the disputes a wallet is a side of.
func (ic interClient) Disputes(ctx context.Context, wallet string) ([]roles.Dispute, error) {
	var w wire.Disputes
	if err := ic.c.do(ctx, http.MethodGet, ic.prefix+"/disputes?wallet="+url.QueryEscape(wallet), nil, &w); err != nil {
		return nil, err
	}
	return w.ToDisputes()
}

// Dispute returns one dispute.
func (ic interClient) Dispute(ctx context.Context, id string) (roles.Dispute, error) {
	var w wire.Dispute
	if err := ic.c.do(ctx, http.MethodGet, ic.disputePath(id), nil, &w); err != nil {
		return roles.Dispute{}, err
	}
	return toDispute(w)
}

// RejectDispute ends a dispute unrefunded, with the merchant's reason.
func (ic interClient) RejectDispute(ctx context.Context, id, reason string) (roles.Dispute, error) {
	var w wire.Dispute
	if err := ic.c.do(ctx, http.MethodPost, ic.disputePath(id)+"/reject", wire.RejectDisputeRequest{Reason: reason}, &w); err != nil {
		return roles.Dispute{}, err
	}
	return toDispute(w)
}

// RefundDispute ends a dispute by refunding amount (0: all that is left)
// of the payment to the payer; asking again refunds nothing more.
func (ic interClient) RefundDispute(ctx context.Context, id string, amount uint64, reference string) (roles.Dispute, error) {
	req := wire.RefundDisputeRequest{Reference: reference}
	if amount != 0 {
		req.Amount = wire.FormatAmount(amount)
	}
	var w wire.Dispute
	if err := ic.c.do(ctx, http.MethodPost, ic.disputePath(id)+"/refund", req, &w); err != nil {
		return roles.Dispute{}, err
	}
	return toDispute(w)
}

// ExchangeDispute hands a dispute to the intermediary (the other side of
// its payment) and returns it as it now stands there.
func (ic interClient) ExchangeDispute(ctx context.Context, d roles.Dispute) (roles.Dispute, error) {
	var w wire.Dispute
	if err := ic.c.do(ctx, http.MethodPut, ic.disputePath(d.ID), wire.FromDispute(d, nil), &w); err != nil {
		return roles.Dispute{}, err
	}
	return toDispute(w)
}

func toDispute(w wire.Dispute) (roles.Dispute, error) {
	d, err := w.ToDispute()
	if err != nil {
		return roles.Dispute{}, errcode.New(errcode.Internal, "response dispute: %v", err)
	}
	return d, nil
}
