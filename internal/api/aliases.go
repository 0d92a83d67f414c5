package api

import (
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Aliases: the central bank's directory of keyed alias hashes (for
// intermediaries) and each intermediary's alias service (registration
// with a one-time code, lookup, removal). Aliases travel in bodies, never
// in URLs; the directory's URLs carry only hashes.

// --- the central bank's alias directory ---

func (s *Server) bindAlias(w http.ResponseWriter, r *http.Request) error {
	var req wire.BindAliasRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	b, err := s.cfg.AliasDirectory.BindAlias(r.Context(), roles.AliasBinding{Hash: r.PathValue("hash"), Wallet: req.Wallet, Display: req.Display}, req.Move)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AliasBinding(b))
	return nil
}

func (s *Server) lookupAliasHash(w http.ResponseWriter, r *http.Request) error {
	b, err := s.cfg.AliasDirectory.LookupAlias(r.Context(), r.PathValue("hash"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AliasBinding(b))
	return nil
}

func (s *Server) unbindAlias(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.AliasDirectory.UnbindAlias(r.Context(), r.PathValue("hash"), r.PathValue("wallet")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AliasRemoved{Status: "removed"})
	return nil
}

// --- an intermediary's alias service ---

// aliasBook is in's alias service; an intermediary that offers none has
// no aliases to find.
func aliasBook(in roles.Intermediary) (roles.AliasBook, error) {
	b, ok := in.(roles.AliasBook)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s offers no aliases", in.Name())
	}
	return b, nil
}

func (s *Server) requestAliasCode(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.AliasCodeRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	b, err := aliasBook(in)
	if err != nil {
		return err
	}
	c, err := b.RequestAliasCode(r.Context(), roles.AliasRequest(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, wire.AliasChallenge(c))
	return nil
}

func (s *Server) confirmAlias(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.ConfirmAliasRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	b, err := aliasBook(in)
	if err != nil {
		return err
	}
	e, err := b.ConfirmAlias(r.Context(), req.Wallet, req.Alias, req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AliasEntry(e))
	return nil
}

func (s *Server) lookupAlias(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.LookupAliasRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	b, err := aliasBook(in)
	if err != nil {
		return err
	}
	e, err := b.LookupAlias(r.Context(), req.Alias)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AliasEntry(e))
	return nil
}

func (s *Server) removeAlias(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RemoveAliasRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	b, err := aliasBook(in)
	if err != nil {
		return err
	}
	if err := b.RemoveAlias(r.Context(), req.Wallet, req.Alias); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AliasRemoved{Status: "removed"})
	return nil
}
