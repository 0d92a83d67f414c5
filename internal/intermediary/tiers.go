package intermediary

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Tiers and states of a wallet (issue 9, section 2).
//
// A customer wallet has a profile beside its (immutable, cached) walletRec:
// its policy tier, state, the evidence it was opened with (kind and
// reference, never the document), its share of the person's holding limit
// and its linked deposit account. The profile is cached in walletState and
// changed only under the wallet's lock, the same lock a payment from it
// holds while it checks its limits and reserves its notes, so a freeze or a
// downgrade cannot slip between a payment's check and its reservation.
// Every change is written with an audit entry in one store batch.
//
// The treasury, and wallets opened before tiers existed, have no profile:
// no tier, no limits.

// profileRec is a wallet's tier and state, as stored (JSON).
type profileRec struct {
	Tier     int                 `json:"tier"`
	State    string              `json:"state"`
	Evidence []roles.EvidenceRef `json:"evidence"`
	// Share is the wallet's reserved share of the person's holding limit;
	// 0 means the tier's holding limit (as the policy in force says).
	Share uint64 `json:"share,omitempty"`
	// Person is the registry pseudonym the share is reserved under; ""
	// when nothing is reserved.
	Person  string `json:"person,omitempty"`
	Account string `json:"account,omitempty"`
}

// openingRec marks a wallet being opened whose registry share may be
// reserved before the wallet exists (registry.go).
type openingRec struct {
	Person string `json:"person"`
}

// t/<wallet>                          profileRec (JSON)
// a/<wallet>\x00<nanos u64 BE>        roles.AuditEntry (JSON)
// q/<wallet>                          openingRec (JSON): an open in progress (registry.go)
const (
	pProfile = "t/"
	pAudit   = "a/"
	pOpening = "q/"
)

func profileKey(id string) []byte { return append([]byte(pProfile), id...) }

func openingKey(id string) []byte { return append([]byte(pOpening), id...) }

func auditPrefix(id string) []byte {
	k := append([]byte(pAudit), id...)
	return append(k, 0)
}

func auditKey(id string, nanos int64) []byte {
	return binary.BigEndian.AppendUint64(auditPrefix(id), uint64(nanos))
}

// Limits on the text of evidence references and reasons.
const (
	MaxEvidenceRefLen = 256
	MaxReasonLen      = 512
)

// actor names who is making a change: the caller's credential.
func actor(ctx context.Context) string {
	if p, ok := roles.Caller(ctx); ok {
		return p.Name
	}
	return ""
}

func checkReason(reason string) error {
	if len(reason) > MaxReasonLen || !utf8.ValidString(reason) {
		return errcode.New(errcode.Malformed, "reason: want at most %d bytes of UTF-8 text", MaxReasonLen)
	}
	return nil
}

// checkEvidence validates refs (known kinds, each once, a reference of 1
// to MaxEvidenceRefLen bytes) and reports whether they, with had, cover
// every kind tier t lists.
func checkEvidence(t policy.Tier, had, refs []roles.EvidenceRef) error {
	for i, e := range refs {
		if !e.Kind.Known() {
			return errcode.New(errcode.Malformed, "evidence %d: unknown kind %q", i, e.Kind)
		}
		if strings.TrimSpace(e.Ref) == "" || len(e.Ref) > MaxEvidenceRefLen || !utf8.ValidString(e.Ref) {
			return errcode.New(errcode.Malformed, "evidence %s: want a reference of 1 to %d bytes of UTF-8 text", e.Kind, MaxEvidenceRefLen)
		}
		for _, prev := range refs[:i] {
			if prev.Kind == e.Kind {
				return errcode.New(errcode.Malformed, "evidence %s given twice", e.Kind)
			}
		}
	}
	for _, k := range t.Evidence {
		has := func(e roles.EvidenceRef) bool { return e.Kind == k }
		if !slices.ContainsFunc(refs, has) && !slices.ContainsFunc(had, has) {
			return errcode.New(errcode.Malformed, "tier %d (%s) needs %s evidence", t.Level, t.Name, k)
		}
	}
	return nil
}

