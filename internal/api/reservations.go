package api

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Reservations of funds for a payee (roles.Reserver), asked for by the
// intermediary's own credential, and the calls intermediaries make to each
// other about them (roles.ReservationPeer). The service checks who may
// call what.

// reservationRoutes registers the reservation routes under p, the
// intermediary prefix.
func (s *Server) reservationRoutes(p string) {
	s.handle("POST "+p+"/reservations", s.authed(s.inter(s.reserveFunds)))
	s.handle("GET "+p+"/reservations", s.authed(s.inter(s.walletReservations)))
	s.handle("GET "+p+"/reservations/{id}", s.authed(s.inter(s.getReservation)))
	s.handle("POST "+p+"/reservations/{id}/capture", s.authed(s.inter(s.captureReservation)))
	s.handle("POST "+p+"/reservations/{id}/void", s.authed(s.inter(s.voidReservation)))
	s.handle("POST "+p+"/reservations/{id}/refund", s.authed(s.inter(s.refundReservation)))
	s.handle("POST "+p+"/reservations/offers", s.authed(s.inter(s.offerReservation)))
	s.handle("POST "+p+"/reservations/{id}/confirm", s.authed(s.inter(s.confirmReservation)))
	s.handle("POST "+p+"/reservations/{id}/settle", s.authed(s.inter(s.settleReservation)))
	s.handle("POST "+p+"/reservations/{id}/expire", s.authed(s.inter(s.expireReservation)))
}

func reserver(in roles.Intermediary) (roles.Reserver, error) {
	r, ok := in.(roles.Reserver)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s holds no reservations", in.Name())
	}
	return r, nil
}

func reservationPeer(in roles.Intermediary) (roles.ReservationPeer, error) {
	r, ok := in.(roles.ReservationPeer)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s takes no reservations", in.Name())
	}
	return r, nil
}

func (s *Server) writeReservation(w http.ResponseWriter, r *http.Request, status int, res roles.FundsReservation) {
	writeJSON(w, status, wire.FromFundsReservation(res, s.displayCurrency(r.Context())))
}

func (s *Server) reserveFunds(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.FundsReservationRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	amt, err := s.parseAmount(r.Context(), "amount", req.Amount)
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(req.ExpiresIn)
	if err != nil {
		return errcode.New(errcode.Malformed, "expires_in: want a duration such as 15m or 72h: %v", err)
	}
	rs, err := reserver(in)
	if err != nil {
		return err
	}
	res, err := rs.Reserve(r.Context(), roles.ReservationRequest{From: req.From, To: req.To, Amount: amt, ExpiresIn: d, Reference: req.Reference, Key: req.Key})
	if err != nil {
		return err
	}
	s.writeReservation(w, r, http.StatusCreated, res)
	return nil
}

func (s *Server) walletReservations(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	q := r.URL.Query()
	if len(q["wallet"]) != 1 || q.Get("wallet") == "" {
		return errcode.New(errcode.Malformed, "want one wallet query parameter")
	}
	rs, err := reserver(in)
	if err != nil {
		return err
	}
	list, err := rs.WalletReservations(r.Context(), q.Get("wallet"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromFundsReservations(list, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) getReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	rs, err := reserver(in)
	if err != nil {
		return err
	}
	res, err := rs.GetReservation(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeReservation(w, r, http.StatusOK, res)
	return nil
}

func (s *Server) captureReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.CaptureRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	amt, err := s.parseAmount(r.Context(), "amount", req.Amount)
	if err != nil {
		return err
	}
	rs, err := reserver(in)
	if err != nil {
		return err
	}
	res, err := rs.Capture(r.Context(), r.PathValue("id"), amt)
	if err != nil {
		return err
	}
	s.writeReservation(w, r, http.StatusOK, res)
	return nil
}

func (s *Server) voidReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	rs, err := reserver(in)
	if err != nil {
		return err
	}
	res, err := rs.Void(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeReservation(w, r, http.StatusOK, res)
	return nil
}

func (s *Server) refundReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	rs, err := reserver(in)
	if err != nil {
		return err
	}
	res, err := rs.Refund(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeReservation(w, r, http.StatusOK, res)
	return nil
}

func (s *Server) offerReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.ReservationOffer
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	o, err := req.ToReservationOffer()
	if err != nil {
		return errcode.New(errcode.Malformed, "reservation offer: %v", err)
	}
	p, err := reservationPeer(in)
	if err != nil {
		return err
	}
	t, err := p.OfferReservation(r.Context(), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromReservationTerms(t))
	return nil
}

func (s *Server) confirmReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.ReservationConfirm
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	tx, err := req.ToTx()
	if err != nil {
		return err
	}
	p, err := reservationPeer(in)
	if err != nil {
		return err
	}
	if err := p.ConfirmReservation(r.Context(), r.PathValue("id"), tx); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.ReservationConfirmed{Status: "confirmed"})
	return nil
}

func (s *Server) settleReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.ReservationSettle
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	st, err := req.ToReservationSettle(r.PathValue("id"))
	if err != nil {
		return errcode.New(errcode.Malformed, "reservation settle: %v", err)
	}
	p, err := reservationPeer(in)
	if err != nil {
		return err
	}
	out, err := p.SettleReservation(r.Context(), st)
	if err != nil {
		return err
	}
	body, err := wire.FromReservationSettled(out)
	if err != nil {
		return errcode.New(errcode.Internal, "reservation outcome: %v", err)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) expireReservation(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	// No body is needed; one that is sent must still be JSON, and UTF-8,
	// like every body the API reads.
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		return errcode.New(errcode.Malformed, "body: %v", err)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		var none struct{}
		if err := wire.DecodeStrict(bytes.NewReader(b), &none); err != nil {
			return err
		}
	}
	p, err := reservationPeer(in)
	if err != nil {
		return err
	}
	if err := p.ExpireReservation(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.ReservationConfirmed{Status: "expired"})
	return nil
}
