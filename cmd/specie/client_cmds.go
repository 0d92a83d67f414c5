package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func issuerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "issuer", Short: "Central bank issuance: propose and approve mints, redeem"}
	var to, amount string
	propose := &cobra.Command{
		Use:   "propose --to INTERMEDIARY --amount AMOUNT",
		Short: "Propose a mint to an intermediary, against its reserves (needs officer approvals)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, cur, err := g.amount(ctx, amount)
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			m, err := c.Issuer().ProposeMint(ctx, to, v)
			if err != nil {
				return err
			}
			wm, err := wire.FromMint(m, &cur)
			if err != nil {
				return err
			}
			return g.print(wm, fmt.Sprintf("mint %s proposed: %s %s to %s, %s, needs %d approvals\napprove with: specie issuer approve %s --officer 1",
				m.ID, cur.Format(m.Amount), cur.Code, m.To, m.Status, m.Quorum, m.ID))
		},
	}
	propose.Flags().StringVar(&to, "to", "", "intermediary receiving the money")
	propose.Flags().StringVar(&amount, "amount", "", `amount: decimal ("1000000.00") or minor units ("100000000")`)
	propose.MarkFlagRequired("to")
	propose.MarkFlagRequired("amount")

	var keyFile string
	var officer int
	approve := &cobra.Command{
		Use:   "approve MINT-ID (--key FILE | --officer N)",
		Short: "Sign a proposed mint with an officer key; the mint commits when the quorum is reached",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := hashArg("mint ID", args[0])
			if err != nil {
				return err
			}
			defer g.closeHSM()
			key, err := g.officerKey(keyFile, officer)
			if err != nil {
				return err
			}
			net, err := g.network(ctx)
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			sig, err := key.TrySign(crypto.Mint, net.ID, id)
			if err != nil {
				return err
			}
			m, err := c.Issuer().ApproveMint(ctx, id, key.Public(), sig)
			if err != nil {
				return err
			}
			text := fmt.Sprintf("mint %s: %d of %d approvals, %s", m.ID, len(m.Approvers), m.Quorum, m.Status)
			if m.Receipt != nil {
				text += fmt.Sprintf(" in batch %d; %s %s delivered to %s", m.Receipt.Batch, net.Currency.Format(m.Amount), net.Currency.Code, m.To)
			}
			wm, err := wire.FromMint(m, &net.Currency)
			if err != nil {
				return err
			}
			return g.print(wm, text)
		},
	}
	approve.Flags().StringVar(&keyFile, "key", "", "officer key file")
	approve.Flags().IntVar(&officer, "officer", 0, "use devnet officer N's key from the data directory")

	show := &cobra.Command{
		Use:   "show MINT-ID",
		Short: "Show a mint proposal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := hashArg("mint ID", args[0])
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			m, err := c.Issuer().GetMint(ctx, id)
			if err != nil {
				return err
			}
			net, err := g.network(ctx)
			if err != nil {
				return err
			}
			text := fmt.Sprintf("mint %s to %s: %s %s, %s, %d of %d approvals", m.ID, m.To, net.Currency.Format(m.Amount), net.Currency.Code, m.Status, len(m.Approvers), m.Quorum)
			if m.Receipt != nil {
				text += fmt.Sprintf(", in batch %d", m.Receipt.Batch)
			}
			if m.Reason != "" {
				text += ": " + m.Reason
			}
			wm, err := wire.FromMint(m, &net.Currency)
			if err != nil {
				return err
			}
			return g.print(wm, text)
		},
	}

	var bank, redeemKey string
	redeem := &cobra.Command{
		Use:   "redeem --intermediary NAME --amount AMOUNT [--idempotency-key KEY]",
		Short: "An intermediary returns money from its treasury to the central bank, credited to its reserves",
		Long: `An intermediary returns money from its treasury to the central bank, credited to its reserves.

With --idempotency-key the redemption is safe to retry, as a payment is
(see specie pay --help): the same key and amount redeem at most once and
answer the first result; the same key with another amount is a conflict.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, cur, err := g.amount(ctx, amount)
			if err != nil {
				return err
			}
			c, err := g.client(bank)
			if err != nil {
				return err
			}
			r, err := c.Intermediary(bank).Redeem(ctx, roles.RedeemRequest{Amount: v, IdempotencyKey: redeemKey})
			if err != nil {
				return err
			}
			return g.print(wire.FromRedemption(r, &cur), fmt.Sprintf("%s redeemed %s %s in batch %d (tx %s); credited to its reserve account",
				r.Intermediary, cur.Format(r.Amount), cur.Code, r.Receipt.Batch, r.Receipt.TxID))
		},
	}
	redeem.Flags().StringVar(&bank, "intermediary", "", "intermediary redeeming")
	redeem.Flags().StringVar(&amount, "amount", "", "amount to redeem")
	redeem.Flags().StringVar(&redeemKey, "idempotency-key", "", "makes retrying safe: the same key and amount redeem once (1 to 128 printable ASCII characters)")
	redeem.MarkFlagRequired("intermediary")
	redeem.MarkFlagRequired("amount")
	cmd.AddCommand(propose, approve, show, redeem, policyCmd(g), keysCmd(g))
	return cmd
}

// officerKey loads the officer key an approval signs with: the file given
// with --key, or devnet officer N's from the data directory (a key file,
// or a key on the devnet's HSM when it was made with 'specie up --hsm').
func (g *globals) officerKey(keyFile string, officer int) (crypto.Signer, error) {
	if keyFile == "" && officer > 0 {
		cfg, err := g.config()
		if err != nil {
			return nil, err
		}
		if officer > cfg.Officers() {
			return nil, errcode.New(errcode.Malformed, "--officer %d: the devnet has %d officers", officer, cfg.Officers())
		}
		return cfg.OfficerSigner(officer)
	}
	if keyFile == "" {
		return nil, errcode.New(errcode.Malformed, "give --key FILE or --officer N (1, 2, ...)")
	}
	return crypto.LoadKey(keyFile)
}

func walletCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "wallet", Short: "Custodial wallets at an intermediary: open, balance, history, pay"}
	var bank, owner, share, person, reason string
	var tier int
	var evidence []string
	open := &cobra.Command{
		Use:   "open --intermediary NAME --owner CUSTOMER --tier N --evidence KIND=REF ...",
		Short: "Open a custodial wallet for a customer at a policy tier",
		Long: `Open a custodial wallet for a customer at a tier of the central bank's
policy, with every kind of evidence the tier lists, each as KIND=REF: the
kind (phone, identity, address, business) and a reference to what was
checked (a phone number, a document number), never the document itself.
With the devnet's default policy: tier 0 needs phone, tier 1 phone and
identity, tier 2 phone, identity and address, tier 3 (merchant) identity,
address and business.`,
		Example: `  specie wallet open --intermediary bank-a --owner alice --tier 0 --evidence phone=+15551234567`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			refs, err := evidenceFlags(evidence)
			if err != nil {
				return err
			}
			req := roles.WalletRequest{Owner: owner, Tier: tier, Evidence: refs, Person: person, Reason: reason}
			if share != "" {
				if req.Share, _, err = g.amount(ctx, share); err != nil {
					return err
				}
			}
			c, err := g.client(bank)
			if err != nil {
				return err
			}
			w, err := c.Intermediary(bank).OpenWallet(ctx, req)
			if err != nil {
				return err
			}
			return g.print(wire.FromWallet(w, g.currency(ctx)), fmt.Sprintf("wallet %s opened for %s at tier %d (%s)", w.ID, w.Owner, w.Tier, w.TierName))
		},
	}
	open.Flags().StringVar(&bank, "intermediary", "bank-a", "intermediary opening the wallet")
	open.Flags().StringVar(&owner, "owner", "", "customer reference")
	open.Flags().IntVar(&tier, "tier", 0, "policy tier (0 phone only, 1 basic, 2 full, 3 merchant in the default policy)")
	open.Flags().StringArrayVar(&evidence, "evidence", nil, "evidence checked, KIND=REF (repeat for each kind the tier lists)")
	open.Flags().StringVar(&share, "share", "", "reserve only this part of the tier's holding limit (default: all of it)")
	open.Flags().StringVar(&person, "person", "", "identity reference for the holding-limit registry (default: the phone evidence)")
	open.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	open.MarkFlagRequired("owner")

	balance := &cobra.Command{
		Use:   "balance WALLET-ID",
		Short: "Show a wallet's balance (the sum of its unspent notes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bank, net, err := g.walletBank(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w, err := bank.Wallet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			text := fmt.Sprintf("%s (%s): %s %s in %d notes", w.ID, w.Owner, net.Currency.Format(w.Balance), net.Currency.Code, w.Notes)
			if w.Reserved != 0 {
				text += fmt.Sprintf("; %s reserved for payees", net.Currency.Format(w.Reserved))
			}
			if w.State != "" {
				text += fmt.Sprintf("; tier %d (%s), %s", w.Tier, w.TierName, w.State)
				if w.HoldingLimit != 0 {
					text += fmt.Sprintf(", holding limit %s", net.Currency.Format(w.HoldingLimit))
				}
				if w.Account != "" {
					text += ", linked to account " + w.Account
				}
			}
			return g.print(wire.FromWallet(w, &net.Currency), text)
		},
	}
	history := &cobra.Command{
		Use:   "history WALLET-ID",
		Short: "List a wallet's payments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bank, net, err := g.walletBank(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			es, err := bank.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, e := range es {
				sign := "+"
				if e.Direction == "out" {
					sign = "-"
				}
				line := fmt.Sprintf("%s  %s%s  %-22s batch %-6d %s %s", e.Time.UTC().Format("2006-01-02 15:04:05"), sign, net.Currency.Format(e.Amount), e.Counterparty, e.Batch, e.TxID.String()[:16], e.Reference)
				if e.RefundOf != (money.TxID{}) {
					line += " (refund of " + e.RefundOf.String()[:16] + ")"
				}
				b.WriteString(strings.TrimRight(line, " ") + "\n")
			}
			if len(es) == 0 {
				b.WriteString("no payments yet")
			}
			return g.print(wire.FromHistory(es, &net.Currency), b.String())
		},
	}
	var from, to, amount, ref, idemKey, qr string
	pay := &cobra.Command{
		Use:   "pay --from WALLET (--to WALLET|ALIAS --amount AMOUNT | --qr PAYLOAD [--amount AMOUNT]) [--idempotency-key KEY]",
		Short: "Pay from a wallet to any wallet, at this or another intermediary",
		Long: `Pay from a wallet to any wallet, at this or another intermediary.

With --idempotency-key the payment is safe to retry: if it fails with
"unavailable" (the outcome is unknown; the message names the txid, see
specie tx show), run the same command again with the same key. It pays at
most once and answers the first result; the same key with a different
payment is a conflict.

--to takes a wallet ID or an alias, a phone number (+15551234567) or an
email address: the payer's intermediary looks it up (an unknown alias is
not_found, and lookups are rate-limited) and the payment goes to the
wallet it reaches, whose holder is shown as their intermediary masks the
name ("Alice S.").

