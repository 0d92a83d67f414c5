package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Options configure one run of the independent auditor.
type Options struct {
	// Ledger and Batches are the API under audit (client.Ledger()
	// implements both). Nothing they say is trusted.
	Ledger  roles.Ledger
	Batches roles.BatchSource
	// API names the API in the report.
	API string
	// StateDir holds the auditor's own state between runs; "" keeps it in
	// memory only (every run replays from genesis).
	StateDir string
	// Trust, when set, is the issuer's keys as the auditor was told them
	// (on its command line). When nil the keys pinned in the state are
	// used, and on the first run the keys GET /v1/info publishes are
	// pinned (trust on first use, said so in the report).
	Trust *Trust
	// Checkpoint, when set, is a head the auditor was given from outside
	// (a previous auditor's report, say): the served log must pass
	// through it.
	Checkpoint *Checkpoint
	// Checkpoints, when set, serves the log's signed checkpoints and
	// consistency proofs (client.Ledger() implements it): each run checks
	// the signed tree against the served headers and that it extends the
	// one signed at the last run.
	Checkpoints roles.CheckpointSource
	// SignedCheckpoint, when set, is a signed checkpoint from outside (a
	// witness's, another party's): the log signed now must extend it.
	SignedCheckpoint []byte
	// Witness, when set, cosigns the log's checkpoint after a run that
	// found nothing (the report's CosignedCheckpoint): this auditor
	// vouches that the log it signs extends the one it saw before.
	Witness *logtree.Signer
	Logger  *slog.Logger
	// shard, on a sharded network (RunSharded), is the log's place in it.
	shard *shardCtx
}

// flushEvery is how many batches the auditor replays between two writes of
// its state: often enough that a crash loses little, rarely enough that the
// writes cost little.
const flushEvery = 256

// maxPending bounds the writes held for reading back between two flushes
// (about 100 bytes each), so a run over large batches stays in modest
// memory.
const maxPending = 200_000

