package api_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/internal/api"
)

// safety bounds every wait in these tests: reaching it is a failure (the
// server did not act), never a measurement of speed.
const safety = 20 * time.Second

// serveEdge serves h with api.NewHTTPServer and lim on loopback and returns
// its address.
func serveEdge(t *testing.T, h http.Handler, lim api.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewHTTPServer(h, lim, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from c and its whole body.
func readResponse(t *testing.T, br *bufio.Reader) response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// rawRequest writes req as is on a new connection and reads the answer.
func rawRequest(t *testing.T, addr, req string) response {
	t.Helper()
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(safety))
	go func() { _, _ = io.WriteString(c, req) }() // the server may answer before reading it all
	return readResponse(t, bufio.NewReader(c))
}

// waitClosed reads from c until the server closes it; it fails the test
// if the connection is still open after the safety bound.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(safety))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: connection still open after %v", what, safety)
	}
}

// trickle sends body one byte every interval until it is sent or a write
// fails; it returns how many bytes went out.
func trickle(c net.Conn, body string, interval time.Duration, sent *atomic.Int64) {
	for i := 0; i < len(body); i++ {
		if _, err := c.Write([]byte{body[i]}); err != nil {
			return
		}
		sent.Add(1)
		time.Sleep(interval)
	}
}

