package api

import (
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Screening alerts: compliance staff list, read and close them with the
// intermediary's own credential (the service checks it).

// alertDesk is in's alert desk; an intermediary that keeps none has no
// alerts to find.
func alertDesk(in roles.Intermediary) (roles.AlertDesk, error) {
	d, ok := in.(roles.AlertDesk)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "intermediary %s keeps no screening alerts", in.Name())
	}
	return d, nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	d, err := alertDesk(in)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if len(q["state"]) > 1 {
		return errcode.New(errcode.Malformed, "state given %d times", len(q["state"]))
	}
	as, err := d.Alerts(r.Context(), roles.AlertState(q.Get("state")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromAlerts(as, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	d, err := alertDesk(in)
	if err != nil {
		return err
	}
	a, err := d.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromAlert(a, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) closeAlert(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.CloseAlertRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	d, err := alertDesk(in)
	if err != nil {
		return err
	}
	a, err := d.CloseAlert(r.Context(), r.PathValue("id"), roles.AlertClose{State: roles.AlertState(req.State), Reason: req.Reason, By: req.By})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromAlert(a, s.displayCurrency(r.Context())))
	return nil
}
