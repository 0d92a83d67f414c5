package intermediary

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Fraud and AML screening.
//
// Every payment is screened where it leaves and where it arrives, with the
// thresholds of the policy in force (policy.AML): Listed (a party on the
// sanctions list, sanctions.go), LargeValue (one payment at or above the
// reporting threshold), Structuring (several payments just under it within
// the window) and Velocity (more payments, or more money, than allowed
// within the window). What a rule does when it trips is the policy's:
// block (the payment is refused with errcode.Blocked before anything is
// signed, and leaves no trace: no window counts it, no alert opens) or
// alert (it goes through and an alert opens for compliance staff,
// alerts.go).
//
// The hooks, each a line in the payment path:
//
//   - screenPay (pay, before reserve): the payer's side, and the payee's
//     when the payee is a wallet here; for a payee elsewhere the peer is
//     asked first, and counts it (holdIncoming), when it runs in this
//     process.
//   - screenReserveInto (tryReserve): binds the screened payment to its
//     txid and writes its alerts, pending, in the reserve batch.
//   - screenAppliedInto (applyInto, own spend): turns the pending alerts
//     into alerts in the batch that records the payment.
//   - screenReleased (unreserve): a spend that never committed leaves the
//     windows (the peer's too: releaseIncoming) and its pending alerts go.
//   - screenDeliveredInto (applyInto, delivery): the payee's side of a
//     payment from another intermediary, which arrives committed: it is
//     counted and alerts open, a block rule included (it can no longer
//     stop it; ReceiveLock and holdIncoming stop what can be stopped).
//   - screenReceiver (ReceiveLock): a listed payee is refused before a
//     payer elsewhere signs.
//
// Windows. Each wallet has two sliding windows, its outgoing and its
// incoming payments, kept in memory as a queue of events in time order
// with running count, sum and number of just-under payments: adding a
// payment and dropping the ones older than the window is O(1) amortised,
// never a scan of history. A screened payment is counted at once, before
// it is signed, under the window's lock, so two concurrent payments can
// never both squeeze under a limit; a payment that then fails (no funds,
// ledger rejection, never committed) is taken out again. Windows are not
// persisted on their own: a window is loaded on first use from the
// wallet's history (keyed by time, so only the window's entries are read),
// which is written in the batch that records each payment; a spend whose
// outcome a restart left unknown is counted when it settles as committed.
// Windows that count nothing any more are forgotten by the background
// loop (evictIdleWindows), so memory holds the wallets active within the
// window.
// The treasury, the intermediary's own wallet, keeps no windows (its
// payments are the intermediary's own: taking mints, funding customers,
// which are screened on the customer's side); the sanctions list still
// applies to whom it pays and who pays it.

// Store keys of screening (see storage.go for the others):
//
//	alert/<id>      roles.Alert (JSON)
//	alertq/<txid>   []roles.Alert (JSON): alerts of a spend reserved, not yet applied
const (
	pAlert        = "alert/"
	pAlertPending = "alertq/"
)

func alertKey(id string) []byte { return append([]byte(pAlert), id...) }

func alertPendingKey(txid money.TxID) []byte { return append([]byte(pAlertPending), txid[:]...) }

// Sides of a payment, as alerts name them.
const (
	sidePayer = "payer"
	sidePayee = "payee"
)

// maxEvidence bounds the payments an alert lists as evidence.
const maxEvidence = 100

// screening is the intermediary's screening state.
type screening struct {
	windows     sync.Map                  // winKey -> *window
	sanctions   atomic.Pointer[sanctions] // the list in force; nil: none
	sanctionsMu sync.Mutex                // one load at a time
	alertMu     sync.Mutex                // serialises closing alerts
	off         atomic.Bool               // screening turned off (Config.NoScreening, SetScreening)
	treasury    string                    // Intermediary.Treasury(), not screened; built once, not per payment
}

// SetScreening turns screening on or off while the intermediary runs, for
// a benchmark's comparison (specie bench --payments --screening=false);
// payments screened before keep their place in the windows.
func (in *Intermediary) SetScreening(on bool) { in.scr.off.Store(!on) }

