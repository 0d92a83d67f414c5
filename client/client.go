// Package client is the Go client for Specie's HTTP API, the part of the
// SDK that talks to a running network. It exists so that a program outside
// this module (a bank's core-banking adapter, a merchant's checkout, an
// auditor) uses the same contract as Specie's own services: it implements
// the role interfaces of package roles (roles.Ledger, roles.Issuer,
// roles.Intermediary) over HTTP, so code written against a role runs in
// process or across the network unchanged. Its signatures use only the
// public packages money, crypto, roles and errcode; the JSON shapes of the
// API stay behind it (api/openapi.yaml is their contract).
//
// The bearer token given to New is the caller's identity; a roles.Caller
// carried by a context is ignored. Rejections come back as *errcode.Error
// with the server's code and the HTTP status, so callers check codes the
// same way in process and over HTTP:
//
//	import (
//		"github.com/specie/specie/client"
//		"github.com/specie/specie/errcode"
//		"github.com/specie/specie/roles"
//	)
//
//	bank := client.New("http://127.0.0.1:8080", token).Intermediary("bank-a")
//	_, err := bank.Pay(ctx, roles.Payment{From: alice, To: bob, Amount: 120_00})
//	if errcode.Is(err, errcode.InsufficientFunds) { ... }
//
// Transport failures (connection refused, timeouts, a dropped response)
// are errcode.Unavailable, wrapping the cause for errors.Is.
//
// examples/sdk in the repository is a complete program in its own module:
// it mints, pays, proves a payment's inclusion in the log and matches
// error codes against `specie up`.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Default timeouts. Submits return only once the ledger has durably
// committed, so the overall timeout is generous.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultDialTimeout = 5 * time.Second
	// maxResponse bounds how much of a response body is read.
	maxResponse = 64 << 20
)

// Client talks to one Specie API server. It is safe for concurrent use and
// keeps connections alive, so one Client can carry heavy parallel load.
type Client struct {
	base  string
	token string
	hc    *http.Client
	ua    string
	// The values of the headers every request carries, made once in New
	// so a request shares them instead of building and canonicalising
	// its own (net/http never writes into a header's values).
	uaValue, authValue []string
	// leader is the base URL a replicated ledger's follower last named as
	// its leader (errcode.NotLeader), where requests go from then on; nil
	// until one is named.
	leader atomic.Pointer[string]
}

// maxLeaderHops is how many times one request follows a not_leader answer
// to the replica it names: a group in the middle of an election may name a
// replica that has just lost the lead.
const maxLeaderHops = 3

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the client's HTTP client (timeouts, transport,
// TLS settings) entirely.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout sets the overall timeout of each request (DefaultTimeout
// unless set). Apply it after WithHTTPClient to change a supplied client.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		hc := *c.hc
		hc.Timeout = d
		c.hc = &hc
	}
}

// WithTLS makes the client speak TLS with cfg: the network CA to trust and
// the caller's own certificate, for roles that require mutual TLS
// (`specie serve` after `specie devnet certs`). It keeps New's transport
// settings and the client's timeout.
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client) {
		t := NewTransport()
		t.TLSClientConfig = cfg
		c.hc = &http.Client{Timeout: c.hc.Timeout, Transport: t}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// NewTransport is the transport New uses: keep-alives with many idle
// connections per host, for batch and parallel load against one server.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// New returns a client for the API at baseURL (e.g. "http://127.0.0.1:8080")
// that authenticates with token; an empty token makes anonymous requests,
// enough for the public reads.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		hc:    &http.Client{Timeout: DefaultTimeout, Transport: NewTransport()},
		ua:    "specie-client/1",
	}
	for _, o := range opts {
		o(c)
	}
	c.uaValue = []string{c.ua}
	if c.token != "" {
		c.authValue = []string{"Bearer " + c.token}
	}
	return c
}

// Ledger returns the ledger core served at the base URL.
func (c *Client) Ledger() roles.Ledger { return ledgerClient{c} }

// Issuer returns the issuer served at the base URL.
func (c *Client) Issuer() roles.Issuer { return issuerClient{c} }

// Policies returns the issuer's policy desk served at the base URL: the
// policy in force (anyone may read it) and, with the issuer's credential,
// its governance. It also implements the narrower roles.Policies that
// intermediaries use.
func (c *Client) Policies() roles.PolicyDesk { return policyClient{c} }

// Registry returns the central bank's holding-limit registry served at
// the base URL, acting as the intermediary whose credential the client
// holds.
func (c *Client) Registry() roles.Registry { return registryClient{c} }

// Intermediary returns the intermediary called name served at the base URL.
func (c *Client) Intermediary(name string) roles.Intermediary {
	return interClient{c: c, name: name, prefix: "/v1/intermediaries/" + url.PathEscape(name)}
}

// Health checks GET /healthz; nil means the server answers.
func (c *Client) Health(ctx context.Context) error {
	var h wire.Health
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, &h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return errcode.New(errcode.Unavailable, "healthz: status %q", h.Status)
	}
	return nil
}

// transportError is errcode.Unavailable carrying the failure that caused
// it, so both errcode.Is(err, errcode.Unavailable) and errors.Is(err,
// context.DeadlineExceeded) hold.
type transportError struct {
	code  *errcode.Error
	cause error
}

func (e *transportError) Error() string   { return e.code.Error() }
func (e *transportError) Unwrap() []error { return []error{e.code, e.cause} }

func unavailable(what string, cause error) error {
	return &transportError{code: errcode.New(errcode.Unavailable, "%s: %v", what, cause), cause: cause}
}

