// Package api serves Specie's roles over HTTP: the ledger core, the issuer
// and any number of intermediaries, each only if this process runs it. The
// routes, JSON shapes and error codes are described in api/openapi.yaml; the
// JSON types live in internal/api/wire, shared with the Go client.
//
// The server authenticates (bearer token to roles.Principal) and translates;
// it never authorizes. The services decide what a principal may do and
// answer with errcode.Unauthorized or errcode.Forbidden.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Body size limits. Anything larger is rejected as malformed before the
// service sees it.
const (
	MaxBody      = 1 << 20  // 1 MiB for every JSON body
	MaxBatchBody = 16 << 20 // 16 MiB for POST /v1/transactions/batch
	MaxBatchTxs  = 10000    // transactions in one batch request
	MaxHeaders   = 1000     // headers in one GET /v1/log/headers page
	MaxLocate    = 10000    // txids in one POST /v1/transactions/locate (a delivery batch's worth)
)

// Credential maps a bearer token to the principal it authenticates.
type Credential struct {
	Token     string
	Principal roles.Principal
}

// Config says which roles this process serves and who may call it.
type Config struct {
	Ledger roles.Ledger // nil if this process does not serve the ledger
	// Checkpoints signs the ledger's checkpoints (internal/logtree); nil:
	// GET /v1/log/checkpoint and /v1/log/consistency answer not_found.
	Checkpoints    roles.CheckpointSource
	Issuer         roles.Issuer                  // nil if not served here
	Intermediaries map[string]roles.Intermediary // by name; empty if none served here
	// Policies is the issuer's policy governance; nil if not served here.
	// GET /v1/policy is public, the rest is for the issuer's staff.
	Policies roles.PolicyDesk
	// Keys is the issuer's officer key governance (rotation); nil if not
	// served here. GET /v1/keyset is public, the rest for the issuer.
	Keys roles.KeyDesk
	// Registry is the central bank's holding-limit registry; nil if not
	// served here.
	Registry    roles.Registry
	Credentials []Credential
	Logger      *slog.Logger // nil discards logs
	// ISO20022 is the ISO 20022 gateway (internal/iso20022); nil if not
	// served here.
	ISO20022 *iso20022.Gateway
	// Currency is the network currency for decimal amounts. Optional: when
	// zero it is asked of Ledger.Info or Issuer.Supply on first need and
	// cached. An intermediary-only process should set it.
	Currency money.Currency
	// AliasDirectory is the central bank's alias directory; nil if not
	// served here.
	AliasDirectory roles.AliasDirectory
}

// Server is the HTTP API. Create it with New; serve Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	tokens   map[[32]byte]roles.Principal
	mux      *http.ServeMux
	patterns []string // routed, for Routes
	handler  http.Handler

	curMu sync.Mutex
	cur   *money.Currency

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// byRoute holds each route's metrics, made at registration, so a
	// request finds its counter and histogram with one map read instead
	// of hashing its labels into the vectors (read-only after New).
	byRoute map[string]*routeMetrics
}

// routeMetrics are one route's children of the request metrics.
type routeMetrics struct {
	latency prometheus.Observer
	// codes is the route's request counter by status code, replaced
	// whole when a new code first appears (copy on write: a request
	// reads it without a lock).
	codes atomic.Pointer[map[int]prometheus.Counter]
}

func (s *Server) newRouteMetrics(route string) *routeMetrics {
	m := &routeMetrics{latency: s.latency.WithLabelValues(route)}
	m.codes.Store(&map[int]prometheus.Counter{})
	return m
}

// observe counts one request of route with status that took d.
func (s *Server) observe(route string, status int, d time.Duration) {
	m := s.byRoute[route]
	if m == nil { // every route is registered through handle; kept safe anyway
		s.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		return
	}
	codes := *m.codes.Load()
	c, ok := codes[status]
	if !ok {
		c = s.requests.WithLabelValues(route, strconv.Itoa(status))
		next := make(map[int]prometheus.Counter, len(codes)+1)
		maps.Copy(next, codes)
		next[status] = c
		m.codes.Store(&next) // a concurrent first of another code may be lost; it comes back next time
	}
	c.Inc()
	m.latency.Observe(d.Seconds())
}

