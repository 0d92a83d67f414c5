package audit

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// The replay: an independent re-verification of every batch from its full
// contents (GET /v1/log/batches/{seq}), trusting nothing but the issuer's
// keys. step is the pure part (the batch, the auditor's own unspent set and
// running totals in; findings and new totals out); Run is the shell that
// fetches, stores and reports around it.

// Trust is all the auditor takes on faith: the network (which binds every
// ID and signature) and the issuer's published keys.
type Trust struct {
	Network    money.Network      `json:"network"`
	MintKeys   []crypto.PublicKey `json:"mint_keys"`
	MintQuorum int                `json:"mint_quorum"`
	RedeemKeys []crypto.PublicKey `json:"redeem_keys"`
	// LogKey verifies the log's signed checkpoints (internal/logtree), in
	// the signed note format; "" when the ledger signs none.
	LogKey string `json:"log_key,omitempty"`
}

// Validate rejects a trust that could not authorise anything, so a typo on
// the command line is not mistaken for a ledger without mints.
func (t *Trust) Validate() error {
	if err := t.Network.Validate(); err != nil {
		return err
	}
	if len(t.MintKeys) == 0 || t.MintQuorum < 1 || t.MintQuorum > len(t.MintKeys) {
		return fmt.Errorf("mint quorum %d of %d keys", t.MintQuorum, len(t.MintKeys))
	}
	if len(t.RedeemKeys) == 0 {
		return fmt.Errorf("no redeem key")
	}
	return nil
}

// equal reports whether two trusts name the same network and keys.
func (t *Trust) equal(o *Trust) bool {
	same := func(a, b []crypto.PublicKey) bool {
		if len(a) != len(b) {
			return false
		}
		set := make(map[crypto.PublicKey]bool, len(a))
		for _, k := range a {
			set[k] = true
		}
		for _, k := range b {
			if !set[k] {
				return false
			}
		}
		return true
	}
	// A log key missing on one side is not a difference: a ledger that
	// signs no checkpoints, or an auditor told no log key.
	logKey := t.LogKey == "" || o.LogKey == "" || t.LogKey == o.LogKey
	return t.Network == o.Network && t.MintQuorum == o.MintQuorum && same(t.MintKeys, o.MintKeys) && same(t.RedeemKeys, o.RedeemKeys) && logKey
}

// Finding is one thing the auditor found wrong, at its exact place: the
// batch, the transaction's index in it (-1: the batch as a whole), the
// input's index (-1: none) and the field ("header.prev",
// "inputs[2].signature", "auth", "supply.minted", ...). Check is a stable
// code for the kind of fault; Message says it for people.
type Finding struct {
	// Log, on a sharded network, is the log the finding is in: "group N",
	// "coordinator", or "network" for the network's published supply.
	Log     string `json:"log,omitempty"`
	Batch   uint64 `json:"batch"`
	Tx      int    `json:"tx"`
	Input   int    `json:"input"`
	Field   string `json:"field"`
	Check   string `json:"check"`
	Message string `json:"message"`
}

// Location renders where a finding is, for people.
func (f Finding) Location() string {
	s := fmt.Sprintf("batch %d", f.Batch)
	if f.Log != "" {
		s = f.Log + ", " + s
	}
	if f.Tx >= 0 {
		s += fmt.Sprintf(", tx %d", f.Tx)
	}
	if f.Input >= 0 {
		s += fmt.Sprintf(", input %d", f.Input)
	}
	if f.Field != "" {
		s += ", " + f.Field
	}
	return s
}

