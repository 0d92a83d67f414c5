package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// ShardedSummary is what the verified logs of a sharded network show
// (docs/scale-out.md): each group's chain, the coordinator's decision log,
// and the network's published supply, which the groups' add up to.
type ShardedSummary struct {
	Groups      []Summary // by group index
	Coordinator Summary
	// Network is the supply the network's API publishes (the sum over the
	// groups, with the value moved between groups taken off minted and
	// redeemed), verified against the groups' and the coordinator's logs.
	Network roles.LedgerSupply
}

// VerifySharded verifies a sharded network whose API (l) lists, in info,
// where each group's log and the coordinator's are served: every group's
// chain and the coordinator's with VerifyLog (each against the supply that
// log's server publishes), then that the network's published supply is
// what those logs commit to. A group counts value that entered it from
// another group as minted and value that left as redeemed, and the
// coordinator's log mints the total so moved, so the network's minted is
// the groups' minted less the moved value, its redeemed likewise, its
// outstanding the groups' sum and its batches theirs. open gives the
// ledger served at a base URL. The network's supply is read first; a
// network that commits while it runs can fail the sum (run it again).
func VerifySharded(ctx context.Context, l roles.Ledger, info roles.LedgerInfo, open func(url string) (roles.Ledger, error)) (ShardedSummary, error) {
	var out ShardedSummary
	s, err := l.Supply(ctx)
	if err != nil {
		return out, fmt.Errorf("verify log: supply: %w", err)
	}
	out.Network = s
	if len(info.Coordinator) == 0 {
		return out, fmt.Errorf("verify log: the network lists %d groups and no coordinator's log", len(info.Groups))
	}
	var sum roles.LedgerSupply
	for i, g := range info.Groups {
		if g.Index != i {
			return out, fmt.Errorf("verify log: the network lists group %d in place %d", g.Index, i)
		}
		gs, ps, err := verifyAt(ctx, g.URLs, open)
		if err != nil {
			return out, fmt.Errorf("group %d %w", i, err)
		}
		out.Groups = append(out.Groups, gs)
		sum.Minted += ps.Minted
		sum.Redeemed += ps.Redeemed
		sum.Outstanding += ps.Outstanding
		sum.Batches += ps.Batches
	}
	cs, moved, err := verifyAt(ctx, info.Coordinator, open)
	if err != nil {
		return out, fmt.Errorf("coordinator %w", err)
	}
	out.Coordinator = cs
	// Value moved arrived in one group (minted there) and left another
	// (redeemed there), so an honest network has moved no more than
	// either total; Router.Supply's floor at zero would hide it.
	if moved.Minted > sum.Minted || moved.Minted > sum.Redeemed {
		return out, fmt.Errorf("verify log: the coordinator's log says %d moved between groups, more than the groups' logs minted (%d) or redeemed (%d)", moved.Minted, sum.Minted, sum.Redeemed)
	}
	sum.Minted -= moved.Minted
	sum.Redeemed -= moved.Minted
	if s.Minted != sum.Minted || s.Redeemed != sum.Redeemed || s.Outstanding != sum.Outstanding || s.Batches != sum.Batches {
		return out, fmt.Errorf("verify log: published supply (minted %d, redeemed %d, outstanding %d, %d batches) differs from the %d groups' logs (minted %d, redeemed %d, outstanding %d, %d batches, with %d moved between groups)",
			s.Minted, s.Redeemed, s.Outstanding, s.Batches, len(info.Groups), sum.Minted, sum.Redeemed, sum.Outstanding, sum.Batches, moved.Minted)
	}
	return out, nil
}

// verifyAt verifies the log served at the first of urls that answers: a
// replica that cannot be reached is passed over, one that serves a log
// that does not verify is the finding. Its error reads "at URL: ...".
func verifyAt(ctx context.Context, urls []string, open func(string) (roles.Ledger, error)) (Summary, roles.LedgerSupply, error) {
	if len(urls) == 0 {
		return Summary{}, roles.LedgerSupply{}, errors.New("lists no URL serving its log")
	}
	var last error
	for _, u := range urls {
		l, err := open(u)
		if err != nil {
			return Summary{}, roles.LedgerSupply{}, fmt.Errorf("at %s: %w", u, err)
		}
		s, ps, err := verifyLog(ctx, l)
		if err == nil {
			return s, ps, nil
		}
		last = fmt.Errorf("at %s: %w", u, err)
		if !errcode.Is(err, errcode.Unavailable) {
			return s, ps, last
		}
	}
	return Summary{}, roles.LedgerSupply{}, last
}

