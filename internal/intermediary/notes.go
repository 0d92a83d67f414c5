package intermediary

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// The in-memory index of a wallet's notes.
//
// Each wallet's notes are read from the store once, on first use, into
// walletState.notes; after that every change to them is made to the index
// in the same critical section as its store commit, under the wallet's
// lock (walletState.mu): reserving (tryReserve), applying a committed
// transaction (commitIndexed) and releasing a reservation (unreserve). So
// the index never shows a state the store does not have, and a payment
// selects its notes from memory instead of scanning the store. HeldNotes
// (tests) still reads the store, which is what the index must agree with.
//
// A note's record in the store does not say whether it is reserved: the
// pending record of the spend (synced before the transaction leaves)
// names its inputs, and that is the reservation. Reserving writes the
// pending record only; releasing removes it (the notes' records never
// changed); applying removes it with the inputs. Open reads the pending
// records' inputs (loadOpenReserved) and loading a wallet's index marks
// those of its notes reserved while their spend is still pending.
// Records written reserved by older versions still read as reserved.
//
// The index of a wallet unused for noteIndexIdle is dropped by the
// background loop (evictIdleNotes) and read again on the wallet's next
// use, so memory holds the notes of the wallets in use, not of every
// wallet touched since the process started (a map of even one note costs
// about 1.7 KB: 170 MB for 100,000 wallets, five times that resident at
// GOGC 400). Only an index with no note reserved is dropped: a
// reservation is in the index and in the pending record, and loadNotes
// restores it from the pending records (openReserved) only at the first
// load after Open.

// noteID names a note within a wallet.
type noteID struct {
	tx    money.TxID
	index uint32
}

func idOf(n money.Note) noteID { return noteID{tx: n.TxID, index: n.Index} }

