package api

import (
	"net/http"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// --- policy ---

// policyInForce serves GET /v1/policy: the version in force with its
// officers' approvals, for anyone (intermediaries verify it themselves).
func (s *Server) policyInForce(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.cfg.Policies.Policy(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromSigned(sp))
	return nil
}

func (s *Server) proposePolicy(w http.ResponseWriter, r *http.Request) error {
	var req wire.PolicyRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	p, err := s.cfg.Policies.ProposePolicy(r.Context(), req.Policy)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromPolicyProposal(p))
	return nil
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Policies.ListPolicyProposals(r.Context())
	if err != nil {
		return err
	}
	out := wire.PolicyProposals{Proposals: make([]wire.PolicyProposal, len(ps))}
	for i, p := range ps {
		out.Proposals[i] = wire.FromPolicyProposal(p)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := hashParam(r, "id")
	if err != nil {
		return err
	}
	p, err := s.cfg.Policies.GetPolicyProposal(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromPolicyProposal(p))
	return nil
}

func (s *Server) approvePolicy(w http.ResponseWriter, r *http.Request) error {
	id, key, sig, err := approval(w, r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Policies.ApprovePolicy(r.Context(), id, key, policy.Signature(sig))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromPolicyProposal(p))
	return nil
}

// --- holding-limit registry ---

func (s *Server) reserve(w http.ResponseWriter, r *http.Request) error {
	var req wire.ReservationRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	share, err := s.parseQuantity(r.Context(), "share", req.Share)
	if err != nil {
		return err
	}
	limit, err := s.parseQuantity(r.Context(), "limit", req.Limit)
	if err != nil {
		return err
	}
	res, err := s.cfg.Registry.Reserve(r.Context(), roles.Reservation{
		Person: r.PathValue("person"), Wallet: r.PathValue("wallet"), Share: share, Limit: limit,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromReservation(res, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Registry.Release(r.Context(), r.PathValue("person"), r.PathValue("wallet")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.ReleaseResponse{Status: "released"})
	return nil
}

func (s *Server) reservations(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.cfg.Registry.Reservations(r.Context())
	if err != nil {
		return err
	}
	cur := s.displayCurrency(r.Context())
	out := wire.Reservations{Reservations: make([]wire.Reservation, len(rs))}
	for i, res := range rs {
		out.Reservations[i] = wire.FromReservation(res, cur)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