With --qr the payee (and, for a dynamic code, the amount and reference)
come from a merchant's EMVCo QR payload (see specie qr show). It is
checked in full first: CRC, structure, every field, and the currency
must be the network's. A static code needs --amount; a dynamic one
refuses it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			name, err := walletOwner(from)
			if err != nil {
				return err
			}
			if isRequest, err := g.acceptQR(cmd, from, qr, amount); isRequest {
				return err // a code of a payment request: accepted
			}
			to, v, cur, ref, err := g.payTarget(ctx, cmd, qr, to, amount, ref)
			if err != nil {
				return err
			}
			c, err := g.client(name)
			if err != nil {
				return err
			}
			to, payee, err := resolvePayee(ctx, c, name, to) // an alias is looked up first (alias_cmds.go)
			if err != nil {
				return err
			}
			r, err := c.Intermediary(name).Pay(ctx, roles.Payment{From: from, To: to, Amount: v, Reference: ref, IdempotencyKey: idemKey})
			if err != nil {
				return err
			}
			return g.print(wire.FromPaymentResult(r, &cur), fmt.Sprintf("paid %s %s from %s to %s%s: committed in batch %d, tx %s", cur.Format(r.Amount), cur.Code, r.From, r.To, payee, r.Receipt.Batch, r.TxID))
		},
	}
	pay.Flags().StringVar(&from, "from", "", "paying wallet")
	pay.Flags().StringVar(&to, "to", "", "receiving wallet, or its alias (+15551234567, alice@example.org), looked up at the payer's intermediary")
	pay.Flags().StringVar(&amount, "amount", "", `amount: decimal ("12.50") or minor units ("1250")`)
	pay.Flags().StringVar(&ref, "reference", "", "text shown in both histories")
	pay.Flags().StringVar(&idemKey, "idempotency-key", "", "makes retrying safe: the same key and payment pay once (1 to 128 printable ASCII characters)")
	pay.Flags().StringVar(&qr, "qr", "", "pay a merchant's EMVCo QR payload instead of --to (--to and --amount are required without it)")
	pay.MarkFlagRequired("from")
	cmd.AddCommand(open, balance, history, pay)
	cmd.AddCommand(walletAdminCmds(g)...)
	return cmd
}

func txCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Transactions on the ledger"}
	show := &cobra.Command{
		Use:   "show TXID",
		Short: "Show a committed transaction and check its inclusion proof and its batch's place in the hash chain",
		Long: `Show a committed transaction. The CLI checks, without trusting the server,
that the Merkle inclusion proof leads from the txid to the root in the batch
header, and that this header is the one the log's hash chain holds at that
sequence number (every header from batch 1 on is fetched and chained).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hashArg("txid", args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := g.client("")
			if err != nil {
				return err
			}
			l := c.Ledger()
			if li, err := l.Info(ctx); err == nil && len(li.Groups) > 0 {
				// Sharded: the transaction's batch is in a group's chain,
				// not in the coordinator's that this API serves.
				if l, err = g.groupHolding(ctx, li, id); err != nil {
					return err
				}
			}
			info, err := l.Tx(ctx, id)
			if err != nil {
				return err
			}
			net, err := g.network(ctx)
			if err != nil {
				return err
			}
			chained, err := chainTo(ctx, l, net, info.Header.Seq)
			if err != nil {
				return err
			}
			at := func(seq uint64) (money.BatchHeader, bool) { return chained, seq == chained.Seq }
			if err := audit.VerifyTx(net, info, at); err != nil {
				return err
			}
			return g.print(wire.FromTxInfo(info, &net.Currency), fmt.Sprintf("%s %s: %s in batch %d at index %d of %d\ninclusion proof (%d hashes) verified against root %s; batch %d verified in the hash chain from batch 1",
				info.Kind, info.TxID, info.Status, info.Header.Seq, info.Index, info.Header.TxCount, len(info.Proof), info.Header.TxRoot, info.Header.Seq))
		},
	}
	cmd.AddCommand(show)
	return cmd
}

// ledgerAt is the ledger served at base URL u, reached as --api is.
func (g *globals) ledgerAt(u string) (roles.Ledger, error) {
	at := *g
	at.api = u
	c, err := at.newClient("", "")
	if err != nil {
		return nil, err
	}
	return c.Ledger(), nil
}

// groupHolding is the log of the first group of a sharded network that
// holds transaction id (a cross-group one is in each group it touched),
// at the first of the group's URLs that answers.
func (g *globals) groupHolding(ctx context.Context, info roles.LedgerInfo, id money.TxID) (roles.Ledger, error) {
	var last error = errcode.New(errcode.NotFound, "transaction %s: in none of the %d groups", id, len(info.Groups))
	for _, grp := range info.Groups {
		for _, u := range grp.URLs {
			l, err := g.ledgerAt(u)
			if err != nil {
				return nil, err
			}
			_, err = l.Tx(ctx, id)
			if err == nil {
				return l, nil
			}
			if errcode.Is(err, errcode.NotFound) {
				break // the group answered: not there
			}
			if !errcode.Is(err, errcode.Unavailable) {
				return nil, fmt.Errorf("group %d at %s: %w", grp.Index, u, err)
			}
			last = fmt.Errorf("group %d at %s: %w", grp.Index, u, err)
		}
	}
	return nil, last
}

// chainTo fetches and chains headers 1..seq and returns header seq as the
// chain holds it.
func chainTo(ctx context.Context, l roles.Ledger, net money.Network, seq uint64) (money.BatchHeader, error) {
	chain := audit.NewChain(net)
	for from := uint64(1); from <= seq; {
		hs, err := l.Headers(ctx, from, int(min(seq-from+1, 1000)))
		if err != nil {
			return money.BatchHeader{}, fmt.Errorf("headers from %d: %w", from, err)
		}
		if len(hs) == 0 {
			return money.BatchHeader{}, fmt.Errorf("the log ends before batch %d", seq)
		}
		for _, h := range hs {
			if err := chain.Add(h); err != nil {
				return money.BatchHeader{}, fmt.Errorf("verify log: %w", err)
			}
			if h.Seq == seq {
				return h, nil
			}
		}
		from += uint64(len(hs))
	}
	return money.BatchHeader{}, fmt.Errorf("the log has no batch %d", seq)
}

// logSummary is `log verify --json`: audit.Summary with the API's amount
// strings and their decimal forms.
type logSummary struct {
	Batches            uint64     `json:"batches"`
	Transactions       uint64     `json:"transactions"`
	Head               money.Hash `json:"head"`
	Minted             string     `json:"minted"`
	Redeemed           string     `json:"redeemed"`
	Outstanding        string     `json:"outstanding"`
	MintedDecimal      string     `json:"minted_decimal"`
	RedeemedDecimal    string     `json:"redeemed_decimal"`
	OutstandingDecimal string     `json:"outstanding_decimal"`
	SupplyMatches      bool       `json:"supply_matches"`
	KeySets            int        `json:"key_sets"`
}

// shardedLogSummary is `log verify --json` on a sharded network: the
// network's published supply (which the logs add up to), Batches and
// Transactions the groups' sums, and each group's verified log and the
// coordinator's.
type shardedLogSummary struct {
	logSummary
	Groups      []logSummary `json:"groups"`
	Coordinator logSummary   `json:"coordinator"`
}

// summaryOf is one verified log's part of `log verify --json`.
func summaryOf(s audit.Summary, cur money.Currency) logSummary {
	return logSummary{
		Batches: s.Batches, Transactions: s.Transactions, Head: s.Head,
		Minted: wire.FormatAmount(s.Minted), Redeemed: wire.FormatAmount(s.Redeemed), Outstanding: wire.FormatAmount(s.Outstanding),
		MintedDecimal: cur.Format(s.Minted), RedeemedDecimal: cur.Format(s.Redeemed), OutstandingDecimal: cur.Format(s.Outstanding),
		SupplyMatches: s.SupplyMatches, KeySets: s.KeySets,
	}
}

// verifySharded is `log verify` against a sharded network's API, which
// lists where each group's log and the coordinator's are served
// (GET /v1/info's groups and coordinator): every one is verified, and the
// network's published supply against their sum (audit.VerifySharded).
func verifySharded(ctx context.Context, g *globals, c *client.Client, info roles.LedgerInfo) error {
	s, err := audit.VerifySharded(ctx, c.Ledger(), info, g.ledgerAt)
	if err != nil {
		return err
	}
	cur := info.Network.Currency
	n := s.Network
	out := shardedLogSummary{logSummary: summaryOf(audit.Summary{Minted: n.Minted, Redeemed: n.Redeemed, Outstanding: n.Outstanding, SupplyMatches: true}, cur)}
	var b strings.Builder
	fmt.Fprintf(&b, "network of %d groups: every group's log and the coordinator's verified\n", len(s.Groups))
	for k, gs := range s.Groups {
		out.Groups = append(out.Groups, summaryOf(gs, cur))
		out.Batches += gs.Batches
		out.Transactions += gs.Transactions
		fmt.Fprintf(&b, "group %d: %d batches, %d transactions, head %s; outstanding %s, matches its published supply\n", k, gs.Batches, gs.Transactions, gs.Head, cur.Format(gs.Outstanding))
	}
	out.Coordinator = summaryOf(s.Coordinator, cur)
	fmt.Fprintf(&b, "coordinator: %d batches of decisions, head %s; %s %s moved between groups\n", s.Coordinator.Batches, s.Coordinator.Head, cur.Format(s.Coordinator.Minted), cur.Code)
	fmt.Fprintf(&b, "supply: minted %s, redeemed %s, outstanding %s %s; the groups' logs add up to the published supply", cur.Format(n.Minted), cur.Format(n.Redeemed), cur.Format(n.Outstanding), cur.Code)
	return g.print(out, b.String())
}

func logCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "The ledger's verifiable log"}
	var logKey string
	var cpFiles, witnessKeys []string
	var need int
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Fetch every batch header, check the hash chain, that the published supply matches it and that each officer key rotation is a batch of it",
		Long: `Fetch every batch header, check the hash chain, that the published supply
matches it and that each officer key rotation is a batch of it.

On a sharded network (GET /v1/info lists its groups), every group's log and
the coordinator's decision log are verified where /v1/info says they are
served, each against the supply its server publishes, and the network's
published supply against their sum (docs/scale-out.md). With --checkpoint, one
signed checkpoint is needed per log (each names its log in its origin line), each
checked with that log's key and the witnesses' cosignatures required.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.client("")
			if err != nil {
				return err
			}
			net, err := g.network(ctx)
			if err != nil {
				return err
			}
			if info, err := c.Ledger().Info(ctx); err == nil && len(info.Groups) > 0 {
				if err := verifySharded(ctx, g, c, info); err != nil {
					return err
				}
				if len(cpFiles) > 0 {
					if logKey != "" {
						return errcode.New(errcode.Malformed, "--log-key: a sharded network's logs each sign with a key of their own, read from each log's GET /v1/info")
					}
					return verifyShardedCheckpoints(ctx, g, info, cpFiles, witnessKeys, need)
				}
				return nil
			}
			if len(cpFiles) > 1 {
				return errcode.New(errcode.Malformed, "--checkpoint: one checkpoint for a ledger of one log, %d given", len(cpFiles))
			}
			cpFile := ""
			if len(cpFiles) == 1 {
				cpFile = cpFiles[0]
			}
			s, err := audit.VerifyLog(ctx, c.Ledger())
			if err != nil {
				return err
			}
			if cpFile != "" {
				if err := verifyHeldCheckpoint(ctx, g, c, net, cpFile, logKey, witnessKeys, need); err != nil {
					return err
				}
			}
			cur := net.Currency
			out := summaryOf(s, cur)
			return g.print(out, fmt.Sprintf("log verified: %d batches, %d transactions, head %s\nsupply: minted %s, redeemed %s, outstanding %s %s; matches the published supply\nofficer key rotations: %d, each a batch of the log approved by the set before it",
				s.Batches, s.Transactions, s.Head, cur.Format(s.Minted), cur.Format(s.Redeemed), cur.Format(s.Outstanding), cur.Code, s.KeySets))
		},
	}
	vf := verify.Flags()
	vf.StringSliceVar(&cpFiles, "checkpoint", nil, "a signed checkpoint held (cosigned by witnesses): accept it only with enough cosignatures, and check the log now extends it; on a sharded network one per log (every group's and the coordinator's), comma-separated or repeated")
	vf.StringVar(&logKey, "log-key", "", "the key that verifies the log's checkpoints (default: the one GET /v1/info publishes)")
	vf.StringSliceVar(&witnessKeys, "witness-keys", nil, "the witnesses' verifier keys (name+hash+key), comma-separated")
	vf.IntVar(&need, "witnesses", 0, "cosignatures of those witnesses the checkpoint needs")
	cmd.AddCommand(verify)
	return cmd
}