// New builds a server for cfg. Routes exist only for the roles cfg serves;
// any other path answers 404 not_found.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger, tokens: make(map[[32]byte]roles.Principal), mux: http.NewServeMux(), byRoute: make(map[string]*routeMetrics)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.Credentials {
		if c.Token != "" {
			s.tokens[sha256.Sum256([]byte(c.Token))] = c.Principal
		}
	}
	if cfg.Currency.Code != "" {
		c := cfg.Currency
		s.cur = &c
	}
	s.reg = prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "specie_http_requests_total",
		Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "specie_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	s.reg.MustRegister(s.requests, s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.routes()
	s.byRoute["unmatched"] = s.newRouteMetrics("unmatched")
	s.handler = s.middleware(s.mux)
	return s
}

// Handler is the whole API with logging, metrics and panic recovery.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the Prometheus registry behind /metrics, so a process can add
// its own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

func (s *Server) routes() {
	s.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A ledger that stopped after a storage failure refuses every
		// write until a restart: that is an outage, not health.
		if h, ok := s.cfg.Ledger.(interface{ Health(context.Context) error }); ok {
			if err := h.Health(r.Context()); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, wire.Health{Status: "ok"})
	}))
	s.handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))

	if s.cfg.Ledger != nil {
		s.handle("GET /v1/info", s.public(s.info))
		s.handle("POST /v1/transactions", s.submitter(s.submit))
		s.handle("POST /v1/transactions/batch", s.submitter(s.submitBatch))
		s.handle("GET /v1/transactions/{txid}", s.public(s.tx))
		s.handle("POST /v1/transactions/locate", s.public(s.locate))
		s.handle("GET /v1/notes/{noteid}", s.public(s.note))
		s.handle("GET /v1/log/headers", s.public(s.headers))
		s.handle("GET /v1/log/batches/{seq}", s.public(s.batch))
		s.handle("GET /v1/log/checkpoint", s.public(s.checkpoint))
		s.handle("GET /v1/log/consistency", s.public(s.consistency))
		s.partRoutes() // parts.go
	}
	if s.cfg.Ledger != nil || s.cfg.Issuer != nil {
		s.handle("GET /v1/supply", s.public(s.supply))
	}
	if s.cfg.Issuer != nil {
		s.handle("POST /v1/issuer/mints", s.authed(s.proposeMint))
		s.handle("GET /v1/issuer/mints/{id}", s.authed(s.getMint))
		s.handle("POST /v1/issuer/mints/{id}/approvals", s.authed(s.approveMint))
		s.handle("POST /v1/issuer/redeems", s.authed(s.issuerRedeem))
	}
	if s.cfg.Policies != nil {
		s.handle("GET /v1/policy", s.public(s.policyInForce))
		s.handle("POST /v1/issuer/policies", s.authed(s.proposePolicy))
		s.handle("GET /v1/issuer/policies", s.authed(s.listPolicies))
		s.handle("GET /v1/issuer/policies/{id}", s.authed(s.getPolicy))
		s.handle("POST /v1/issuer/policies/{id}/approvals", s.authed(s.approvePolicy))
	}
	if _, ok := s.cfg.Ledger.(roles.KeyRotator); ok {
		s.handle("POST /v1/keysets", s.authed(s.rotateMintKeys))
	}
	if s.cfg.Keys != nil {
		s.handle("GET /v1/keyset", s.public(s.keySetInForce))
		s.handle("POST /v1/issuer/keysets", s.authed(s.proposeKeySet))
		s.handle("GET /v1/issuer/keysets/{id}", s.authed(s.getKeySet))
		s.handle("POST /v1/issuer/keysets/{id}/approvals", s.authed(s.approveKeySet))
	}
	if s.cfg.Registry != nil {
		const p = "/v1/registry/reservations"
		s.handle("GET "+p, s.authed(s.reservations))
		s.handle("PUT "+p+"/{person}/{wallet}", s.authed(s.reserve))
		s.handle("DELETE "+p+"/{person}/{wallet}", s.authed(s.release))
	}
	if len(s.cfg.Intermediaries) > 0 {
		const p = "/v1/intermediaries/{name}"
		s.handle("POST "+p+"/wallets", s.authed(s.inter(s.openWallet)))
		s.handle("GET "+p+"/wallets/{id}", s.authed(s.inter(s.wallet)))
		s.handle("GET "+p+"/wallets/{id}/history", s.authed(s.inter(s.history)))
		s.handle("GET "+p+"/wallets/{id}/lock", s.authed(s.inter(s.lock)))
		s.handle("DELETE "+p+"/wallets/{id}/holds/{hold}", s.authed(s.inter(s.releaseHold)))
		s.handle("POST "+p+"/payments", s.authed(s.inter(s.pay)))
		s.handle("POST "+p+"/deliveries", s.authed(s.inter(s.deliver)))
		s.handle("POST "+p+"/deliveries/batch", s.authed(s.inter(s.deliverMany)))
		s.handle("POST "+p+"/redeems", s.authed(s.inter(s.interRedeem)))
		s.handle("POST "+p+"/wallets/{id}/tier", s.authed(s.admin(s.setTier)))
		s.handle("POST "+p+"/wallets/{id}/freeze", s.authed(s.admin(s.freeze)))
		s.handle("POST "+p+"/wallets/{id}/unfreeze", s.authed(s.admin(s.unfreeze)))
		s.handle("POST "+p+"/wallets/{id}/close", s.authed(s.admin(s.closeWallet)))
		s.handle("POST "+p+"/wallets/{id}/link", s.authed(s.admin(s.link)))
		s.handle("GET "+p+"/wallets/{id}/audit", s.authed(s.admin(s.audit)))
		s.handle("GET "+p+"/wallets/{id}/account", s.authed(s.admin(s.account)))
		s.handle("GET "+p+"/alerts", s.authed(s.inter(s.listAlerts)))
		s.handle("GET "+p+"/alerts/{id}", s.authed(s.inter(s.getAlert)))
		s.handle("POST "+p+"/alerts/{id}/close", s.authed(s.inter(s.closeAlert)))
		s.handle("POST "+p+"/requests", s.authed(s.inter(s.createRequest)))
		s.handle("GET "+p+"/wallets/{id}/requests", s.authed(s.inter(s.walletRequests)))
		s.handle("GET "+p+"/requests/{rid}", s.authed(s.inter(s.getRequest)))
		s.handle("PUT "+p+"/requests/{rid}", s.authed(s.inter(s.offerRequest)))
		s.handle("POST "+p+"/requests/{rid}/accept", s.authed(s.inter(s.acceptRequest)))
		s.handle("POST "+p+"/requests/{rid}/decline", s.authed(s.inter(s.declineRequest)))
		s.handle("POST "+p+"/requests/{rid}/cancel", s.authed(s.inter(s.cancelRequest)))
		s.handle("POST "+p+"/requests/{rid}/answer", s.authed(s.inter(s.answerRequest)))
		s.handle("POST "+p+"/disputes", s.authed(s.inter(s.openDispute)))
		s.handle("GET "+p+"/disputes", s.authed(s.inter(s.listDisputes)))
		s.handle("GET "+p+"/disputes/{id}", s.authed(s.inter(s.getDispute)))
		s.handle("PUT "+p+"/disputes/{id}", s.authed(s.inter(s.exchangeDispute)))
		s.handle("POST "+p+"/disputes/{id}/reject", s.authed(s.inter(s.rejectDispute)))
		s.handle("POST "+p+"/disputes/{id}/refund", s.authed(s.inter(s.refundDispute)))
		s.handle("POST "+p+"/aliases/codes", s.authed(s.inter(s.requestAliasCode)))
		s.handle("POST "+p+"/aliases/confirm", s.authed(s.inter(s.confirmAlias)))
		s.handle("POST "+p+"/aliases/lookup", s.authed(s.inter(s.lookupAlias)))
		s.handle("POST "+p+"/aliases/remove", s.authed(s.inter(s.removeAlias)))
		s.reservationRoutes(p)
	}
	if s.cfg.AliasDirectory != nil {
		const p = "/v1/directory/aliases/{hash}"
		s.handle("PUT "+p, s.authed(s.bindAlias))
		s.handle("GET "+p, s.authed(s.lookupAliasHash))
		s.handle("DELETE "+p+"/{wallet}", s.authed(s.unbindAlias))
	}
	if s.cfg.ISO20022 != nil {
		const p = "/v1/iso20022/{role}"
		s.handle("POST "+p, s.authed(s.isoProcess))
		s.handle("GET "+p+"/messages", s.authed(s.isoList))
		s.handle("GET "+p+"/messages/{id}", s.authed(s.isoMessage))
		s.handle("GET "+p+"/statements/{account}", s.authed(s.isoStatement))
		s.handle("GET "+p+"/notifications/{account}", s.authed(s.isoNotifications))
		s.handle("POST "+p+"/requests/{id}", s.authed(s.isoDecide))
		s.handle("GET "+p+"/requests/{id}", s.authed(s.isoRequestStatus))
	}
}

