package intermediary

import (
	"context"
	"slices"
	"strings"
	"unicode"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// The holding-limit registry at this intermediary (issue 9, section 3).
//
// A wallet of a tier with a holding limit reserves its share of the
// person's limit in Config.Registry when it opens or changes tier, and
// releases it when it closes; its effective holding limit is its share.
// The registry knows the person only by roles.Pseudonym under
// Config.PseudonymSalt.
//
// Opening reserves before the wallet exists (a person at their limit
// elsewhere must not get a wallet), so a crash in between would leave a
// share reserved for nobody. The open therefore first writes an opening
// record (synced), then reserves, then writes the wallet and deletes the
// record in one batch. reconcileShares, at Open and in the background
// loop, releases every reservation of ours whose wallet does not exist
// and is not being opened right now (in.opening), and puts back the share
// of a wallet whose tier change crashed between the registry and the
// store.

// person is the registry pseudonym of the person opening req: of
// req.Person, else of the phone evidence, else of the identity evidence.
func (in *Intermediary) person(req roles.WalletRequest) (string, error) {
	ref := req.Person
	if ref == "" {
		ref = evidenceRef(req.Evidence)
	}
	if strings.TrimSpace(ref) == "" {
		return "", errcode.New(errcode.Malformed, "no person reference for the holding-limit registry: give phone or identity evidence, or person")
	}
	return roles.Pseudonym(in.cfg.PseudonymSalt, normalise(ref)), nil
}

// evidenceRef is the reference a person is known by: their phone, else
// their identity document.
func evidenceRef(refs []roles.EvidenceRef) string {
	for _, k := range []policy.Evidence{policy.Phone, policy.Identity} {
		for _, e := range refs {
			if e.Kind == k {
				return string(k) + ":" + e.Ref
			}
		}
	}
	return ""
}

// normalise makes the spellings of one reference the same pseudonym:
// lower case, without spaces, dashes or dots ("+1 555-123" is "+1555123").
func normalise(ref string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '.' {
			return -1
		}
		return unicode.ToLower(r)
	}, ref)
}

// reserveShare reserves share of person's limit for wallet id, about to
// be opened, after a durable opening record. The caller holds id's lock
// and calls in.opening.Delete(id) once the wallet is written or failed.
func (in *Intermediary) reserveShare(ctx context.Context, id, person string, share, limit uint64) error {
	v, err := recBytes(openingRec{Person: person})
	if err != nil {
		return internalErr("open wallet", err)
	}
	b := in.db.NewBatch()
	b.Set(openingKey(id), v)
	in.opening.Store(id, struct{}{})
	if err := b.Commit(true); err != nil {
		in.opening.Delete(id)
		return internalErr("open wallet", err)
	}
	if _, err := in.cfg.Registry.Reserve(in.asSelf(ctx), roles.Reservation{Person: person, Wallet: id, Share: share, Limit: limit}); err != nil {
		in.dropOpening(id)
		return registryErr("reserve", err)
	}
	return nil
}

// serviceErr is what a refused call to a service of the central bank's
// that this intermediary relies on (the holding-limit registry, the alias
// directory) means to its caller: the codes in pass as they are (answers
// about the request: a limit used up, an alias bound elsewhere),
// unavailable when the service could not be reached or could not answer
// (retry), and anything else, a refusal the intermediary did not expect
// (its own credential, a malformed request), as internal: never as a
// limit, an outage or a customer's fault that it is not.
func serviceErr(what string, err error, pass ...errcode.Code) error {
	switch c := errcode.Of(err); {
	case slices.Contains(pass, c):
		return err
	case c == errcode.Unavailable:
		return errcode.New(errcode.Unavailable, "%s: %v", what, err)
	}
	return internalErr(what, err)
}

// registryErr is serviceErr for the holding-limit registry, whose
// limit_exceeded is the person's limit used up.
func registryErr(what string, err error) error {
	return serviceErr(what+" the wallet's share in the holding-limit registry", err, errcode.LimitExceeded)
}

// dropOpening deletes wallet id's opening record (nothing was reserved).
func (in *Intermediary) dropOpening(id string) {
	defer in.opening.Delete(id)
	b := in.db.NewBatch()
	b.Delete(openingKey(id))
	if err := b.Commit(false); err != nil {
		in.log.Warn("opening record not deleted; the registry reconciliation will", "wallet", id, "err", err)
	}
}

