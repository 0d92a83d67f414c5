package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/iso20022"
)

// The ISO 20022 gateway's routes (routes() registers them when
// Config.ISO20022 is set): messages in as application/xml, the status
// message back as application/xml; produced messages, statements and
// notifications by role and UTC date.

// isoRole resolves {role} to a role the gateway serves.
func (s *Server) isoRole(r *http.Request) (string, error) {
	role := r.PathValue("role")
	if !s.cfg.ISO20022.Serves(role) {
		return "", errcode.New(errcode.NotFound, "no ISO 20022 role %q served here", role)
	}
	return role, nil
}

// isoDay reads the ?date= of a listing: YYYY-MM-DD, required.
func isoDay(r *http.Request) (time.Time, error) {
	d := r.URL.Query().Get("date")
	if d == "" {
		return time.Time{}, errcode.New(errcode.Malformed, "date=YYYY-MM-DD is required")
	}
	return iso20022.ParseDay(d)
}

func writeXML(w http.ResponseWriter, status int, doc []byte) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(doc)
}

// isoProcess is POST /v1/iso20022/{role}: one message in, its status
// message out (200 even for a rejection: the rejection is the answer).
func (s *Server) isoProcess(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ct != "application/xml" && ct != "text/xml") {
		return errcode.New(errcode.Malformed, "Content-Type must be application/xml")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, iso20022.MaxDocument))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errcode.New(errcode.Malformed, "document larger than %d bytes", iso20022.MaxDocument)
		}
		return errcode.New(errcode.Malformed, "read body: %v", err)
	}
	a, err := s.cfg.ISO20022.Process(r.Context(), role, body)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, a.XML)
	return nil
}

func isoMessages(ps []iso20022.Produced) wire.ISOMessages {
	out := wire.ISOMessages{Messages: make([]wire.ISOMessage, 0, len(ps))}
	for _, p := range ps {
		out.Messages = append(out.Messages, wire.ISOMessage{MsgID: p.MsgID, Kind: p.Kind, Created: p.Created, XML: string(p.XML)})
	}
	return out
}

// isoList is GET /v1/iso20022/{role}/messages?date=.
func (s *Server) isoList(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	day, err := isoDay(r)
	if err != nil {
		return err
	}
	ps, err := s.cfg.ISO20022.Messages(r.Context(), role, day)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, isoMessages(ps))
	return nil
}

// isoMessage is GET /v1/iso20022/{role}/messages/{id}.
func (s *Server) isoMessage(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	p, err := s.cfg.ISO20022.Message(r.Context(), role, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, p.XML)
	return nil
}

// isoStatement is GET /v1/iso20022/{role}/statements/{account}?date=.
func (s *Server) isoStatement(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	day, err := isoDay(r)
	if err != nil {
		return err
	}
	doc, err := s.cfg.ISO20022.Statement(r.Context(), role, r.PathValue("account"), day)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, doc)
	return nil
}

// isoNotifications is GET /v1/iso20022/{role}/notifications/{account}?date=.
func (s *Server) isoNotifications(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	day, err := isoDay(r)
	if err != nil {
		return err
	}
	docs, err := s.cfg.ISO20022.Notifications(r.Context(), role, r.PathValue("account"), day)
	if err != nil {
		return err
	}
	ps := make([]iso20022.Produced, 0, len(docs))
	for _, d := range docs {
		ps = append(ps, iso20022.Produced{MsgID: iso20022.MsgIDOf(d), Kind: iso20022.Camt054, Created: day, XML: d})
	}
	writeJSON(w, http.StatusOK, isoMessages(ps))
	return nil
}

// isoDecide is POST /v1/iso20022/{role}/requests/{id}: the payer's
// decision on a request to pay, answered by the pain.014 of its status.
func (s *Server) isoDecide(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	var req wire.ISODecision
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	if req.Accept == nil {
		return errcode.New(errcode.Malformed, `"accept" (true or false) is required`)
	}
	a, err := s.cfg.ISO20022.Decide(r.Context(), role, r.PathValue("id"), *req.Accept)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, a.XML)
	return nil
}

// isoRequestStatus is GET /v1/iso20022/{role}/requests/{id}: the pain.014
// of a request to pay as it stands.
func (s *Server) isoRequestStatus(w http.ResponseWriter, r *http.Request) error {
	role, err := s.isoRole(r)
	if err != nil {
		return err
	}
	a, err := s.cfg.ISO20022.RequestStatus(r.Context(), role, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, a.XML)
	return nil
}