// initScreening prepares screening at Open: its switch and the
// sanctions list, which must load (there is no list in force to keep).
func (in *Intermediary) initScreening() error {
	in.scr.off.Store(in.cfg.NoScreening)
	in.scr.treasury = in.Treasury()
	if err := in.loadSanctions(true); err != nil {
		return fmt.Errorf("intermediary %s: %w", in.cfg.Name, err)
	}
	return nil
}

// winKey names a window: a wallet's incoming or outgoing payments.
type winKey struct {
	wallet string
	in     bool
}

func (k winKey) compare(o winKey) int {
	if c := cmp.Compare(k.wallet, o.wallet); c != 0 {
		return c
	}
	switch {
	case k.in == o.in:
		return 0
	case !k.in:
		return -1
	}
	return 1
}

// event is one payment in a window.
type event struct {
	txid   money.TxID
	bound  bool // txid is known (the payment is reserved or applied)
	nanos  int64
	amount uint64
	party  string // the counterparty wallet, if known
	under  bool   // just under the reporting threshold
	gone   bool   // taken out (expired or cancelled); its sums no longer count
	held   bool   // counted by the payee's intermediary before the payer signed (holdIncoming), not yet delivered
}

// window is one wallet's payments in one direction within the policy's
// window: a queue in time order (q[head:] live or gone) and running sums
// of the live ones.
type window struct {
	mu     sync.Mutex
	loaded bool
	dead   bool // evicted (evictIdleWindows): whoever locks it looks the window up again
	q      []*event
	head   int
	count  int
	sum    uint64 // saturating: only compared
	under  int
	byTx   map[money.TxID]*event
}

func (w *window) add(e *event) {
	w.q = append(w.q, e)
	w.count++
	w.sum = addSat(w.sum, e.amount)
	if e.under {
		w.under++
	}
	if e.bound {
		w.byTx[e.txid] = e
	}
}

func (w *window) remove(e *event) {
	if e.gone {
		return
	}
	e.gone = true
	w.count--
	if w.sum != ^uint64(0) {
		w.sum -= e.amount
	}
	if e.under {
		w.under--
	}
	if e.bound && w.byTx[e.txid] == e {
		delete(w.byTx, e.txid)
	}
}

// expire drops the events at or before cutoff (unix nanos), from the
// head: O(1) amortised per event.
func (w *window) expire(cutoff int64) {
	for w.head < len(w.q) && w.q[w.head].nanos <= cutoff {
		w.remove(w.q[w.head])
		w.q[w.head] = nil
		w.head++
	}
	if w.head > 64 && 2*w.head >= len(w.q) {
		n := copy(w.q, w.q[w.head:])
		clear(w.q[n:])
		w.q, w.head = w.q[:n], 0
	}
	if w.sum == ^uint64(0) { // saturated once: recount exactly
		w.sum = 0
		for _, e := range w.q[w.head:] {
			if !e.gone {
				w.sum = addSat(w.sum, e.amount)
			}
		}
	}
}

// live lists the live events, newest first, at most maxEvidence.
func (w *window) live() []*event {
	var out []*event
	for i := len(w.q) - 1; i >= w.head && len(out) < maxEvidence; i-- {
		if !w.q[i].gone {
			out = append(out, w.q[i])
		}
	}
	return out
}

// window returns k's window, locked, loaded and expired as of now. The
// caller unlocks it.
func (in *Intermediary) window(k winKey, now time.Time, a *policy.AML) (*window, error) {
	var w *window
	for {
		v, ok := in.scr.windows.Load(k)
		if !ok {
			v, _ = in.scr.windows.LoadOrStore(k, &window{byTx: map[money.TxID]*event{}})
		}
		w = v.(*window)
		w.mu.Lock()
		if !w.dead {
			break
		}
		w.mu.Unlock() // evicted between the lookup and the lock
	}
	cutoff := now.UnixNano() - a.WindowSeconds*int64(time.Second)
	if !w.loaded {
		if err := in.loadWindow(w, k, cutoff, a); err != nil {
			w.mu.Unlock()
			return nil, err
		}
		w.loaded = true
	}
	w.expire(cutoff)
	return w, nil
}