// compareKeys orders notes as the store's keys do: by txid, then index.
func compareKeys(a, b money.Note) int {
	if c := bytes.Compare(a.TxID[:], b.TxID[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// walletNotes returns wallet id's notes in store key order (txid, index),
// from the index, loading it first if needed. The caller holds ws.mu.
func (in *Intermediary) walletNotes(ws *walletState, id string) ([]noteRec, error) {
	if err := in.loadNotes(ws, id); err != nil {
		return nil, err
	}
	out := make([]noteRec, 0, len(ws.notes))
	for _, r := range ws.notes {
		out = append(out, r)
	}
	// Key order, as a scan of the store gives them: note selection is a
	// function of the wallet's notes, never of map order.
	slices.SortFunc(out, func(a, b noteRec) int { return compareKeys(a.Note, b.Note) })
	return out, nil
}

// loadNotes reads wallet id's notes into ws.notes unless they are there.
// The caller holds ws.mu.
func (in *Intermediary) loadNotes(ws *walletState, id string) error {
	ws.used = in.cfg.Now().UnixNano()
	if ws.notes != nil {
		return nil
	}
	recs, err := in.notes(id)
	if err != nil {
		return err
	}
	notes := make(map[noteID]noteRec, len(recs))
	for _, r := range recs {
		notes[idOf(r.Note)] = r
	}
	in.openReservedMu.Lock()
	held := in.openReserved[id]
	delete(in.openReserved, id)
	in.openReservedMu.Unlock()
	for nid, txid := range held {
		r, ok := notes[nid]
		if !ok || r.State != stateUnspent {
			continue
		}
		// Still pending? Its apply or release changes this wallet's
		// index under ws.mu, which the caller holds, so the answer holds.
		pending, err := in.db.Has(pendingKey(txid))
		if err != nil {
			in.openReservedMu.Lock()
			if in.openReserved != nil {
				in.openReserved[id] = held // not loaded: look again next time
			}
			in.openReservedMu.Unlock()
			return internalErr("pending "+txid.String(), err)
		}
		if pending {
			r.State, r.For = stateReserved, txid
			notes[nid] = r
		}
	}
	ws.notes = notes
	return nil
}

// loadOpenReserved reads which notes the spends pending in the store
// reserve (see above), at Open.
func (in *Intermediary) loadOpenReserved() error {
	m := map[string]map[noteID]money.TxID{}
	err := in.db.Scan([]byte(pPending), nil, func(k, v []byte) error {
		var txid money.TxID
		copy(txid[:], k[len(pPending):])
		var pend pendingRec
		if err := decodeRec(v, &pend); err != nil {
			return fmt.Errorf("pending %s: %w", txid, err)
		}
		var tx money.Tx
		if err := tx.UnmarshalBinary(pend.Tx); err != nil {
			return fmt.Errorf("pending %s: %w", txid, err)
		}
		for _, n := range tx.Inputs {
			w, err := in.walletOfLock(n.Lock)
			if err != nil {
				return err
			}
			if w == "" {
				continue
			}
			if m[w] == nil {
				m[w] = map[noteID]money.TxID{}
			}
			m[w][idOf(n)] = txid
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("intermediary %s: reserved notes: %w", in.cfg.Name, err)
	}
	in.openReservedMu.Lock()
	in.openReserved = m
	in.openReservedMu.Unlock()
	return nil
}

// noteChanges is what a batch does to wallets' notes: notes removed
// (spent) and notes added (credited), each with its wallet, in the order
// they were added (lists, not maps: a payment touches two or three
// wallets, and maps were four allocations each).
type noteChanges struct {
	del []noteDel
	add []noteAdd
	// unspend takes released payments out of their wallets' outgoing
	// windows (limits.go), under the same lock as the commit.
	unspend []spendUndo
	// unhold drops the holds of delivered payments (holds.go) in the
	// same step as their notes enter the index: counted once, always.
	unhold []holdDrop
}

type noteDel struct {
	wallet string
	id     noteID
}

type noteAdd struct {
	wallet string
	rec    noteRec
}

type spendUndo struct {
	wallet string
	adj    spendAdj
}

type holdDrop struct {
	wallet string
	ref    holdRef
}

func (c *noteChanges) dropHold(wallet string, r holdRef) {
	c.unhold = append(c.unhold, holdDrop{wallet, r})
}

func (c *noteChanges) delete(wallet string, id noteID) { c.del = append(c.del, noteDel{wallet, id}) }

func (c *noteChanges) put(wallet string, r noteRec) { c.add = append(c.add, noteAdd{wallet, r}) }

func (c *noteChanges) undoSpend(wallet string, a spendAdj) {
	c.unspend = append(c.unspend, spendUndo{wallet, a})
}

// merge appends o's changes to c's.
func (c *noteChanges) merge(o *noteChanges) {
	c.del = append(c.del, o.del...)
	c.add = append(c.add, o.add...)
	c.unspend = append(c.unspend, o.unspend...)
	c.unhold = append(c.unhold, o.unhold...)
}

// wallets lists the wallets c touches, sorted: the order their locks are
// taken in.
func (c *noteChanges) wallets() []string {
	ws := make([]string, 0, len(c.del)+len(c.add)+len(c.unspend)+len(c.unhold))
	for _, d := range c.del {
		ws = append(ws, d.wallet)
	}
	for _, a := range c.add {
		ws = append(ws, a.wallet)
	}
	for _, u := range c.unspend {
		ws = append(ws, u.wallet)
	}
	for _, h := range c.unhold {
		ws = append(ws, h.wallet)
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// commitIndexed commits b (synced or not) holding the locks of the
// wallets whose notes it changes, and makes the same changes to their
// indexes, so no payment selects from an index that is behind or ahead
// of the store.
func (in *Intermediary) commitIndexed(b *store.Batch, sync bool, c *noteChanges) error {
	ws := c.wallets()
	states := make([]*walletState, len(ws))
	for i, w := range ws { // sorted: two commits never wait for each other in a cycle
		states[i] = in.walletState(w)
		states[i].mu.Lock()
	}
	defer func() {
		for _, s := range states {
			s.mu.Unlock()
		}
	}()
	if err := b.Commit(sync); err != nil {
		return err
	}
	state := func(w string) *walletState {
		i, _ := slices.BinarySearch(ws, w)
		return states[i]
	}
	// Per wallet in this order, as each list was made: windows, holds,
	// then the index (if loaded: else it is read from the store later).
	for _, u := range c.unspend {
		state(u.wallet).win.unspend(u.adj)
	}
	for _, h := range c.unhold {
		dropHoldLocked(state(h.wallet), h.ref.id, h.ref.peer)
	}
	for _, d := range c.del {
		if s := state(d.wallet); s.notes != nil {
			delete(s.notes, d.id)
		}
	}
	for _, a := range c.add {
		if s := state(a.wallet); s.notes != nil {
			s.notes[idOf(a.rec.Note)] = a.rec
		}
	}
	return nil
}

// noteIndexIdle is how long a wallet's note index stays in memory unused
// (see above).
const noteIndexIdle = 10 * time.Minute

// evictIdleNotes drops the note index of every wallet whose index was not
// read for idle and holds no reserved note, and returns how many it
// dropped. A wallet busy at that moment (its lock held) is left for the
// next round. Such a wallet's cached record, key and lock owner go too
// (dropWalletCache): a bank's process keeps what the wallets of the last
// minutes need, not about 600 bytes for every wallet touched since it
// started. The background loop calls it with noteIndexIdle.
func (in *Intermediary) evictIdleNotes(idle time.Duration) int {
	cutoff := in.cfg.Now().Add(-idle).UnixNano()
	type entry struct {
		id string
		ws *walletState
	}
	in.walletMu.Lock()
	states := make([]entry, 0, len(in.wallets))
	for id, ws := range in.wallets {
		states = append(states, entry{id, ws})
	}
	in.walletMu.Unlock()
	n := 0
	for _, e := range states {
		ws := e.ws
		if !ws.mu.TryLock() {
			continue
		}
		if ws.used <= cutoff && (ws.notes == nil || !anyReserved(ws.notes)) {
			if ws.notes != nil {
				ws.notes = nil
				n++
			}
			in.dropWalletCache(e.id)
		}
		ws.mu.Unlock()
	}
	return n
}

// dropWalletCache forgets wallet id's cached record, signing key and lock
// owner; each is read from the store again when next needed (a wallet's
// record, and so its key and lock, never change once it is created).
func (in *Intermediary) dropWalletCache(id string) {
	if k, ok := in.keys.LoadAndDelete(id); ok {
		in.lockOwners.Delete(money.KeyLock(k.(crypto.Signer).Public()))
	}
	in.walletRecs.Delete(id)
}

func anyReserved(notes map[noteID]noteRec) bool {
	for _, r := range notes {
		if r.State != stateUnspent {
			return true
		}
	}
	return false
}
