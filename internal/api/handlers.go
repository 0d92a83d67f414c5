package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// decodeBody reads a strict JSON body of at most limit bytes into v.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return wire.DecodeStrict(r.Body, v)
}

// decodeTxBody reads {"tx": "<base64>"} into a checked transaction.
func decodeTxBody(w http.ResponseWriter, r *http.Request) (*money.Tx, error) {
	var req wire.TxRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return nil, err
	}
	return wire.DecodeTx(req.Tx)
}

func hashParam(r *http.Request, name string) (money.Hash, error) {
	h, err := money.ParseHash(r.PathValue(name))
	if err != nil {
		return h, errcode.New(errcode.Malformed, "%s: %v", name, err)
	}
	return h, nil
}

// --- ledger ---

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	info, err := s.cfg.Ledger.Info(r.Context())
	if err != nil {
		return err
	}
	out := wire.FromInfo(info)
	if s.cfg.Checkpoints != nil {
		if out.LogKey, err = s.cfg.Checkpoints.LogKey(r.Context()); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) error {
	tx, err := decodeTxBody(w, r)
	if err != nil {
		return err
	}
	rc, err := s.cfg.Ledger.Submit(r.Context(), tx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rc)
	return nil
}

// submitBatch submits every decodable transaction in one call. An entry
// that does not decode gets its own malformed result and the rest go on,
// as a rejected transaction does not affect the others.
func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request) error {
	var req wire.BatchRequest
	if err := decodeBody(w, r, MaxBatchBody, &req); err != nil {
		return err
	}
	if len(req.Txs) > MaxBatchTxs {
		return errcode.New(errcode.Malformed, "batch of %d transactions exceeds %d", len(req.Txs), MaxBatchTxs)
	}
	out := wire.BatchResponse{Results: make([]wire.BatchResult, len(req.Txs))}
	txs := make([]*money.Tx, 0, len(req.Txs))
	pos := make([]int, 0, len(req.Txs)) // pos[k] is the request index of txs[k]
	for i, s := range req.Txs {
		tx, err := wire.DecodeTx(s)
		if err != nil {
			body, _ := errorBody(fmt.Errorf("txs[%d]: %w", i, err))
			out.Results[i].Error = &body
			continue
		}
		txs = append(txs, tx)
		pos = append(pos, i)
	}
	if len(txs) > 0 {
		res, err := s.cfg.Ledger.SubmitBatch(r.Context(), txs)
		if err != nil {
			return err
		}
		if len(res) != len(txs) {
			return fmt.Errorf("ledger returned %d results for %d transactions", len(res), len(txs))
		}
		for k, rs := range res {
			out.Results[pos[k]] = s.batchResult(pos[k], rs)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) tx(w http.ResponseWriter, r *http.Request) error {
	id, err := hashParam(r, "txid")
	if err != nil {
		return err
	}
	info, err := s.cfg.Ledger.Tx(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromTxInfo(info, s.displayCurrency(r.Context())))
	return nil
}

// locate serves POST /v1/transactions/locate: a receipt or an error for
// each txid, in order, through roles.TxLocator if the ledger has it, else
// Tx for each.
func (s *Server) locate(w http.ResponseWriter, r *http.Request) error {
	var req wire.LocateRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	if len(req.TxIDs) > MaxLocate {
		return errcode.New(errcode.Malformed, "%d txids exceed %d", len(req.TxIDs), MaxLocate)
	}
	var res []roles.Result
	if loc, ok := s.cfg.Ledger.(roles.TxLocator); ok {
		var err error
		if res, err = loc.Locate(r.Context(), req.TxIDs); err != nil {
			return err
		}
		if len(res) != len(req.TxIDs) {
			return fmt.Errorf("ledger located %d of %d transactions", len(res), len(req.TxIDs))
		}
	} else {
		res = make([]roles.Result, len(req.TxIDs))
		for i, id := range req.TxIDs {
			info, err := s.cfg.Ledger.Tx(r.Context(), id)
			res[i] = roles.Result{Receipt: roles.Receipt{TxID: id, Batch: info.Header.Seq, Index: info.Index}, Err: err}
		}
	}
	out := wire.BatchResponse{Results: make([]wire.BatchResult, len(res))}
	for i, rs := range res {
		out.Results[i] = s.batchResult(i, rs)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchResult is the wire form of result i of a request about many
// transactions: its receipt, or its error (logged when internal).
func (s *Server) batchResult(i int, rs roles.Result) wire.BatchResult {
	if rs.Err != nil {
		body, known := errorBody(rs.Err)
		if !known {
			s.log.Error("internal error in a batch's result", "index", i, "err", rs.Err)
		}
		return wire.BatchResult{Error: &body}
	}
	rc := rs.Receipt
	return wire.BatchResult{Receipt: &rc}
}

func (s *Server) note(w http.ResponseWriter, r *http.Request) error {
	id, err := hashParam(r, "noteid")
	if err != nil {
		return err
	}
	info, err := s.cfg.Ledger.Note(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromNoteInfo(info, s.displayCurrency(r.Context())))
	return nil
}

// headers serves GET /v1/log/headers?from=1&limit=100; limit is capped at
// MaxHeaders.
func (s *Server) headers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, limit := uint64(1), 100
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return errcode.New(errcode.Malformed, "from %q: want a batch sequence number >= 1", v)
		}
		from = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errcode.New(errcode.Malformed, "limit %q: want a positive integer", v)
		}
		limit = min(n, MaxHeaders)
	}
	hs, err := s.cfg.Ledger.Headers(r.Context(), from, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromHeaders(hs, s.displayCurrency(r.Context())))
	return nil
}

