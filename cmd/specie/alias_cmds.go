package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// aliasCmd registers, looks up, moves and removes aliases: phone numbers
// and email addresses that reach a wallet. It acts with the credential of
// the intermediary holding the wallet (lookups: of --intermediary), which
// hashes each alias with the key the intermediaries share before the
// central bank's directory sees it.
func aliasCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alias",
		Short: "Aliases (phone numbers, email addresses) reaching wallets: add, lookup, move, remove",
		Long: `An alias is a phone number in E.164 form (+ and 8 to 15 digits; spaces,
dashes, dots and brackets are dropped) or an email address (lowercased
whole), bound to one wallet at one intermediary. The central bank's
directory holds only a keyed hash of it.

Adding or moving an alias is two steps, the same command twice: without
--code the wallet's intermediary sends a one-time code to the alias (a
devnet has no SMS or mail gateway: the code is in otp.log in the
intermediary's data directory, and in its log); with --code it is
confirmed and the alias bound. A code lasts 10 minutes and 3 wrong tries.`,
	}
	book := func(bank string) (roles.AliasBook, error) {
		c, err := g.client(bank)
		if err != nil {
			return nil, err
		}
		return aliasBookOf(c, bank)
	}
	var wallet, code string
	bind := func(move bool) func(cmd *cobra.Command, args []string) error {
		return func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			bank, err := walletOwner(wallet)
			if err != nil {
				return err
			}
			b, err := book(bank)
			if err != nil {
				return err
			}
			if code == "" {
				ch, err := b.RequestAliasCode(ctx, roles.AliasRequest{Wallet: wallet, Alias: args[0], Move: move})
				if err != nil {
					return err
				}
				again := "add"
				if move {
					again = "move"
				}
				return g.print(ch, fmt.Sprintf("a one-time code was sent to %s for %s, valid until %s (devnet: see %s)\nconfirm with: specie alias %s %s --wallet %s --code CODE",
					ch.Alias, ch.Wallet, ch.Expires.UTC().Format("15:04:05 MST"), filepath.Join(g.data, bank, devnet.OTPFileName), again, ch.Alias, ch.Wallet))
			}
			e, err := b.ConfirmAlias(ctx, wallet, args[0], code)
			if err != nil {
				return err
			}
			return g.print(e, fmt.Sprintf("%s now reaches %s at %s, shown to payers as %q", e.Alias, e.Wallet, e.Intermediary, e.Display))
		}
	}
	add := &cobra.Command{
		Use:     "add ALIAS --wallet WALLET [--code CODE]",
		Short:   "Bind an alias to a wallet: send a one-time code, then confirm it with --code",
		Example: "  specie alias add +15551234567 --wallet bank-b.k3j9x2\n  specie alias add +15551234567 --wallet bank-b.k3j9x2 --code 042917",
		Args:    cobra.ExactArgs(1),
		RunE:    bind(false),
	}
	move := &cobra.Command{
		Use:     "move ALIAS --wallet WALLET [--code CODE]",
		Short:   "Move an alias to a wallet (at any intermediary) from wherever it is bound: send a code, then confirm it",
		Long:    "Move an alias to WALLET. The old binding ends in the directory's same write that starts the new one: the alias never reaches two wallets, and until the code is confirmed it reaches the old one.",
		Example: "  specie alias move +15551234567 --wallet bank-a.x7p2m4\n  specie alias move +15551234567 --wallet bank-a.x7p2m4 --code 118204",
		Args:    cobra.ExactArgs(1),
		RunE:    bind(true),
	}
	for _, c := range []*cobra.Command{add, move} {
		c.Flags().StringVar(&wallet, "wallet", "", "the wallet the alias is to reach")
		c.Flags().StringVar(&code, "code", "", "the one-time code sent to the alias (omit to have one sent)")
		c.MarkFlagRequired("wallet")
	}
	var bank string
	lookup := &cobra.Command{
		Use:   "lookup ALIAS [--intermediary NAME]",
		Short: "Show the wallet an alias reaches and the payee's name as their intermediary shows it",
		Long:  "Look an alias up through an intermediary (your own). Lookups are limited per caller: past the budget the answer is rate_limited; try again later.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := book(bank)
			if err != nil {
				return err
			}
			e, err := b.LookupAlias(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(e, fmt.Sprintf("%s reaches %s at %s: %s", e.Alias, e.Wallet, e.Intermediary, e.Display))
		},
	}
	lookup.Flags().StringVar(&bank, "intermediary", "bank-a", "intermediary to ask")
	remove := &cobra.Command{
		Use:   "remove ALIAS --wallet WALLET",
		Short: "Remove an alias from a wallet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := walletOwner(wallet)
			if err != nil {
				return err
			}
			b, err := book(name)
			if err != nil {
				return err
			}
			if err := b.RemoveAlias(cmd.Context(), wallet, args[0]); err != nil {
				return err
			}
			return g.print(map[string]string{"status": "removed"}, fmt.Sprintf("%s no longer reaches %s", args[0], wallet))
		},
	}
	remove.Flags().StringVar(&wallet, "wallet", "", "the wallet the alias reaches")
	remove.MarkFlagRequired("wallet")
	cmd.AddCommand(add, lookup, move, remove)
	return cmd
}

// aliasBookOf is intermediary bank's alias service through c.
func aliasBookOf(c *client.Client, bank string) (roles.AliasBook, error) {
	b, ok := c.Intermediary(bank).(roles.AliasBook)
	if !ok {
		return nil, errcode.New(errcode.Internal, "the client has no alias service")
	}
	return b, nil
}

// resolvePayee turns --to into a wallet: a wallet ID as it is, an alias
// (a leading '+' or an '@') looked up through the payer's intermediary
// bank, with the payee as their intermediary shows them, for the output.
func resolvePayee(ctx context.Context, c *client.Client, bank, to string) (wallet, shown string, err error) {
	if !roles.LooksLikeAlias(to) {
		return to, "", nil
	}
	b, err := aliasBookOf(c, bank)
	if err != nil {
		return "", "", err
	}
	e, err := b.LookupAlias(ctx, to)
	if err != nil {
		return "", "", fmt.Errorf("--to %s: %w", to, err)
	}
	return e.Wallet, fmt.Sprintf(" (%s, %s)", e.Alias, e.Display), nil
}