// Stable finding codes (Finding.Check).
const (
	CheckUnavailable   = "unavailable"      // the API did not serve what the check needs
	CheckRouteMismatch = "route_mismatch"   // two routes disagree on the same header
	CheckChain         = "chain"            // sequence number or previous-header hash
	CheckMerkle        = "merkle"           // transaction count or Merkle root
	CheckEncoding      = "encoding"         // a transaction that does not decode canonically
	CheckRules         = "rules"            // sums, counts, kinds (money.Tx.Check)
	CheckDuplicateTx   = "duplicate_tx"     // a txid twice in one batch
	CheckTimelock      = "timelock"         // an escrow refunded before its expiry batch
	CheckSignature     = "signature"        // a signature that does not verify
	CheckAuthority     = "authority"        // an authority key outside the issuer's set
	CheckQuorum        = "quorum"           // a mint without its quorum of officers
	CheckRedeemAck     = "redeem_ack"       // a redeem without the issuer's acknowledgement
	CheckUnknownNote   = "unknown_note"     // an input no earlier transaction created
	CheckDoubleSpend   = "double_spend"     // an input already spent
	CheckDuplicateNote = "duplicate_note"   // an output that already exists
	CheckSupply        = "supply"           // header totals against the replayed totals
	CheckConservation  = "conservation"     // unspent notes against minted - redeemed
	CheckPublished     = "published_supply" // GET /v1/supply against the replay
	CheckRewritten     = "history_rewritten"
	CheckCheckpoint    = "checkpoint"
	CheckKeys          = "keys"
	// Signed checkpoints (internal/logtree).
	CheckCheckpointSig = "checkpoint_signature" // not signed by the log key, or not a checkpoint
	CheckSignedRoot    = "checkpoint_root"      // the signed tree differs from the served headers
	CheckConsistency   = "consistency"          // the log signed now does not extend the one signed before
)

// Totals are the auditor's running totals, replayed from the transactions
// themselves (never taken from a header).
type Totals struct {
	Minted     uint64 `json:"minted"`
	Redeemed   uint64 `json:"redeemed"`
	Unspent    uint64 `json:"unspent_notes"`
	UnspentSum uint64 `json:"unspent_sum"`
	// Gap is UnspentSum - (Minted - Redeemed) as of the last batch, kept
	// so a broken conservation is reported where it breaks, not again at
	// every later batch.
	Gap int64 `json:"gap"`
}

// Loc is where a note was spent: batch and transaction index.
type Loc struct {
	Batch uint64
	Tx    uint32
}

// notes is the auditor's own unspent set, with where each spent note went.
// The step reads and changes it; the shell backs it with Pebble.
type notes interface {
	unspent(id *money.NoteID) (value uint64, ok bool, err error)
	spentAt(id *money.NoteID) (Loc, bool, error)
	spend(id *money.NoteID, at Loc) error
	create(id *money.NoteID, value uint64) error
	// mark records that step id of a cross-group transaction is in the
	// coordinator's log (at), markedAt finds it (sharded.go).
	mark(id *money.Hash, at Loc) error
	markedAt(id *money.Hash) (Loc, bool, error)
}

// stepStats counts what one batch made the auditor verify.
type stepStats struct {
	txs, sigs, genesis int
}

