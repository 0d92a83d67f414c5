package devnet

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// policyTimeout bounds putting the first policy in force at start.
const policyTimeout = 30 * time.Second

// ensurePolicy puts policy.Default version 1 in force on a network that
// has none, through the same governance as any later version: it proposes
// it and approves it with the devnet officers' key files (the devnet keeps
// them under keys/ so one person can play every officer) until the
// quorum. A network with a policy in force is left alone, and a proposal
// or approvals a crash left behind are picked up, so every start after
// the first changes nothing.
func ensurePolicy(ctx context.Context, c *Config, desk roles.PolicyDesk) error {
	ctx, cancel := context.WithTimeout(roles.WithCaller(ctx, roles.Principal{Name: "issuer", Role: roles.RoleIssuer}), policyTimeout)
	defer cancel()
	if _, err := desk.Policy(ctx); err == nil || !errcode.Is(err, errcode.NotFound) {
		return err
	}
	p := policy.Default(c.Network.ID, c.Network.Currency)
	id := money.Hash(p.Hash())
	prop, err := desk.ProposePolicy(ctx, p)
	if errcode.Is(err, errcode.Conflict) {
		prop, err = desk.GetPolicyProposal(ctx, id) // proposed before a crash
	}
	if err != nil {
		return fmt.Errorf("devnet policy: %w", err)
	}
	for i := 1; i <= c.Officers(); i++ {
		if prop.Status != roles.PolicyPending {
			break
		}
		k, err := c.OfficerSigner(i)
		if err != nil {
			return fmt.Errorf("devnet policy: %w", err)
		}
		if slices.ContainsFunc(prop.Approvals, func(a policy.Approval) bool { return a.Key == k.Public() }) {
			continue
		}
		a, err := policy.SignWith(&p, k)
		if err != nil {
			return fmt.Errorf("devnet policy: officer %d: %w", i, err)
		}
		if prop, err = desk.ApprovePolicy(ctx, id, a.Key, a.Sig); err != nil {
			return fmt.Errorf("devnet policy: approve with officer %d: %w", i, err)
		}
	}
	if prop.Status != roles.PolicyInForce {
		return fmt.Errorf("devnet policy: proposal %s is %s after every officer approved", id, prop.Status)
	}
	return nil
}