// handle routes pattern to h and remembers it for Routes.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.patterns = append(s.patterns, pattern)
	s.byRoute[pattern] = s.newRouteMetrics(pattern)
}

// Routes lists the "METHOD /path" patterns this server routes, in the
// order they were registered (api/openapi.yaml's path syntax).
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// --- middleware ---

// reqState is shared between the outer middleware and the handlers, so the
// access log can name the principal and the error code.
type reqState struct {
	principal string
	errCode   errcode.Code
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferWriter captures what the mux writes for unmatched requests, so it
// can be replaced by a JSON error.
type bufferWriter struct {
	h      http.Header
	status int
}

func (b *bufferWriter) Header() http.Header { return b.h }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return len(p), nil
}

func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		sw := &statusWriter{ResponseWriter: w}
		h, route := mux.Handler(r)
		switch {
		case !isCleanPath(r.URL.Path):
			// The mux would redirect to the cleaned path; the API names
			// each resource by one path and says so instead.
			route = "unmatched"
			h = http.HandlerFunc(s.uncleanPath)
		case route == "":
			route = "unmatched"
			h = s.unmatched(h)
		default:
			h = mux
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					st.errCode = errcode.Internal
					writeJSON(sw, http.StatusInternalServerError, wire.ErrorBody{Error: wire.Error{Code: errcode.Internal, Message: "internal error"}})
				}
			}
			d := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.observe(route, status, d)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			// The access line's attributes are built only if it is
			// written: at the level most servers run (warn), a request
			// costs no allocation here.
			if !s.log.Enabled(r.Context(), level) {
				return
			}
			attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status), slog.Duration("duration", d)}
			if st.principal != "" {
				attrs = append(attrs, slog.String("principal", st.principal))
			}
			if st.errCode != "" {
				attrs = append(attrs, slog.String("code", string(st.errCode)))
			}
			s.log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		h.ServeHTTP(sw, r)
	})
}

