package api

import (
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Request-to-pay: customers reach it with their intermediary's own
// credential (create, list, accept, decline, cancel); intermediaries keep
// a request in step with each other's credentials (offer, answer). The
// service checks who may do what.

// requestDesk is in's request-to-pay; an intermediary that runs none has
// no requests to find.
func requestDesk(in roles.Intermediary) (roles.Requests, error) {
	d, ok := in.(roles.Requests)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s runs no payment requests", in.Name())
	}
	return d, nil
}

func requestRelay(in roles.Intermediary) (roles.RequestRelay, error) {
	d, ok := in.(roles.RequestRelay)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s takes no payment requests", in.Name())
	}
	return d, nil
}

// optionalAmount reads an amount that may be absent ("" or "0": none).
func (s *Server) optionalAmount(r *http.Request, field, v string) (uint64, error) {
	if v == "" {
		return 0, nil
	}
	return s.parseQuantity(r.Context(), field, v)
}

func (s *Server) writeRequest(w http.ResponseWriter, r *http.Request, status int, req roles.PaymentRequest, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, wire.FromRequest(req, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.CreateRequestToPay
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := requestDesk(in)
	if err != nil {
		return err
	}
	amt, err := s.optionalAmount(r, "amount", req.Amount)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r, req.IdempotencyKey)
	if err != nil {
		return err
	}
	out, err := d.CreateRequest(r.Context(), roles.RequestSpec{Payee: req.Payee, Payer: req.Payer, Amount: amt, Reference: req.Reference, Expires: req.Expires, IdempotencyKey: key})
	return s.writeRequest(w, r, http.StatusCreated, out, err)
}

func (s *Server) walletRequests(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	d, err := requestDesk(in)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if len(q["role"]) > 1 {
		return errcode.New(errcode.Malformed, "role given %d times", len(q["role"]))
	}
	rs, err := d.WalletRequests(r.Context(), r.PathValue("id"), roles.RequestRole(q.Get("role")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromRequests(rs, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	d, err := requestDesk(in)
	if err != nil {
		return err
	}
	out, err := d.Request(r.Context(), r.PathValue("rid"))
	return s.writeRequest(w, r, http.StatusOK, out, err)
}

func (s *Server) acceptRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RequestAcceptance
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := requestDesk(in)
	if err != nil {
		return err
	}
	amt, err := s.optionalAmount(r, "amount", req.Amount)
	if err != nil {
		return err
	}
	out, err := d.AcceptRequest(r.Context(), r.PathValue("rid"), req.Payer, amt)
	return s.writeRequest(w, r, http.StatusOK, out, err)
}

func (s *Server) declineRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RequestDecline
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := requestDesk(in)
	if err != nil {
		return err
	}
	out, err := d.DeclineRequest(r.Context(), r.PathValue("rid"), req.Payer)
	return s.writeRequest(w, r, http.StatusOK, out, err)
}

func (s *Server) cancelRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RequestCancel
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := requestDesk(in)
	if err != nil {
		return err
	}
	out, err := d.CancelRequest(r.Context(), r.PathValue("rid"), req.Payee)
	return s.writeRequest(w, r, http.StatusOK, out, err)
}

func (s *Server) offerRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RequestToPay
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := requestRelay(in)
	if err != nil {
		return err
	}
	if req.ID != r.PathValue("rid") {
		return errcode.New(errcode.Malformed, "request id %q in the body, %q in the path", req.ID, r.PathValue("rid"))
	}
	p, err := req.ToRequest()
	if err != nil {
		return errcode.New(errcode.Malformed, "request: %v", err)
	}
	if err := d.OfferRequest(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.RequestOfferResponse{Status: "stored"})
	return nil
}

func (s *Server) answerRequest(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RequestAnswer
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := requestRelay(in)
	if err != nil {
		return err
	}
	amt, err := s.optionalAmount(r, "amount", req.Amount)
	if err != nil {
		return err
	}
	out, err := d.AnswerRequest(r.Context(), roles.RequestAnswer{ID: r.PathValue("rid"), Payer: req.Payer, Action: req.Action, Amount: amt})
	return s.writeRequest(w, r, http.StatusOK, out, err)
}