// evictIdleWindows forgets the windows that count no payment any more, so
// memory holds the wallets active within the window, not every wallet
// that ever paid; a wallet's next payment reads its window from history
// again (finding nothing within it). The background loop calls it. It
// returns how many it evicted.
func (in *Intermediary) evictIdleWindows() int {
	a := &in.policy().AML
	cutoff := in.cfg.Now().UnixNano() - a.WindowSeconds*int64(time.Second)
	n := 0
	in.scr.windows.Range(func(k, v any) bool {
		w := v.(*window)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.loaded {
			w.expire(cutoff)
		}
		if w.loaded && w.count == 0 {
			w.dead = true
			in.scr.windows.Delete(k)
			n++
		}
		return true
	})
	return n
}

// loadWindow fills w from the wallet's history after cutoff: the payments
// committed before this process counted them.
func (in *Intermediary) loadWindow(w *window, k winKey, cutoff int64, a *policy.AML) error {
	dir := "out"
	if k.in {
		dir = "in"
	}
	start := historyPrefix(k.wallet)
	if cutoff >= 0 {
		start = binary.BigEndian.AppendUint64(start, uint64(cutoff+1))
	}
	err := in.db.Scan(historyPrefix(k.wallet), start, func(key, v []byte) error {
		if len(key) == 0 || key[len(key)-1] != dir[0] {
			return nil // the other direction (historyKey ends with it): not decoded
		}
		var e roles.Entry
		if err := decodeRec(v, &e); err != nil {
			return err
		}
		if e.Direction != dir || w.byTx[e.TxID] != nil {
			return nil
		}
		w.add(&event{txid: e.TxID, bound: true, nanos: e.Time.UnixNano(), amount: e.Amount, party: e.Counterparty, under: justUnder(a, e.Amount)})
		return nil
	})
	if err != nil {
		return internalErr("screening window of "+k.wallet, err)
	}
	return nil
}

func justUnder(a *policy.AML, amount uint64) bool {
	t := a.ReportingThreshold
	return a.StructuringCount > 0 && t > 0 && amount < t && amount >= t-min(a.StructuringMargin, t)
}

// trip is a rule that tripped on one side of a payment.
type trip struct {
	rule     policy.Rule
	action   policy.Action
	side     string
	wallet   string
	msg      string
	evidence []*event // besides the payment screened
}

// windowTrips evaluates the window rules (and LargeValue) for a payment of
// amount counted in w, which the caller holds, loaded and expired.
func (in *Intermediary) windowTrips(a *policy.AML, w *window, side, wallet string, amount uint64) []trip {
	cur := in.cfg.Network.Currency
	f := func(v uint64) string { return cur.Format(v) + " " + cur.Code }
	span := time.Duration(a.WindowSeconds) * time.Second
	dir := "out of"
	if side == sidePayee {
		dir = "into"
	}
	var out []trip
	t := func(r policy.Rule, ev []*event, format string, args ...any) {
		out = append(out, trip{rule: r, action: a.ActionFor(r), side: side, wallet: wallet, msg: fmt.Sprintf(format, args...), evidence: ev})
	}
	if a.ReportingThreshold > 0 && amount >= a.ReportingThreshold {
		t(policy.LargeValue, nil, "payment of %s %s wallet %s is at or above the reporting threshold %s", f(amount), dir, wallet, f(a.ReportingThreshold))
	}
	if justUnder(a, amount) && w.under+1 >= a.StructuringCount {
		var ev []*event
		for _, e := range w.live() {
			if e.under {
				ev = append(ev, e)
			}
		}
		t(policy.Structuring, ev, "%d payments %s wallet %s within %s just under the reporting threshold %s (from %s)",
			w.under+1, dir, wallet, span, f(a.ReportingThreshold), f(a.ReportingThreshold-a.StructuringMargin))
	}
	switch sum := addSat(w.sum, amount); {
	case a.VelocityCount > 0 && w.count+1 > a.VelocityCount:
		t(policy.Velocity, w.live(), "%d payments %s wallet %s within %s, more than %d", w.count+1, dir, wallet, span, a.VelocityCount)
	case a.VelocityAmount > 0 && sum > a.VelocityAmount:
		t(policy.Velocity, w.live(), "%s %s wallet %s within %s, more than %s", f(sum), dir, wallet, span, f(a.VelocityAmount))
	}
	return out
}

