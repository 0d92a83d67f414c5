package main

// Request-to-pay (issue 10, part 2): `specie request create|list|show|
// accept|decline|cancel`, and the request side of the QR commands: `qr
// show --request` writes a code carrying a request, `wallet pay --qr` of
// such a code accepts it.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/emvco"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// requests is the request-to-pay of the intermediary holding wallet (or
// owning request) id, with the network.
func (g *globals) requests(ctx context.Context, id string) (roles.Requests, money.Network, error) {
	bank, net, err := g.walletBank(ctx, id)
	if err != nil {
		return nil, net, err
	}
	d, ok := bank.(roles.Requests)
	if !ok {
		return nil, net, errcode.New(errcode.Internal, "the client of %s runs no payment requests", bank.Name())
	}
	return d, net, nil
}

// printRequest prints a request, and as text says, then what it is.
func (g *globals) printRequest(r roles.PaymentRequest, cur money.Currency, says string) error {
	amount := "an open amount"
	if r.Amount != 0 {
		amount = cur.Format(r.Amount) + " " + cur.Code
	}
	text := fmt.Sprintf("%s: request %s: %s asks %s for %s", says, r.ID, r.Payee, r.Payer, amount)
	if r.Reference != "" {
		text += fmt.Sprintf(" (%q)", r.Reference)
	}
	text += fmt.Sprintf(", %s", r.State)
	switch {
	case r.State == roles.RequestPaid:
		text += fmt.Sprintf(" %s %s by tx %s", cur.Format(r.Paid), cur.Code, r.TxID)
	case !r.State.Final():
		text += ", expires " + r.Expires.UTC().Format(time.RFC3339)
	}
	return g.print(wire.FromRequest(r, &cur), text)
}

func requestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "request", Short: "Payment requests (request-to-pay): a payee asks a payer to pay"}

	var payee, payer, amount, ref string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create --payee WALLET --payer WALLET [--amount AMOUNT] [--reference TEXT] [--expires 24h]",
		Short: "Ask a wallet, here or at another intermediary, to pay the payee",
		Long: `Ask the --payer wallet to pay the --payee wallet --amount (without
--amount, an open amount the payer names on accepting) before --expires
from now. The payee's intermediary owns the request and hands it to the
payer's, which shows it to the payer (specie request list --wallet PAYER).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			d, net, err := g.requests(ctx, payee)
			if err != nil {
				return err
			}
			var v uint64
			if cmd.Flags().Changed("amount") {
				if v, _, err = g.amount(ctx, amount); err != nil {
					return err
				}
			}
			if expires <= 0 {
				return errcode.New(errcode.Malformed, "--expires %s: must be positive", expires)
			}
			r, err := d.CreateRequest(ctx, roles.RequestSpec{Payee: payee, Payer: payer, Amount: v, Reference: ref, Expires: time.Now().Add(expires)})
			if err != nil {
				return err
			}
			return g.printRequest(r, net.Currency, "created")
		},
	}
	f := create.Flags()
	f.StringVar(&payee, "payee", "", "the wallet to be paid")
	f.StringVar(&payer, "payer", "", "the wallet asked to pay: its ID or its alias (+15551234567, alice@example.org), resolved by the payee's intermediary")
	f.StringVar(&amount, "amount", "", `amount: decimal ("12.50") or minor units ("1250"); omit for an open amount`)
	f.StringVar(&ref, "reference", "", "text carried by the payment, shown in both histories")
	f.DurationVar(&expires, "expires", 24*time.Hour, "how long the request may be paid")
	create.MarkFlagRequired("payee")
	create.MarkFlagRequired("payer")

	var wallet, role string
	list := &cobra.Command{
		Use:   "list --wallet WALLET [--role payee|payer]",
		Short: "List a wallet's requests: those it made and those it is asked to pay",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			d, net, err := g.requests(ctx, wallet)
			if err != nil {
				return err
			}
			rs, err := d.WalletRequests(ctx, wallet, roles.RequestRole(role))
			if err != nil {
				return err
			}
			cur := net.Currency
			var b strings.Builder
			if len(rs) == 0 {
				b.WriteString("no requests")
			}
			for _, r := range rs {
				amount := "open"
				if r.Amount != 0 {
					amount = cur.Format(r.Amount)
				}
				line := fmt.Sprintf("%s  %-9s  %s -> %s  %s %s", r.ID, r.State, r.Payer, r.Payee, amount, cur.Code)
				if r.Reference != "" {
					line += fmt.Sprintf("  %q", r.Reference)
				}
				if r.State == roles.RequestPaid {
					line += "  tx " + r.TxID.String()
				}
				b.WriteString(line + "\n")
			}
			return g.print(wire.FromRequests(rs, &cur), b.String())
		},
	}
	list.Flags().StringVar(&wallet, "wallet", "", "the wallet")
	list.Flags().StringVar(&role, "role", "", "only the requests it made (payee) or is asked to pay (payer)")
	list.MarkFlagRequired("wallet")

	show := &cobra.Command{
		Use:   "show REQUEST-ID [--wallet WALLET]",
		Short: "Show a request: at its owner, or with --wallet at that wallet's intermediary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			at := args[0]
			if wallet != "" {
				at = wallet
			}
			d, net, err := g.requests(ctx, at)
			if err != nil {
				return err
			}
			r, err := d.Request(ctx, args[0])
			if err != nil {
				return err
			}
			return g.printRequest(r, net.Currency, "request")
		},
	}
	show.Flags().StringVar(&wallet, "wallet", "", "ask this wallet's intermediary (the payer's copy)")

	accept := &cobra.Command{
		Use:   "accept REQUEST-ID --payer WALLET [--amount AMOUNT]",
		Short: "Pay a request, exactly once however often it is run",
		Long: `Pay a request from the --payer wallet, at the payer's intermediary. An
