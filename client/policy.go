package client

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// policyClient implements roles.PolicyDesk (and so roles.Policies) over
// HTTP.
type policyClient struct{ c *Client }

var _ roles.PolicyDesk = policyClient{}

// Policy reads GET /v1/policy. It does not verify the signatures: the
// caller checks them with policy.Signed.Verify against the officer keys it
// trusts (the ledger's mint keys), since this answer could come from
// anyone between it and the issuer.
func (p policyClient) Policy(ctx context.Context) (policy.Signed, error) {
	var s policy.Signed
	if err := p.c.do(ctx, http.MethodGet, "/v1/policy", nil, &s); err != nil {
		return policy.Signed{}, err
	}
	return s, nil
}

func (p policyClient) ProposePolicy(ctx context.Context, pol policy.Policy) (roles.PolicyProposal, error) {
	var w wire.PolicyProposal
	if err := p.c.do(ctx, http.MethodPost, "/v1/issuer/policies", wire.PolicyRequest{Policy: pol}, &w); err != nil {
		return roles.PolicyProposal{}, err
	}
	return w.ToPolicyProposal(), nil
}

func (p policyClient) ApprovePolicy(ctx context.Context, id money.Hash, key crypto.PublicKey, sig policy.Signature) (roles.PolicyProposal, error) {
	var w wire.PolicyProposal
	req := wire.ApprovalRequest{Key: key.String(), Signature: hex.EncodeToString(sig[:])}
	if err := p.c.do(ctx, http.MethodPost, "/v1/issuer/policies/"+id.String()+"/approvals", req, &w); err != nil {
		return roles.PolicyProposal{}, err
	}
	return w.ToPolicyProposal(), nil
}

func (p policyClient) GetPolicyProposal(ctx context.Context, id money.Hash) (roles.PolicyProposal, error) {
	var w wire.PolicyProposal
	if err := p.c.do(ctx, http.MethodGet, "/v1/issuer/policies/"+id.String(), nil, &w); err != nil {
		return roles.PolicyProposal{}, err
	}
	return w.ToPolicyProposal(), nil
}

func (p policyClient) ListPolicyProposals(ctx context.Context) ([]roles.PolicyProposal, error) {
	var w wire.PolicyProposals
	if err := p.c.do(ctx, http.MethodGet, "/v1/issuer/policies", nil, &w); err != nil {
		return nil, err
	}
	out := make([]roles.PolicyProposal, len(w.Proposals))
	for i, pp := range w.Proposals {
		out[i] = pp.ToPolicyProposal()
	}
	return out, nil
}

// registryClient implements roles.Registry over HTTP.
type registryClient struct{ c *Client }

var _ roles.Registry = registryClient{}

func reservationPath(person, wallet string) string {
	return "/v1/registry/reservations/" + url.PathEscape(person) + "/" + url.PathEscape(wallet)
}

func (r registryClient) Reserve(ctx context.Context, res roles.Reservation) (roles.Reservation, error) {
	var w wire.Reservation
	req := wire.ReservationRequest{Share: wire.FormatAmount(res.Share), Limit: wire.FormatAmount(res.Limit)}
	if err := r.c.do(ctx, http.MethodPut, reservationPath(res.Person, res.Wallet), req, &w); err != nil {
		return roles.Reservation{}, err
	}
	return w.ToReservation()
}

func (r registryClient) Release(ctx context.Context, person, wallet string) error {
	return r.c.do(ctx, http.MethodDelete, reservationPath(person, wallet), nil, nil)
}

func (r registryClient) Reservations(ctx context.Context) ([]roles.Reservation, error) {
	var w wire.Reservations
	if err := r.c.do(ctx, http.MethodGet, "/v1/registry/reservations", nil, &w); err != nil {
		return nil, err
	}
	out := make([]roles.Reservation, len(w.Reservations))
	for i, res := range w.Reservations {
		var err error
		if out[i], err = res.ToReservation(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