// isCleanPath reports whether p is an absolute path with no ".", ".." or
// empty segments and no trailing slash (except "/" itself).
func isCleanPath(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p
}

func (s *Server) uncleanPath(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errcode.New(errcode.Malformed, "path %q is not canonical (no \".\" or \"..\" segments, \"//\" or trailing \"/\")", r.URL.Path))
}

// unmatched turns the mux's plain-text 404 and 405 into error JSON; the
// mux answers nothing else for a clean path without a route, and anything
// else would be not_found too.
func (s *Server) unmatched(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferWriter{h: make(http.Header)}
		h.ServeHTTP(buf, r)
		switch buf.status {
		case http.StatusNotFound:
			s.writeError(w, r, errcode.New(errcode.NotFound, "no route for %s %s", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			if allow := buf.h.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			e := errcode.New(errcode.Malformed, "method %s not allowed on %s", r.Method, r.URL.Path)
			e.Status = http.StatusMethodNotAllowed
			s.writeError(w, r, e)
		default:
			s.writeError(w, r, errcode.New(errcode.NotFound, "no route for %s %s", r.Method, r.URL.Path))
		}
	})
}

// --- authentication ---

// principalOf authenticates the request. ok is false when a token is
// present but unknown, or the header is not a bearer token.
func (s *Server) principalOf(r *http.Request) (p roles.Principal, present, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return p, false, true
	}
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return p, true, false
	}
	p, ok = s.tokens[sha256.Sum256([]byte(strings.TrimSpace(token)))]
	if ok && !certAgrees(r.TLS, p) {
		return p, true, false
	}
	return p, true, ok
}

