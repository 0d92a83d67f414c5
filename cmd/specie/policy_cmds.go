package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// policyCmd is `specie issuer policy`: the central bank's signed policy,
// read by anyone, proposed and approved by its officers like a mint.
func policyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "The central bank's policy (tiers, limits, AML thresholds): show, propose, approve"}

	show := &cobra.Command{
		Use:   "show [PROPOSAL-ID]",
		Short: "Show the policy in force, its signatures checked against the ledger's officer keys (or one proposal)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 1 {
				id, err := hashArg("policy proposal ID", args[0])
				if err != nil {
					return err
				}
				c, err := g.client("issuer")
				if err != nil {
					return err
				}
				p, err := c.Policies().GetPolicyProposal(ctx, id)
				if err != nil {
					return err
				}
				return g.print(wire.FromPolicyProposal(p), proposalText(p))
			}
			// The policy in force is public: no credential, and checked as
			// an intermediary checks it, against the ledger's keys.
			c, err := g.anon()
			if err != nil {
				return err
			}
			s, err := c.Policies().Policy(ctx)
			if err != nil {
				return err
			}
			info, err := c.Ledger().Info(ctx)
			if err != nil {
				// A process serving the issuer alone has no /v1/info: the
				// devnet config holds the same keys.
				cfg, cerr := g.config()
				if cerr != nil {
					return fmt.Errorf("the officer keys to check the policy with: %w", err)
				}
				info = roles.LedgerInfo{Network: cfg.Network, MintKeys: cfg.MintKeys, MintQuorum: cfg.MintQuorum}
			}
			if err := s.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
				return errcode.New(errcode.BadSignature, "the policy served does not verify: %v", err)
			}
			text := fmt.Sprintf("policy version %d in force on %s, signed by %d of the ledger's %d officer keys (quorum %d)\n%s",
				s.Policy.Version, s.Policy.Network, len(s.Approvals), len(info.MintKeys), info.MintQuorum, policyText(&s.Policy, info.Network.Currency))
			return g.print(wire.FromSigned(s), text)
		},
	}

	var file string
	propose := &cobra.Command{
		Use:   "propose --file FILE",
		Short: "Propose the next policy version from a JSON file (the policy document; needs officer approvals)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			// Strict: a misspelt field must not vanish from a document
			// officers are about to sign.
			var p policy.Policy
			if err := wire.DecodeStrictBytes(b, &p); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			pp, err := c.Policies().ProposePolicy(cmd.Context(), p)
			if err != nil {
				return err
			}
			return g.print(wire.FromPolicyProposal(pp), fmt.Sprintf("policy version %d proposed as %s, %s, needs %d approvals\napprove with: specie issuer policy approve %s --officer 1",
				pp.Policy.Version, pp.ID, pp.Status, pp.Quorum, pp.ID))
		},
	}
	propose.Flags().StringVar(&file, "file", "", "policy document (JSON, as `specie issuer policy show --json` prints under \"policy\")")
	propose.MarkFlagRequired("file")

	var keyFile string
	var officer int
	approve := &cobra.Command{
		Use:   "approve PROPOSAL-ID (--key FILE | --officer N)",
		Short: "Sign a policy proposal with an officer key; it is in force when the quorum is reached",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := hashArg("policy proposal ID", args[0])
			if err != nil {
				return err
			}
			defer g.closeHSM()
			key, err := g.officerKey(keyFile, officer)
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			// Sign what the proposal says, checked here: its ID must be
			// the hash of the policy it shows.
			pp, err := c.Policies().GetPolicyProposal(ctx, id)
			if err != nil {
				return err
			}
			if money.Hash(pp.Policy.Hash()) != id {
				return errcode.New(errcode.BadSignature, "proposal %s shows a policy whose hash is %x: refusing to sign", id, pp.Policy.Hash())
			}
			a, err := policy.SignWith(&pp.Policy, key)
			if err != nil {
				return err
			}
			pp, err = c.Policies().ApprovePolicy(ctx, id, a.Key, a.Sig)
			if err != nil {
				return err
			}
			return g.print(wire.FromPolicyProposal(pp), proposalText(pp))
		},
	}
	approve.Flags().StringVar(&keyFile, "key", "", "officer key file")
	approve.Flags().IntVar(&officer, "officer", 0, "use devnet officer N's key from the data directory")

	list := &cobra.Command{
		Use:   "list",
		Short: "List every policy proposal, oldest version first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			ps, err := c.Policies().ListPolicyProposals(cmd.Context())
			if err != nil {
				return err
			}
			out := wire.PolicyProposals{Proposals: make([]wire.PolicyProposal, len(ps))}
			var b strings.Builder
			for i, p := range ps {
				out.Proposals[i] = wire.FromPolicyProposal(p)
				fmt.Fprintf(&b, "%s  version %d  %s  %d of %d approvals\n", p.ID, p.Policy.Version, p.Status, len(p.Approvals), p.Quorum)
			}
			if len(ps) == 0 {
				b.WriteString("no policy proposals")
			}
			return g.print(out, b.String())
		},
	}
	cmd.AddCommand(show, propose, approve, list)
	return cmd
}

// proposalText is one line about a proposal.
func proposalText(p roles.PolicyProposal) string {
	return fmt.Sprintf("policy proposal %s: version %d, %s, %d of %d approvals", p.ID, p.Policy.Version, p.Status, len(p.Approvals), p.Quorum)
}

// policyText lists the tiers with their limits in the network currency.
func policyText(p *policy.Policy, cur money.Currency) string {
	limit := func(v uint64) string {
		if v == 0 {
			return "none"
		}
		return cur.Format(v)
	}
	var b strings.Builder
	for _, t := range p.Tiers {
		fmt.Fprintf(&b, "  tier %d %-11s holding %s, per payment %s, daily %s, monthly %s", t.Level, t.Name, limit(t.Holding), limit(t.PerPayment), limit(t.Daily), limit(t.Monthly))
		if t.SweepAbove != 0 {
			fmt.Fprintf(&b, ", swept above %s", cur.Format(t.SweepAbove))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  AML: reporting threshold %s, window %ds", limit(p.AML.ReportingThreshold), p.AML.WindowSeconds)
	return b.String()
}