// CheckCrossGroup reports a fault of a sharded network's cross-group
// rules: a step of a cross-group transaction that is not the one its
// logged ID names, a note made in a group it does not belong to, a commit
// or abort in a group the coordinator's log never decided, two decisions
// for one transaction.
const CheckCrossGroup = "cross_group"

// shardCtx is one log's place in a sharded network, for the replay: the
// group it holds (-1: the coordinator's decision log), how many groups
// there are, and the steps found in the groups whose record the
// coordinator's log must hold (checked when it is audited, last).
type shardCtx struct {
	group  int
	groups int
	name   string
	needs  *[]need
}

// need is a step found in a group that the coordinator's log must have
// logged (id), at the group's batch and transaction.
type need struct {
	log   string
	at    Loc
	id    money.Hash
	t     money.TxID
	which string
}

// logName names log g (-1: the coordinator's) in findings.
func logName(g int) string {
	if g < 0 {
		return "coordinator"
	}
	return fmt.Sprintf("group %d", g)
}

// here says where a note was looked for, for messages.
func (sh *shardCtx) here() string {
	if sh == nil {
		return ""
	}
	return " in " + logName(sh.group)
}

// leaves are the batch's Merkle leaves as served (b.IDs), which say what
// each transaction was logged as; the header's root checks them. A batch
// served without them is replayed as transactions (ids) and is a finding.
func (sh *shardCtx) leaves(b roles.BatchContents, ids []money.Hash, add func(tx, in int, field, check, format string, a ...any)) []money.Hash {
	if len(b.IDs) != len(b.Txs) {
		add(-1, -1, "txids", CheckCrossGroup, "the batch is served with %d txids for %d transactions: its steps cannot be told apart", len(b.IDs), len(b.Txs))
		return ids
	}
	return slices.Clone(b.IDs)
}

