package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// rawPayer is the load generator's own HTTP/1.1 client for the measured
// payments: it writes each POST .../payments itself on a connection it
// keeps and reads the answer with net/http's response parser, instead of
// going through the client package and net/http's Transport. In process
// the generator shares the two cores with the network it measures, and the
// Transport's per-request machinery (a context and timer per request, a
// read and a write goroutine per connection handing each response over)
// cost about 90 µs of CPU a payment, a sixth of the whole process's, which
// the server then did not get (docs/performance.md, "the generator"). The
// request on the wire is the one client.Intermediary.Pay sends: the same
// route, headers, token and body; the server cannot tell them apart.
// Funding, verification and --via alias|request still use the client
// package.
type rawPayer struct {
	banks   []rawBank
	pools   map[string]chan *rawConn // idle connections by address
	timeout time.Duration
}

// rawBank is where and how one intermediary's payments are sent.
type rawBank struct {
	addr string // host:port to dial
	head []byte // request line and fixed headers, up to Content-Length
}

// rawConn is one kept connection and its buffers.
type rawConn struct {
	nc     net.Conn
	br     *bufio.Reader
	req    []byte
	body   []byte
	reused bool
}

// newRawPayer prepares payments to each intermediary names[i] at base URL
// urls[i] with bearer token tokens[i], keeping up to conns idle
// connections per address (the callers': one each). ok false: some URL is
// not plain http (TLS is left to the client package).
func newRawPayer(urls, tokens, names []string, conns int) (*rawPayer, bool, error) {
	p := &rawPayer{pools: map[string]chan *rawConn{}, timeout: client.DefaultTimeout}
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, false, fmt.Errorf("bench payments: intermediary URL %q: %w", raw, err)
		}
		if u.Scheme != "http" {
			return nil, false, nil
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		path := strings.TrimRight(u.EscapedPath(), "/") + "/v1/intermediaries/" + url.PathEscape(names[i]) + "/payments"
		head := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: specie-bench\r\n" +
			"Content-Type: application/json\r\nAccept: application/json\r\n"
		if tokens[i] != "" {
			head += "Authorization: Bearer " + tokens[i] + "\r\n"
		}
		p.banks = append(p.banks, rawBank{addr: addr, head: []byte(head)})
		if _, ok := p.pools[addr]; !ok {
			p.pools[addr] = make(chan *rawConn, conns)
		}
	}
	return p, true, nil
}

// pay sends one payment to intermediary bank and returns nil when it
// committed, else the API's error (its code as the client package would
// report it; a failed connection is unavailable, as there). A connection
// that has served requests before and fails (the server may have closed
// it while idle) is dropped and the payment sent again on a new one, but
// only with an idempotency key, which makes the second send safe.
func (p *rawPayer) pay(ctx context.Context, bank int, pay roles.Payment) error {
	b := &p.banks[bank]
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, b.addr)
		if err != nil {
			return errcode.New(errcode.Unavailable, "dial %s: %v", b.addr, err)
		}
		keep, err := c.send(b, pay, p.timeout)
		if keep {
			p.put(b.addr, c)
		} else {
			c.nc.Close()
		}
		var te transportError
		if !errors.As(err, &te) {
			return err
		}
		if !c.reused || pay.IdempotencyKey == "" || attempt > 0 {
			return errcode.New(errcode.Unavailable, "POST %s: %v", b.addr, te.err)
		}
	}
}

// transportError is a connection's failure: no whole answer was read.
type transportError struct{ err error }

func (e transportError) Error() string { return e.err.Error() }

// get takes an idle connection to addr or dials one.
func (p *rawPayer) get(ctx context.Context, addr string) (*rawConn, error) {
	select {
	case c := <-p.pools[addr]:
		c.reused = true
		return c, nil
	default:
	}
	d := net.Dialer{Timeout: p.timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

// put keeps c for the next payment, or closes it when enough are idle.
func (p *rawPayer) put(addr string, c *rawConn) {
	select {
	case p.pools[addr] <- c:
	default:
		c.nc.Close()
	}
}

// close closes every idle connection.
func (p *rawPayer) close() {
	for _, ch := range p.pools {
		for len(ch) > 0 {
			(<-ch).nc.Close()
		}
	}
}

// send writes the request for pay and reads its answer. keep reports
// that the connection is still in step for another request: a whole
// response was read and the server did not ask to close. A non-2xx answer
// is the API's error; a failure of the connection is a transportError.
func (c *rawConn) send(b *rawBank, pay roles.Payment, timeout time.Duration) (keep bool, err error) {
	pr := wire.PaymentRequest{From: pay.From, To: pay.To, Amount: wire.FormatAmount(pay.Amount), Reference: pay.Reference, IdempotencyKey: pay.IdempotencyKey}
	body, ok := pr.AppendJSON(c.body[:0])
	if !ok {
		if body, err = json.Marshal(pr); err != nil {
			return true, errcode.New(errcode.Malformed, "encode payment: %v", err)
		}
	}
	c.body = body
	req := append(c.req[:0], b.head...)
	if pay.IdempotencyKey != "" { // the generator's own keys (payLoad.key): printable ASCII, safe in a header
		req = append(append(append(req, wire.IdempotencyKeyHeader...), ": "...), pay.IdempotencyKey...)
		req = append(req, "\r\n"...)
	}
	req = strconv.AppendInt(append(req, "Content-Length: "...), int64(len(body)), 10)
	req = append(append(req, "\r\n\r\n"...), body...)
	c.req = req
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return false, transportError{err}
	}
	if _, err := c.nc.Write(req); err != nil {
		return false, transportError{err}
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return false, transportError{err}
	}
	var data []byte
	n := resp.ContentLength
	whole := n >= 0 && n <= maxAnswer // else the connection is not reused
	if whole {
		data = make([]byte, n)
		_, err = io.ReadFull(resp.Body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	}
	resp.Body.Close()
	if err != nil {
		return false, transportError{err}
	}
	keep = whole && !resp.Close
	if resp.StatusCode/100 != 2 {
		return keep, client.ResponseError("POST payments", resp.StatusCode, data)
	}
	return keep, nil
}

// maxAnswer bounds the body of a payment's answer the generator reads.
const maxAnswer = 1 << 20
