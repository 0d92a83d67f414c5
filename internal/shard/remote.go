package shard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Remote is a ledger group served by other processes (`specie serve
// ledger`, one per replica), reached over HTTP with the router's
// credential: the Group and Log a router uses when the groups and the
// coordinator's log run on their own machines. Refusals keep the ledger's
// codes (double_spend for a step already logged, conflict, not_found for a
// txid not in the log), so the coordinator reads them as it reads an
// in-process group's.
//
// It holds one client per replica. Each client follows a follower's
// not_leader answer to the leader, as for any replicated ledger; when a
// replica cannot be reached the next one is tried: at once for a read, and
// for a write only when the connection was refused (nothing was sent), so
// a write that may have arrived is never sent twice, and the caller, told
// unavailable, looks it up or retries as after any transport failure.
type Remote struct {
	urls    []string
	clients []*client.Client
	cur     atomic.Int32 // the replica tried first
}

var (
	_ Log          = (*Remote)(nil)
	_ roles.Ledger = (*Remote)(nil)
)

// NewRemote reaches the group whose replicas serve the API at urls with
// token (the router's credential) and opts (the network's TLS).
func NewRemote(urls []string, token string, opts ...client.Option) (*Remote, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("remote group: no URLs")
	}
	r := &Remote{}
	for _, u := range urls {
		u = strings.TrimRight(u, "/")
		r.urls = append(r.urls, u)
		r.clients = append(r.clients, client.New(u, token, opts...))
	}
	return r, nil
}

// URLs are the base URLs of the group's replicas.
func (r *Remote) URLs() []string { return append([]string(nil), r.urls...) }

// call runs op on the replicas in turn from the current one, moving on
// when one cannot be reached (a write only when nothing was sent).
func call[T any](r *Remote, write bool, op func(c *client.Client) (T, error)) (T, error) {
	start := int(r.cur.Load())
	var v T
	var err error
	for i := range r.clients {
		k := (start + i) % len(r.clients)
		v, err = op(r.clients[k])
		if !unreached(err) {
			if i > 0 {
				r.cur.Store(int32(k))
			}
			return v, err
		}
		if write && !refused(err) {
			r.cur.Store(int32((k + 1) % len(r.clients)))
			return v, err
		}
	}
	r.cur.Store(int32((start + 1) % len(r.clients)))
	return v, err
}

// unreached reports a transport failure: no answer from the replica.
func unreached(err error) bool {
	var ue *url.Error
	return err != nil && errors.As(err, &ue)
}

// refused reports a failure to connect: the request was never sent.
func refused(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// SubmitPart sends one step of two-phase commit (POST /v1/parts).
func (r *Remote) SubmitPart(ctx context.Context, p ledger.Part) (roles.Receipt, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return roles.Receipt{}, err
	}
	return call(r, true, func(c *client.Client) (roles.Receipt, error) { return c.SubmitPart(ctx, p.ID, b) })
}

// RotateMintKeys hands the group (or the coordinator's log) an officer
// key set in force (POST /v1/keysets, with the router's credential), so a
// router process rotates every log as Router.RotateMintKeys requires.
func (r *Remote) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	return call(r, true, func(c *client.Client) (roles.KeyEpoch, error) {
		return c.Ledger().(roles.KeyRotator).RotateMintKeys(ctx, s)
	})
}

var _ roles.KeyRotator = (*Remote)(nil)

// Info is the group's network description.
func (r *Remote) Info(ctx context.Context) (roles.LedgerInfo, error) {
	return call(r, false, func(c *client.Client) (roles.LedgerInfo, error) { return c.Ledger().Info(ctx) })
}

// Submit commits a transaction whose notes all live in this group.
func (r *Remote) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	return call(r, true, func(c *client.Client) (roles.Receipt, error) { return c.Ledger().Submit(ctx, tx) })
}

// SubmitBatch commits transactions whose notes all live in this group.
func (r *Remote) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	return call(r, true, func(c *client.Client) ([]roles.Result, error) { return c.Ledger().SubmitBatch(ctx, txs) })
}

// Tx looks a txid up in the group's log.
func (r *Remote) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	return call(r, false, func(c *client.Client) (roles.TxInfo, error) { return c.Ledger().Tx(ctx, id) })
}

// Note reads a note of the group.
func (r *Remote) Note(ctx context.Context, id money.NoteID) (roles.NoteInfo, error) {
	return call(r, false, func(c *client.Client) (roles.NoteInfo, error) { return c.Ledger().Note(ctx, id) })
}

// Supply is the group's own totals (see Router.Supply).
func (r *Remote) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	return call(r, false, func(c *client.Client) (roles.LedgerSupply, error) { return c.Ledger().Supply(ctx) })
}

// Headers reads the group's chain of batch headers.
func (r *Remote) Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	return call(r, false, func(c *client.Client) ([]money.BatchHeader, error) { return c.Ledger().Headers(ctx, from, limit) })
}

// Batch reads a batch in full from the group's archive: the coordinator's
// recovery reads the transactions it began from its log's batches.
func (r *Remote) Batch(ctx context.Context, seq uint64) (roles.BatchContents, error) {
	return call(r, false, func(c *client.Client) (roles.BatchContents, error) {
		src, ok := c.Ledger().(roles.BatchSource)
		if !ok {
			return roles.BatchContents{}, errcode.New(errcode.Internal, "the client's ledger serves no batches")
		}
		return src.Batch(ctx, seq)
	})
}