// do sends one request. in (if not nil) is sent as JSON; a 2xx response is
// decoded into out (if not nil); anything else becomes an *errcode.Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doWith(ctx, method, path, nil, in, out)
}

// doWith is do with extra request headers. A replica of a replicated
// ledger that does not lead answers a write with not_leader and the
// leader's base URL (errcode.LeaderHeader); the request is sent there, and
// so are the client's later requests, until that replica cannot be
// reached.
func (c *Client) doWith(ctx context.Context, method, path string, header http.Header, in, out any) error {
	var body []byte
	if in != nil {
		b, err := encodeJSON(in)
		if err != nil {
			return errcode.New(errcode.Malformed, "encode request: %v", err)
		}
		body = b
	}
	base := c.base
	if l := c.leader.Load(); l != nil {
		base = *l
	}
	for hop := 0; ; hop++ {
		leader, err := c.send(ctx, base, method, path, header, body, in != nil, out)
		if leader != "" && hop < maxLeaderHops {
			leader = strings.TrimRight(leader, "/")
			c.leader.Store(&leader)
			base = leader
			continue
		}
		var te *transportError
		if base != c.base && errors.As(err, &te) {
			// The remembered leader cannot be reached: the next request
			// starts again from the replica this client was made for. This
			// one is not sent again (it may have arrived); the caller sees
			// unavailable and retries, as after any transport failure.
			c.leader.Store(nil)
		}
		return err
	}
}

// send makes one request to base. leader is the base URL named by a
// not_leader answer, if that is what came back.
func (c *Client) send(ctx context.Context, base, method, path string, header http.Header, body []byte, hasBody bool, out any) (leader string, err error) {
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return "", errcode.New(errcode.Malformed, "%s %s: %v", method, path, err)
	}
	// The keys are canonical already (header's come from this package's
	// constants), so they are set directly, not through Header.Set.
	h := req.Header
	if hasBody {
		h["Content-Type"] = jsonValue
	}
	for k, vs := range header {
		h[k] = vs
	}
	h["Accept"] = jsonValue
	h["User-Agent"] = c.uaValue
	if c.authValue != nil {
		h["Authorization"] = c.authValue
	}
	what := method + " " + path
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", unavailable(what, err)
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return "", unavailable(what+": read response", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := responseError(what, resp, data)
		if errcode.Is(err, errcode.NotLeader) {
			return resp.Header.Get(errcode.LeaderHeader), err
		}
		return "", err
	}
	if out == nil {
		return "", nil
	}
	if fd, ok := out.(wire.FastDecoder); ok && fd.DecodeFast(data) {
		return "", nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return "", errcode.New(errcode.Internal, "%s: decode response: %v", what, err)
	}
	return "", nil
}

// encodeJSON is json.Marshal, or a wire.FastEncoder's own encoding when it
// has one for v (a payment's request).
func encodeJSON(v any) ([]byte, error) {
	if fe, ok := v.(wire.FastEncoder); ok {
		if b, ok := fe.AppendJSON(make([]byte, 0, 256)); ok {
			return b, nil
		}
	}
	return json.Marshal(v)
}

// jsonValue is the value of the Content-Type and Accept headers.
var jsonValue = []string{"application/json"}

// readBody reads a response body of at most maxResponse bytes. A body of
// declared length is read into one slice of that length (the API always
// declares it), instead of io.ReadAll's growing copies; the read that
// fills it also sees the end of the body, so the connection goes back to
// the pool for the next request (TestPaymentsReuseOneConnection).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxResponse {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxResponse))
}

// getText GETs path and returns the body as it came: for the answers that
// are not JSON (a signed checkpoint).
func (c *Client) getText(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, errcode.New(errcode.Malformed, "GET %s: %v", path, err)
	}
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	what := "GET " + path
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, unavailable(what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, unavailable(what+": read response", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, responseError(what, resp, data)
	}
	return data, nil
}

// responseError is ResponseError with what the answer's headers add: the
// leader a NotLeader names, and the Retry-After of a 429 or 503, which
// errcode.RetryAfter then reports.
func responseError(what string, resp *http.Response, data []byte) error {
	err := ResponseError(what, resp.StatusCode, data)
	var e *errcode.Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Code == errcode.NotLeader {
		e.Leader = resp.Header.Get(errcode.LeaderHeader)
	}
	if n, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && n > 0 {
		e.RetryAfter = time.Duration(n) * time.Second
	}
	return err
}

// ResponseError rebuilds the server's *errcode.Error from an error
// response, for callers that make some requests themselves (the load
// generator of `specie bench --payments`). A body that is not the API's
// error JSON (a proxy's page, say) gets a code from the status alone;
// what names the request in the message.
func ResponseError(what string, status int, data []byte) error {
	var eb wire.ErrorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error.Code != "" {
		return &errcode.Error{Code: eb.Error.Code, Message: eb.Error.Message, Status: status}
	}
	code := errcode.Internal
	switch {
	case status == http.StatusBadRequest:
		code = errcode.Malformed
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		code = errcode.Unauthorized
	case status == http.StatusNotFound:
		code = errcode.NotFound
	case status == http.StatusConflict:
		code = errcode.Conflict
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		code = errcode.Unavailable
	}
	snippet := string(data)
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	return &errcode.Error{Code: code, Message: fmt.Sprintf("%s: HTTP %d: %s", what, status, strings.TrimSpace(snippet)), Status: status}
}

// wireError converts one batch entry's error back.
func wireError(e *wire.Error) error {
	if e == nil {
		return errcode.New(errcode.Internal, "batch result has neither receipt nor error")
	}
	return &errcode.Error{Code: e.Code, Message: e.Message}
}

func hexSig(s money.Sig) string { return hex.EncodeToString(s[:]) }