// verifyShardedCheckpoints is `log verify --checkpoint` on a sharded
// network: a checkpoint held for every group's log and the coordinator's
// (the origin line says which), each with need cosignatures of witnesses,
// each extended by the log served now at the first of its replicas that
// answers, under the log key that replica publishes.
func verifyShardedCheckpoints(ctx context.Context, g *globals, info roles.LedgerInfo, files, witnesses []string, need int) error {
	net := info.Network
	logs := map[string][]string{shard.LogOrigin(net, -1): info.Coordinator}
	names := map[string]string{shard.LogOrigin(net, -1): "coordinator"}
	for _, grp := range info.Groups {
		o := shard.LogOrigin(net, grp.Index)
		logs[o], names[o] = grp.URLs, fmt.Sprintf("group %d", grp.Index)
	}
	held := map[string]string{}
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		origin, _, _ := strings.Cut(string(msg), "\n")
		if _, ok := logs[origin]; !ok {
			return errcode.New(errcode.Malformed, "--checkpoint %s: a checkpoint of log %q, which is none of this network's logs", f, origin)
		}
		if prev, dup := held[origin]; dup {
			return errcode.New(errcode.Malformed, "--checkpoint %s and %s: two checkpoints of %s", prev, f, names[origin])
		}
		held[origin] = f
	}
	var lines []string
	for _, origin := range slices.Sorted(maps.Keys(logs)) {
		f, ok := held[origin]
		if !ok {
			return errcode.New(errcode.Malformed, "--checkpoint: none held for %s (%s); a sharded network needs one per log", names[origin], origin)
		}
		msg, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		var last error
		done := false
		for _, u := range logs[origin] {
			l, err := g.ledgerAt(u)
			if err != nil {
				return err
			}
			cs := l.(roles.CheckpointSource)
			key, err := cs.LogKey(ctx)
			if err != nil {
				last = fmt.Errorf("%s at %s: %w", names[origin], u, err)
				continue
			}
			if key == "" {
				return errcode.New(errcode.NotFound, "%s at %s publishes no log key", names[origin], u)
			}
			c, by, err := audit.VerifyCheckpointOf(ctx, l, cs, net, origin, msg, key, witnesses, need)
			if err != nil {
				return fmt.Errorf("checkpoint %s of %s (at %s): %w", f, names[origin], u, err)
			}
			lines = append(lines, fmt.Sprintf("%s: checkpoint of %d batches (root %s), cosigned by %s: the log now extends it", names[origin], c.Size, c.Root, strings.Join(append([]string{"the log"}, by...), ", ")))
			done = true
			break
		}
		if !done {
			return last
		}
	}
	if !g.json {
		fmt.Fprintln(g.out, strings.Join(lines, "\n"))
	}
	return nil
}