// effect is what tx (txid t), logged under leaf in this log, does: a
// transaction of this group's alone is itself; otherwise leaf must name a
// step of t (internal/shard) and the step's effect is replayed: in a
// group, prepare (t's inputs here into the lock note), commit (logged
// under t: the lock note into t's outputs here) or abort (the lock note
// back into the inputs, or nothing when nothing was locked); in the
// coordinator's log, begin, a decision (commit creating the moved note)
// or end. Value a step creates beyond what it spends entered the log
// (minted), value it spends beyond what it creates left (redeemed), as
// the ledger counts it.
func (sh *shardCtx) effect(net money.Network, tx *money.Tx, t money.TxID, leaf money.Hash, at Loc, ns notes, add func(tx, in int, field, check, format string, a ...any)) (effect, error) {
	i := int(at.Tx)
	st := shard.StepsOf(net, t)
	bad := func(format string, a ...any) { add(i, -1, "txid", CheckCrossGroup, format, a...) }
	marked := func(id money.Hash) (bool, error) {
		_, ok, err := ns.markedAt(&id)
		return ok, err
	}
	if sh.group < 0 {
		var e effect
		switch leaf {
		case st.Begin:
			if ok, err := marked(st.Begin); err != nil || ok {
				if ok {
					bad("transaction %s is begun a second time", t)
				}
				return e, err
			}
		case st.DecideCommit, st.DecideAbort:
			other, verb := st.DecideAbort, "commit"
			if leaf == st.DecideAbort {
				other, verb = st.DecideCommit, "abort"
			}
			begun, err := marked(st.Begin)
			if err != nil {
				return e, err
			}
			both, err := marked(other)
			if err != nil {
				return e, err
			}
			if !begun {
				bad("decision to %s transaction %s, which was never begun", verb, t)
			}
			if both {
				bad("decision to %s transaction %s, whose other decision is logged too", verb, t)
			}
			if leaf == st.DecideCommit {
				m, err := shard.Moved(net, tx, sh.groups)
				if err == nil && m > 0 {
					e.creates = []noteUse{{id: st.Moved, value: m, field: "moved", input: -1}}
					e.minted = m
				}
			}
		case st.End:
			c, err := marked(st.DecideCommit)
			if err != nil {
				return e, err
			}
			a, err := marked(st.DecideAbort)
			if err != nil {
				return e, err
			}
			if !c && !a {
				bad("transaction %s ended without a decision", t)
			}
		default:
			bad("logged as %s, which is no step of transaction %s", leaf, t)
			return e, nil
		}
		return e, ns.mark(&leaf, at)
	}
	// A group: t's notes here, and the groups it touches.
	var ins, outs []noteUse
	var inSum uint64
	touched := map[int]bool{}
	for j := range tx.Inputs {
		in := &tx.Inputs[j]
		id := net.NoteID(in)
		g := shard.GroupOf(id, sh.groups)
		touched[g] = true
		if g == sh.group {
			ins = append(ins, noteUse{id: id, value: in.Value, field: fmt.Sprintf("inputs[%d]", j), input: j, what: fmt.Sprintf("%d of output %d of %s", in.Value, in.Index, in.TxID)})
			inSum += in.Value
		}
	}
	for k, n := range tx.OutputNotes(t) {
		id := net.NoteID(&n)
		g := shard.GroupOf(id, sh.groups)
		touched[g] = true
		if g == sh.group {
			outs = append(outs, noteUse{id: id, value: n.Value, field: fmt.Sprintf("outputs[%d]", k), input: -1})
		}
	}
	lock := noteUse{id: st.Lock, value: inSum, field: "lock", input: -1, what: "the lock note of " + t.String()}
	var e effect
	needs := func(id money.Hash, which string) {
		*sh.needs = append(*sh.needs, need{log: logName(sh.group), at: at, id: id, t: t, which: which})
	}
	switch leaf {
	case t:
		if len(touched) == 1 {
			if !touched[sh.group] {
				for g := range touched {
					bad("transaction %s holds notes of group %d only, not of this group", t, g)
				}
			}
			return effectOf(net, tx, t), nil
		}
		if !touched[sh.group] {
			bad("commit of cross-group transaction %s, which has no note in this group", t)
		}
		if len(ins) > 0 {
			e.spends = []noteUse{lock}
		}
		e.creates = outs
		needs(st.DecideCommit, "commit")
	case st.Prepare:
		if len(ins) == 0 {
			bad("prepare of cross-group transaction %s, which has no input in this group", t)
		}
		e.spends = ins
		e.creates = []noteUse{lock}
		needs(st.Begin, "begin")
	case st.Abort:
		if v, ok, err := ns.unspent(&st.Lock); err != nil {
			return e, err
		} else if ok {
			lock.value = v
			e.spends = []noteUse{lock}
			for _, in := range ins {
				in.back = true
				e.creates = append(e.creates, in)
			}
		}
		needs(st.DecideAbort, "abort")
	default:
		bad("logged as %s, which is neither transaction %s nor a step of it", leaf, t)
		return effectOf(net, tx, t), nil
	}
	var spent, made uint64
	for _, n := range e.spends {
		spent += n.value
	}
	for _, n := range e.creates {
		made += n.value
	}
	if made > spent {
		e.minted = made - spent
	} else {
		e.redeemed = spent - made
	}
	return e, nil
}

// checkNeeds finds, once the coordinator's log is replayed (its marks in
// ns), every step of the groups whose decision or begin it does not hold:
// a commit the coordinator never decided moves money into a group from
// nowhere.
func checkNeeds(needs []need, ns notes, find func(Finding)) error {
	for _, n := range needs {
		_, ok, err := ns.markedAt(&n.id)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		msg := map[string]string{
			"commit": "commits cross-group transaction %s, which the coordinator's log never decided to commit",
			"abort":  "aborts cross-group transaction %s, which the coordinator's log never decided to abort",
			"begin":  "prepares cross-group transaction %s, which the coordinator's log never began",
		}[n.which]
		find(Finding{Log: n.log, Batch: n.at.Batch, Tx: int(n.at.Tx), Input: -1, Field: "txid", Check: CheckCrossGroup, Message: fmt.Sprintf(msg, n.t)})
	}
	return nil
}

// ShardedOptions configure an audit of a sharded network.
type ShardedOptions struct {
	// Ledger is the network's API; its GET /v1/info lists where each
	// group's log and the coordinator's are served.
	Ledger roles.Ledger
	// Open reaches the log served at a base URL; it must serve batches
	// too (roles.BatchSource, as client.Ledger does).
	Open func(url string) (roles.Ledger, error)
	// API names the network's API in the report.
	API string
	// StateDir, when set, keeps each log's state in a directory of its
	// own under it (group-0, ..., coordinator), so the next run replays
	// only new batches of each.
	StateDir string
	// Trust, when set, is the issuer's keys as given; otherwise each
	// log's state pins what its first run saw, and the logs must agree.
	Trust *Trust
	// Witness, when set, cosigns each log's checkpoint after a run that
	// found nothing in that log (LogReport.CosignedCheckpoint); it needs
	// StateDir, so that each log's checkpoint is checked to extend the
	// one this witness saw last.
	Witness *logtree.Signer
	Logger  *slog.Logger
}