// badCredential says why a present credential was refused.
func badCredential(r *http.Request, p roles.Principal) string {
	if p.Name != "" && r.TLS != nil {
		peer := "nobody"
		if cs := r.TLS; len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
			peer = fmt.Sprintf("%q", cs.VerifiedChains[0][0].Subject.CommonName)
		}
		return fmt.Sprintf("the client certificate names %s but the bearer token is %q's", peer, p.Name)
	}
	return "invalid bearer token"
}

// certAgrees says whether a mutual-TLS connection's client certificate
// names the token's principal: over TLS (`specie serve` with a network CA,
// internal/pki) a role's identity is its certificate as well as its token,
// so bank-b's certificate with bank-a's token is refused. Without TLS (the
// loopback devnet of `specie up`) there is nothing to compare.
func certAgrees(cs *tls.ConnectionState, p roles.Principal) bool {
	if cs == nil {
		return true
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return false
	}
	return cs.VerifiedChains[0][0].Subject.CommonName == p.Name
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// public serves a read anyone may make. A token, if sent, must be valid;
// its principal then reaches the service.
func (s *Server) public(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, present, ok := s.principalOf(r)
		if !ok {
			s.unauthorized(w, r, badCredential(r, p))
			return
		}
		if present {
			stateOf(r).principal = p.Name
			r = r.WithContext(roles.WithCaller(r.Context(), p))
		}
		s.run(w, r, h)
	}
}

// authed serves a route that needs a valid token.
func (s *Server) authed(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, present, ok := s.principalOf(r)
		switch {
		case !present:
			s.unauthorized(w, r, "missing bearer token")
			return
		case !ok:
			s.unauthorized(w, r, badCredential(r, p))
			return
		}
		stateOf(r).principal = p.Name
		s.run(w, r.WithContext(roles.WithCaller(r.Context(), p)), h)
	}
}

