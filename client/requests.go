package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Request-to-pay over HTTP: the roles.Intermediary that
// Client.Intermediary returns implements roles.Requests (for customers'
// apps) and roles.RequestRelay (for the other intermediaries).

var (
	_ roles.Requests     = interClient{}
	_ roles.RequestRelay = interClient{}
)

func (ic interClient) requestPath(id string) string {
	return ic.prefix + "/requests/" + url.PathEscape(id)
}

func (ic interClient) requestCall(ctx context.Context, method, path string, body any) (roles.PaymentRequest, error) {
	var w wire.RequestToPay
	if err := ic.c.do(ctx, method, path, body, &w); err != nil {
		return roles.PaymentRequest{}, err
	}
	return w.ToRequest()
}

// optionalAmount is an amount the API takes as absent when 0.
func optionalAmount(v uint64) string {
	if v == 0 {
		return ""
	}
	return wire.FormatAmount(v)
}

// CreateRequest makes a payment request at the payee's intermediary.
func (ic interClient) CreateRequest(ctx context.Context, s roles.RequestSpec) (roles.PaymentRequest, error) {
	req := wire.CreateRequestToPay{Payee: s.Payee, Payer: s.Payer, Amount: optionalAmount(s.Amount), Reference: s.Reference, Expires: s.Expires, IdempotencyKey: s.IdempotencyKey}
	return ic.requestCall(ctx, http.MethodPost, ic.prefix+"/requests", req)
}

// WalletRequests lists a wallet's requests as payee, payer or either.
func (ic interClient) WalletRequests(ctx context.Context, wallet string, role roles.RequestRole) ([]roles.PaymentRequest, error) {
	path := ic.walletPath(wallet) + "/requests"
	if role != roles.RequestEither {
		path += "?role=" + url.QueryEscape(string(role))
	}
	var w wire.RequestsToPay
	if err := ic.c.do(ctx, http.MethodGet, path, nil, &w); err != nil {
		return nil, err
	}
	return w.ToRequests()
}

// Request reports one request as the intermediary knows it.
func (ic interClient) Request(ctx context.Context, id string) (roles.PaymentRequest, error) {
	return ic.requestCall(ctx, http.MethodGet, ic.requestPath(id), nil)
}

// AcceptRequest pays a request from the payer's wallet; amount is 0 for
// the requested amount of a fixed request.
func (ic interClient) AcceptRequest(ctx context.Context, id, payer string, amount uint64) (roles.PaymentRequest, error) {
	return ic.requestCall(ctx, http.MethodPost, ic.requestPath(id)+"/accept", wire.RequestAcceptance{Payer: payer, Amount: optionalAmount(amount)})
}

// DeclineRequest refuses a request, at the payer's intermediary.
func (ic interClient) DeclineRequest(ctx context.Context, id, payer string) (roles.PaymentRequest, error) {
	return ic.requestCall(ctx, http.MethodPost, ic.requestPath(id)+"/decline", wire.RequestDecline{Payer: payer})
}

// CancelRequest withdraws a request, at the payee's intermediary.
func (ic interClient) CancelRequest(ctx context.Context, id, payee string) (roles.PaymentRequest, error) {
	return ic.requestCall(ctx, http.MethodPost, ic.requestPath(id)+"/cancel", wire.RequestCancel{Payee: payee})
}

// OfferRequest hands a request (or its change) to the payer's
// intermediary.
func (ic interClient) OfferRequest(ctx context.Context, r roles.PaymentRequest) error {
	var out wire.RequestOfferResponse
	return ic.c.do(ctx, http.MethodPut, ic.requestPath(r.ID), wire.FromRequest(r, nil), &out)
}

// AnswerRequest tells the owner of a request the payer's answer.
func (ic interClient) AnswerRequest(ctx context.Context, a roles.RequestAnswer) (roles.PaymentRequest, error) {
	return ic.requestCall(ctx, http.MethodPost, ic.requestPath(a.ID)+"/answer", wire.RequestAnswer{Payer: a.Payer, Action: a.Action, Amount: optionalAmount(a.Amount)})
}
