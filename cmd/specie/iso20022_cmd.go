package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/iso20022"
)

// iso20022Cmd exchanges ISO 20022 messages with the gateway of one role
// (the issuer or an intermediary): one at a time, in directory mode, and
// the statements and messages it produces.
func iso20022Cmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "iso20022", Short: "ISO 20022 gateway: send messages, watch a directory, statements, produced messages"}
	var role string
	cmd.PersistentFlags().StringVar(&role, "role", "", `whose gateway: "issuer" or an intermediary's name (its credential is used)`)
	gw := func() (*client.ISO20022, error) {
		if role == "" {
			return nil, fmt.Errorf("--role is required")
		}
		c, err := g.client(role)
		if err != nil {
			return nil, err
		}
		return c.ISO20022(role), nil
	}
	send := &cobra.Command{
		Use:   "send FILE --role ROLE",
		Short: "Send one message and print the status message that answers it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c, err := gw()
			if err != nil {
				return err
			}
			ans, err := c.Send(cmd.Context(), doc)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(ans)
			return err
		},
	}
	var in, out string
	var once bool
	var every time.Duration
	var workers int
	watch := &cobra.Command{
		Use:   "watch --role ROLE --in DIR --out DIR [--once]",
		Short: "Directory mode: send each *.xml put in DIR exactly once, write answers to --out as <MsgId>.xml",
		Long: "Directory mode for batch exchange. Each complete *.xml file in --in is sent to the role's gateway;\n" +
			"its answer is written to --out named with the answer's MsgId, and only then is the file moved to\n" +
			"--in/done. After a restart the remaining files are sent again: the gateway answers a message it has\n" +
			"seen with its first answer, so nothing is applied twice. Files the gateway refuses move to --in/failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := gw()
			if err != nil {
				return err
			}
			w := &iso20022.Watcher{In: in, Out: out, Send: c.Send, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), Workers: workers}
			if once {
				n, err := w.Pass(cmd.Context())
				if err != nil {
					return err
				}
				return g.print(map[string]int{"answered": n}, fmt.Sprintf("%d messages answered", n))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return w.Run(ctx, every)
		},
	}
	watch.Flags().StringVar(&in, "in", "", "directory to take messages from")
	watch.Flags().StringVar(&out, "out", "", "directory to write answers to")
	watch.Flags().BoolVar(&once, "once", false, "process what is there and exit")
	watch.Flags().DurationVar(&every, "every", time.Second, "how often to look for new files")
	watch.Flags().IntVar(&workers, "workers", 1, "files in flight at once (1: one at a time, in name order)")
	watch.MarkFlagRequired("in")
	watch.MarkFlagRequired("out")

	var account, date string
	statement := &cobra.Command{
		Use:   "statement --role ROLE --account ACCOUNT [--date YYYY-MM-DD]",
		Short: "Print the camt.053 statement of a wallet (or, for the issuer, an intermediary's reserve account) for a UTC day",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := dayArg(date)
			if err != nil {
				return err
			}
			c, err := gw()
			if err != nil {
				return err
			}
			doc, err := c.Statement(cmd.Context(), account, day)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	}
	statement.Flags().StringVar(&account, "account", "", "wallet ID, or for the issuer the intermediary whose reserve account")
	statement.Flags().StringVar(&date, "date", "", "UTC day, YYYY-MM-DD (default today)")
	statement.MarkFlagRequired("account")

	messages := &cobra.Command{
		Use:   "messages --role ROLE [--date YYYY-MM-DD]",
		Short: "List the messages the gateway produced for the role (returns, pay-outs, redemptions, request-to-pay reports)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := dayArg(date)
			if err != nil {
				return err
			}
			c, err := gw()
			if err != nil {
				return err
			}
			ms, err := c.Messages(cmd.Context(), day)
			if err != nil {
				return err
			}
			type item struct {
				MsgID   string    `json:"msg_id"`
				Kind    string    `json:"kind"`
				Created time.Time `json:"created"`
			}
			var b strings.Builder
			items := []item{}
			for _, m := range ms {
				items = append(items, item{m.MsgID, m.Kind, m.Created})
				fmt.Fprintf(&b, "%s  %s  %s\n", m.Created.UTC().Format(time.RFC3339), m.Kind, m.MsgID)
			}
			if len(ms) == 0 {
				b.WriteString("no messages")
			}
			return g.print(items, strings.TrimRight(b.String(), "\n"))
		},
	}
	messages.Flags().StringVar(&date, "date", "", "UTC day, YYYY-MM-DD (default today)")

	var accept, refuse bool
	decide := &cobra.Command{
		Use:   "decide REQUEST-ID --role ROLE (--accept | --refuse)",
		Short: "Answer a request to pay (pain.013) for the payer; prints the pain.014 of its new status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if accept == refuse {
				return fmt.Errorf("give exactly one of --accept and --refuse")
			}
			c, err := gw()
			if err != nil {
				return err
			}
			doc, err := c.Decide(cmd.Context(), args[0], accept)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	}
	decide.Flags().BoolVar(&accept, "accept", false, "pay the request")
	decide.Flags().BoolVar(&refuse, "refuse", false, "refuse the request")
	var bank, amount, ref string
	fund := &cobra.Command{
		Use:   "fund --intermediary NAME --amount AMOUNT --ref MSGID",
		Short: "Stand in for the RTGS: send the issuer a pacs.009 crediting an intermediary's reserve account",
		Long: "The devnet has no real-time gross settlement system; this sends the pacs.009 one would, from the\n" +
			"intermediary's BIC to the central bank's (from the devnet config), with --ref as its MsgId, and prints\n" +
			"the pacs.002 that answers it. Sending the same --ref and amount again changes nothing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.config()
			if err != nil {
				return err
			}
			iso := cfg.ISO()
			bankBIC, ok := iso.BICs[bank]
			if !ok {
				return fmt.Errorf("no intermediary %q in the devnet config", bank)
			}
			v, cur, err := g.amount(ctx, amount)
			if err != nil {
				return err
			}
			doc, err := iso20022.FundingMessage(cur, ref, bankBIC, iso.BIC, v, time.Now())
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			ans, err := c.ISO20022(iso20022.RoleIssuer).Send(ctx, doc)
			if err != nil {
				return err
			}
			st, reason, err := iso20022.GroupStatus(ans)
			if err != nil {
				return err
			}
			text := fmt.Sprintf("pacs.002 %s: %s, reserve of %s credited %s %s", iso20022.MsgIDOf(ans), st, bank, cur.Format(v), cur.Code)
			if st != iso20022.StatusSettled {
				text = fmt.Sprintf("pacs.002 %s: %s %s, nothing credited", iso20022.MsgIDOf(ans), st, reason)
			}
			return g.print(map[string]string{"msg_id": iso20022.MsgIDOf(ans), "kind": iso20022.Pacs002, "status": st, "reason": reason, "xml": string(ans)}, text)
		},
	}
	fund.Flags().StringVar(&bank, "intermediary", "", "the intermediary whose reserve is funded")
	fund.Flags().StringVar(&amount, "amount", "", `amount: decimal ("1000000.00") or minor units`)
	fund.Flags().StringVar(&ref, "ref", "", "the pacs.009's MsgId (1 to 35 characters), its identity for exactly-once")
	fund.MarkFlagRequired("intermediary")
	fund.MarkFlagRequired("amount")
	fund.MarkFlagRequired("ref")
	request := &cobra.Command{
		Use:   "request REQUEST-ID --role ROLE",
		Short: "Print the pain.014 of a request to pay as it stands (at the payee's or the payer's intermediary)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := gw()
			if err != nil {
				return err
			}
			doc, err := c.RequestStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	}
	cmd.AddCommand(send, watch, statement, messages, decide, fund, request)
	return cmd
}

// dayArg reads --date, today (UTC) when empty.
func dayArg(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC().Truncate(24 * time.Hour), nil
	}
	return iso20022.ParseDay(s)
}