// Run re-verifies the log behind o.Ledger from genesis, or from the state
// saved by the last run, and reports what it checked and found. Faults of
// the ledger are findings in the report; an error means the audit could
// not run (the API unreachable at the start, the auditor's own state
// unreadable).
func Run(ctx context.Context, o Options) (*Report, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{API: o.API, StartedAt: time.Now().UTC(), Findings: []Finding{}}
	st, err := openState(o.StateDir)
	if err != nil {
		return nil, err
	}
	defer st.close()
	m, have, err := st.meta()
	if err != nil {
		return nil, err
	}
	info, err := o.Ledger.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: info: %w", err)
	}
	served := Trust{Network: info.Network, MintKeys: info.MintKeys, MintQuorum: info.MintQuorum, RedeemKeys: info.RedeemKeys}
	if o.Checkpoints != nil {
		if served.LogKey, err = o.Checkpoints.LogKey(ctx); err != nil {
			return nil, fmt.Errorf("audit: log key: %w", err)
		}
	}
	var trust Trust
	switch {
	case o.Trust != nil:
		trust, rep.TrustSource = *o.Trust, "given on the command line"
		if have && !m.Trust.equal(&trust) {
			rep.TrustSource += " (replacing the keys pinned in the state)"
		}
	case have:
		trust, rep.TrustSource = m.Trust, "pinned in the auditor's state"
	default:
		trust, rep.TrustSource = served, "published by GET /v1/info and pinned on this first run (trust on first use: compare them with the issuer's own publication)"
	}
	if trust.LogKey == "" && have && m.Trust.LogKey != "" {
		trust.LogKey = m.Trust.LogKey
	}
	if trust.LogKey == "" && served.LogKey != "" {
		// A log key nobody gave: pinned on first sight, like the keys.
		trust.LogKey = served.LogKey
		rep.TrustSource += "; the log key pinned as GET /v1/info published it"
	}
	if err := trust.Validate(); err != nil {
		return nil, fmt.Errorf("audit: the issuer's keys: %w", err)
	}
	if have && m.Trust.Network != trust.Network {
		return nil, fmt.Errorf("audit: the state under %s is of network %q, not %q", o.StateDir, m.Trust.Network.ID, trust.Network.ID)
	}
	if o.Checkpoint != nil && o.Checkpoint.Network != trust.Network.ID {
		return nil, fmt.Errorf("audit: the checkpoint is of network %q, not %q", o.Checkpoint.Network, trust.Network.ID)
	}
	rep.Network, rep.Trust = trust.Network, trust
	a := &run{rep: rep, trust: trust, st: st, m: m, log: log, shard: o.shard}
	a.m.Trust = trust
	if !served.equal(&trust) {
		a.find(Finding{Tx: -1, Input: -1, Field: "info", Check: CheckKeys, Message: "GET /v1/info publishes other keys than the ones trusted; the trusted ones are used"})
	}
	a.loadEpochs()
	sup, err := o.Ledger.Supply(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: supply: %w", err)
	}
	// The signed checkpoint is read before the headers too, so both it
	// and the supply are of batches the replay reaches; it stops at the
	// later of the two (and at least where the last run stopped), leaving
	// batches committed meanwhile to the next run, so a run ends even
	// while the ledger commits faster than it verifies.
	target := sup.Batches
	if a.m.Head != nil {
		target = max(target, a.m.Head.Seq)
	}
	var signed []byte
	var signedErr error
	if o.Checkpoints != nil && trust.LogKey != "" {
		signed, signedErr = o.Checkpoints.Checkpoint(ctx)
		if signedErr == nil {
			if c, err := logtree.Open(signed, trust.LogKey); err == nil {
				target = max(target, c.Size)
			}
		}
	}
	if err := a.replay(ctx, o, sup, target); err != nil {
		return nil, err
	}
	a.checkServedKeySets(ctx, o.Ledger)
	if a.shard != nil && a.shard.group < 0 {
		// The coordinator's log is audited last: every step the groups
		// logged must be one it logged the begin or decision of.
		if err := checkNeeds(*a.shard.needs, a.st, a.find); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	if o.Checkpoints != nil && trust.LogKey != "" {
		a.checkSigned(ctx, o, signed, signedErr)
	}
	if o.Witness != nil && len(rep.Findings) == 0 && rep.SignedCheckpoint != "" {
		cs, err := logtree.Cosign([]byte(rep.SignedCheckpoint), trust.LogKey, o.Witness)
		if err != nil {
			return nil, fmt.Errorf("audit: cosign: %w", err)
		}
		rep.CosignedCheckpoint, rep.WitnessKey = string(cs), o.Witness.VerifierKey()
	}
	a.m.Findings += uint64(len(rep.Findings))
	if err := st.flush(&a.m, true); err != nil {
		return nil, err
	}
	rep.finish(a.m)
	return rep, nil
}

// run is one audit in progress.
type run struct {
	rep        *Report
	trust      Trust
	st         *state
	m          savedMeta
	log        *slog.Logger
	mintKeys   map[crypto.PublicKey]bool
	redeemKeys map[crypto.PublicKey]bool
	// epochs are the officer key rotations that verified (keys.go).
	epochs []epoch
	// leaves are the hashes of every header served this run, in order:
	// the leaves of the log-wide tree the checkpoints sign.
	leaves []money.Hash
	// atSupply are the replayed totals at the batch the published supply
	// is of, when this run replayed it.
	atSupply *Totals
	// shard is the log's place in a sharded network; nil when unsharded.
	shard *shardCtx
}

func (a *run) find(f Finding) {
	a.log.Warn("audit finding", "batch", f.Batch, "tx", f.Tx, "input", f.Input, "field", f.Field, "check", f.Check, "message", f.Message)
	a.rep.Findings = append(a.rep.Findings, f)
}

