package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// Routes under /raft/ on a replica's base URL, next to the API:
//
//	POST   /raft/messages       raft messages from peers (transport.go)
//	GET    /raft/status         this replica's view: StatusInfo
//	POST   /raft/members        add a member: {"id": 4, "url": "http://..."}
//	DELETE /raft/members/{id}   remove a member
//	POST   /raft/entries        ledger batches for a peer catching up by
//	                            snapshot (snapshot.go)
//	POST   /raft/state          the ledger's whole state, for a peer the
//	                            logs cannot catch up (state.go)
//
// Membership changes go to the leader; a follower answers not_leader with
// the leader's URL, as the API does for writes. Like the transport, these
// routes have no authentication yet: they belong on the replicas' private
// network.

// StatusInfo is GET /raft/status.
type StatusInfo struct {
	Status
	LeaderURL string   `json:"leader_url,omitempty"`
	Members   []uint64 `json:"members"`
}

// Member is the body of POST /raft/members.
type Member struct {
	ID  uint64 `json:"id"`
	URL string `json:"url"`
}

// Handler serves the replica's routes (above); mount it at "/raft/".
func (r *Replica) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MessagePath, r)
	mux.HandleFunc("GET /raft/status", func(w http.ResponseWriter, _ *http.Request) {
		_, u := r.Leader()
		writeJSON(w, http.StatusOK, StatusInfo{Status: r.Status(), LeaderURL: u, Members: r.Members()})
	})
	mux.HandleFunc("POST /raft/members", r.authed(func(w http.ResponseWriter, req *http.Request) {
		var m Member
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
			writeError(w, errcode.New(errcode.Malformed, "member: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
		defer cancel()
		if err := r.AddMember(ctx, m.ID, m.URL); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, StatusInfo{Status: r.Status(), Members: r.Members()})
	}))
	mux.HandleFunc("DELETE /raft/members/{id}", r.authed(func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.ParseUint(req.PathValue("id"), 10, 64)
		if err != nil || id == 0 {
			writeError(w, errcode.New(errcode.Malformed, "member ID %q", req.PathValue("id")))
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
		defer cancel()
		if err := r.RemoveMember(ctx, id); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, StatusInfo{Status: r.Status(), Members: r.Members()})
	}))
	mux.HandleFunc("POST "+EntriesPath, r.authed(r.serveEntries))
	mux.HandleFunc("POST "+StatePath, r.authed(r.serveState))
	return mux
}

// authed admits a membership change, or a read of the ledger's batches for
// a catch-up, only with a valid MACHeader under the group's key: whoever
// may add or remove a replica may rewrite the ledger's quorum. The body (at
// most 4 KiB) is read to check it and handed on (also as reqBody).
func (r *Replica) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 4096))
		if err != nil {
			writeError(w, errcode.New(errcode.Malformed, "read body: %v", err))
			return
		}
		if !r.checkMAC(req, body) {
			r.log.Warn("raft request refused: missing or bad MAC", "remote", req.RemoteAddr, "path", req.URL.Path)
			writeError(w, errcode.New(errcode.Unauthorized, "missing or bad %s: %s needs the group key", MACHeader, req.URL.Path))
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		h(w, req.WithContext(context.WithValue(req.Context(), bodyKey{}, body)))
	}
}

// bodyKey carries the body authed checked in the request's context.
type bodyKey struct{}

// reqBody is the body authed read and checked.
func reqBody(req *http.Request) []byte {
	b, _ := req.Context().Value(bodyKey{}).([]byte)
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var e *errcode.Error
	if !errors.As(err, &e) {
		e = errcode.New(errcode.Internal, "%v", err)
	}
	if e.Leader != "" {
		w.Header().Set(errcode.LeaderHeader, e.Leader)
	}
	writeJSON(w, errcode.HTTPStatus(e), wire.ErrorBody{Error: wire.Error{Code: e.Code, Message: e.Message}})
}