// submitter serves a ledger submit: only issuer and intermediary
// principals submit transactions, and the router of a sharded network,
// which passes theirs on to the group holding the notes.
func (s *Server) submitter(h handlerFunc) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request) error {
		p, _ := roles.Caller(r.Context())
		if p.Role != roles.RoleIssuer && p.Role != roles.RoleIntermediary && p.Role != roles.RoleRouter {
			return errcode.Forbidden("principal %q (role %q) may not submit transactions", p.Name, p.Role)
		}
		return h(w, r)
	})
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="specie"`)
	s.writeError(w, r, errcode.New(errcode.Unauthorized, "%s", msg))
}

func (s *Server) run(w http.ResponseWriter, r *http.Request, h handlerFunc) {
	if err := h(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// --- responses ---

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := respPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledResponse {
			buf.Reset()
			respPool.Put(buf)
		}
	}()
	if !writeJSONTo(buf, v) {
		// Every body is a wire type; this cannot fail short of a bug.
		status = http.StatusInternalServerError
	}
	// Canonical keys and shared values: set directly instead of through
	// Header.Set (net/http copies, never changes, a header's values).
	h := w.Header()
	h["Content-Type"] = jsonValue
	h["X-Content-Type-Options"] = nosniffValue
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var (
	jsonValue    = []string{"application/json"}
	nosniffValue = []string{"nosniff"}
)

// respPool holds writeJSON's buffers; a response body larger than
// maxPooledResponse (a long history) is left to the collector.
var respPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledResponse = 64 << 10

// writeJSONTo writes v as one line of JSON, or, if v does not encode (a
// bug), an internal error body and false. A wire.FastEncoder writes
// itself (the same bytes) when it can.
func writeJSONTo(buf *bytes.Buffer, v any) bool {
	if fe, ok := v.(wire.FastEncoder); ok {
		if b, ok := fe.AppendJSON(buf.AvailableBuffer()); ok {
			buf.Write(b)
			buf.WriteByte('\n')
			return true
		}
	}
	start := buf.Len()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false) // messages are JSON for programs, not HTML
	if err := enc.Encode(v); err != nil {
		buf.Truncate(start)
		buf.WriteString(`{"error":{"code":"internal","message":"encode response"}}` + "\n")
		return false
	}
	return true
}

// errorBody is what the API says about err. Codes and messages of
// *errcode.Errors pass through; anything else is an internal error whose
// detail is logged, not sent.
func errorBody(err error) (wire.Error, bool) {
	var e *errcode.Error
	if errors.As(err, &e) {
		return wire.Error{Code: e.Code, Message: e.Message}, true
	}
	if errors.Is(err, money.ErrMalformed) {
		return wire.Error{Code: errcode.Malformed, Message: err.Error()}, true
	}
	return wire.Error{Code: errcode.Internal, Message: "internal error"}, false
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	body, known := errorBody(err)
	if !known {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	stateOf(r).errCode = body.Code
	if e := (*errcode.Error)(nil); errors.As(err, &e) && e.Leader != "" {
		w.Header().Set(errcode.LeaderHeader, e.Leader)
	}
	if d := errcode.RetryAfter(err); d > 0 {
		// Whole seconds, rounded up (RFC 9110 delay-seconds).
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, errcode.HTTPStatus(err), wire.ErrorBody{Error: body})
}

// --- currency ---

// currency returns the network currency, asking the ledger or the issuer
// once and caching the answer.
func (s *Server) currency(ctx context.Context) (*money.Currency, error) {
	s.curMu.Lock()
	defer s.curMu.Unlock()
	if s.cur != nil {
		return s.cur, nil
	}
	var c money.Currency
	switch {
	case s.cfg.Ledger != nil:
		info, err := s.cfg.Ledger.Info(ctx)
		if err != nil {
			return nil, err
		}
		c = info.Network.Currency
	case s.cfg.Issuer != nil:
		sup, err := s.cfg.Issuer.Supply(ctx)
		if err != nil {
			return nil, err
		}
		c = sup.Currency
	}
	if c.Code == "" {
		return nil, errcode.New(errcode.Malformed, "this server does not know the network currency: send amounts in minor units")
	}
	s.cur = &c
	return s.cur, nil
}

// displayCurrency is the currency for *_decimal fields, or nil if unknown.
func (s *Server) displayCurrency(ctx context.Context) *money.Currency {
	c, err := s.currency(ctx)
	if err != nil {
		return nil
	}
	return c
}

// parseAmount reads an input amount: digits are minor units, a decimal
// is read with the network currency. Zero is never a valid amount.
func (s *Server) parseAmount(ctx context.Context, field, v string) (uint64, error) {
	n, err := s.parseQuantity(ctx, field, v)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errcode.New(errcode.Malformed, "%s: must be positive", field)
	}
	return n, nil
}

// parseQuantity is parseAmount where zero is allowed (a share of nothing,
// a limit of none).
func (s *Server) parseQuantity(ctx context.Context, field, v string) (uint64, error) {
	var n uint64
	var err error
	if strings.Contains(v, ".") {
		var cur *money.Currency
		if cur, err = s.currency(ctx); err != nil {
			return 0, err
		}
		n, err = cur.Parse(v)
	} else {
		n, err = wire.ParseMinor(v)
	}
	if err != nil {
		return 0, errcode.New(errcode.Malformed, "%s: %v", field, err)
	}
	return n, nil
}