// replay walks the served headers up to target: those verified by an
// earlier run are compared with what was verified then, the new ones are
// fetched in full and replayed by step.
func (a *run) replay(ctx context.Context, o Options, sup roles.LedgerSupply, target uint64) error {
	a.mintKeys, a.redeemKeys = keySet(a.trust.MintKeys), keySet(a.trust.RedeemKeys)
	var verified uint64 // head verified by earlier runs
	if a.m.Head != nil {
		verified = a.m.Head.Seq
	}
	a.rep.FromBatch = verified + 1
	cp := o.Checkpoint
	var pos uint64 // headers served so far, in order: the batch each should be
	start := time.Now()
	for pos < target {
		hs, err := o.Ledger.Headers(ctx, pos+1, int(min(1000, target-pos)))
		if err != nil {
			a.find(Finding{Batch: pos + 1, Tx: -1, Input: -1, Field: "headers", Check: CheckUnavailable, Message: fmt.Sprintf("headers from %d: %v", pos+1, err)})
			break
		}
		if len(hs) == 0 {
			break
		}
		more, err := a.page(ctx, o, hs, &pos, verified, sup)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	a.rep.Seconds = time.Since(start).Seconds()
	if pos < verified {
		a.find(Finding{Batch: pos + 1, Tx: -1, Input: -1, Field: "headers", Check: CheckRewritten, Message: fmt.Sprintf("the log serves %d batches; this auditor verified %d earlier", pos, verified)})
	}
	if cp != nil && pos < cp.Batch {
		a.find(Finding{Batch: cp.Batch, Tx: -1, Input: -1, Field: "header", Check: CheckCheckpoint, Message: fmt.Sprintf("the log serves %d batches, the checkpoint is at batch %d", pos, cp.Batch)})
	}
	return a.checkSupply(sup, pos)
}

// page checks one page of served headers, *pos being the last batch
// checked before it: those verified by an earlier run against the saved
// state, the new ones replayed in full. more is false when the replay
// cannot go on (a batch not served).
func (a *run) page(ctx context.Context, o Options, hs []money.BatchHeader, pos *uint64, verified uint64, sup roles.LedgerSupply) (more bool, err error) {
	cp, net := o.Checkpoint, a.trust.Network
	// Fetch the new batches of this page ahead of the replay, a few at a
	// time: fetching one by one left the auditor waiting on the network
	// most of the time.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ahead <-chan chan fetched
	if last := *pos + uint64(len(hs)); last > verified {
		ahead = prefetch(ctx, o.Batches, max(*pos, verified)+1, last)
	}
	for _, h := range hs {
		*pos++
		seq := *pos
		a.leaves = append(a.leaves, net.HeaderHash(&h))
		if cp != nil && seq == cp.Batch && net.HeaderHash(&h) != cp.Head {
			a.find(Finding{Batch: seq, Tx: -1, Input: -1, Field: "header", Check: CheckCheckpoint, Message: fmt.Sprintf("header %d hashes to %s, the checkpoint says %s: the log was rewritten at or before it", seq, net.HeaderHash(&h), cp.Head)})
		}
		if seq <= verified {
			v, ok, err := a.st.header(seq)
			if err != nil {
				return false, fmt.Errorf("audit: %w", err)
			}
			if ok && net.HeaderHash(&h) != v.Hash {
				a.find(Finding{Batch: seq, Tx: -1, Input: -1, Field: "header", Check: CheckRewritten, Message: fmt.Sprintf("batch %d now hashes to %s; it hashed to %s when this auditor verified it", seq, net.HeaderHash(&h), v.Hash)})
			}
			continue
		}
		got := <-<-ahead
		if got.err != nil {
			a.find(Finding{Batch: seq, Tx: -1, Input: -1, Field: "batch", Check: CheckUnavailable, Message: fmt.Sprintf("batch %d not served: %v; the replay stops before it", seq, got.err)})
			return false, nil
		}
		b := got.b
		tr, mintKeys := a.keysAt(seq)
		fs, tot, ss, err := step(tr, mintKeys, a.redeemKeys, a.m.Head, a.m.Totals, h, b, a.st, a.shard)
		if err != nil {
			return false, fmt.Errorf("audit: batch %d: %w", seq, err)
		}
		rooted := true
		for _, f := range fs {
			f.Batch = seq
			a.find(f)
			rooted = rooted && f.Field != "header.tx_root"
		}
		if b.KeySet != nil && rooted {
			a.rotate(seq, b.KeySet)
		}
		hb := b.Header
		a.m.Head, a.m.Totals = &hb, tot
		a.st.putHeader(seq, verifiedHeader{Hash: net.HeaderHash(&hb), Minted: hb.Minted, Redeemed: hb.Redeemed})
		a.rep.Batches++
		a.rep.Transactions += uint64(ss.txs)
		a.rep.Signatures += uint64(ss.sigs)
		a.rep.GenesisTxs += uint64(ss.genesis)
		if seq == sup.Batches {
			t := tot
			a.atSupply = &t
		}
		if a.rep.Batches%flushEvery == 0 || len(a.st.pend) > maxPending {
			if err := a.st.flush(&a.m, false); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// checkSigned checks the log's signed checkpoint msg (read at the start,
// or why it could not be): the log key signed it,
// its tree is the one over the headers served this run, and it extends
// the checkpoint signed at the last run (and the one given from outside):
// a rewritten history, or a split view (this auditor shown another history
// than the one it saw before, or than another party saw), fails the
// consistency proof. The new checkpoint is kept for the next run.
func (a *run) checkSigned(ctx context.Context, o Options, msg []byte, err error) {
	bad := func(batch uint64, field, check, format string, args ...any) {
		a.find(Finding{Batch: batch, Tx: -1, Input: -1, Field: field, Check: check, Message: fmt.Sprintf(format, args...)})
	}
	if err != nil {
		if len(a.leaves) > 0 {
			bad(uint64(len(a.leaves)), "checkpoint", CheckUnavailable, "no signed checkpoint served: %v", err)
		}
		return
	}
	c, err := logtree.Open(msg, a.trust.LogKey)
	if err != nil {
		bad(0, "checkpoint", CheckCheckpointSig, "%v", err)
		return
	}
	origin := logtree.Origin(a.trust.Network)
	if a.shard != nil {
		origin = shard.LogOrigin(a.trust.Network, a.shard.group)
	}
	if c.Origin != origin {
		bad(0, "checkpoint.origin", CheckCheckpointSig, "checkpoint of log %q, not %q", c.Origin, origin)
		return
	}
	a.rep.SignedCheckpoint = string(msg)
	switch {
	case c.Size > uint64(len(a.leaves)):
		bad(c.Size, "checkpoint.size", CheckSignedRoot, "the log signed a tree of %d batches and serves %d", c.Size, len(a.leaves))
	case logtree.RootOf(a.leaves[:c.Size]) != c.Root:
		bad(c.Size, "checkpoint.root", CheckSignedRoot, "the signed root of %d batches is %s, the served headers make %s", c.Size, c.Root, logtree.RootOf(a.leaves[:c.Size]))
	}
	extends := func(what string, prior logtree.Checkpoint) {
		if prior.Size > c.Size {
			bad(prior.Size, "consistency", CheckConsistency, "the log signed %d batches, %s signed %d", c.Size, what, prior.Size)
			return
		}
		proof, err := o.Checkpoints.Consistency(ctx, prior.Size, c.Size)
		if err != nil {
			bad(prior.Size, "consistency", CheckUnavailable, "no consistency proof from %d to %d: %v", prior.Size, c.Size, err)
			return
		}
		if err := logtree.VerifyConsistency(proof, prior.Size, prior.Root, c.Size, c.Root); err != nil {
			bad(prior.Size, "consistency", CheckConsistency, "%s (signed %s) is not a prefix of the log signed now: a rewritten history or a split view: %v", what, prior.Time.Format(time.RFC3339), err)
		}
	}
	if a.m.Signed != nil {
		prior, err := logtree.ParseText(a.m.Signed.Text)
		if err == nil {
			extends("the checkpoint of this auditor's last run", prior)
		}
	}
	if o.SignedCheckpoint != nil {
		given, err := logtree.Open(o.SignedCheckpoint, a.trust.LogKey)
		if err != nil {
			bad(0, "from_checkpoint", CheckCheckpointSig, "the checkpoint given: %v", err)
		} else {
			extends("the checkpoint given", given)
		}
	}
	a.m.Signed = &signedState{Text: c.Text()}
}

// VerifyCheckpoint checks a checkpoint someone holds (msg) against the log
// served now: signed by the log key and cosigned by at least need of the
// witnesses, and consistent with the log's current checkpoint (which the
// log key signed too), whose tree must be the one over the served
// headers. It is what `specie log verify --checkpoint` runs.
func VerifyCheckpoint(ctx context.Context, l roles.Ledger, cs roles.CheckpointSource, net money.Network, msg []byte, logKey string, witnesses []string, need int) (logtree.Checkpoint, []string, error) {
	return VerifyCheckpointOf(ctx, l, cs, net, logtree.Origin(net), msg, logKey, witnesses, need)
}

// VerifyCheckpointOf is VerifyCheckpoint of the log whose checkpoints
// name origin: one group's log of a sharded network, or its coordinator's
// (shard.LogOrigin).
func VerifyCheckpointOf(ctx context.Context, l roles.Ledger, cs roles.CheckpointSource, net money.Network, origin string, msg []byte, logKey string, witnesses []string, need int) (logtree.Checkpoint, []string, error) {
	held, by, err := logtree.OpenCosigned(msg, logKey, witnesses, need)
	if err != nil {
		return held, by, err
	}
	if held.Origin != origin {
		return held, by, fmt.Errorf("checkpoint of log %q, not %q", held.Origin, origin)
	}
	curMsg, err := cs.Checkpoint(ctx)
	if err != nil {
		return held, by, fmt.Errorf("current checkpoint: %w", err)
	}
	cur, err := logtree.Open(curMsg, logKey)
	if err != nil {
		return held, by, fmt.Errorf("current checkpoint: %w", err)
	}
	var leaves []money.Hash
	for from := uint64(1); from <= cur.Size; {
		hs, err := l.Headers(ctx, from, 1000)
		if err != nil {
			return held, by, fmt.Errorf("headers from %d: %w", from, err)
		}
		if len(hs) == 0 {
			break
		}
		for i := range hs {
			leaves = append(leaves, net.HeaderHash(&hs[i]))
		}
		from += uint64(len(hs))
	}
	if uint64(len(leaves)) < cur.Size || logtree.RootOf(leaves[:cur.Size]) != cur.Root {
		return held, by, fmt.Errorf("the current checkpoint (%d batches) does not sign the tree of the served headers", cur.Size)
	}
	if held.Size > cur.Size {
		return held, by, fmt.Errorf("the checkpoint held is of %d batches, the log's now of %d", held.Size, cur.Size)
	}
	proof, err := cs.Consistency(ctx, held.Size, cur.Size)
	if err != nil {
		return held, by, fmt.Errorf("consistency proof: %w", err)
	}
	if err := logtree.VerifyConsistency(proof, held.Size, held.Root, cur.Size, cur.Root); err != nil {
		return held, by, err
	}
	return held, by, nil
}

// checkSupply compares the published supply (GET /v1/supply, read before
// the headers, as of batch sup.Batches) with the replay at that batch.
func (a *run) checkSupply(sup roles.LedgerSupply, served uint64) error {
	at := sup.Batches
	bad := func(field, format string, args ...any) {
		a.find(Finding{Batch: at, Tx: -1, Input: -1, Field: field, Check: CheckPublished, Message: fmt.Sprintf(format, args...)})
	}
	if sup.Outstanding != sup.Minted-sup.Redeemed || sup.Redeemed > sup.Minted {
		bad("supply.outstanding", "published outstanding %d is not minted %d - redeemed %d", sup.Outstanding, sup.Minted, sup.Redeemed)
	}
	if at > served {
		bad("supply.batches", "the supply is published as of batch %d, the log serves %d", at, served)
		return nil
	}
	if at == 0 {
		if sup.Minted != 0 || sup.Redeemed != 0 {
			bad("supply.minted", "published supply minted %d, redeemed %d with no batch", sup.Minted, sup.Redeemed)
		}
		return nil
	}
	var tot Totals
	switch {
	case a.atSupply != nil:
		tot = *a.atSupply
	case a.m.Head != nil && a.m.Head.Seq == at:
		tot = a.m.Totals
	default:
		v, ok, err := a.st.header(at)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if !ok {
			bad("supply.batches", "the supply is published as of batch %d, which this auditor never verified", at)
			return nil
		}
		// Verified by an earlier run: its header's totals were checked
		// against the replay then. The note count is not kept per batch.
		tot = Totals{Minted: v.Minted, Redeemed: v.Redeemed, Unspent: sup.Unspent}
	}
	if sup.Minted != tot.Minted {
		bad("supply.minted", "published minted %d, the replay %d at batch %d", sup.Minted, tot.Minted, at)
	}
	if sup.Redeemed != tot.Redeemed {
		bad("supply.redeemed", "published redeemed %d, the replay %d at batch %d", sup.Redeemed, tot.Redeemed, at)
	}
	if sup.Unspent != tot.Unspent {
		bad("supply.unspent_notes", "published %d unspent notes, the replay %d at batch %d", sup.Unspent, tot.Unspent, at)
	}
	return nil
}

// fetched is one batch fetched ahead, or why it could not be.
type fetched struct {
	b   roles.BatchContents
	err error
}

// Prefetch bounds: batches in flight at once, and fetched but not yet
// replayed (what bounds the memory held).
const (
	fetchWorkers = 4
	fetchWindow  = 16
)

// prefetch fetches batches from to last, fetchWorkers at a time, and hands
// out one channel per batch in order; the caller takes them in order and
// cancels ctx to stop early.
func prefetch(ctx context.Context, src roles.BatchSource, from, last uint64) <-chan chan fetched {
	out := make(chan chan fetched, fetchWindow)
	sem := make(chan struct{}, fetchWorkers)
	go func() {
		defer close(out)
		for seq := from; seq <= last; seq++ {
			c := make(chan fetched, 1)
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				c <- fetched{err: ctx.Err()}
				return
			}
			go func(seq uint64) {
				defer func() { <-sem }()
				b, err := src.Batch(ctx, seq)
				c <- fetched{b: b, err: err}
			}(seq)
		}
	}()
	return out
}

func keySet(keys []crypto.PublicKey) map[crypto.PublicKey]bool {
	m := make(map[crypto.PublicKey]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// Checkpoint is a verified head of the log, as the auditor writes it after
// a run and reads it back with --from-checkpoint: whoever holds one can
// tell whether the log was rewritten before it. (Signed checkpoints with
// consistency proofs are issue 13, part 2.)
type Checkpoint struct {
	Network  string     `json:"network"`
	Batch    uint64     `json:"batch"`
	Head     money.Hash `json:"head"`
	Minted   uint64     `json:"minted,string"`
	Redeemed uint64     `json:"redeemed,string"`
}

// DecodeCheckpoint reads a checkpoint file strictly: one JSON object,
// known fields only, a batch from 1.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	var c Checkpoint
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("checkpoint: trailing data")
	}
	if c.Batch == 0 || c.Network == "" || c.Redeemed > c.Minted {
		return nil, fmt.Errorf("checkpoint: want a network, a batch from 1 and redeemed <= minted")
	}
	return &c, nil
}
