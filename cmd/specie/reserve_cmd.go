package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// reserveCmd is reservations of funds for a payee (a hotel, a fuel pump):
// the payer's intermediary creates and refunds them, the payee's captures
// or voids them. Each subcommand acts with the credential of the
// intermediary that does it.
func reserveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reserve",
		Short: "Reserve funds for a payee until an expiry: create, capture, void, refund, list, show",
		Long: `Reserve funds of a wallet for a payee until an expiry (a hotel, a fuel pump).

The funds are locked on the ledger to a note that the payer's and the
payee's intermediaries can spend only together, and the payer's alone only
after the expiry: "create" at the payer's intermediary; "capture" (up to
the amount, once; the rest goes back) or "void" at the payee's; "refund"
at the payer's once expired (its background loop refunds by itself too).`,
	}
	var bank string
	reserver := func(name string) (roles.Reserver, error) {
		c, err := g.client(name)
		if err != nil {
			return nil, err
		}
		r, ok := c.Intermediary(name).(roles.Reserver)
		if !ok {
			return nil, errcode.New(errcode.Internal, "the client holds no reservations")
		}
		return r, nil
	}
	// at is the reserver named by --intermediary, else by fallback.
	at := func(fallback string) (roles.Reserver, error) {
		name := bank
		if name == "" {
			name = fallback
		}
		if name == "" {
			return nil, errcode.New(errcode.Malformed, "--intermediary: which intermediary (the payee's)?")
		}
		return reserver(name)
	}
	out := func(ctx context.Context, r roles.FundsReservation, verb string) error {
		cur := g.currency(ctx)
		return g.print(wire.FromFundsReservation(r, cur), verb+reservationText(r, cur))
	}

	var from, to, amount, expires, ref, key string
	create := &cobra.Command{
		Use:   "create --from WALLET --to WALLET --amount AMOUNT --expires DURATION [--reference TEXT] [--key KEY]",
		Short: "Reserve funds of a wallet for a payee (at the payer's intermediary)",
		Long: `Reserve funds of a wallet for a payee, here or at another intermediary.

--expires is a duration (15m, 72h). The ledger enforces the expiry as a
batch number, computed from it at the intermediary's assumed batch
interval. With --key the reservation is <intermediary>.<key> and the
command is safe to run again: the same request answers the same
reservation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			name, err := walletOwner(from)
			if err != nil {
				return err
			}
			v, _, err := g.amount(ctx, amount)
			if err != nil {
				return err
			}
			d, err := time.ParseDuration(expires)
			if err != nil {
				return errcode.New(errcode.Malformed, "--expires: want a duration such as 15m or 72h: %v", err)
			}
			rs, err := reserver(name)
			if err != nil {
				return err
			}
			r, err := rs.Reserve(ctx, roles.ReservationRequest{From: from, To: to, Amount: v, ExpiresIn: d, Reference: ref, Key: key})
			if err != nil {
				return err
			}
			return out(ctx, r, "reserved: ")
		},
	}
	create.Flags().StringVar(&from, "from", "", "paying wallet")
	create.Flags().StringVar(&to, "to", "", "payee wallet")
	create.Flags().StringVar(&amount, "amount", "", `amount: decimal ("120.00") or minor units ("12000")`)
	create.Flags().StringVar(&expires, "expires", "", "how long the funds stay reserved (15m, 72h)")
	create.Flags().StringVar(&ref, "reference", "", "text shown to both sides")
	create.Flags().StringVar(&key, "key", "", "names the reservation and makes retrying safe (a-z, 0-9, - and _)")
	for _, f := range []string{"from", "to", "amount", "expires"} {
		create.MarkFlagRequired(f)
	}

	var capAmount string
	capture := &cobra.Command{
		Use:   "capture ID --amount AMOUNT --intermediary PAYEE-BANK",
		Short: "Take up to the reserved amount for the payee, once; the rest goes back (at the payee's intermediary)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			v, _, err := g.amount(ctx, capAmount)
			if err != nil {
				return err
			}
			rs, err := at("")
			if err != nil {
				return err
			}
			r, err := rs.Capture(ctx, args[0], v)
			if err != nil {
				return err
			}
			return out(ctx, r, "captured: ")
		},
	}
	capture.Flags().StringVar(&capAmount, "amount", "", "amount to take, at most the reserved amount")
	capture.MarkFlagRequired("amount")

	void := &cobra.Command{
		Use:   "void ID --intermediary PAYEE-BANK",
		Short: "Release everything reserved back to the payer (at the payee's intermediary)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := at("")
			if err != nil {
				return err
			}
			r, err := rs.Void(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return out(cmd.Context(), r, "voided: ")
		},
	}
	refund := &cobra.Command{
		Use:   "refund ID",
		Short: "Return an expired reservation to the payer (at the payer's intermediary)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := at(roles.IntermediaryOf(args[0]))
			if err != nil {
				return err
			}
			r, err := rs.Refund(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return out(cmd.Context(), r, "refunded: ")
		},
	}
	show := &cobra.Command{
		Use:   "show ID [--intermediary NAME]",
		Short: "Show a reservation as an intermediary sees it (default: the payer's)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := at(roles.IntermediaryOf(args[0]))
			if err != nil {
				return err
			}
			r, err := rs.GetReservation(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return out(cmd.Context(), r, "")
		},
	}
	var wallet string
	list := &cobra.Command{
		Use:   "list --wallet WALLET",
		Short: "List a wallet's reservations, as payer or payee, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			name, err := walletOwner(wallet)
			if err != nil {
				return err
			}
			rs, err := reserver(name)
			if err != nil {
				return err
			}
			l, err := rs.WalletReservations(ctx, wallet)
			if err != nil {
				return err
			}
			cur := g.currency(ctx)
			var b strings.Builder
			for _, r := range l {
				b.WriteString(reservationText(r, cur))
				b.WriteByte('\n')
			}
			if len(l) == 0 {
				b.WriteString("no reservations")
			}
			return g.print(wire.FromFundsReservations(l, cur), strings.TrimRight(b.String(), "\n"))
		},
	}
	list.Flags().StringVar(&wallet, "wallet", "", "the wallet")
	list.MarkFlagRequired("wallet")

	cmd.PersistentFlags().StringVar(&bank, "intermediary", "", "the intermediary to ask (capture and void: the payee's, required)")
	cmd.AddCommand(create, capture, void, refund, show, list)
	return cmd
}

// reservationText is a reservation on one line for people.
func reservationText(r roles.FundsReservation, cur *money.Currency) string {
	f := func(v uint64) string {
		if cur == nil {
			return fmt.Sprint(v)
		}
		return cur.Format(v) + " " + cur.Code
	}
	s := fmt.Sprintf("%s %s: %s from %s to %s, expires %s (after batch %d)", r.ID, r.State, f(r.Amount), r.Payer, r.Payee,
		r.ExpiresAt.UTC().Format("2006-01-02 15:04:05"), r.Expiry)
	if r.State == roles.ReservationCaptured {
		s += ", captured " + f(r.Captured)
	}
	if r.SettleTx != (money.TxID{}) {
		s += fmt.Sprintf(", settled in batch %d, tx %s", r.Batch, r.SettleTx)
	}
	if r.Reference != "" {
		s += " (" + r.Reference + ")"
	}
	return s
}