// batch serves GET /v1/log/batches/{seq}: one committed batch in full,
// for auditors. A ledger that keeps no archive (roles.BatchSource missing
// or answering not_found) says so with not_found.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) error {
	v := r.PathValue("seq")
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 {
		return errcode.New(errcode.Malformed, "seq %q: want a batch sequence number >= 1", v)
	}
	src, ok := s.cfg.Ledger.(roles.BatchSource)
	if !ok {
		return errcode.New(errcode.NotFound, "this ledger does not serve batches in full")
	}
	b, err := src.Batch(r.Context(), seq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromBatch(b, s.displayCurrency(r.Context())))
	return nil
}

// checkpoint serves GET /v1/log/checkpoint: the log's current
// checkpoint, a signed note (text), verified with /v1/info's log_key.
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Checkpoints == nil {
		return errcode.New(errcode.NotFound, "this ledger signs no checkpoints")
	}
	b, err := s.cfg.Checkpoints.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// consistency serves GET /v1/log/consistency?from=N&to=M.
func (s *Server) consistency(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var size [2]uint64
	for i, name := range []string{"from", "to"} {
		n, err := strconv.ParseUint(q.Get(name), 10, 64)
		if err != nil || n == 0 {
			return errcode.New(errcode.Malformed, "%s %q: want a tree size >= 1", name, q.Get(name))
		}
		size[i] = n
	}
	if size[0] > size[1] {
		return errcode.New(errcode.Malformed, "from %d is past to %d", size[0], size[1])
	}
	if s.cfg.Checkpoints == nil {
		return errcode.New(errcode.NotFound, "this ledger signs no checkpoints")
	}
	p, err := s.cfg.Checkpoints.Consistency(r.Context(), size[0], size[1])
	if err != nil {
		return err
	}
	if p == nil {
		p = []money.Hash{}
	}
	writeJSON(w, http.StatusOK, wire.Consistency{From: size[0], To: size[1], Proof: p})
	return nil
}

// supply serves the issuer's view (with reserves) when the issuer runs
// here, the ledger's otherwise.
func (s *Server) supply(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Issuer != nil {
		sup, err := s.cfg.Issuer.Supply(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.FromSupply(sup))
		return nil
	}
	sup, err := s.cfg.Ledger.Supply(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromLedgerSupply(sup, s.displayCurrency(r.Context())))
	return nil
}

// --- issuer ---

