package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// evidenceFlags reads --evidence KIND=REF values.
func evidenceFlags(vals []string) ([]roles.EvidenceRef, error) {
	out := make([]roles.EvidenceRef, 0, len(vals))
	for _, v := range vals {
		kind, ref, ok := strings.Cut(v, "=")
		if !ok || ref == "" {
			return nil, errcode.New(errcode.Malformed, "--evidence %q: want KIND=REF, e.g. phone=+15551234567", v)
		}
		out = append(out, roles.EvidenceRef{Kind: policy.Evidence(kind), Ref: ref})
	}
	return out, nil
}

// walletAdmin is the administration side of the intermediary holding
// wallet id, and its network.
func (g *globals) walletAdmin(ctx context.Context, id string) (roles.WalletAdmin, money.Network, error) {
	bank, net, err := g.walletBank(ctx, id)
	if err != nil {
		return nil, money.Network{}, err
	}
	a, ok := bank.(roles.WalletAdmin)
	if !ok {
		return nil, money.Network{}, errcode.New(errcode.Internal, "client of %s does not administer wallets", bank.Name())
	}
	return a, net, nil
}

// walletAdminCmds are `specie wallet tier|freeze|unfreeze|close|link|audit|account`:
// the intermediary's staff changing a wallet under the policy. Each
// change goes into the wallet's audit trail with the credential used and
// the --reason given.
func walletAdminCmds(g *globals) []*cobra.Command {
	var reason string
	describe := func(w roles.Wallet, net money.Network, what string) string {
		s := fmt.Sprintf("wallet %s %s: tier %d (%s), %s", w.ID, what, w.Tier, w.TierName, w.State)
		if w.HoldingLimit != 0 {
			s += ", holding limit " + net.Currency.Format(w.HoldingLimit)
		}
		if w.Account != "" {
			s += ", linked to account " + w.Account
		}
		return s
	}
	// change makes one command that applies do to the wallet in args[0].
	change := func(use, short, what string, do func(ctx context.Context, a roles.WalletAdmin, id string) (roles.Wallet, error)) *cobra.Command {
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, net, err := g.walletAdmin(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				w, err := do(cmd.Context(), a, args[0])
				if err != nil {
					return err
				}
				return g.print(wire.FromWallet(w, &net.Currency), describe(w, net, what))
			},
		}
		c.Flags().StringVar(&reason, "reason", "", "why, for the audit trail (required)")
		c.MarkFlagRequired("reason")
		return c
	}

	var tierN int
	var evidence []string
	var share string
	tier := change("tier WALLET-ID --tier N [--evidence KIND=REF ...] --reason TEXT",
		"Move a wallet to another tier: up with the new tier's evidence, down when its balance fits", "moved",
		func(ctx context.Context, a roles.WalletAdmin, id string) (roles.Wallet, error) {
			refs, err := evidenceFlags(evidence)
			if err != nil {
				return roles.Wallet{}, err
			}
			c := roles.TierChange{Tier: tierN, Evidence: refs, Reason: reason}
			if share != "" {
				if c.Share, _, err = g.amount(ctx, share); err != nil {
					return roles.Wallet{}, err
				}
			}
			return a.SetTier(ctx, id, c)
		})
	tier.Flags().IntVar(&tierN, "tier", 0, "the new tier")
	tier.Flags().StringArrayVar(&evidence, "evidence", nil, "new evidence checked, KIND=REF")
	tier.Flags().StringVar(&share, "share", "", "reserve only this part of the new tier's holding limit")
	tier.MarkFlagRequired("tier")

	freeze := change("freeze WALLET-ID --reason TEXT", "Freeze a wallet: it pays nothing and receives nothing", "frozen",
		func(ctx context.Context, a roles.WalletAdmin, id string) (roles.Wallet, error) {
			return a.Freeze(ctx, id, reason)
		})
	unfreeze := change("unfreeze WALLET-ID --reason TEXT", "Let a frozen wallet pay and receive again", "unfrozen",
		func(ctx context.Context, a roles.WalletAdmin, id string) (roles.Wallet, error) {
			return a.Unfreeze(ctx, id, reason)
		})
	closeCmd := change("close WALLET-ID --reason TEXT", "Close a wallet at balance zero (pay it out first)", "closed",
		func(ctx context.Context, a roles.WalletAdmin, id string) (roles.Wallet, error) {
			return a.CloseWallet(ctx, id, reason)
		})
	var account string
	link := change("link WALLET-ID --account ACCOUNT --reason TEXT", "Link a wallet to a deposit account at its intermediary (the waterfall)", "linked",
		func(ctx context.Context, a roles.WalletAdmin, id string) (roles.Wallet, error) {
			return a.Link(ctx, id, account, reason)
		})
	link.Flags().StringVar(&account, "account", "", "deposit account at the wallet's intermediary")
	link.MarkFlagRequired("account")

	audit := &cobra.Command{
		Use:   "audit WALLET-ID",
		Short: "List a wallet's audit trail: every change, who made it and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := g.walletAdmin(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			es, err := a.Audit(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, e := range es {
				line := fmt.Sprintf("%s  %-8s by %-10s %s  %s", e.Time.UTC().Format("2006-01-02 15:04:05"), e.Action, e.Actor, e.Detail, e.Reason)
				b.WriteString(strings.TrimRight(line, " ") + "\n")
			}
			return g.print(wire.Audit{Entries: es}, strings.TrimRight(b.String(), "\n"))
		},
	}
	acct := &cobra.Command{
		Use:   "account WALLET-ID",
		Short: "Show the deposit account linked to a wallet, and its history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, net, err := g.walletAdmin(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			acc, es, err := a.Account(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "account %s (wallet %s): %s %s", acc.ID, acc.Wallet, net.Currency.Format(acc.Balance), net.Currency.Code)
			for _, e := range es {
				sign := "+"
				if e.Direction == "out" {
					sign = "-"
				}
				fmt.Fprintf(&b, "\n%s  %s%s  %s", e.Time.UTC().Format("2006-01-02 15:04:05"), sign, net.Currency.Format(e.Amount), e.Reference)
			}
			return g.print(wire.FromAccount(acc, es, &net.Currency), b.String())
		},
	}
	return []*cobra.Command{tier, freeze, unfreeze, closeCmd, link, audit, acct}
}
