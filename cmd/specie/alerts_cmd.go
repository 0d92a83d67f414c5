package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// alertsCmd is compliance staff's view of an intermediary's fraud and AML
// screening alerts: list, show, close. It acts with the intermediary's own
// credential, the only one its alert desk admits.
func alertsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Fraud and AML screening alerts at an intermediary: list, show, close"}
	var bank string
	desk := func(ctx context.Context) (roles.AlertDesk, *money.Currency, error) {
		c, err := g.client(bank)
		if err != nil {
			return nil, nil, err
		}
		d, ok := c.Intermediary(bank).(roles.AlertDesk)
		if !ok {
			return nil, nil, errcode.New(errcode.Internal, "the client has no alert desk")
		}
		return d, g.currency(ctx), nil
	}
	var state string
	list := &cobra.Command{
		Use:   "list --intermediary NAME [--state open|dismissed|reported]",
		Short: "List the intermediary's alerts, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, cur, err := desk(cmd.Context())
			if err != nil {
				return err
			}
			as, err := d.Alerts(cmd.Context(), roles.AlertState(state))
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, a := range as {
				fmt.Fprintf(&b, "%s  %s  %-9s %-11s %-6s %-5s %s: %s\n", a.ID, a.Created.UTC().Format("2006-01-02 15:04:05"),
					a.State, a.Rule, a.Side, a.Action, a.Wallet, a.Message)
			}
			if len(as) == 0 {
				b.WriteString("no alerts")
			}
			return g.print(wire.FromAlerts(as, cur), b.String())
		},
	}
	list.Flags().StringVar(&state, "state", "", "only alerts in this state: open, dismissed or reported")

	show := &cobra.Command{
		Use:   "show ALERT-ID --intermediary NAME",
		Short: "Show an alert with its evidence, the payments that tripped the rule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, cur, err := desk(cmd.Context())
			if err != nil {
				return err
			}
			a, err := d.Alert(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(wire.FromAlert(a, cur), alertText(a, cur))
		},
	}

	var reason, by string
	closeCmd := &cobra.Command{
		Use:   "close ALERT-ID --intermediary NAME --state dismissed|reported --reason TEXT [--by NAME]",
		Short: "Close an open alert as dismissed or reported, saying why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, cur, err := desk(cmd.Context())
			if err != nil {
				return err
			}
			a, err := d.CloseAlert(cmd.Context(), args[0], roles.AlertClose{State: roles.AlertState(state), Reason: reason, By: by})
			if err != nil {
				return err
			}
			return g.print(wire.FromAlert(a, cur), fmt.Sprintf("alert %s %s by %s: %s", a.ID, a.State, a.ClosedBy, a.Reason))
		},
	}
	closeCmd.Flags().StringVar(&state, "state", "", "dismissed or reported")
	closeCmd.Flags().StringVar(&reason, "reason", "", "why (kept with the alert)")
	closeCmd.Flags().StringVar(&by, "by", "", "who decides (default: the intermediary's name)")
	closeCmd.MarkFlagRequired("state")
	closeCmd.MarkFlagRequired("reason")

	cmd.PersistentFlags().StringVar(&bank, "intermediary", "bank-a", "intermediary whose alerts these are")
	cmd.AddCommand(list, show, closeCmd)
	return cmd
}

// alertText is an alert for people: what tripped, its state, and the
// evidence one payment a line.
func alertText(a roles.Alert, cur *money.Currency) string {
	f := func(v uint64) string {
		if cur == nil {
			return fmt.Sprint(v)
		}
		return cur.Format(v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "alert %s: %s rule (%s) on the %s side, wallet %s\n%s\nstate %s, opened %s\n",
		a.ID, a.Rule, a.Action, a.Side, a.Wallet, a.Message, a.State, a.Created.UTC().Format("2006-01-02 15:04:05"))
	if a.State != roles.AlertOpen {
		fmt.Fprintf(&b, "closed %s by %s: %s\n", a.Closed.UTC().Format("2006-01-02 15:04:05"), a.ClosedBy, a.Reason)
	}
	b.WriteString("evidence:\n")
	for _, e := range a.Evidence {
		id := "(no txid)"
		if e.TxID != (money.TxID{}) {
			id = e.TxID.String()[:16]
		}
		fmt.Fprintf(&b, "  %s  %12s  %s -> %s  %s\n", e.Time.UTC().Format("2006-01-02 15:04:05"), f(e.Amount), e.From, e.To, id)
	}
	return b.String()
}

// reloadSanctions rereads every served intermediary's sanctions list now
// (SIGHUP); a bad file keeps the list in force, and says why.
func reloadSanctions(n *devnet.Node) {
	for name, b := range n.Banks {
		if err := b.ReloadSanctions(); err != nil {
			fmt.Fprintf(os.Stderr, "specie: %s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "specie: %s: sanctions list reloaded\n", name)
	}
}