// listedTrip checks the parties against the sanctions list; wallet is the
// screened wallet of this intermediary.
func (in *Intermediary) listedTrip(a *policy.AML, side, wallet string, parties ...string) []trip {
	list := in.scr.sanctions.Load()
	for _, p := range parties {
		if list.has(p) {
			return []trip{{rule: policy.Listed, action: a.ActionFor(policy.Listed), side: side, wallet: wallet,
				msg: fmt.Sprintf("%q is on %s's sanctions list", p, in.cfg.Name)}}
		}
	}
	return nil
}

// listed reports whether any of names is on the sanctions list.
func (in *Intermediary) listed(names ...string) bool {
	list := in.scr.sanctions.Load()
	return slices.ContainsFunc(names, list.has)
}

// firstBlock returns the error for the first trip, in policy.Rules order,
// whose action is block, or nil.
func (in *Intermediary) firstBlock(trips []trip) error {
	for _, r := range policy.Rules {
		for _, t := range trips {
			if t.rule == r && t.action == policy.Block {
				return errcode.New(errcode.Blocked, "payment blocked by %s screening at %s (%s rule): %s", t.side, in.cfg.Name, t.rule, t.msg)
			}
		}
	}
	return nil
}

// verdict is a screened payment that may go ahead: the events it added to
// windows and the alerts it opens once it commits.
type verdict struct {
	added  []counted
	alerts []roles.Alert
}

type counted struct {
	w *window
	e *event
}

// screenPay screens payment p from wallet from (here) to p.To, here or at
// peer: the payer's side, and the payee's too when the payee is here. A
// trip whose action is block refuses the payment with errcode.Blocked and
// changes nothing; otherwise the payment is counted in its windows and the
// verdict carries the alerts it opens. A nil verdict means nothing to do.
func (in *Intermediary) screenPay(from *walletRec, p roles.Payment, peer string) (*verdict, error) {
	if in.scr.off.Load() {
		return nil, nil
	}
	a := &in.policy().AML
	now := in.cfg.Now()
	var held *verdict // the payee's count, when its intermediary is asked first
	if peer != "" {
		// Asked first, holding no lock here: the payee's intermediary
		// counts the payment in its window until it is delivered or fails.
		if other, ok := in.peer(peer); ok {
			if s, ok := other.(incomingScreener); ok {
				h, err := s.holdIncoming(from.ID, p.To, p.Amount)
				if err != nil {
					return nil, err
				}
				held = h
			}
		}
	}
	v, err := in.screenHere(from, p, peer, a, now)
	if err != nil {
		held.abort() // after our windows are unlocked: never a peer's lock while holding ours
		return nil, err
	}
	if held != nil {
		v.added = append(v.added, held.added...)
	}
	return v, nil
}

// screenHere is screenPay's part at this intermediary, under the locks of
// the windows it counts in.
func (in *Intermediary) screenHere(from *walletRec, p roles.Payment, peer string, a *policy.AML, now time.Time) (*verdict, error) {
	payer := from.ID != in.scr.treasury
	payee := peer == "" && p.To != in.scr.treasury
	var trips []trip
	var toOwner string
	if peer == "" {
		if rec, err := in.loadWallet(p.To); err == nil {
			toOwner = rec.Owner
		}
	}
	// One Listed alert a payment, on the side of the listed wallet when it
	// is ours, else on our wallet's.
	switch {
	case payer && in.listed(from.ID, from.Owner):
		trips = in.listedTrip(a, sidePayer, from.ID, from.ID, from.Owner)
	case payee && in.listed(p.To, toOwner):
		trips = in.listedTrip(a, sidePayee, p.To, p.To, toOwner)
	case payer:
		trips = in.listedTrip(a, sidePayer, from.ID, p.To, toOwner)
	case payee:
		trips = in.listedTrip(a, sidePayee, p.To, from.ID)
	default: // the treasury pays a wallet elsewhere: its windows are not kept, the list applies
		trips = in.listedTrip(a, sidePayer, from.ID, p.To)
	}
	var keys []winKey
	if payer {
		keys = append(keys, winKey{wallet: from.ID})
	}
	if payee {
		keys = append(keys, winKey{wallet: p.To, in: true})
	}
	slices.SortFunc(keys, winKey.compare) // two screenings never wait for each other in a cycle
	ws := make([]*window, 0, len(keys))
	defer func() {
		for _, w := range ws {
			w.mu.Unlock()
		}
	}()
	for _, k := range keys {
		w, err := in.window(k, now, a)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
		if k.in {
			trips = append(trips, in.windowTrips(a, w, sidePayee, p.To, p.Amount)...)
		} else {
			trips = append(trips, in.windowTrips(a, w, sidePayer, from.ID, p.Amount)...)
		}
	}
	if err := in.firstBlock(trips); err != nil {
		in.log.Info("payment blocked by screening", "from", from.ID, "to", p.To, "amount", p.Amount, "err", err)
		return nil, err
	}
	v := &verdict{}
	for i, k := range keys {
		party := p.To
		if k.in {
			party = from.ID
		}
		e := &event{nanos: now.UnixNano(), amount: p.Amount, party: party, under: justUnder(a, p.Amount)}
		ws[i].add(e)
		v.added = append(v.added, counted{w: ws[i], e: e})
	}
	self := roles.AlertEvidence{From: from.ID, To: p.To, Amount: p.Amount, Time: now.UTC()}
	for _, t := range trips {
		v.alerts = append(v.alerts, newAlert(t, self, now))
	}
	return v, nil
}