// step re-verifies batch b, whose header the header route listed as
// listed, after the previous verified header prev (nil for batch 1) with
// the running totals tot. It changes ns as the ledger changed its unspent
// set (every transaction that decodes is applied, also a faulty one, so
// that one fault is reported where it is and not again at every
// descendant) and returns the findings and the new totals. An error is the
// auditor's own storage failing, never the ledger's fault.
//
// sh, on a sharded network, is the log's place in it: the batch's served
// IDs then say which step of a cross-group transaction each archived
// transaction was logged as, and the step's effect is replayed instead of
// the transaction's (sharded.go). nil for an unsharded ledger.
func step(tr *Trust, mintKeys, redeemKeys map[crypto.PublicKey]bool, prev *money.BatchHeader, tot Totals, listed money.BatchHeader, b roles.BatchContents, ns notes, sh *shardCtx) ([]Finding, Totals, stepStats, error) {
	h := b.Header
	seq := listed.Seq
	var fs []Finding
	var st stepStats
	add := func(tx, in int, field, check, format string, a ...any) {
		fs = append(fs, Finding{Batch: seq, Tx: tx, Input: in, Field: field, Check: check, Message: fmt.Sprintf(format, a...)})
	}
	if tr.Network.HeaderHash(&h) != tr.Network.HeaderHash(&listed) {
		add(-1, -1, "header", CheckRouteMismatch, "the batch route serves header %+v, the header route %+v", h, listed)
	}
	net := tr.Network
	ids := make([]money.Hash, len(b.Txs), len(b.Txs)+1)
	seen := make(map[money.TxID]int, len(b.Txs))
	sigs := make([]sigItem, 0, 2*len(b.Txs))
	type sigRef struct {
		tx, in int // in: input index, or -1 for an authority signature
		auth   int
	}
	var refs []sigRef
	type authNeed struct {
		tx   int
		kind money.Kind
		keys []bool // per Auth entry: key in the right set
	}
	var needs []authNeed
	// Decode everything and queue every signature first, so they are
	// verified in one batch (about twice as fast per signature).
	txs := make([]*money.Tx, len(b.Txs))
	for i, raw := range b.Txs {
		tx := new(money.Tx)
		err := tx.UnmarshalBinary(raw)
		if err != nil {
			// UnmarshalBinary fills tx before it runs Check: a
			// transaction that re-encodes to its bytes broke a rule
			// (sums, counts, kind), one that does not is not canonical.
			if again, _ := tx.MarshalBinary(); len(raw) == 0 || !bytes.Equal(again, raw) {
				add(i, -1, "tx", CheckEncoding, "does not decode: %v", err)
				continue
			}
			add(i, -1, "rules", CheckRules, "%v", err)
		}
		txs[i] = tx
		id := net.TxID(tx)
		ids[i] = id
		if j, dup := seen[id]; dup {
			add(i, -1, "txid", CheckDuplicateTx, "transaction %s is also tx %d of this batch", id, j)
		}
		seen[id] = i
		tx.SpendSigs(func(j int, key [32]byte, sig money.Sig) {
			sigs = append(sigs, sigItem{crypto.PublicKey(key), crypto.Spend, id, sig})
			refs = append(refs, sigRef{tx: i, in: j})
		})
		if after := tx.RefundAfter(); after != 0 && seq <= after {
			add(i, -1, "witnesses", CheckTimelock, "refunds an escrowed note in batch %d, not past its expiry batch %d", seq, after)
		}
		if tx.Kind != money.Mint && tx.Kind != money.Redeem {
			continue
		}
		d, set := crypto.Mint, mintKeys
		if tx.Kind == money.Redeem {
			d, set = crypto.Redeem, redeemKeys
		}
		need := authNeed{tx: i, kind: tx.Kind, keys: make([]bool, len(tx.Auth))}
		for k := range tx.Auth {
			sigs = append(sigs, sigItem{crypto.PublicKey(tx.Auth[k].Key), d, id, tx.Auth[k].Sig})
			refs = append(refs, sigRef{tx: i, in: -1, auth: k})
			need.keys[k] = set[crypto.PublicKey(tx.Auth[k].Key)]
		}
		needs = append(needs, need)
	}
	st.sigs = len(sigs)
	valid := verifySigs(net.ID, sigs)
	good := func(k int) bool { return valid[k] }
	authOK := make(map[[2]int]bool)
	for k, r := range refs {
		if r.in >= 0 {
			if !good(k) {
				add(r.tx, r.in, fmt.Sprintf("inputs[%d].signature", r.in), CheckSignature, "the owner's signature does not verify")
			}
			continue
		}
		authOK[[2]int{r.tx, r.auth}] = good(k)
	}
	for _, n := range needs {
		tx := txs[n.tx]
		if n.kind == money.Mint && seq == 1 && len(tx.Auth) == 0 {
			// Genesis: the unsigned mints a network starts from
			// (ledger.Genesis), allowed in batch 1 only and reported
			// as the starting supply.
			st.genesis++
			continue
		}
		approvals := 0
		for k := range tx.Auth {
			switch {
			case !n.keys[k]:
				add(n.tx, -1, fmt.Sprintf("auth[%d].key", k), CheckAuthority, "%s is not an issuer %s key", crypto.PublicKey(tx.Auth[k].Key), n.kind)
			case !authOK[[2]int{n.tx, k}]:
				add(n.tx, -1, fmt.Sprintf("auth[%d].signature", k), CheckSignature, "the %s signature of issuer key %s does not verify", n.kind, crypto.PublicKey(tx.Auth[k].Key))
			default:
				approvals++
			}
		}
		switch {
		case n.kind == money.Mint && approvals < tr.MintQuorum:
			add(n.tx, -1, "auth", CheckQuorum, "mint has %d valid officer approvals, the quorum is %d", approvals, tr.MintQuorum)
		case n.kind == money.Redeem && len(tx.Auth) == 0:
			add(n.tx, -1, "auth", CheckRedeemAck, "redeem carries no acknowledgement by an issuer redeem key")
		}
	}
	// Apply in order against the auditor's own unspent set: each
	// transaction's effect, or on a sharded network its step's.
	leaves := ids
	if sh != nil {
		leaves = sh.leaves(b, ids, add)
	}
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		st.txs++
		at := Loc{Batch: seq, Tx: uint32(i)}
		e := effectOf(net, tx, ids[i])
		if sh != nil {
			var err error
			if e, err = sh.effect(net, tx, ids[i], leaves[i], at, ns, add); err != nil {
				return nil, tot, st, err
			}
		}
		for _, sp := range e.spends {
			nid := sp.id
			v, ok, err := ns.unspent(&nid)
			if err != nil {
				return nil, tot, st, err
			}
			if ok && v == sp.value {
				if err := ns.spend(&nid, at); err != nil {
					return nil, tot, st, err
				}
				tot.Unspent--
				tot.UnspentSum -= v
				continue
			}
			where, spent, err := ns.spentAt(&nid)
			if err != nil {
				return nil, tot, st, err
			}
			if spent {
				add(i, sp.input, sp.field, CheckDoubleSpend, "note %s was already spent by batch %d tx %d", nid, where.Batch, where.Tx)
			} else {
				add(i, sp.input, sp.field, CheckUnknownNote, "note %s (%s) was never created by an earlier committed transaction%s", nid, sp.what, sh.here())
			}
		}
		for _, c := range e.creates {
			nid := c.id
			_, exists, err := ns.unspent(&nid)
			if err != nil {
				return nil, tot, st, err
			}
			_, spent, err := ns.spentAt(&nid)
			if err != nil {
				return nil, tot, st, err
			}
			if exists || spent && !c.back {
				add(i, -1, c.field, CheckDuplicateNote, "note %s already exists: transaction %s was committed before", nid, ids[i])
				continue
			}
			if err := ns.create(&nid, c.value); err != nil {
				return nil, tot, st, err
			}
			tot.Unspent++
			tot.UnspentSum += c.value // bounded: Check keeps each tx's sum in uint64
		}
		if e.minted > 0 {
			m, err := money.Add(tot.Minted, e.minted)
			if err != nil {
				add(i, -1, "outputs", CheckSupply, "mint overflows the supply")
				continue
			}
			tot.Minted = m
		}
		tot.Redeemed += e.redeemed
	}
	// The header, against the chain and against the replay.
	if prev == nil {
		if h.Seq != 1 {
			add(-1, -1, "header.seq", CheckChain, "the first batch says it is batch %d", h.Seq)
		}
		if h.Prev != (money.Hash{}) {
			add(-1, -1, "header.prev", CheckChain, "the first batch names a previous header %s", h.Prev)
		}
	} else {
		if h.Seq != prev.Seq+1 {
			add(-1, -1, "header.seq", CheckChain, "batch served at %d says it is batch %d", seq, h.Seq)
		}
		if want := net.HeaderHash(prev); h.Prev != want {
			add(-1, -1, "header.prev", CheckChain, "previous hash %s, but the verified batch %d hashes to %s", h.Prev, prev.Seq, want)
		}
	}
	if b.KeySet != nil {
		// A rotation batch: its one leaf is the rotation record's ID; the
		// record itself is checked by the shell (keys.go), which follows
		// the set it puts in force.
		if len(b.Txs) != 0 {
			add(-1, -1, "transactions", CheckMerkle, "a rotation batch carries %d transactions", len(b.Txs))
		}
		leaves = append(leaves, policy.RotationID(b.KeySet))
	}
	if int(h.TxCount) != len(leaves) {
		add(-1, -1, "header.tx_count", CheckMerkle, "header counts %d transactions, the batch holds %d", h.TxCount, len(leaves))
	}
	if len(leaves) == 0 {
		add(-1, -1, "transactions", CheckMerkle, "empty batch")
	}
	if root := money.MerkleRoot(leaves); root != h.TxRoot {
		add(-1, -1, "header.tx_root", CheckMerkle, "header commits to root %s, the transactions hash to %s", h.TxRoot, root)
	}
	if h.Minted != tot.Minted {
		add(-1, -1, "header.minted", CheckSupply, "header says %d minted, the transactions %d", h.Minted, tot.Minted)
	}
	if h.Redeemed != tot.Redeemed {
		add(-1, -1, "header.redeemed", CheckSupply, "header says %d redeemed, the transactions %d", h.Redeemed, tot.Redeemed)
	}
	gap := int64(tot.UnspentSum - (tot.Minted - tot.Redeemed))
	if gap != tot.Gap {
		add(-1, -1, "unspent", CheckConservation, "unspent notes hold %d, minted %d - redeemed %d is %d", tot.UnspentSum, tot.Minted, tot.Redeemed, tot.Minted-tot.Redeemed)
		tot.Gap = gap
	}
	return fs, tot, st, nil
}

