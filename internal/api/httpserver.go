package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// Limits bounds what one client can hold of a server: how long it may take
// to send a request and read the answer, how long an idle connection is
// kept, and how many connections are open at once. Zero fields take the
// defaults below.
type Limits struct {
	// ReadHeaderTimeout is the time to send the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is the time to send the whole request, body included.
	// It must allow the largest batch (MaxBatchBody, 16 MiB) on a slow
	// link: the default 60 s is about 280 KB/s.
	ReadTimeout time.Duration
	// WriteTimeout runs from the end of the request headers to the end of
	// the response, so it includes the handler (a submit waits for its
	// commit).
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line plus headers; more is answered
	// 431 malformed.
	MaxHeaderBytes int
	// MaxConns caps open connections. At the cap a new connection takes
	// the slot of the connection idle the longest between requests (idle
	// at least 100 ms), which the server closes; with none idle it waits
	// in the operating system's accept queue until one goes idle or
	// closes (a slow client is closed by the timeouts above), so it is
	// served late, never refused by the server.
	MaxConns int
}

// Defaults for Limits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 1024
)

// WithDefaults fills zero fields with the defaults.
func (l Limits) WithDefaults() Limits {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&l.ReadTimeout, DefaultReadTimeout)
	set(&l.WriteTimeout, DefaultWriteTimeout)
	set(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// HTTPServer is the one way every Specie process serves HTTP: net/http with
// the Limits applied, and a listener that caps connections and answers
// net/http's own refusals (431, 400 for a request it cannot parse) in the
// API's JSON error shape. It offers only Serve, so nothing can bypass the
// listener.
type HTTPServer struct {
	srv    *http.Server
	limits Limits
}

// NewHTTPServer serves h with lim (zero fields take the defaults). log
// receives net/http's own errors; nil discards them.
func NewHTTPServer(h http.Handler, lim Limits, log *slog.Logger) *HTTPServer {
	lim = lim.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HTTPServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			ReadTimeout:       lim.ReadTimeout,
			WriteTimeout:      lim.WriteTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			// "OPTIONS *" reaches the API (and is malformed) instead of
			// net/http's empty 200.
			DisableGeneralOptionsHandler: true,
			// Tracks idle connections, so that at the cap a new one
			// displaces the longest idle (edgeListener).
			ConnState: connState,
		},
		limits: lim,
	}
}

// Limits are the limits in force, defaults filled in.
func (s *HTTPServer) Limits() Limits { return s.limits }

// Serve accepts connections on ln, at most Limits.MaxConns at a time, until
// Shutdown or Close; it returns http.ErrServerClosed then.
func (s *HTTPServer) Serve(ln net.Listener) error {
	return s.srv.Serve(newEdgeListener(ln, s.limits.MaxConns))
}

// ServeTLS is Serve over TLS with cfg (mutual TLS between roles under
// `specie serve`). TLS sits above the connection cap, so a handshake holds
// a slot like any connection, and the handlers see the client's verified
// certificate in r.TLS.
func (s *HTTPServer) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	return s.srv.Serve(tls.NewListener(newEdgeListener(ln, s.limits.MaxConns), cfg))
}

// Shutdown stops accepting and waits for active requests, up to ctx.
func (s *HTTPServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close closes the listener and every connection at once.
func (s *HTTPServer) Close() error { return s.srv.Close() }

// edgeListener holds a slot of a semaphore per open connection, so at most
// cap connections are served at once. At the cap, a new connection takes
// the slot of the connection that has been idle (kept alive between
// requests) the longest: the server closes that one, as it would at
// IdleTimeout. Without that, keep-alive connections of clients that have
// gone quiet, or of a client that keeps more than one pool (one per role
// it calls), hold every slot while a new connection waits until the idle
// timeout (120 s) with its request already written, since the kernel
// completed its handshake (issue 8: `specie bench --payments --clients
// 1024` ended with hundreds of requests answered unavailable after the
// client's 30 s timeout). Only idle connections are closed: one that is
// sending a request or waiting for its answer keeps its slot, and a slow
// client is cut off by the timeouts, so the cap still protects the server.
// A client that sends a request just as its idle connection is closed
// sees the close before any answer; Go's transport retries it when the
// request is replayable (a GET, or a POST with an Idempotency-Key header,
// as the client package sends for payments), as after IdleTimeout.
type edgeListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	idle map[*edgeConn]time.Time // open connections idle between requests, since when
	wake chan struct{}           // a connection went idle
}

func newEdgeListener(ln net.Listener, n int) *edgeListener {
	return &edgeListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{}),
		idle: make(map[*edgeConn]time.Time), wake: make(chan struct{}, 1)}
}

