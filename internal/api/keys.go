package api

import (
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// --- officer key rotation (roles.KeyDesk) ---

// keySetInForce serves GET /v1/keyset: the officer keys in force with the
// approvals that put them there, for anyone who checks approvals.
func (s *Server) keySetInForce(w http.ResponseWriter, r *http.Request) error {
	ks, err := s.cfg.Keys.KeySet(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromSignedKeySet(ks))
	return nil
}

func (s *Server) proposeKeySet(w http.ResponseWriter, r *http.Request) error {
	var req wire.KeySetRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	p, err := s.cfg.Keys.ProposeKeySet(r.Context(), req.KeySet)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromKeySetProposal(p))
	return nil
}

func (s *Server) getKeySet(w http.ResponseWriter, r *http.Request) error {
	id, err := hashParam(r, "id")
	if err != nil {
		return err
	}
	p, err := s.cfg.Keys.GetKeySetProposal(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromKeySetProposal(p))
	return nil
}

func (s *Server) approveKeySet(w http.ResponseWriter, r *http.Request) error {
	id, key, sig, err := approval(w, r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Keys.ApproveKeySet(r.Context(), id, key, policy.Signature(sig))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromKeySetProposal(p))
	return nil
}

// rotateMintKeys serves POST /v1/keysets: the issuer hands the ledger an
// officer key set in force (roles.KeyRotator). The router of a sharded
// network passes it on to each group and the coordinator's log, as it
// passes on transactions; either way the ledger checks the set's approvals
// against the set it applies now, so the caller adds no authority.
func (s *Server) rotateMintKeys(w http.ResponseWriter, r *http.Request) error {
	if p, _ := roles.Caller(r.Context()); p.Role != roles.RoleIssuer && p.Role != roles.RoleRouter {
		return errcode.Forbidden("only the issuer (or a sharded network's router) may rotate the officer keys, not %s", p.Name)
	}
	var req policy.SignedKeySet
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	e, err := s.cfg.Ledger.(roles.KeyRotator).RotateMintKeys(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