// effect is what one logged entry does to the unspent set and the totals.
type effect struct {
	spends           []noteUse
	creates          []noteUse
	minted, redeemed uint64
}

// noteUse is one note an entry spends or creates, with where a finding
// about it points: field, and the input's index (-1 for none). back marks
// a note created again by an abort after its prepare spent it.
type noteUse struct {
	id    money.NoteID
	value uint64
	field string
	input int
	back  bool
	what  string // the note, for people
}

// effectOf is a transaction's own effect, logged under its txid id: it
// spends its inputs and creates its outputs; a mint adds its outputs to
// the minted total, a redeem what it destroys to the redeemed one.
func effectOf(net money.Network, tx *money.Tx, id money.TxID) effect {
	var e effect
	for j := range tx.Inputs {
		in := &tx.Inputs[j]
		e.spends = append(e.spends, noteUse{id: net.NoteID(in), value: in.Value, field: fmt.Sprintf("inputs[%d]", j), input: j,
			what: fmt.Sprintf("%d of output %d of %s", in.Value, in.Index, in.TxID)})
	}
	for k := range tx.Outputs {
		n := money.Note{TxID: id, Index: uint32(k), Output: tx.Outputs[k]}
		e.creates = append(e.creates, noteUse{id: net.NoteID(&n), value: n.Value, field: fmt.Sprintf("outputs[%d]", k), input: -1})
	}
	in, out := tx.Sums()
	switch {
	case tx.Kind == money.Mint:
		e.minted = out
	case tx.Kind == money.Redeem && in > out:
		e.redeemed = in - out
	}
	return e
}

