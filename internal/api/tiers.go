package api

import (
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Wallet administration under the central bank's policy: tier, freeze,
// unfreeze, close, link, audit trail and the linked deposit account
// (roles.WalletAdmin), at /v1/intermediaries/{name}/wallets/{id}/...

type adminFunc func(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error

// admin resolves {name} to a served intermediary that enforces tiers.
func (s *Server) admin(h adminFunc) handlerFunc {
	return s.inter(func(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
		a, ok := in.(roles.WalletAdmin)
		if !ok {
			return errcode.New(errcode.NotFound, "intermediary %s does not administer wallet tiers", in.Name())
		}
		return h(w, r, a)
	})
}

func (s *Server) walletOut(w http.ResponseWriter, r *http.Request, wl roles.Wallet, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromWallet(wl, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) setTier(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	var req wire.TierRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	c := roles.TierChange{Tier: req.Tier, Evidence: req.Evidence, Reason: req.Reason}
	if req.Share != "" && req.Share != "0" {
		var err error
		if c.Share, err = s.parseAmount(r.Context(), "share", req.Share); err != nil {
			return err
		}
	}
	wl, err := a.SetTier(r.Context(), r.PathValue("id"), c)
	return s.walletOut(w, r, wl, err)
}

// reasoned serves freeze, unfreeze and close: a reason in, the wallet out.
func (s *Server) reasoned(w http.ResponseWriter, r *http.Request, do func(id, reason string) (roles.Wallet, error)) error {
	var req wire.ReasonRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	wl, err := do(r.PathValue("id"), req.Reason)
	return s.walletOut(w, r, wl, err)
}

func (s *Server) freeze(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	return s.reasoned(w, r, func(id, reason string) (roles.Wallet, error) { return a.Freeze(r.Context(), id, reason) })
}

func (s *Server) unfreeze(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	return s.reasoned(w, r, func(id, reason string) (roles.Wallet, error) { return a.Unfreeze(r.Context(), id, reason) })
}

func (s *Server) closeWallet(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	return s.reasoned(w, r, func(id, reason string) (roles.Wallet, error) { return a.CloseWallet(r.Context(), id, reason) })
}

func (s *Server) link(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	var req wire.LinkRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	wl, err := a.Link(r.Context(), r.PathValue("id"), req.Account, req.Reason)
	return s.walletOut(w, r, wl, err)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	es, err := a.Audit(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Audit{Entries: es})
	return nil
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, a roles.WalletAdmin) error {
	acc, es, err := a.Account(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromAccount(acc, es, s.displayCurrency(r.Context())))
	return nil
}