func (s *Server) writeMint(w http.ResponseWriter, r *http.Request, status int, m roles.Mint) error {
	out, err := wire.FromMint(m, s.displayCurrency(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

func (s *Server) proposeMint(w http.ResponseWriter, r *http.Request) error {
	var req wire.MintRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	amt, err := s.parseAmount(r.Context(), "amount", req.Amount)
	if err != nil {
		return err
	}
	m, err := s.cfg.Issuer.ProposeMint(r.Context(), req.To, amt)
	if err != nil {
		return err
	}
	return s.writeMint(w, r, http.StatusCreated, m)
}

func (s *Server) getMint(w http.ResponseWriter, r *http.Request) error {
	id, err := hashParam(r, "id")
	if err != nil {
		return err
	}
	m, err := s.cfg.Issuer.GetMint(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeMint(w, r, http.StatusOK, m)
}

// approval reads an officer's approval of the proposal named by the
// path's id (a mint or a policy): the key and its signature.
func approval(w http.ResponseWriter, r *http.Request) (money.Hash, crypto.PublicKey, money.Sig, error) {
	id, err := hashParam(r, "id")
	if err != nil {
		return id, crypto.PublicKey{}, money.Sig{}, err
	}
	var req wire.ApprovalRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return id, crypto.PublicKey{}, money.Sig{}, err
	}
	key, err := crypto.ParsePublicKey(req.Key)
	if err != nil {
		return id, key, money.Sig{}, errcode.New(errcode.Malformed, "key: %v", err)
	}
	sig, err := wire.ParseSig(req.Signature)
	if err != nil {
		return id, key, sig, errcode.New(errcode.Malformed, "%v", err)
	}
	return id, key, sig, nil
}

func (s *Server) approveMint(w http.ResponseWriter, r *http.Request) error {
	id, key, sig, err := approval(w, r)
	if err != nil {
		return err
	}
	m, err := s.cfg.Issuer.ApproveMint(r.Context(), id, key, sig)
	if err != nil {
		return err
	}
	return s.writeMint(w, r, http.StatusOK, m)
}

func (s *Server) issuerRedeem(w http.ResponseWriter, r *http.Request) error {
	tx, err := decodeTxBody(w, r)
	if err != nil {
		return err
	}
	red, err := s.cfg.Issuer.Redeem(r.Context(), tx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromRedemption(red, s.displayCurrency(r.Context())))
	return nil
}

// --- intermediaries ---

type interFunc func(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error

// inter resolves {name} to a served intermediary: 404 not_found if none.
func (s *Server) inter(h interFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		in := s.cfg.Intermediaries[name]
		if in == nil {
			return errcode.New(errcode.NotFound, "no intermediary %q served here", name)
		}
		return h(w, r, in)
	}
}

func (s *Server) openWallet(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.OpenWalletRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	wr := roles.WalletRequest{Owner: req.Owner, Tier: req.Tier, Evidence: req.Evidence, Person: req.Person, Reason: req.Reason}
	if req.Share != "" && req.Share != "0" {
		var err error
		if wr.Share, err = s.parseAmount(r.Context(), "share", req.Share); err != nil {
			return err
		}
	}
	wl, err := in.OpenWallet(r.Context(), wr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromWallet(wl, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) wallet(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	wl, err := in.Wallet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromWallet(wl, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	es, err := in.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromHistory(es, s.displayCurrency(r.Context())))
	return nil
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	if a := r.URL.Query().Get("amount"); a != "" {
		// The payer's intermediary asks with the amount, so the payee's
		// can refuse it under its holding limit before anything is signed.
		amt, perr := s.parseAmount(r.Context(), "amount", a)
		if perr != nil {
			return perr
		}
		ar, ok := in.(roles.AmountReceiver)
		if !ok {
			return errcode.New(errcode.NotFound, "intermediary %s does not check amounts", in.Name())
		}
		plan, err := ar.ReceiveFor(r.Context(), r.PathValue("id"), amt)
		if err != nil {
			return err
		}
		out := wire.LockResponse{Lock: plan.Lock.String(), Hold: plan.Hold}
		if plan.Overflow != 0 {
			out.Overflow, out.OverflowLock = wire.FormatAmount(plan.Overflow), plan.OverflowLock.String()
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	l, err := in.ReceiveLock(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.LockResponse{Lock: l.String()})
	return nil
}

// releaseHold ends a hold the caller's intermediary placed with the lock
// route and will not use.
func (s *Server) releaseHold(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	hr, ok := in.(roles.HoldReleaser)
	if !ok {
		return errcode.New(errcode.NotFound, "intermediary %s places no holds", in.Name())
	}
	if err := hr.ReleaseHold(r.Context(), r.PathValue("id"), r.PathValue("hold")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.HoldReleaseResponse{Status: "released"})
	return nil
}

func (s *Server) pay(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.PaymentRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	amt, err := s.parseAmount(r.Context(), "amount", req.Amount)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r, req.IdempotencyKey)
	if err != nil {
		return err
	}
	res, err := in.Pay(r.Context(), roles.Payment{From: req.From, To: req.To, Amount: amt, Reference: req.Reference, IdempotencyKey: key, RefundOf: req.RefundOf})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromPaymentResult(res, s.displayCurrency(r.Context())))
	return nil
}

// idempotencyKey is a payment's or a redemption's key from the body field or the
// Idempotency-Key header. Both may be given if they agree (the body wins:
// HTTP strips spaces around a header value); an empty or repeated header
// is malformed. The service checks the key's format.
func idempotencyKey(r *http.Request, body string) (string, error) {
	hs := r.Header.Values(wire.IdempotencyKeyHeader)
	switch {
	case len(hs) == 0:
		return body, nil
	case len(hs) > 1:
		return "", errcode.New(errcode.Malformed, "%s header given %d times", wire.IdempotencyKeyHeader, len(hs))
	case hs[0] == "":
		return "", errcode.New(errcode.Malformed, "%s header is empty", wire.IdempotencyKeyHeader)
	case body == "":
		return hs[0], nil
	case strings.Trim(body, " \t") != hs[0]:
		return "", errcode.New(errcode.Malformed, "idempotency_key in the body and the %s header differ", wire.IdempotencyKeyHeader)
	}
	return body, nil
}

func (s *Server) deliver(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.DeliveryRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	tx, err := wire.DecodeTx(req.Tx)
	if err != nil {
		return err
	}
	if req.Memo == nil {
		err = in.Deliver(r.Context(), tx)
	} else {
		var errs []error
		if errs, err = deliverBatch(r.Context(), in, []roles.Delivery{{Tx: tx, Memo: req.Memo.ToMemo()}}); err == nil {
			err = errs[0]
		}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.DeliveryResponse{Status: "delivered"})
	return nil
}

// deliverBatch hands ds to in, in one call when it takes batches (with
// memos), else one Deliver each (memos dropped). It returns one error per
// delivery, or the failure of the call as a whole.
func deliverBatch(ctx context.Context, in roles.Intermediary, ds []roles.Delivery) ([]error, error) {
	if bd, ok := in.(roles.BatchDeliverer); ok {
		errs, err := bd.DeliverBatch(ctx, ds)
		if err == nil && len(errs) != len(ds) {
			err = fmt.Errorf("%d results for %d deliveries", len(errs), len(ds))
		}
		return errs, err
	}
	out := make([]error, len(ds))
	for i, d := range ds {
		out[i] = in.Deliver(ctx, d.Tx)
	}
	return out, nil
}

func (s *Server) deliverMany(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.DeliveryBatchRequest
	if err := decodeBody(w, r, MaxBatchBody, &req); err != nil {
		return err
	}
	if len(req.Deliveries) > MaxBatchTxs {
		return errcode.New(errcode.Malformed, "batch of %d deliveries exceeds %d", len(req.Deliveries), MaxBatchTxs)
	}
	out := wire.DeliveryBatchResponse{Results: make([]wire.DeliveryResult, len(req.Deliveries))}
	ds := make([]roles.Delivery, 0, len(req.Deliveries))
	pos := make([]int, 0, len(req.Deliveries)) // pos[k] is the request index of ds[k]
	for i, d := range req.Deliveries {
		tx, err := wire.DecodeTx(d.Tx)
		if err != nil {
			body, _ := errorBody(fmt.Errorf("deliveries[%d]: %w", i, err))
			out.Results[i].Error = &body
			continue
		}
		ds = append(ds, roles.Delivery{Tx: tx, Memo: d.Memo.ToMemo()})
		pos = append(pos, i)
	}
	{ // called even with nothing to deliver: the intermediary says who may call it
		errs, err := deliverBatch(r.Context(), in, ds)
		if err != nil {
			return err
		}
		for k, err := range errs {
			i := pos[k]
			if err != nil {
				body, known := errorBody(err)
				if !known {
					s.log.Error("internal error in delivery batch", "index", i, "err", err)
				}
				out.Results[i].Error = &body
				continue
			}
			out.Results[i].Status = "delivered"
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) interRedeem(w http.ResponseWriter, r *http.Request, in roles.Intermediary) error {
	var req wire.RedeemRequest
	if err := decodeBody(w, r, MaxBody, &req); err != nil {
		return err
	}
	amt, err := s.parseAmount(r.Context(), "amount", req.Amount)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r, req.IdempotencyKey)
	if err != nil {
		return err
	}
	red, err := in.Redeem(r.Context(), roles.RedeemRequest{Amount: amt, IdempotencyKey: key})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromRedemption(red, s.displayCurrency(r.Context())))
	return nil
}
