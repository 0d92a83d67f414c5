package intermediary

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/specie/specie/policy"
)

// The central bank's policy at this intermediary.
//
// A version is applied only after its signatures verify against the
// ledger's officer keys and quorum (the same officers who approve mints),
// for this network, and only if it is newer than the one in force: an
// intermediary cannot be made to apply rules the central bank did not
// approve, nor rolled back to an older version. The version applied is
// kept in the store (key policyKey), so a restart while the issuer is
// unreachable keeps enforcing it rather than falling back to nothing.

// policyRefresh is how often the background loop fetches the policy in
// force (and Open does, always).
const policyRefresh = time.Minute

// policyKey holds the policy.Signed in force, as JSON.
var policyKey = []byte("m/policy")

// policy returns the policy in force (never nil after Open).
func (in *Intermediary) policy() *policy.Policy {
	if s := in.pol.Load(); s != nil {
		return &s.Policy
	}
	// Not reachable after Open; a safe answer all the same.
	p := policy.Default(in.cfg.Network.ID, in.cfg.Network.Currency)
	return &p
}

// startPolicy loads the policy applied before a restart, then fetches the
// one in force. Without any (no Policies configured, or a first start
// while the issuer is unreachable) it applies policy.Default and says so.
func (in *Intermediary) startPolicy(ctx context.Context) {
	var s policy.Signed
	if found, err := getRec(in.db, policyKey, &s); err != nil {
		in.log.Error("stored policy unreadable; fetching it again", "err", err)
	} else if found {
		in.pol.Store(&s)
	}
	in.refreshPolicy(ctx)
	if in.pol.Load() == nil {
		d := policy.Default(in.cfg.Network.ID, in.cfg.Network.Currency)
		in.pol.Store(&policy.Signed{Policy: d})
		if in.cfg.Policies == nil {
			in.log.Info("no policy source configured; applying the network's default policy", "version", d.Version)
		} else {
			in.log.Warn("no verified policy yet; applying the network's default policy until one is fetched", "version", d.Version)
		}
	}
}

// refreshPolicy fetches the policy in force from Config.Policies and
// applies it if it is newer and verifies. A refusal is logged and the
// policy in force stays.
func (in *Intermediary) refreshPolicy(ctx context.Context) {
	if in.cfg.Policies == nil {
		return
	}
	s, err := in.cfg.Policies.Policy(in.asSelf(ctx))
	if err != nil {
		in.log.Warn("fetching the policy", "err", err)
		return
	}
	if err := in.applyPolicy(ctx, &s); err != nil {
		in.log.Error("policy refused; the one in force stays", "version", s.Policy.Version, "err", err)
	}
}

// applyPolicy verifies s and makes it the policy in force. The same
// version again is a no-op.
func (in *Intermediary) applyPolicy(ctx context.Context, s *policy.Signed) error {
	cur := in.pol.Load()
	if cur != nil && len(cur.Approvals) > 0 && cur.Policy.Version == s.Policy.Version {
		if cur.Policy.Hash() != s.Policy.Hash() {
			return fmt.Errorf("version %d differs from the version %d in force", s.Policy.Version, cur.Policy.Version)
		}
		return nil
	}
	if cur != nil && len(cur.Approvals) > 0 && s.Policy.Version < cur.Policy.Version {
		return fmt.Errorf("version %d is older than the version %d in force", s.Policy.Version, cur.Policy.Version)
	}
	info, err := in.ledger.Info(in.asSelf(ctx))
	if err != nil {
		return fmt.Errorf("ledger officer keys: %w", err)
	}
	if info.Network.ID != "" && info.Network.ID != in.cfg.Network.ID {
		return fmt.Errorf("ledger is on network %q, not %q", info.Network.ID, in.cfg.Network.ID)
	}
	if err := s.Verify(in.cfg.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
		return err
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	b := in.db.NewBatch()
	b.Set(policyKey, v)
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("store policy: %w", err)
	}
	in.pol.Store(s)
	in.log.Info("policy applied", "version", s.Policy.Version, "tiers", len(s.Policy.Tiers), "approvals", len(s.Approvals))
	return nil
}

// PolicyInForce returns the policy in force at this intermediary, with the
// approvals it was verified by (none for the default policy).
func (in *Intermediary) PolicyInForce() policy.Signed {
	if s := in.pol.Load(); s != nil {
		return *s
	}
	return policy.Signed{Policy: *in.policy()}
}