// LogReport is one log's part of an audit of a sharded network.
type LogReport struct {
	Log          string      `json:"log"` // "group N" or "coordinator"
	API          string      `json:"api"` // the replica whose log was read
	FromBatch    uint64      `json:"from_batch"`
	ToBatch      uint64      `json:"to_batch"`
	Head         money.Hash  `json:"head"`
	Batches      uint64      `json:"batches"`
	Transactions uint64      `json:"transactions"`
	Minted       uint64      `json:"minted,string"`
	Redeemed     uint64      `json:"redeemed,string"`
	Findings     int         `json:"findings"`
	Checkpoint   *Checkpoint `json:"checkpoint,omitempty"`
	// SignedCheckpoint is the log's signed checkpoint this run verified
	// (its origin names the log: shard.LogOrigin); CosignedCheckpoint the
	// same with this auditor's cosignature, when it runs as a witness.
	SignedCheckpoint   string `json:"signed_checkpoint,omitempty"`
	CosignedCheckpoint string `json:"cosigned_checkpoint,omitempty"`
}

// ShardedChecks are what an audit of a sharded network checks beyond
// Checks, which it runs on every group's log and the coordinator's.
var ShardedChecks = []string{
	"every group's log and the coordinator's decision log are replayed in full, each with its own unspent set, so a note spent in a group must have been created in that group",
	"each batch's served txids rebuild its header's Merkle root and name, for every archived transaction, the transaction itself or one step of it: prepare, commit or abort in a group; begin, decision or end in the coordinator's log",
	"a transaction logged as itself in a group has all its notes in that group; a step of a cross-group transaction spends and creates exactly what the protocol says (its inputs into the lock note, the lock note into its outputs in that group, or back into its inputs)",
	"every commit in a group is of a transaction the coordinator's log decided to commit, every abort of one it decided to abort, every prepare of one it began; no transaction has both decisions",
	"the coordinator's log creates, with each commit decision, the value the transaction moved between groups; the network's published supply (GET /v1/supply) is the groups' logs added up less that value (minted and redeemed), and each log's published supply is its replay",
	"every log publishes the same issuer keys",
}