// mergeEvidence is had with refs, a kind given again replacing the old.
func mergeEvidence(had, refs []roles.EvidenceRef) []roles.EvidenceRef {
	out := slices.Clone(had)
	for _, e := range refs {
		if i := slices.IndexFunc(out, func(o roles.EvidenceRef) bool { return o.Kind == e.Kind }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// tierOf returns the tier at level in the policy in force.
func (in *Intermediary) tierOf(level int) (policy.Tier, error) {
	p := in.policy()
	t, ok := p.Tier(level)
	if !ok {
		return policy.Tier{}, errcode.New(errcode.Malformed, "no tier %d in policy version %d (tiers 0 to %d)", level, p.Version, len(p.Tiers)-1)
	}
	return t, nil
}

// holdingLimit is the most wallet prof may hold: its share, no more than
// its tier's limit; 0 means no limit.
func holdingLimit(t policy.Tier, prof *profileRec) uint64 {
	if t.Holding == 0 {
		return 0
	}
	if prof.Share != 0 && prof.Share < t.Holding {
		return prof.Share
	}
	return t.Holding
}

// profileLocked returns wallet id's profile, loading it on first use; nil
// for a wallet without one. The caller holds ws.mu.
func (in *Intermediary) profileLocked(ws *walletState, id string) (*profileRec, error) {
	if ws.profLoaded {
		return ws.prof, nil
	}
	var p profileRec
	found, err := getRec(in.db, profileKey(id), &p)
	if err != nil {
		return nil, internalErr("profile of "+id, err)
	}
	ws.profLoaded = true
	if found {
		ws.prof = &p
	}
	return ws.prof, nil
}

// putProfile adds the profile and an audit entry to b.
func (in *Intermediary) putProfile(b *store.Batch, id string, p *profileRec, e roles.AuditEntry) error {
	pv, err := recBytes(p)
	if err != nil {
		return err
	}
	av, err := recBytes(e)
	if err != nil {
		return err
	}
	b.Set(profileKey(id), pv)
	b.Set(auditKey(id, e.Time.UnixNano()), av)
	return nil
}

// OpenWallet opens a custodial wallet for a customer at a tier of the
// policy in force, with that tier's evidence. With a holding-limit
// registry, the wallet's share of the person's limit is reserved first
// (registry.go); a person already holding their limit elsewhere is
// refused with errcode.LimitExceeded and nothing is opened.
func (in *Intermediary) OpenWallet(ctx context.Context, req roles.WalletRequest) (roles.Wallet, error) {
	if err := in.enter(); err != nil {
		return roles.Wallet{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Wallet{}, err
	}
	owner := req.Owner
	if strings.TrimSpace(owner) == "" || len(owner) > MaxOwnerLen || !utf8.ValidString(owner) {
		return roles.Wallet{}, errcode.New(errcode.Malformed, "owner: want 1 to %d bytes of UTF-8 text", MaxOwnerLen)
	}
	if err := checkReason(req.Reason); err != nil {
		return roles.Wallet{}, err
	}
	if len(req.Person) > MaxEvidenceRefLen || !utf8.ValidString(req.Person) {
		return roles.Wallet{}, errcode.New(errcode.Malformed, "person: want at most %d bytes of UTF-8 text", MaxEvidenceRefLen)
	}
	t, err := in.tierOf(req.Tier)
	if err != nil {
		return roles.Wallet{}, err
	}
	if err := checkEvidence(t, nil, req.Evidence); err != nil {
		return roles.Wallet{}, err
	}
	if req.Share != 0 && (t.Holding == 0 || req.Share > t.Holding) {
		return roles.Wallet{}, errcode.New(errcode.Malformed, "share %s is above tier %d's holding limit %s",
			in.fmtAmount(req.Share), t.Level, in.fmtAmount(t.Holding))
	}
	prof := &profileRec{Tier: t.Level, State: roles.WalletActive, Evidence: slices.Clone(req.Evidence), Share: req.Share}
	if in.cfg.Registry != nil && t.Holding > 0 {
		if prof.Person, err = in.person(req); err != nil {
			return roles.Wallet{}, err
		}
		if prof.Share == 0 {
			prof.Share = t.Holding
		}
	}
	audit := roles.AuditEntry{Actor: actor(ctx), Action: "open", Reason: req.Reason,
		Detail: fmt.Sprintf("tier %d (%s), evidence %s", t.Level, t.Name, evidenceKinds(req.Evidence))}
	for range 8 {
		suffix, err := in.randomSuffix()
		if err != nil {
			return roles.Wallet{}, internalErr("open wallet", err)
		}
		w, ok, err := in.openIfFree(ctx, in.cfg.Name+"."+suffix, owner, prof, audit, t)
		if err != nil {
			return roles.Wallet{}, err
		}
		if !ok {
			continue
		}
		in.log.Info("wallet opened", "wallet", w.ID, "tier", t.Level)
		return w, nil
	}
	return roles.Wallet{}, errcode.New(errcode.Internal, "open wallet: no free wallet id")
}

func evidenceKinds(refs []roles.EvidenceRef) string {
	ks := make([]string, len(refs))
	for i, e := range refs {
		ks[i] = string(e.Kind)
	}
	return strings.Join(ks, ",")
}

// openIfFree opens wallet id unless it exists (ok false), holding the
// wallet's lock so two opens never race for one ID: reserve its share
// (after a durable opening record, so a crash leaves a share that Open
// can tell is nobody's), then write the wallet, its profile and audit
// entry, and drop the opening record, in one batch.
func (in *Intermediary) openIfFree(ctx context.Context, id, owner string, prof *profileRec, audit roles.AuditEntry, t policy.Tier) (roles.Wallet, bool, error) {
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	exists, err := in.db.Has(walletKey(id))
	if err != nil {
		return roles.Wallet{}, false, internalErr("open wallet", err)
	}
	if exists {
		return roles.Wallet{}, false, nil
	}
	if prof.Person != "" {
		if err := in.reserveShare(ctx, id, prof.Person, prof.Share, t.Holding); err != nil {
			return roles.Wallet{}, false, err
		}
		defer in.opening.Delete(id) // after the wallet is written, or failed
	}
	audit.Time = in.now()
	w, err := in.createWallet(id, owner, func(b *store.Batch) error {
		b.Delete(openingKey(id))
		return in.putProfile(b, id, prof, audit)
	})
	if err != nil {
		// The share, if any, stays reserved under the opening record: the
		// background loop releases it (no wallet id exists).
		return roles.Wallet{}, false, internalErr("open wallet", err)
	}
	ws.prof, ws.profLoaded = prof, true
	// A wallet just made holds no notes (a note is credited only to a
	// wallet whose lock is known here): its index starts empty rather
	// than being read from the store at its first payment.
	ws.notes, ws.used = map[noteID]noteRec{}, in.cfg.Now().UnixNano()
	in.describe(&w, t, prof)
	return w, true, nil
}

// describe fills w's policy fields from its profile and its tier in the
// policy in force (zero if the policy no longer has it).
func (in *Intermediary) describe(w *roles.Wallet, t policy.Tier, prof *profileRec) {
	w.Tier, w.TierName, w.State = prof.Tier, t.Name, prof.State
	w.HoldingLimit = holdingLimit(t, prof)
	w.Account = prof.Account
}

// fmtAmount formats minor units in the network's currency, without code.
func (in *Intermediary) fmtAmount(v uint64) string { return in.cfg.Network.Currency.Format(v) }

// change runs f on wallet id's profile under the wallet's lock and, if it
// succeeds, stores the changed profile with an audit entry by the caller
// (action, reason and f's detail). f gets a copy of the profile and the
// wallet's holdings (balance plus notes held by payments in flight), and
// the batch the change is stored in, for writes that go with it.
func (in *Intermediary) change(ctx context.Context, id, action, reason string,
	f func(p *profileRec, held uint64, b *store.Batch) (detail string, err error)) (roles.Wallet, error) {
	if err := in.enter(); err != nil {
		return roles.Wallet{}, err
	}
	defer in.exit()
	if err := in.readable(ctx, id); err != nil {
		return roles.Wallet{}, err
	}
	if err := checkReason(reason); err != nil {
		return roles.Wallet{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return roles.Wallet{}, errcode.New(errcode.Malformed, "%s: a reason is required for the audit trail", action)
	}
	err := func() error {
		ws := in.walletState(id)
		ws.mu.Lock()
		defer ws.mu.Unlock()
		cur, err := in.profileLocked(ws, id)
		if err != nil {
			return err
		}
		if cur == nil {
			return errcode.New(errcode.Conflict, "wallet %s has no tier (the treasury, or opened before tiers): it cannot be %s", id, action)
		}
		if cur.State == roles.WalletClosed {
			return errcode.New(errcode.Conflict, "wallet %s is closed", id)
		}
		held, err := in.heldLocked(ws, id)
		if err != nil {
			return err
		}
		next := *cur
		next.Evidence = slices.Clone(cur.Evidence)
		b := in.db.NewBatch()
		detail, err := f(&next, held, b)
		if err != nil {
			b.Discard()
			return err
		}
		if err := in.putProfile(b, id, &next, roles.AuditEntry{Time: in.now(), Actor: actor(ctx), Action: action, Reason: reason, Detail: detail}); err != nil {
			b.Discard()
			return internalErr(action+" "+id, err)
		}
		if err := b.Commit(true); err != nil {
			return internalErr(action+" "+id, err)
		}
		ws.prof = &next
		in.log.Info("wallet changed", "wallet", id, "action", action, "detail", detail, "actor", actor(ctx))
		return nil
	}()
	if err != nil {
		return roles.Wallet{}, err
	}
	return in.wallet(id)
}

// heldLocked is the value of every note wallet id holds, reserved ones
// included, plus payments to it reserved here and not yet credited. The
// caller holds ws.mu.
func (in *Intermediary) heldLocked(ws *walletState, id string) (uint64, error) {
	if err := in.loadNotes(ws, id); err != nil {
		return 0, err
	}
	held := ws.incoming
	for _, n := range ws.notes {
		held = addSat(held, n.Note.Value)
	}
	return held, nil
}

// SetTier moves wallet id to another tier of the policy in force: up with
// the evidence the new tier lists (evidence given before counts), down
// when what the wallet holds fits the lower holding limit. With a
// registry, the new share is reserved before the change is stored.
func (in *Intermediary) SetTier(ctx context.Context, id string, c roles.TierChange) (roles.Wallet, error) {
	t, err := in.tierOf(c.Tier)
	if err != nil {
		return roles.Wallet{}, err
	}
	return in.change(ctx, id, "tier", c.Reason, func(p *profileRec, held uint64, _ *store.Batch) (string, error) {
		if c.Tier == p.Tier && len(c.Evidence) == 0 && c.Share == 0 {
			return "", errcode.New(errcode.Conflict, "wallet %s is already at tier %d", id, c.Tier)
		}
		if err := checkEvidence(t, p.Evidence, c.Evidence); err != nil {
			return "", err
		}
		if c.Share != 0 && (t.Holding == 0 || c.Share > t.Holding) {
			return "", errcode.New(errcode.Malformed, "share %s is above tier %d's holding limit %s", in.fmtAmount(c.Share), t.Level, in.fmtAmount(t.Holding))
		}
		from := p.Tier
		p.Tier, p.Evidence, p.Share = t.Level, mergeEvidence(p.Evidence, c.Evidence), c.Share
		if limit := holdingLimit(t, p); limit != 0 && held > limit {
			return "", errcode.New(errcode.LimitExceeded, "wallet %s holds %s, above tier %d's holding limit %s: pay out %s first",
				id, in.fmtAmount(held), t.Level, in.fmtAmount(limit), in.fmtAmount(held-limit))
		}
		if err := in.moveShare(ctx, id, p, t); err != nil {
			return "", err
		}
		return fmt.Sprintf("tier %d -> %d (%s)", from, t.Level, t.Name), nil
	})
}

// Freeze stops wallet id paying and receiving: payments from or to it are
// refused with errcode.Blocked before anything is signed.
func (in *Intermediary) Freeze(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return in.change(ctx, id, "freeze", reason, func(p *profileRec, _ uint64, _ *store.Batch) (string, error) {
		if p.State == roles.WalletFrozen {
			return "", errcode.New(errcode.Conflict, "wallet %s is already frozen", id)
		}
		p.State = roles.WalletFrozen
		return "active -> frozen", nil
	})
}

// Unfreeze lets a frozen wallet pay and receive again.
func (in *Intermediary) Unfreeze(ctx context.Context, id, reason string) (roles.Wallet, error) {
	return in.change(ctx, id, "unfreeze", reason, func(p *profileRec, _ uint64, _ *store.Batch) (string, error) {
		if p.State != roles.WalletFrozen {
			return "", errcode.New(errcode.Conflict, "wallet %s is not frozen", id)
		}
		p.State = roles.WalletActive
		return "frozen -> active", nil
	})
}

// CloseWallet closes wallet id for good, at balance zero with no payment
// in flight: a wallet with money is paid out first. Its registry share is
// released once the wallet is closed; if the registry cannot be reached
// then, Open's reconciliation releases it (the share of a closed wallet).
// Its aliases are unbound in the alias directory once it is closed; if the
// directory cannot be reached then, the close stands and the background
// loop unbinds them when it can (aliases_close.go).
func (in *Intermediary) CloseWallet(ctx context.Context, id, reason string) (roles.Wallet, error) {
	var person string
	w, err := in.change(ctx, id, "close", reason, func(p *profileRec, held uint64, b *store.Batch) (string, error) {
		if held != 0 {
			return "", errcode.New(errcode.Conflict, "wallet %s holds %s: pay it out before closing it", id, in.fmtAmount(held))
		}
		from := p.State
		person = p.Person
		p.State, p.Person, p.Share = roles.WalletClosed, "", 0
		// Its aliases are owed an unbinding (aliases_close.go), in the
		// write that closes it.
		if err := in.owesUnbindInto(b, id); err != nil {
			return "", internalErr("close "+id+": its aliases", err)
		}
		return from + " -> closed", nil
	})
	if err == nil && person != "" && in.cfg.Registry != nil {
		if rerr := in.cfg.Registry.Release(in.asSelf(ctx), person, id); rerr != nil {
			in.log.Warn("closed wallet's share not released yet; the next start releases it", "wallet", id, "err", rerr)
		}
	}
	if err == nil {
		if _, uerr := in.unbindClosed(ctx, id); uerr != nil {
			in.log.Warn("closed wallet's aliases not unbound yet; retrying in the background", "wallet", id, "err", uerr)
		}
	}
	return w, err
}

// Audit lists wallet id's changes, oldest first.
func (in *Intermediary) Audit(ctx context.Context, id string) ([]roles.AuditEntry, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.readable(ctx, id); err != nil {
		return nil, err
	}
	out := []roles.AuditEntry{}
	err := in.db.Scan(auditPrefix(id), nil, func(_, v []byte) error {
		var e roles.AuditEntry
		if err := decodeRec(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, internalErr("audit of "+id, err)
	}
	return out, nil
}

// stateErr refuses a payment from (out) or to a wallet that is not
// active.
func stateErr(id, state string, out bool) error {
	switch state {
	case roles.WalletActive, "":
		return nil
	case roles.WalletFrozen:
		if out {
			return errcode.New(errcode.Blocked, "wallet %s is frozen: it pays nothing", id)
		}
		return errcode.New(errcode.Blocked, "wallet %s is frozen: it receives nothing", id)
	}
	return errcode.New(errcode.Blocked, "wallet %s is %s", id, state)
}