// moveShare reserves the share of p (already at tier t) in the registry,
// or releases it for a tier without a holding limit. The caller holds the
// wallet's lock and stores p after.
func (in *Intermediary) moveShare(ctx context.Context, id string, p *profileRec, t policy.Tier) error {
	if in.cfg.Registry == nil {
		return nil
	}
	if t.Holding == 0 {
		if p.Person != "" {
			if err := in.cfg.Registry.Release(in.asSelf(ctx), p.Person, id); err != nil {
				return registryErr("release", err)
			}
		}
		p.Person, p.Share = "", 0
		return nil
	}
	if p.Person == "" {
		ref := evidenceRef(p.Evidence)
		if ref == "" {
			return errcode.New(errcode.Malformed, "no phone or identity evidence to know the person by in the holding-limit registry")
		}
		p.Person = roles.Pseudonym(in.cfg.PseudonymSalt, normalise(ref))
	}
	if p.Share == 0 {
		p.Share = t.Holding
	}
	if _, err := in.cfg.Registry.Reserve(in.asSelf(ctx), roles.Reservation{Person: p.Person, Wallet: id, Share: p.Share, Limit: t.Holding}); err != nil {
		return registryErr("reserve", err)
	}
	return nil
}

// reconcileShares makes the registry agree with the wallets here: a
// reservation of a wallet that does not exist (an open that crashed after
// reserving) is released, so is one of a closed wallet, and a share that
// differs from the wallet's is put back. Failures are logged; the next
// round tries again. Open lists every reservation (full); the background
// loop looks only at the opening records left behind, which every open
// that reserved and did not finish leaves (synced before it reserved), so
// it costs nothing while there are none.
func (in *Intermediary) reconcileShares(ctx context.Context, full bool) {
	if in.cfg.Registry == nil {
		return
	}
	if !full {
		in.releaseOpenings(ctx)
		return
	}
	rs, err := in.cfg.Registry.Reservations(in.asSelf(ctx))
	if err != nil {
		in.log.Warn("listing holding-limit reservations", "err", err)
		return
	}
	for _, r := range rs {
		if roles.IntermediaryOf(r.Wallet) != in.cfg.Name {
			continue
		}
		if _, busy := in.opening.Load(r.Wallet); busy {
			continue
		}
		if err := in.reconcileOne(ctx, r); err != nil {
			in.log.Warn("reconciling a holding-limit reservation", "wallet", r.Wallet, "err", err)
		}
	}
	in.releaseOpenings(ctx) // opening records whose reservation never happened
}

// releaseOpenings releases the share of every wallet with an opening
// record that is not being opened now and does not exist (its open
// crashed or failed after reserving), and drops the record.
func (in *Intermediary) releaseOpenings(ctx context.Context) {
	type stale struct{ id, person string }
	var todo []stale
	err := in.db.Scan([]byte(pOpening), nil, func(k, v []byte) error {
		id := string(k[len(pOpening):])
		if _, busy := in.opening.Load(id); busy {
			return nil
		}
		var o openingRec
		if err := decodeRec(v, &o); err != nil {
			return err
		}
		todo = append(todo, stale{id: id, person: o.Person})
		return nil
	})
	if err != nil {
		in.log.Warn("scanning opening records", "err", err)
		return
	}
	for _, s := range todo {
		if err := in.reconcileOne(ctx, roles.Reservation{Person: s.person, Wallet: s.id}); err != nil {
			in.log.Warn("releasing the share of an unfinished open", "wallet", s.id, "err", err)
			continue
		}
		in.dropOpening(s.id)
	}
}

func (in *Intermediary) reconcileOne(ctx context.Context, r roles.Reservation) error {
	ws := in.walletState(r.Wallet)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if _, busy := in.opening.Load(r.Wallet); busy {
		return nil
	}
	exists, err := in.db.Has(walletKey(r.Wallet))
	if err != nil {
		return err
	}
	var prof *profileRec
	if exists {
		if prof, err = in.profileLocked(ws, r.Wallet); err != nil {
			return err
		}
	}
	if prof == nil || prof.Person == "" || prof.State == roles.WalletClosed {
		if err := in.cfg.Registry.Release(in.asSelf(ctx), r.Person, r.Wallet); err != nil {
			return err
		}
		in.log.Info("released a holding-limit share reserved for no wallet", "wallet", r.Wallet, "share", r.Share)
		b := in.db.NewBatch()
		b.Delete(openingKey(r.Wallet))
		return b.Commit(false)
	}
	if prof.Share != r.Share || prof.Person != r.Person {
		t, ok := in.policy().Tier(prof.Tier)
		if !ok {
			return nil
		}
		if prof.Person != r.Person {
			if err := in.cfg.Registry.Release(in.asSelf(ctx), r.Person, r.Wallet); err != nil {
				return err
			}
		}
		if _, err := in.cfg.Registry.Reserve(in.asSelf(ctx), roles.Reservation{Person: prof.Person, Wallet: r.Wallet, Share: prof.Share, Limit: t.Holding}); err != nil {
			return err
		}
		in.log.Info("holding-limit share put back to the wallet's", "wallet", r.Wallet, "share", prof.Share)
	}
	return nil
}