// sigItem is one signature to verify: key, purpose, txid, signature.
type sigItem struct {
	pub  crypto.PublicKey
	d    crypto.Domain
	hash money.Hash
	sig  money.Sig
}

// sigChunk is how many signatures one goroutine verifies in one batch:
// large enough for batch verification to pay (about 2x per signature),
// small enough that a ledger batch spreads over the cores.
const sigChunk = 256

// signers keeps the expanded keys of owners that sign again (a wallet
// signs each of its payments), for every audit in the process: the same
// verdicts, about a third less work per repeated signer.
var signers = crypto.NewKeyCache(8192)

// verifySigs verifies every signature, in batches of sigChunk over all
// cores, and says which are valid. Batching never changes the answer:
// crypto.Batch falls back to single ZIP-215 verification when a batch
// fails, so a bad signature is found whatever it was grouped with.
func verifySigs(network string, items []sigItem) []bool {
	valid := make([]bool, len(items))
	chunks := (len(items) + sigChunk - 1) / sigChunk
	workers := min(chunks, runtime.GOMAXPROCS(0))
	if workers == 0 {
		return valid
	}
	next := make(chan int, chunks)
	for c := 0; c < chunks; c++ {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := crypto.NewBatch(sigChunk).WithKeys(signers)
			for c := range next {
				lo, hi := c*sigChunk, min((c+1)*sigChunk, len(items))
				for _, it := range items[lo:hi] {
					b.Add(it.pub, it.d, network, it.hash, it.sig)
				}
				ok, v := b.Verify()
				for k := lo; k < hi; k++ {
					valid[k] = ok || (k-lo < len(v) && v[k-lo])
				}
			}
		}()
	}
	wg.Wait()
	return valid
}
