package intermediary

import (
	"context"
	"encoding/json"
	"time"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// HeldNotes lists every note wallet id holds, reserved ones included, for
// tests that compare a wallet with the ledger.
func HeldNotes(in *Intermediary, id string) ([]money.Note, error) {
	return in.Holdings(in.asSelf(context.Background()), id)
}

// ExpireIdempotencyKeys runs the background loop's expiry sweep once.
func ExpireIdempotencyKeys(in *Intermediary) (int, error) {
	return in.expireIdem(context.Background())
}

// IdempotencyRecords counts the idempotency records stored.
func IdempotencyRecords(in *Intermediary) int {
	n := 0
	_ = in.db.Scan([]byte(pIdem), nil, func(_, _ []byte) error { n++; return nil })
	return n
}

// SyncStore makes every write in's store has taken durable, those
// committed without sync included.
func SyncStore(in *Intermediary) error {
	return in.db.Sync()
}

// WaitStoreIdle waits until in's store has no background work left (see
// store.DB.WaitIdle).
func WaitStoreIdle(in *Intermediary) error {
	return in.db.WaitIdle(5 * time.Second)
}

// Sweep runs the background loop's daily sweep once: it sweeps unless it
// already did today (by the intermediary's clock).
func Sweep(in *Intermediary) { in.sweep(context.Background()) }

// Outgoing reports what wallet id paid out in the current day and month
// (by the intermediary's clock), as its limits count it.
func Outgoing(in *Intermediary, id string) (day, month uint64, err error) {
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if err := in.windowLocked(ws, id, in.cfg.Now()); err != nil {
		return 0, 0, err
	}
	return ws.win.dayOut, ws.win.monthOut, nil
}

// WindowOf reports the screening window of wallet's incoming or outgoing
// payments as of now: how many payments and how much it counts.
func WindowOf(in *Intermediary, wallet string, incoming bool) (int, uint64) {
	a := &in.policy().AML
	w, err := in.window(winKey{wallet: wallet, in: incoming}, in.cfg.Now(), a)
	if err != nil {
		panic(err)
	}
	defer w.mu.Unlock()
	return w.count, w.sum
}

// SanctionsEntries is how many entries the sanctions list in force has.
func SanctionsEntries(in *Intermediary) int {
	if s := in.scr.sanctions.Load(); s != nil {
		return len(s.entries)
	}
	return 0
}

// EvictIdleWindows runs the background loop's eviction of screening
// windows that count nothing; it returns how many it evicted.
func EvictIdleWindows(in *Intermediary) int { return in.evictIdleWindows() }

// EvictIdleNotes runs the background loop's eviction of idle wallets'
// note indexes; it returns how many it dropped.
func EvictIdleNotes(in *Intermediary) int { return in.evictIdleNotes(noteIndexIdle) }

// EvictAllNotes drops every note index that holds no reserved note, idle
// or not (the simulation's step).
func EvictAllNotes(in *Intermediary) int { return in.evictIdleNotes(-time.Hour) }

// WalletCached reports whether wallet id's record and key are cached in
// memory.
func WalletCached(in *Intermediary, id string) (rec, key bool) {
	_, rec = in.walletRecs.Load(id)
	_, key = in.keys.Load(id)
	return rec, key
}

// NoteIndexIdle is how long a wallet's note index stays in memory unused.
const NoteIndexIdle = noteIndexIdle

// Windows is how many screening windows in keeps in memory.
func Windows(in *Intermediary) int {
	n := 0
	in.scr.windows.Range(func(_, _ any) bool { n++; return true })
	return n
}

// RefreshPolicy fetches and applies the policy in force now, as the
// background loop does once a minute.
func RefreshPolicy(in *Intermediary) { in.refreshPolicy(context.Background()) }

// Holds counts the live holds on wallet id's incoming capacity and what
// they take of it (holds.go), forgetting expired ones as a check would.
func Holds(in *Intermediary, id string) (int, uint64) {
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	sum := in.heldForPeersLocked(ws)
	return len(ws.holds), sum
}

// ExpireHolds runs the background loop's sweep of expired holds once and
// returns how many holds are left in all.
func ExpireHolds(in *Intermediary) int { return in.expireHolds() }

// RewriteAsJSON rewrites every history entry and outbox record of in in
// the JSON form that stores written before their binary form hold, and
// returns how many it rewrote.
func RewriteAsJSON(in *Intermediary) (int, error) {
	b := in.db.NewBatch()
	n := 0
	rewrite := func(prefix string, decode func(v []byte) (any, error)) error {
		return in.db.Scan([]byte(prefix), nil, func(k, v []byte) error {
			rec, err := decode(v)
			if err != nil {
				return err
			}
			j, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			b.Set(k, j)
			n++
			return nil
		})
	}
	err := rewrite(pHistory, func(v []byte) (any, error) {
		var e roles.Entry
		err := decodeRec(v, &e)
		return e, err
	})
	if err == nil {
		err = rewrite(pOutbox, func(v []byte) (any, error) {
			var o outboxRec
			err := decodeRec(v, &o)
			return o, err
		})
	}
	if err != nil {
		b.Discard()
		return 0, err
	}
	return n, b.Commit(true)
}