func slowSubmit(bodyLen int) string {
	return "POST /v1/transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bankATok +
		"\r\nContent-Type: application/json\r\nContent-Length: " + itoa(bodyLen) + "\r\n\r\n"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// TestSlowBodyCutOff: a client trickling a body one byte every 100 ms is
// cut off by the read timeout: the connection is closed before the body
// is complete, the service never sees the request, and what the client
// is told, if it reads in time, is 400 malformed naming the timeout.
func TestSlowBodyCutOff(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := serveEdge(t, e.handler, api.Limits{ReadTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	body := `{"tx":"` + strings.Repeat("A", 400) + `"}`
	if _, err := io.WriteString(c, slowSubmit(len(body))); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	go trickle(c, body, 100*time.Millisecond, &sent)
	_ = c.SetReadDeadline(time.Now().Add(safety))
	br := bufio.NewReader(c)
	// The answer may be lost to a reset when the trickle writes after the
	// close; if it arrives, it is the JSON error.
	if resp, err := http.ReadResponse(br, nil); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, 400, "malformed")
		if !strings.Contains(string(b), "read timeout") {
			t.Errorf("message does not name the timeout: %s", b)
		}
	}
	waitClosed(t, c, "trickled body")
	if n := sent.Load(); n >= int64(len(body)) {
		t.Fatalf("the whole body (%d bytes) was accepted", n)
	}
	if e.totalCalls() != 0 {
		t.Fatal("a service saw the trickled request")
	}
}

// TestSlowHeadersCutOff: a client trickling its request line and headers
// is cut off by the header timeout before it finishes them.
func TestSlowHeadersCutOff(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := serveEdge(t, e.handler, api.Limits{ReadHeaderTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	head := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 400) + "\r\n\r\n"
	var sent atomic.Int64
	go trickle(c, head, 100*time.Millisecond, &sent)
	waitClosed(t, c, "trickled headers")
	if n := sent.Load(); n >= int64(len(head)) {
		t.Fatalf("all the headers (%d bytes) were accepted", n)
	}
}

// TestWriteTimeout: an answer not written within the write timeout (here
// a service that takes longer) is not sent: the connection is closed, and
// the client sees no answer, as with any timeout.
func TestWriteTimeout(t *testing.T) {
	e := newEnv(t, envOpts{currency: testNet.Currency})
	addr := serveEdge(t, e.handler, api.Limits{WriteTimeout: 300 * time.Millisecond})
	block := make(chan struct{})
	e.ledger.mu.Lock()
	e.ledger.block = block
	e.ledger.mu.Unlock()
	c := dial(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(c, "GET /v1/notes/"+hashOf(1).String()+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the request reaches the ledger", func() error {
		if len(e.ledger.Calls()) == 0 {
			return errors.New("no call yet")
		}
		return nil
	})
	time.Sleep(600 * time.Millisecond) // past the write deadline
	close(block)
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		t.Fatalf("answered %d after the write timeout", resp.StatusCode)
	}
	waitClosed(t, c, "connection past its write timeout")
}

// TestIdleConnClosed: a kept-alive connection that sends nothing after its
// request is closed by the idle timeout.
func TestIdleConnClosed(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := serveEdge(t, e.handler, api.Limits{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if r := readResponse(t, br); r.status != 200 || r.header.Get("Connection") == "close" {
		t.Fatalf("healthz on a kept-alive connection: %d %v", r.status, r.header)
	}
	waitClosed(t, c, "idle kept-alive connection")
}

// holdSlot opens a connection, proves it was accepted with one request,
// then starts a request whose body it trickles, holding the server's slot.
func holdSlot(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, bufio.NewReader(c)); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	body := `{"tx":"` + strings.Repeat("A", 1000) + `"}`
	if _, err := io.WriteString(c, slowSubmit(len(body))); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	go trickle(c, body, 100*time.Millisecond, &sent)
	return c
}

// TestConnectionCap: with MaxConns slow clients holding every slot, one
// more connection waits (it is not refused, and not served beside them);
// when a slot frees, it is served.
func TestConnectionCap(t *testing.T) {
	e := newEnv(t, envOpts{})
	t.Run("excess connections wait for a slot", func(t *testing.T) {
		addr := serveEdge(t, e.handler, api.Limits{MaxConns: 2, ReadTimeout: time.Hour})
		slow := []net.Conn{holdSlot(t, addr), holdSlot(t, addr)}
		got := make(chan response, 1)
		go func() { got <- getOnce(addr) }()
		select {
		case r := <-got:
			t.Fatalf("a third connection was served beside two held slots: %d %s", r.status, r.body)
		case <-time.After(300 * time.Millisecond):
		}
		slow[0].Close()
		select {
		case r := <-got:
			if r.status != 200 {
				t.Fatalf("waiting client: %d %s", r.status, r.body)
			}
		case <-time.After(safety):
			t.Fatal("the waiting client was not served after a slot freed")
		}
	})
	t.Run("slow clients are cut off and others served", func(t *testing.T) {
		addr := serveEdge(t, e.handler, api.Limits{MaxConns: 2, ReadTimeout: 300 * time.Millisecond})
		slow := []net.Conn{holdSlot(t, addr), holdSlot(t, addr)}
		for i := 0; i < 3; i++ {
			if r := getOnce(addr); r.status != 200 {
				t.Fatalf("normal client %d behind slow ones: %d %s", i, r.status, r.body)
			}
		}
		for _, c := range slow {
			waitClosed(t, c, "slow client")
		}
	})
}

// getOnce is a normal client: GET /healthz on a new connection.
func getOnce(addr string) response {
	c := &http.Client{Timeout: 2 * safety, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return response{status: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestEveryAnswerIsJSON: what net/http or its mux would answer in plain
// text or HTML (a path to clean, headers too large, a request it cannot
// parse, a wrong method, no route) is the API's JSON error with a stable
// code, from the real server.
func TestEveryAnswerIsJSON(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := serveEdge(t, e.handler, api.Limits{})
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" }
	for _, c := range []struct {
		name, req string
		status    int
		code      string
	}{
		{"dot-dot path", get("/v1/../../etc/passwd"), 400, "malformed"},
		{"escaped dot-dot", get("/v1/notes/%2e%2e/%2e%2e/supply"), 400, "malformed"},
		{"double slash", get("/v1//supply"), 400, "malformed"},
		{"trailing slash", get("/v1/supply/"), 400, "malformed"},
		{"dot segment", get("/./healthz"), 400, "malformed"},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400, "malformed"},
		{"unknown route", get("/v2/info"), 404, "not_found"},
		{"root", get("/"), 404, "not_found"},
		{"wrong method", "PUT /v1/supply HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405, "malformed"},
		{"2 MiB header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", 431, "malformed"},
		{"header over the cap", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", api.DefaultMaxHeaderBytes+5000) + "\r\n\r\n", 431, "malformed"},
		{"garbage request line", "GARBAGE\r\n\r\n", 400, "malformed"},
		{"no Host header", "GET /healthz HTTP/1.1\r\n\r\n", 400, "malformed"},
		{"bad transfer encoding", "POST /v1/transactions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "malformed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.totalCalls()
			wantError(t, rawRequest(t, addr, c.req), c.status, c.code)
			if e.totalCalls() != before {
				t.Fatal("a service was called")
			}
		})
	}
	// Exact bodies of the answers net/http or the mux would have written.
	for _, c := range []struct{ req, body string }{
		{get("/v1/../../etc/passwd"), `{"error":{"code":"malformed","message":"path \"/v1/../../etc/passwd\" is not canonical (no \".\" or \"..\" segments, \"//\" or trailing \"/\")"}}`},
		{get("/v2/info"), `{"error":{"code":"not_found","message":"no route for GET /v2/info"}}`},
		{"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", `{"error":{"code":"malformed","message":"request headers too large"}}`},
		{"GARBAGE\r\n\r\n", `{"error":{"code":"malformed","message":"cannot read the request: Bad Request"}}`},
		{"GET /healthz HTTP/1.1\r\n\r\n", `{"error":{"code":"malformed","message":"cannot read the request: Bad Request: missing required Host header"}}`},
	} {
		if r := rawRequest(t, addr, c.req); strings.TrimSpace(string(r.body)) != c.body {
			t.Errorf("%.40q answered %d %s, want %s", c.req, r.status, r.body, c.body)
		}
	}
	// The server still serves after all of that.
	if r := getOnce(addr); r.status != 200 {
		t.Fatalf("healthz after refusals: %d %s", r.status, r.body)
	}
}
