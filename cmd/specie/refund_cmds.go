package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// refundCmd is a merchant refunding a payment its wallet received, in full
// or in part, to the wallet that paid it; the merchant's intermediary
// refuses more than is left of the payment.
func refundCmd(g *globals) *cobra.Command {
	var from, txid, amount, ref, idemKey string
	cmd := &cobra.Command{
		Use:   "refund --from WALLET --txid TXID [--amount AMOUNT] [--reference TEXT] [--idempotency-key KEY]",
		Short: "Refund a payment a wallet received, in full or in part, to the wallet that paid it",
		Long: `Refund a payment a wallet received, in full or in part, to the wallet that
paid it, at this or another intermediary. Both history lines of the refund
name the original payment (refund_of). The refunds of one payment never add
up to more than it: the merchant's intermediary refuses the excess
(conflict) and nothing moves.

Without --amount, all that is left of the payment is refunded. With
--idempotency-key the refund is safe to retry, as for specie wallet pay.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			of, err := hashArg("txid", txid)
			if err != nil {
				return err
			}
			bank, net, err := g.walletBank(ctx, from)
			if err != nil {
				return err
			}
			cur := net.Currency
			var v uint64
			if cmd.Flags().Changed("amount") {
				if v, cur, err = g.amount(ctx, amount); err != nil {
					return err
				}
			} else if v, err = leftToRefund(ctx, bank, from, of); err != nil {
				return err
			}
			r, err := bank.Pay(ctx, roles.Payment{From: from, Amount: v, Reference: ref, IdempotencyKey: idemKey, RefundOf: of})
			if err != nil {
				return err
			}
			return g.print(wire.FromPaymentResult(r, &cur), fmt.Sprintf("refunded %s %s of payment %s from %s to %s: committed in batch %d, tx %s",
				cur.Format(r.Amount), cur.Code, of, r.From, r.To, r.Receipt.Batch, r.TxID))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the wallet that received the payment")
	cmd.Flags().StringVar(&txid, "txid", "", "the payment to refund")
	cmd.Flags().StringVar(&amount, "amount", "", `amount: decimal ("12.50") or minor units ("1250"); default all that is left`)
	cmd.Flags().StringVar(&ref, "reference", "", "text shown in both histories")
	cmd.Flags().StringVar(&idemKey, "idempotency-key", "", "makes retrying safe: the same key and refund pay once")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("txid")
	return cmd
}

// leftToRefund is what wallet's history says is left to refund of payment
// of: what it received minus its refunds of it. The intermediary decides;
// this only saves the merchant the sum.
func leftToRefund(ctx context.Context, bank roles.Intermediary, wallet string, of money.TxID) (uint64, error) {
	h, err := bank.History(ctx, wallet)
	if err != nil {
		return 0, err
	}
	var got, refunded uint64
	for _, e := range h {
		switch {
		case e.TxID == of && e.Direction == "in":
			got = e.Amount
		case e.RefundOf == of && e.Direction == "out":
			refunded += e.Amount
		}
	}
	if got == 0 {
		return 0, errcode.New(errcode.NotFound, "wallet %s received no payment %s", wallet, of)
	}
	if refunded >= got {
		return 0, errcode.New(errcode.Conflict, "payment %s is refunded in full already", of)
	}
	return got - refunded, nil
}

// disputeCmd is disputes: a payer's intermediary opens one for its
// customer, the merchant's resolves it, both list and show it.
func disputeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "dispute", Short: "Disputes of payments: open, list, show, refund, reject"}
	var bank string
	desk := func(name string) (roles.DisputeDesk, error) {
		c, err := g.client(name)
		if err != nil {
			return nil, err
		}
		d, ok := c.Intermediary(name).(roles.DisputeDesk)
		if !ok {
			return nil, errcode.New(errcode.Internal, "the client has no dispute desk")
		}
		return d, nil
	}
	// at is the intermediary a command about dispute id acts at: --intermediary,
	// or the payer's, which the id names.
	at := func(cmd *cobra.Command, id string) string {
		if cmd.Flags().Changed("intermediary") || roles.IntermediaryOf(id) == "" {
			return bank
		}
		return roles.IntermediaryOf(id)
	}
	show := func(ctx context.Context, d roles.Dispute) error {
		cur := g.currency(ctx)
		return g.print(wire.FromDispute(d, cur), disputeText(d, cur))
	}

	var wallet, txid, reason, evidence string
	open := &cobra.Command{
		Use:   "open --wallet WALLET --txid TXID --reason TEXT [--evidence TEXT]",
		Short: "Dispute a payment a wallet made; its intermediary hands the dispute to the merchant's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := hashArg("txid", txid)
			if err != nil {
				return err
			}
			name, err := walletOwner(wallet)
			if err != nil {
				return err
			}
			d, err := desk(name)
			if err != nil {
				return err
			}
			got, err := d.OpenDispute(cmd.Context(), roles.DisputeRequest{Wallet: wallet, TxID: id, Reason: reason, Evidence: evidence})
			if err != nil {
				return err
			}
			return show(cmd.Context(), got)
		},
	}
	open.Flags().StringVar(&wallet, "wallet", "", "the paying wallet")
	open.Flags().StringVar(&txid, "txid", "", "the payment disputed")
	open.Flags().StringVar(&reason, "reason", "", "why")
	open.Flags().StringVar(&evidence, "evidence", "", "the payer's evidence, as text")
	for _, f := range []string{"wallet", "txid", "reason"} {
		open.MarkFlagRequired(f)
	}

	list := &cobra.Command{
		Use:   "list WALLET",
		Short: "List the disputes a wallet is a side of (payer or merchant), oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := walletOwner(args[0])
			if err != nil {
				return err
			}
			d, err := desk(name)
			if err != nil {
				return err
			}
			ds, err := d.Disputes(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			cur := g.currency(cmd.Context())
			var b strings.Builder
			for _, x := range ds {
				fmt.Fprintf(&b, "%s  %-13s %12s  %s -> %s  %s  %s\n", x.ID, x.State, amountText(cur, x.Amount), x.Payer, x.Merchant, x.TxID.String()[:16], x.Reason)
			}
			if len(ds) == 0 {
				b.WriteString("no disputes")
			}
			return g.print(wire.FromDisputes(ds, cur), b.String())
		},
	}

	showCmd := &cobra.Command{
		Use:   "show DISPUTE-ID [--intermediary NAME]",
		Short: "Show a dispute as an intermediary knows it (default: the payer's, which the id names)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := desk(at(cmd, args[0]))
			if err != nil {
				return err
			}
			got, err := d.Dispute(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return show(cmd.Context(), got)
		},
	}

	var why string
	reject := &cobra.Command{
		Use:   "reject DISPUTE-ID --intermediary MERCHANTS-INTERMEDIARY --reason TEXT",
		Short: "Reject a dispute, saying why (the merchant's intermediary)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := desk(at(cmd, args[0]))
			if err != nil {
				return err
			}
			got, err := d.RejectDispute(cmd.Context(), args[0], why)
			if err != nil {
				return err
			}
			return show(cmd.Context(), got)
		},
	}
	reject.Flags().StringVar(&why, "reason", "", "why the merchant rejects it")
	reject.MarkFlagRequired("reason")

	var amount, ref string
	refund := &cobra.Command{
		Use:   "refund DISPUTE-ID --intermediary MERCHANTS-INTERMEDIARY [--amount AMOUNT] [--reference TEXT]",
		Short: "Resolve a dispute by refunding the payment (the merchant's intermediary); money moves once however often it is run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v uint64
			if cmd.Flags().Changed("amount") {
				var err error
				if v, _, err = g.amount(cmd.Context(), amount); err != nil {
					return err
				}
			}
			d, err := desk(at(cmd, args[0]))
			if err != nil {
				return err
			}
			got, err := d.RefundDispute(cmd.Context(), args[0], v, ref)
			if err != nil {
				return err
			}
			return show(cmd.Context(), got)
		},
	}
	refund.Flags().StringVar(&amount, "amount", "", "amount to refund; default all that is left of the payment")
	refund.Flags().StringVar(&ref, "reference", "", "text shown in both histories")

	cmd.PersistentFlags().StringVar(&bank, "intermediary", "bank-a", "intermediary to ask (show defaults to the payer's, which the id names)")
	cmd.AddCommand(open, list, showCmd, reject, refund)
	return cmd
}

func amountText(cur *money.Currency, v uint64) string {
	if cur == nil {
		return fmt.Sprint(v)
	}
	return cur.Format(v)
}

// disputeText is a dispute for people.
func disputeText(d roles.Dispute, cur *money.Currency) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dispute %s: %s\npayment %s of %s from %s to %s\nreason: %s\n", d.ID, d.State, d.TxID, amountText(cur, d.Amount), d.Payer, d.Merchant, d.Reason)
	if d.Evidence != "" {
		fmt.Fprintf(&b, "evidence: %s\n", d.Evidence)
	}
	switch d.State {
	case roles.DisputeRefunded:
		fmt.Fprintf(&b, "refunded %s in tx %s: %s\n", amountText(cur, d.RefundAmount), d.Refund, d.Resolution)
	case roles.DisputeRejected:
		fmt.Fprintf(&b, "rejected: %s\n", d.Resolution)
	}
	fmt.Fprintf(&b, "opened %s, updated %s", d.Opened.UTC().Format("2006-01-02 15:04:05"), d.Updated.UTC().Format("2006-01-02 15:04:05"))
	return b.String()
}