// RunSharded audits a sharded network: each group's log, then the
// coordinator's (the groups first, so every decision a group's step
// relied on is in the coordinator's log by the time it is read), each by
// Run with the cross-group rules, then the network's published supply
// against the logs (VerifySharded). The report is one, as for a single
// ledger, its findings located by log, batch and transaction.
func RunSharded(ctx context.Context, o ShardedOptions) (*Report, error) {
	info, err := o.Ledger.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: info: %w", err)
	}
	if len(info.Groups) < 2 || len(info.Coordinator) == 0 {
		return nil, fmt.Errorf("audit: GET /v1/info lists %d groups and %d coordinator URLs: not a sharded network", len(info.Groups), len(info.Coordinator))
	}
	var needs []need
	out := &Report{API: o.API, StartedAt: time.Now().UTC(), Findings: []Finding{}}
	logs := make([]struct {
		g    int
		urls []string
	}, 0, len(info.Groups)+1)
	for i, g := range info.Groups {
		if g.Index != i {
			return nil, fmt.Errorf("audit: GET /v1/info lists group %d in place %d", g.Index, i)
		}
		logs = append(logs, struct {
			g    int
			urls []string
		}{i, g.URLs})
	}
	logs = append(logs, struct {
		g    int
		urls []string
	}{-1, info.Coordinator})
	var minted, redeemed, moved uint64
	for _, lg := range logs {
		name := logName(lg.g)
		rep, url, err := runAt(ctx, o, lg.urls, Options{
			StateDir: subdir(o.StateDir, lg.g), Trust: o.Trust, Logger: o.Logger, Witness: o.Witness,
			shard: &shardCtx{group: lg.g, groups: len(info.Groups), name: name, needs: &needs},
		})
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", name, err)
		}
		for _, f := range rep.Findings {
			if f.Log == "" {
				f.Log = name
			}
			out.Findings = append(out.Findings, f)
		}
		// Each log signs its checkpoints with a key of its own; the
		// issuer's keys must be the same everywhere.
		keys := rep.Trust
		keys.LogKey = ""
		if out.Network.ID == "" {
			out.Network, out.Trust, out.TrustSource = rep.Network, keys, rep.TrustSource
		} else if !out.Trust.equal(&keys) {
			out.Findings = append(out.Findings, Finding{Log: name, Tx: -1, Input: -1, Field: "info", Check: CheckKeys, Message: fmt.Sprintf("%s at %s publishes other issuer keys than group 0", name, url)})
		}
		out.Logs = append(out.Logs, LogReport{Log: name, API: url, FromBatch: rep.FromBatch, ToBatch: rep.ToBatch, Head: rep.Head,
			Batches: rep.Batches, Transactions: rep.Transactions, Minted: rep.Minted, Redeemed: rep.Redeemed, Findings: len(rep.Findings), Checkpoint: rep.Checkpoint,
			SignedCheckpoint: rep.SignedCheckpoint, CosignedCheckpoint: rep.CosignedCheckpoint})
		out.Batches += rep.Batches
		out.Transactions += rep.Transactions
		out.Signatures += rep.Signatures
		out.GenesisTxs += rep.GenesisTxs
		out.Seconds += rep.Seconds
		out.EarlierFindings += rep.EarlierFindings
		if lg.g < 0 {
			moved = rep.Minted
			continue
		}
		minted += rep.Minted
		redeemed += rep.Redeemed
		out.UnspentNotes += rep.UnspentNotes
	}
	// The network's published supply against the logs' published ones,
	// each of which its replay checked above.
	if _, err := VerifySharded(ctx, o.Ledger, info, o.Open); err != nil {
		out.Findings = append(out.Findings, Finding{Log: "network", Tx: -1, Input: -1, Field: "supply", Check: CheckPublished, Message: err.Error()})
	}
	// Each log's replay was checked against the supply it publishes, and
	// those against the network's (VerifySharded, which finds moved value
	// beyond the groups' totals); a faulty log's replay can still exceed
	// them, found above, so the sum is floored rather than wrapped.
	moved = min(moved, minted, redeemed)
	out.Minted, out.Redeemed = minted-moved, redeemed-moved
	out.Outstanding = out.Minted - out.Redeemed
	if o.Witness != nil {
		out.WitnessKey = o.Witness.VerifierKey()
	}
	out.FinishedAt = time.Now().UTC()
	out.Checks = append(slices.Clone(Checks), ShardedChecks...)
	out.Clean = len(out.Findings) == 0
	if out.Seconds > 0 {
		out.BatchesPerSec = float64(out.Batches) / out.Seconds
		out.TxPerSec = float64(out.Transactions) / out.Seconds
	}
	return out, nil
}

// subdir is the state directory of log g under dir ("" keeps none).
func subdir(dir string, g int) string {
	if dir == "" {
		return ""
	}
	if g < 0 {
		return filepath.Join(dir, "coordinator")
	}
	return filepath.Join(dir, fmt.Sprintf("group-%d", g))
}

// runAt runs the audit of o against the first of urls whose API answers
// (a replica that cannot be reached is passed over) and says which.
func runAt(ctx context.Context, so ShardedOptions, urls []string, o Options) (*Report, string, error) {
	if len(urls) == 0 {
		return nil, "", errors.New("GET /v1/info lists no URL serving its log")
	}
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("state: %w", err)
		}
	}
	var last error
	for _, u := range urls {
		l, err := so.Open(u)
		if err != nil {
			return nil, u, fmt.Errorf("at %s: %w", u, err)
		}
		b, ok := l.(roles.BatchSource)
		if !ok {
			return nil, u, fmt.Errorf("at %s: the connection serves no batches", u)
		}
		if _, err := l.Info(ctx); err != nil {
			last = fmt.Errorf("at %s: %w", u, err)
			continue
		}
		o.Ledger, o.Batches, o.API = l, b, u
		if cs, ok := l.(roles.CheckpointSource); ok {
			o.Checkpoints = cs
		}
		rep, err := Run(ctx, o)
		if err != nil {
			return nil, u, fmt.Errorf("at %s: %w", u, err)
		}
		return rep, u, nil
	}
	return nil, "", last
}