// verifyHeldCheckpoint is `log verify --checkpoint`: the checkpoint held
// must carry the log's signature and need witness cosignatures, and the
// log served now must extend it.
func verifyHeldCheckpoint(ctx context.Context, g *globals, c *client.Client, net money.Network, file, logKey string, witnesses []string, need int) error {
	msg, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--checkpoint: %w", err)
	}
	cs := c.Ledger().(roles.CheckpointSource)
	if logKey == "" {
		if logKey, err = cs.LogKey(ctx); err != nil {
			return err
		}
		if logKey == "" {
			return errcode.New(errcode.NotFound, "the ledger publishes no log key; give --log-key")
		}
	}
	held, by, err := audit.VerifyCheckpoint(ctx, c.Ledger(), cs, net, msg, logKey, witnesses, need)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", file, err)
	}
	if !g.json {
		fmt.Fprintf(g.out, "checkpoint of %d batches (root %s), cosigned by %s: the log now extends it\n", held.Size, held.Root, strings.Join(append([]string{"the log"}, by...), ", "))
	}
	return nil
}

func supplyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "supply",
		Short: "Show minted, redeemed and outstanding money and the reserve accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client("")
			if err != nil {
				return err
			}
			s, err := c.Issuer().Supply(cmd.Context())
			if err != nil {
				return err
			}
			cur := s.Currency
			var b strings.Builder
			fmt.Fprintf(&b, "minted %s, redeemed %s, outstanding %s %s in %d unspent notes (%d batches)\n", cur.Format(s.Minted), cur.Format(s.Redeemed), cur.Format(s.Outstanding), cur.Code, s.Unspent, s.Batches)
			for _, r := range s.Reserves {
				fmt.Fprintf(&b, "reserve %-10s %s\n", r.Intermediary, cur.Format(r.Balance))
			}
			return g.print(wire.FromSupply(s), b.String())
		},
	}
}

// walletBank finds the intermediary holding a wallet, acting with that
// intermediary's credential, and the network (for formatting amounts).
func (g *globals) walletBank(ctx context.Context, id string) (roles.Intermediary, money.Network, error) {
	name, err := walletOwner(id)
	if err != nil {
		return nil, money.Network{}, err
	}
	c, err := g.client(name)
	if err != nil {
		return nil, money.Network{}, err
	}
	net, err := g.network(ctx)
	if err != nil {
		return nil, money.Network{}, err
	}
	return c.Intermediary(name), net, nil
}