// newAlert builds the alert of trip t about payment self (its txid, if not
// known yet, and the alert's ID are set when it is bound).
func newAlert(t trip, self roles.AlertEvidence, now time.Time) roles.Alert {
	ev := make([]roles.AlertEvidence, 0, 1+len(t.evidence))
	ev = append(ev, self)
	for _, e := range t.evidence {
		x := roles.AlertEvidence{TxID: e.txid, Amount: e.amount, Time: time.Unix(0, e.nanos).UTC()}
		if t.side == sidePayer {
			x.From, x.To = t.wallet, e.party
		} else {
			x.From, x.To = e.party, t.wallet
		}
		ev = append(ev, x)
	}
	return roles.Alert{Rule: string(t.rule), Action: string(t.action), Side: t.side, Wallet: t.wallet, Message: t.msg,
		Evidence: ev, State: roles.AlertOpen, Created: now.UTC()}
}

// alertID names the alert of rule on side about wallet for payment txid:
// the same alert however often the payment is applied.
func alertID(txid money.TxID, a *roles.Alert) string {
	h := sha256.New()
	h.Write([]byte("specie/alert/v1\x00"))
	h.Write(txid[:])
	for _, s := range []string{a.Rule, a.Side, a.Wallet} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// abort takes a screened payment that never got a transaction (reserve
// failed) out of its windows.
func (v *verdict) abort() {
	if v == nil {
		return
	}
	for _, c := range v.added {
		c.w.mu.Lock()
		c.w.remove(c.e)
		c.w.mu.Unlock()
	}
}

// screenReserveInto binds the screened payment of pend to txid, in its
// windows and its alerts, and adds its alerts, pending, to b, the batch
// that reserves its notes (synced: a restart finds them with the spend).
func (in *Intermediary) screenReserveInto(b *store.Batch, txid money.TxID, pend *pendingRec) error {
	v := pend.screen
	if v == nil {
		return nil
	}
	for _, c := range v.added {
		c.w.mu.Lock()
		c.e.txid, c.e.bound = txid, true
		if !c.e.gone {
			c.w.byTx[txid] = c.e
		}
		c.w.mu.Unlock()
	}
	if len(v.alerts) == 0 {
		return nil
	}
	for i := range v.alerts {
		v.alerts[i].Evidence[0].TxID = txid
		v.alerts[i].ID = alertID(txid, &v.alerts[i])
	}
	val, err := recBytes(v.alerts)
	if err != nil {
		return err
	}
	b.Set(alertPendingKey(txid), val)
	return nil
}

// screenAppliedInto adds to b, the batch that applies our committed spend
// txid, the alerts it opens. On the first apply they are the verdict's
// (pend.screen); a later apply (the spend settled after a restart or from
// the ledger) reads them from the store and counts the payment in windows
// that do not have it.
func (in *Intermediary) screenAppliedInto(b *store.Batch, txid money.TxID, pend *pendingRec, first bool) error {
	var alerts []roles.Alert
	if first {
		if pend.screen == nil || len(pend.screen.alerts) == 0 {
			return nil
		}
		alerts = pend.screen.alerts
	} else {
		if _, err := getRec(in.db, alertPendingKey(txid), &alerts); err != nil {
			return fmt.Errorf("pending alerts of %s: %w", txid, err)
		}
		if err := in.screenCommitted(txid, pend); err != nil {
			return err
		}
	}
	for i := range alerts {
		v, err := recBytes(alerts[i])
		if err != nil {
			return err
		}
		b.Set(alertKey(alerts[i].ID), v)
	}
	if len(alerts) > 0 {
		b.Delete(alertPendingKey(txid))
	}
	return nil
}

// screenCommitted counts our spend txid, settled without its verdict in
// memory, in the windows that do not have it yet.
func (in *Intermediary) screenCommitted(txid money.TxID, pend *pendingRec) error {
	if in.scr.off.Load() || pend.Kind != kindPay {
		return nil
	}
	a := &in.policy().AML
	now := in.cfg.Now()
	add := func(k winKey, party string) error {
		w, err := in.window(k, now, a)
		if err != nil {
			return err
		}
		defer w.mu.Unlock()
		if w.byTx[txid] == nil {
			w.add(&event{txid: txid, bound: true, nanos: now.UnixNano(), amount: pend.Amount, party: party, under: justUnder(a, pend.Amount)})
		}
		return nil
	}
	if pend.From != in.scr.treasury {
		if err := add(winKey{wallet: pend.From}, pend.To); err != nil {
			return err
		}
	}
	if pend.Peer == "" && pend.To != "" && pend.To != in.scr.treasury {
		return add(winKey{wallet: pend.To, in: true}, pend.From)
	}
	return nil
}

// screenReleased takes the spend txid, released without committing, out
// of its windows. Its pending alerts were deleted with its pending record
// (screenReleaseInto).
func (in *Intermediary) screenReleased(txid money.TxID, pend *pendingRec) {
	if in.scr.off.Load() || pend.Kind != kindPay {
		return
	}
	drop := func(k winKey) {
		v, ok := in.scr.windows.Load(k)
		if !ok {
			return
		}
		w := v.(*window)
		w.mu.Lock()
		defer w.mu.Unlock()
		if e := w.byTx[txid]; e != nil {
			w.remove(e)
		}
	}
	drop(winKey{wallet: pend.From})
	if pend.Peer == "" && pend.To != "" {
		drop(winKey{wallet: pend.To, in: true})
	}
	if other, ok := in.peer(pend.Peer); ok {
		if s, ok := other.(incomingScreener); ok {
			s.releaseIncoming(pend.To, txid)
		}
	}
}

// screenReleaseInto adds to b, the batch that releases the spend txid,
// the removal of its pending alerts.
func screenReleaseInto(b *store.Batch, txid money.TxID) { b.Delete(alertPendingKey(txid)) }

// screenDeliveredInto screens, on the payee's side, amount credited to
// wallet w here by txid, a payment delivered from elsewhere (memo names
// its payer when the payer's intermediary gave one): it is counted in the
// wallet's incoming window and the alerts it trips are added to b, the
// batch that credits it. It arrives committed, so nothing can be blocked
// any more: a block rule opens an alert saying so.
func (in *Intermediary) screenDeliveredInto(b *store.Batch, txid money.TxID, wallet string, amount uint64, memo *roles.Memo) error {
	if in.scr.off.Load() {
		return nil
	}
	a := &in.policy().AML
	now := in.cfg.Now()
	from := ""
	if memo != nil && memo.To == wallet {
		from = memo.From
	}
	if wallet == in.scr.treasury {
		// No window for the treasury; a listed payer still opens an alert.
		return in.putAlerts(b, txid, in.listedTrip(a, sidePayee, wallet, from), roles.AlertEvidence{TxID: txid, From: from, To: wallet, Amount: amount, Time: now.UTC()}, now)
	}
	w, err := in.window(winKey{wallet: wallet, in: true}, now, a)
	if err != nil {
		return err
	}
	defer w.mu.Unlock()
	if e := w.byTx[txid]; e != nil {
		if !e.held {
			return nil // counted by an apply whose batch failed; retried now
		}
		w.remove(e) // held by holdIncoming: counted again below, as delivered
	}
	owner := ""
	if rec, err := in.loadWallet(wallet); err == nil {
		owner = rec.Owner
	}
	trips := in.listedTrip(a, sidePayee, wallet, wallet, owner, from)
	trips = append(trips, in.windowTrips(a, w, sidePayee, wallet, amount)...)
	w.add(&event{txid: txid, bound: true, nanos: now.UnixNano(), amount: amount, party: from, under: justUnder(a, amount)})
	return in.putAlerts(b, txid, trips, roles.AlertEvidence{TxID: txid, From: from, To: wallet, Amount: amount, Time: now.UTC()}, now)
}

// putAlerts adds to b the alerts of trips about the delivered payment
// self, txid.
func (in *Intermediary) putAlerts(b *store.Batch, txid money.TxID, trips []trip, self roles.AlertEvidence, now time.Time) error {
	for _, t := range trips {
		al := newAlert(t, self, now)
		if t.action == policy.Block {
			al.Message += "; the payment arrived committed from another intermediary and could not be stopped"
		}
		al.ID = alertID(txid, &al)
		v, err := recBytes(al)
		if err != nil {
			return err
		}
		b.Set(alertKey(al.ID), v)
		in.log.Info("screening alert", "alert", al.ID, "rule", al.Rule, "wallet", al.Wallet, "txid", txid)
	}
	return nil
}

// incomingScreener is an intermediary in this process that screens a
// payment to one of its wallets before the payer signs it. (Over HTTP the
// payee's intermediary is asked only for the lock, which it refuses to a
// listed wallet, and counts the payment when it is delivered.)
type incomingScreener interface {
	holdIncoming(from, to string, amount uint64) (*verdict, error)
	releaseIncoming(to string, txid money.TxID)
}

// holdIncoming is the payee's side of a payment from another
// intermediary's wallet to wallet to here, asked by the payer's
// intermediary before it signs: errcode.Blocked when a rule whose action
// is block trips; otherwise the payment is counted in to's incoming window
// at once, as a payment here is, so concurrent payments from elsewhere
// cannot all squeeze under a limit. The payer binds the count to the txid
// (screenReserveInto), takes it back if the payment fails (abort,
// releaseIncoming); delivery turns it into the payment's count and opens
// its alerts (screenDeliveredInto). A nil verdict counts nothing.
func (in *Intermediary) holdIncoming(from, to string, amount uint64) (*verdict, error) {
	if in.scr.off.Load() {
		return nil, nil
	}
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	a := &in.policy().AML
	if to == in.scr.treasury { // no window for the treasury; the list applies
		return nil, in.firstBlock(in.listedTrip(a, sidePayee, to, from))
	}
	owner := ""
	if rec, err := in.loadWallet(to); err == nil {
		owner = rec.Owner
	}
	trips := in.listedTrip(a, sidePayee, to, to, owner, from)
	now := in.cfg.Now()
	w, err := in.window(winKey{wallet: to, in: true}, now, a)
	if err != nil {
		return nil, err
	}
	defer w.mu.Unlock()
	trips = append(trips, in.windowTrips(a, w, sidePayee, to, amount)...)
	if err := in.firstBlock(trips); err != nil {
		return nil, err
	}
	e := &event{nanos: now.UnixNano(), amount: amount, party: from, under: justUnder(a, amount), held: true}
	w.add(e)
	return &verdict{added: []counted{{w: w, e: e}}}, nil
}

// releaseIncoming takes back the count holdIncoming made for txid, a
// payment to wallet to that will never be delivered.
func (in *Intermediary) releaseIncoming(to string, txid money.TxID) {
	v, ok := in.scr.windows.Load(winKey{wallet: to, in: true})
	if !ok {
		return
	}
	w := v.(*window)
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.byTx[txid]; e != nil && e.held {
		w.remove(e)
	}
}

// screenReceiver refuses to give out the lock of a listed wallet when the
// policy blocks listed parties, so a payer elsewhere never signs a payment
// to it.
func (in *Intermediary) screenReceiver(id string) error {
	if in.scr.off.Load() || id == in.scr.treasury {
		return nil
	}
	a := &in.policy().AML
	owner := ""
	if rec, err := in.loadWallet(id); err == nil {
		owner = rec.Owner
	}
	return in.firstBlock(in.listedTrip(a, sidePayee, id, id, owner))
}
