package api

import (
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Disputes: an intermediary's staff open, list, show and resolve them
// with its own credential (the service checks it); the other intermediary
// of a disputed payment hands a dispute over with PUT.

// disputeDesk is in's dispute desk; an intermediary that keeps none has
// no disputes to find.
func disputeDesk(in roles.Intermediary) (roles.DisputeDesk, error) {
	d, ok := in.(roles.DisputeDesk)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s keeps no disputes", in.Name())
	}
	return d, nil
}

func (s *Server) openDispute(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.OpenDisputeRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := disputeDesk(in)
	if err != nil {
		return err
	}
	got, err := d.OpenDispute(r.Context(), roles.DisputeRequest{Wallet: req.Wallet, TxID: req.TxID, Reason: req.Reason, Evidence: req.Evidence})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromDispute(got, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) listDisputes(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	d, err := disputeDesk(in)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if len(q["wallet"]) != 1 {
		return errcode.New(errcode.Malformed, "want one wallet query parameter, got %d", len(q["wallet"]))
	}
	ds, err := d.Disputes(r.Context(), q.Get("wallet"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromDisputes(ds, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) getDispute(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	d, err := disputeDesk(in)
	if err != nil {
		return err
	}
	got, err := d.Dispute(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromDispute(got, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) rejectDispute(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RejectDisputeRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := disputeDesk(in)
	if err != nil {
		return err
	}
	got, err := d.RejectDispute(r.Context(), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromDispute(got, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) refundDispute(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RefundDisputeRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	var amt uint64
	if req.Amount != "" {
		var err error
		if amt, err = s.parseAmount(r.Context(), "amount", req.Amount); err != nil {
			return err
		}
	}
	d, err := disputeDesk(in)
	if err != nil {
		return err
	}
	got, err := d.RefundDispute(r.Context(), r.PathValue("id"), amt, req.Reference)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromDispute(got, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) exchangeDispute(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.Dispute
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	if req.ID != r.PathValue("id") {
		return errcode.New(errcode.Malformed, "dispute id %q in the body is not %q of the path", req.ID, r.PathValue("id"))
	}
	d, err := req.ToDispute()
	if err != nil {
		return errcode.New(errcode.Malformed, "dispute: %v", err)
	}
	ex, ok := in.(roles.DisputeExchanger)
	if !ok {
		return errcode.New(errcode.NotFound, "intermediary %s takes no disputes", in.Name())
	}
	got, err := ex.ExchangeDispute(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromDispute(got, s.displayCurrency(r.Context())))
	return nil
}
