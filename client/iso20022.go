package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// ISO20022 is the ISO 20022 gateway of one role ("issuer" or an
// intermediary's name) over HTTP: messages in as application/xml, the
// status message back. A bank core or an RTGS adapter uses it to exchange
// messages with Specie; `specie iso20022 watch` does in directory mode.
type ISO20022 struct {
	c    *Client
	role string
}

// ISOMessage is one message the gateway produced.
type ISOMessage struct {
	MsgID   string
	Kind    string // e.g. "pacs.004.001.10"
	Created time.Time
	XML     []byte
}

// ISO20022 is role's gateway.
func (c *Client) ISO20022(role string) *ISO20022 { return &ISO20022{c: c, role: role} }

func (g *ISO20022) path(rest string) string { return "/v1/iso20022/" + url.PathEscape(g.role) + rest }

// Send posts one message and returns the answer (a pacs.002, pain.002,
// pain.014 or camt.029). A rejection of the message is an answer, not an
// error; errors are for the transport, the credential, and an outcome not
// known yet (errcode.Unavailable: resending the same message is safe).
func (g *ISO20022) Send(ctx context.Context, doc []byte) ([]byte, error) {
	return g.xml(ctx, http.MethodPost, g.path(""), "application/xml", doc)
}

// Decide records the payer's decision on a request to pay (pain.013) and
// returns the pain.014 reporting its new status.
func (g *ISO20022) Decide(ctx context.Context, id string, accept bool) ([]byte, error) {
	body := []byte(`{"accept":false}`)
	if accept {
		body = []byte(`{"accept":true}`)
	}
	return g.xml(ctx, http.MethodPost, g.path("/requests/"+url.PathEscape(id)), "application/json", body)
}

// Statement is the camt.053 of account for the UTC day of day.
func (g *ISO20022) Statement(ctx context.Context, account string, day time.Time) ([]byte, error) {
	return g.xml(ctx, http.MethodGet, g.path("/statements/"+url.PathEscape(account)+"?date="+day.UTC().Format("2006-01-02")), "", nil)
}

// Message is one produced message by its MsgId.
func (g *ISO20022) Message(ctx context.Context, id string) ([]byte, error) {
	return g.xml(ctx, http.MethodGet, g.path("/messages/"+url.PathEscape(id)), "", nil)
}

// Messages lists what the gateway produced for the role on day (returns,
// pay-outs, redemptions, request-to-pay status reports).
func (g *ISO20022) Messages(ctx context.Context, day time.Time) ([]ISOMessage, error) {
	return g.list(ctx, g.path("/messages?date="+day.UTC().Format("2006-01-02")))
}

// Notifications are the camt.054s of account's entries on day.
func (g *ISO20022) Notifications(ctx context.Context, account string, day time.Time) ([]ISOMessage, error) {
	return g.list(ctx, g.path("/notifications/"+url.PathEscape(account)+"?date="+day.UTC().Format("2006-01-02")))
}

func (g *ISO20022) list(ctx context.Context, path string) ([]ISOMessage, error) {
	var out wire.ISOMessages
	if err := g.c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	ms := make([]ISOMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		ms = append(ms, ISOMessage{MsgID: m.MsgID, Kind: m.Kind, Created: m.Created, XML: []byte(m.XML)})
	}
	return ms, nil
}

// xml makes a request whose answer is an XML document.
func (g *ISO20022) xml(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	c := g.c
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, errcode.New(errcode.Malformed, "%s %s: %v", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	what := method + " " + path
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

// RequestStatus is the pain.014 of request to pay id as the role's
// intermediary knows it now.
func (g *ISO20022) RequestStatus(ctx context.Context, id string) ([]byte, error) {
	return g.xml(ctx, http.MethodGet, g.path("/requests/"+url.PathEscape(id)), "", nil)
}