open request needs --amount; a fixed one takes none or the requested
amount. Running it again is safe: it pays once and answers the payment
(after "unavailable" the outcome is not known yet: run it again).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			d, net, err := g.requests(ctx, payer)
			if err != nil {
				return err
			}
			var v uint64
			if cmd.Flags().Changed("amount") {
				if v, _, err = g.amount(ctx, amount); err != nil {
					return err
				}
			}
			r, err := d.AcceptRequest(ctx, args[0], payer, v)
			if err != nil {
				return err
			}
			return g.printRequest(r, net.Currency, "paid")
		},
	}
	accept.Flags().StringVar(&payer, "payer", "", "the paying wallet, the one the request asks")
	accept.Flags().StringVar(&amount, "amount", "", "the amount, for an open request")
	accept.MarkFlagRequired("payer")

	decline := g.endRequestCmd("decline", "payer", "Refuse a request, at the payer's intermediary", "the wallet the request asks", "declined",
		func(ctx context.Context, d roles.Requests, id, wallet string) (roles.PaymentRequest, error) {
			return d.DeclineRequest(ctx, id, wallet)
		})
	cancel := g.endRequestCmd("cancel", "payee", "Withdraw a pending request, at the payee's intermediary", "the wallet that made the request", "cancelled",
		func(ctx context.Context, d roles.Requests, id, wallet string) (roles.PaymentRequest, error) {
			return d.CancelRequest(ctx, id, wallet)
		})

	cmd.AddCommand(create, list, show, accept, decline, cancel)
	return cmd
}

// endRequestCmd is a command that ends a request for one of its two
// wallets, at that wallet's intermediary: decline (the payer) and cancel
// (the payee) differ only in the wallet's role, the call and the word
// printed, so they are made here, once.
func (g *globals) endRequestCmd(name, role, short, usage, done string,
	end func(ctx context.Context, d roles.Requests, id, wallet string) (roles.PaymentRequest, error)) *cobra.Command {
	var wallet string
	c := &cobra.Command{
		Use:   name + " REQUEST-ID --" + role + " WALLET",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			d, net, err := g.requests(ctx, wallet)
			if err != nil {
				return err
			}
			r, err := end(ctx, d, args[0], wallet)
			if err != nil {
				return err
			}
			return g.printRequest(r, net.Currency, done)
		},
	}
	c.Flags().StringVar(&wallet, role, "", usage)
	c.MarkFlagRequired(role)
	return c
}

// requestCode fills p, a code of wallet, for request id (qr show
// --request): the request must be the wallet's and pending. A fixed
// amount makes the code dynamic; an open one leaves it static (the payer
// enters the amount). The request's reference travels in the code when it
// fits (the request carries it anyway).
func (g *globals) requestCode(ctx context.Context, p *emvco.Payload, wallet, id string) error {
	d, _, err := g.requests(ctx, wallet)
	if err != nil {
		return err
	}
	r, err := d.Request(ctx, id)
	if err != nil {
		return err
	}
	if r.Payee != wallet {
		return errcode.New(errcode.Malformed, "--request %s is made by wallet %s, not %s", id, r.Payee, wallet)
	}
	if r.State != roles.RequestPending {
		return errcode.New(errcode.Conflict, "--request %s is %s: only a pending request can be paid", id, r.State)
	}
	p.Payee = emvco.Payee{Request: r.ID}
	if r.Amount != 0 {
		p.Amount, p.Dynamic = r.Amount, true
	}
	if p.Reference == "" && len(r.Reference) <= emvco.MaxReference && clip(r.Reference, emvco.MaxReference) == r.Reference {
		p.Reference = r.Reference
	}
	return nil
}

// acceptQR handles `wallet pay --qr` of a code that carries a payment
// request: it accepts the request from wallet from, with --amount for an
// open request. It reports whether the code was such a code; other codes
// are left to payTarget.
func (g *globals) acceptQR(cmd *cobra.Command, from, qr, amount string) (bool, error) {
	if !cmd.Flags().Changed("qr") {
		return false, nil
	}
	ctx := cmd.Context()
	net, err := g.network(ctx)
	if err != nil {
		return true, err
	}
	p, err := emvco.Decode(strings.TrimSpace(qr), net.Currency)
	if err != nil || p.Payee.Request == "" {
		return false, nil // payTarget says what is wrong with it
	}
	if cmd.Flags().Changed("to") {
		return true, errcode.New(errcode.Malformed, "--qr names the payee: give --to or --qr, not both")
	}
	var v uint64
	switch {
	case p.Dynamic && cmd.Flags().Changed("amount"):
		return true, errcode.New(errcode.Malformed, "--amount: the code fixes the amount at %s %s; omit --amount", net.Currency.Format(p.Amount), net.Currency.Code)
	case p.Dynamic:
		v = p.Amount
	case !cmd.Flags().Changed("amount"):
		return true, errcode.New(errcode.Malformed, "--amount: required to pay an open request (the code carries no amount)")
	default:
		if v, _, err = g.amount(ctx, amount); err != nil {
			return true, err
		}
	}
	d, _, err := g.requests(ctx, from)
	if err != nil {
		return true, err
	}
	r, err := d.AcceptRequest(ctx, p.Payee.Request, from, v)
	if err != nil {
		return true, err
	}
	return true, g.printRequest(r, net.Currency, "paid")
}