func (l *edgeListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case l.sem <- struct{}{}:
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		return l.wrap(c), nil
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	// At the cap: take the next connection from the kernel's queue, then
	// make room for it by closing the longest idle connection, or wait
	// for a slot to free or a connection to go idle.
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.sem <- struct{}{}:
			return l.wrap(c), nil
		default:
		}
		evicted, wait := l.evictIdle()
		if evicted {
			continue
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = time.After(wait)
		}
		select {
		case l.sem <- struct{}{}:
			return l.wrap(c), nil
		case <-l.wake:
		case <-timer:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

// minIdle is how long a connection must have been idle before a new one
// may displace it: just after a response a keep-alive client is usually
// sending its next request, which the server has not read yet.
const minIdle = 100 * time.Millisecond

func (l *edgeListener) wrap(c net.Conn) *edgeConn {
	ec := &edgeConn{Conn: c, l: l}
	ec.release = func() { <-l.sem }
	return ec
}

// evictIdle closes the connection idle the longest, if it has been idle
// for minIdle, releasing its slot. If none was closed, wait is how long
// until the longest idle one will have been idle for minIdle (0 if none
// is idle).
func (l *edgeListener) evictIdle() (evicted bool, wait time.Duration) {
	l.mu.Lock()
	for {
		var oldest *edgeConn
		var since time.Time
		for c, t := range l.idle {
			if oldest == nil || t.Before(since) {
				oldest, since = c, t
			}
		}
		if oldest == nil {
			l.mu.Unlock()
			return false, 0
		}
		if d := time.Since(since); d < minIdle {
			l.mu.Unlock()
			return false, minIdle - d
		}
		delete(l.idle, oldest)
		// Claim it, unless a request has begun to arrive on it.
		if oldest.state.CompareAndSwap(connIdle, connEvicted) {
			l.mu.Unlock()
			oldest.Close()
			return true, 0
		}
	}
}

// An edgeConn's state as far as eviction goes. The step from idle to busy
// (the first bytes of a request read, in Read) and from idle to evicted
// (in evictIdle) are one compare-and-swap each, so a connection whose
// next request the server has begun to read is never closed under it,
// and one that is being closed never starts a request.
const (
	connBusy int32 = iota
	connIdle
	connEvicted
)

// connState is http.Server.ConnState: it tracks which connections are idle.
func connState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // ServeTLS: the edgeConn is under the TLS layer
	}
	ec, ok := c.(*edgeConn)
	if !ok || ec.l == nil {
		return
	}
	l := ec.l
	l.mu.Lock()
	if st == http.StateIdle {
		if ec.state.CompareAndSwap(connBusy, connIdle) {
			l.idle[ec] = time.Now()
		}
	} else {
		ec.state.CompareAndSwap(connIdle, connBusy)
		delete(l.idle, ec)
	}
	l.mu.Unlock()
	if st == http.StateIdle {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *edgeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// edgeConn releases its slot once, on Close, and rewrites the plain-text
// errors net/http writes by itself before any handler runs.
type edgeConn struct {
	net.Conn
	l       *edgeListener
	state   atomic.Int32 // connBusy, connIdle or connEvicted
	once    sync.Once
	release func()
}

// Read marks an idle connection busy when the next request begins to
// arrive; on one already claimed for eviction it reads nothing more, so
// no request starts on a connection about to close.
func (c *edgeConn) Read(p []byte) (int, error) {
	if c.state.Load() == connEvicted {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.state.CompareAndSwap(connIdle, connBusy) && c.state.Load() == connEvicted {
		return 0, io.EOF
	}
	return n, err
}

func (c *edgeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		c.release()
	})
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before it
// closes one it refused, so the client reads the answer before a reset.
func (c *edgeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// net/http answers a request it refuses before routing (headers too
// large, a request line or header it cannot parse, an unsupported
// transfer encoding) with exactly one write of this form, and closes the
// connection. A handler's response always carries a Date header, so it
// never matches.
var netHTTPError = regexp.MustCompile(`\AHTTP/1\.1 ([0-9]{3}) [^\r\n]*\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n(.*)\z`)

func (c *edgeConn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) || !bytes.Contains(p, []byte("\r\nConnection: close\r\n\r\n")) {
		return c.Conn.Write(p)
	}
	m := netHTTPError.FindSubmatch(p)
	if m == nil {
		return c.Conn.Write(p)
	}
	status, err := strconv.Atoi(string(m[1]))
	if err != nil || status < 400 || status > 599 {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(edgeErrorResponse(status, string(m[2]))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// edgeErrorResponse is a whole HTTP/1.1 response carrying the JSON error
// for a refusal by net/http itself: every one is malformed (the request
// could not be read), with net/http's status.
func edgeErrorResponse(status int, detail string) []byte {
	// detail is net/http's plain-text body: "400 Bad Request", "400 Bad
	// Request: missing required Host header", "Unsupported transfer
	// encoding".
	msg := "cannot read the request: " + strings.TrimPrefix(detail, strconv.Itoa(status)+" ")
	if status == http.StatusRequestHeaderFieldsTooLarge {
		msg = "request headers too large"
	}
	var body bytes.Buffer
	writeJSONTo(&body, wire.ErrorBody{Error: wire.Error{Code: errcode.Malformed, Message: msg}})
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Content-Type: application/json\r\n")
	b.WriteString("X-Content-Type-Options: nosniff\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(body.Len()) + "\r\n")
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body.Bytes())
	return b.Bytes()
}
