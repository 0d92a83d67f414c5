package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// readmeCommands returns the `./specie ...` lines of README.md's
// walkthrough, comments dropped, as argument lists.
func readmeCommands(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## Five-minute walkthrough")
	if start < 0 {
		t.Fatal("README.md has no walkthrough section")
	}
	text = text[start+1:]
	if end := strings.Index(text, "\n## "); end >= 0 {
		text = text[:end]
	}
	var cmds [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "./specie ") {
			continue
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		cmds = append(cmds, strings.Fields(line)[1:])
	}
	return cmds
}

// walkStep is one walkthrough command as README.md shows it, with what its
// text and JSON output must say. ids holds the values earlier steps printed
// (<mint-id>, <alice>, <bob>, <txid>).
type walkStep struct {
	cmd        string
	fails      bool // the command is refused: text gets its one-line reason
	text       func(t *testing.T, out string, ids map[string]string)
	json       func(t *testing.T, e *env, ids map[string]string, args []string)
	afterwards func(t *testing.T, e *env, ids map[string]string)
}

func contains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func capture(t *testing.T, out, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output does not match %s:\n%s", pattern, out)
	}
	return m[1]
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func walkthrough() []walkStep {
	supplyIs := func(minted, redeemed, resA, resB uint64) func(*testing.T, *env, map[string]string) {
		return func(t *testing.T, e *env, _ map[string]string) {
			t.Helper()
			s, err := e.issuer.Supply(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if s.Minted != minted || s.Redeemed != redeemed || s.Outstanding != minted-redeemed {
				t.Errorf("supply %+v, want minted %d redeemed %d", s.LedgerSupply, minted, redeemed)
			}
			want := []roles.Reserve{{Intermediary: "bank-a", Balance: resA}, {Intermediary: "bank-b", Balance: resB}}
			if len(s.Reserves) != 2 || s.Reserves[0] != want[0] || s.Reserves[1] != want[1] {
				t.Errorf("reserves %+v, want %+v", s.Reserves, want)
			}
		}
	}
	balances := func(want map[string]uint64) func(*testing.T, *env, map[string]string) {
		return func(t *testing.T, e *env, ids map[string]string) {
			t.Helper()
			for k, v := range want {
				id := k
				if x, ok := ids[k]; ok {
					id = x
				}
				if got := e.balance(id); got != v {
					t.Errorf("balance of %s = %d, want %d", id, got, v)
				}
			}
		}
	}
	return []walkStep{{
		cmd: "issuer policy show",
		text: func(t *testing.T, out string, _ map[string]string) {
			contains(t, out, "policy version 1 in force on specie-devnet, signed by 2 of the ledger's 3 officer keys (quorum 2)",
				"tier 0 phone only  holding 500.00, per payment 200.00, daily 500.00")
		},
		json: func(t *testing.T, e *env, _ map[string]string, args []string) {
			var s policy.Signed
			e.mustJSON(&s, args...)
			info, err := e.ledger.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
				t.Error(err)
			}
		},
	}, {
		cmd: "iso20022 fund --intermediary bank-a --amount 1000000.00 --ref RTGS-20261202-0001",
		text: func(t *testing.T, out string, _ map[string]string) {
			contains(t, out, ": ACSC, reserve of bank-a credited 1000000.00 USD")
		},
		json: func(t *testing.T, e *env, _ map[string]string, args []string) {
			var a map[string]string
			e.mustJSON(&a, args...)
			eq(t, "status", a["status"], "ACSC")
			eq(t, "kind", a["kind"], "pacs.002.001.11")
		},
		afterwards: supplyIs(0, 0, 6_000_000_00, 5_000_000_00),
	}, {
		cmd: "issuer propose --to bank-a --amount 1000000.00",
		text: func(t *testing.T, out string, ids map[string]string) {
			ids["<mint-id>"] = capture(t, out, `^mint ([0-9a-f]{64}) proposed`)
			contains(t, out, "proposed: 1000000.00 USD to bank-a, pending, needs 2 approvals",
				"approve with: specie issuer approve "+ids["<mint-id>"]+" --officer 1")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var m wire.Mint
			e.mustJSON(&m, args...)
			ids["<mint-id>"] = m.ID.String()
			eq(t, "to", m.To, "bank-a")
			eq(t, "amount", m.Amount, "100000000")
			eq(t, "amount_decimal", m.AmountDecimal, "1000000.00")
			eq(t, "status", m.Status, "pending")
			eq(t, "quorum", m.Quorum, 2)
			eq(t, "approvers", len(m.Approvers), 0)
		},
		afterwards: supplyIs(0, 0, 6_000_000_00, 5_000_000_00),
	}, {
		cmd: "issuer approve <mint-id> --officer 1",
		text: func(t *testing.T, out string, ids map[string]string) {
			eq(t, "output", out, "mint "+ids["<mint-id>"]+": 1 of 2 approvals, pending\n")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var m wire.Mint
			e.mustJSON(&m, args...)
			eq(t, "id", m.ID.String(), ids["<mint-id>"])
			eq(t, "status", m.Status, "pending")
			eq(t, "approvers", len(m.Approvers), 1)
			eq(t, "approver", m.Approvers[0], e.officer(0).Public())
			eq(t, "receipt", m.Receipt == nil, true)
		},
		afterwards: supplyIs(0, 0, 6_000_000_00, 5_000_000_00),
	}, {
		cmd: "issuer approve <mint-id> --officer 3",
		text: func(t *testing.T, out string, ids map[string]string) {
			eq(t, "output", out, "mint "+ids["<mint-id>"]+": 2 of 2 approvals, committed in batch 1; 1000000.00 USD delivered to bank-a\n")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var m wire.Mint
			e.mustJSON(&m, args...)
			eq(t, "status", m.Status, "committed")
			eq(t, "amount", m.Amount, "100000000")
			eq(t, "approvers", len(m.Approvers), 2)
			if m.Receipt == nil || m.Receipt.Batch != 1 || m.Receipt.TxID.String() != ids["<mint-id>"] {
				t.Errorf("receipt %+v, want batch 1 of tx %s", m.Receipt, ids["<mint-id>"])
			}
		},
		afterwards: func(t *testing.T, e *env, ids map[string]string) {
			supplyIs(1_000_000_00, 0, 5_000_000_00, 5_000_000_00)(t, e, ids)
			balances(map[string]uint64{"bank-a.treasury": 1_000_000_00})(t, e, ids)
		},
	}, {
		cmd: "supply",
		text: func(t *testing.T, out string, ids map[string]string) {
			eq(t, "output", out, "minted 1000000.00, redeemed 0.00, outstanding 1000000.00 USD in 1 unspent notes (1 batches)\n"+
				"reserve bank-a     5000000.00\n"+
				"reserve bank-b     5000000.00\n")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var s wire.Supply
			e.mustJSON(&s, args...)
			eq(t, "minted", s.Minted, "100000000")
			eq(t, "minted_decimal", s.MintedDecimal, "1000000.00")
			eq(t, "redeemed", s.Redeemed, "0")
			eq(t, "outstanding", s.Outstanding, "100000000")
			eq(t, "outstanding_decimal", s.OutstandingDecimal, "1000000.00")
			eq(t, "unspent_notes", s.Unspent, 1)
			eq(t, "batches", s.Batches, 1)
			if s.Currency == nil || *s.Currency != (wire.Currency{Code: "USD", Exponent: 2}) {
				t.Errorf("currency %+v", s.Currency)
			}
			want := []wire.Reserve{{Intermediary: "bank-a", Balance: "500000000", BalanceDecimal: "5000000.00"}, {Intermediary: "bank-b", Balance: "500000000", BalanceDecimal: "5000000.00"}}
			if s.Reserves == nil || len(*s.Reserves) != 2 || (*s.Reserves)[0] != want[0] || (*s.Reserves)[1] != want[1] {
				t.Errorf("reserves %+v, want %+v", s.Reserves, want)
			}
		},
	}, {
		cmd: "wallet open --intermediary bank-a --owner alice --tier 0 --evidence phone=+15551234567",
		text: func(t *testing.T, out string, ids map[string]string) {
			ids["<alice>"] = capture(t, out, `^wallet (bank-a\.\S+) opened for alice at tier 0 \(phone only\)\n$`)
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var w wire.Wallet
			e.mustJSON(&w, args...)
			ids["<alice>"] = w.ID
			eq(t, "bank-a wallet", strings.HasPrefix(w.ID, "bank-a."), true)
			eq(t, "owner", w.Owner, "alice")
			eq(t, "balance", w.Balance, "0")
			eq(t, "balance_decimal", w.BalanceDecimal, "0.00")
		},
		afterwards: balances(map[string]uint64{"<alice>": 0}),
	}, {
		cmd: "wallet open --intermediary bank-b --owner bob --tier 0 --evidence phone=+15557654321",
		text: func(t *testing.T, out string, ids map[string]string) {
			ids["<bob>"] = capture(t, out, `^wallet (bank-b\.\S+) opened for bob at tier 0 \(phone only\)\n$`)
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var w wire.Wallet
			e.mustJSON(&w, args...)
			ids["<bob>"] = w.ID
			eq(t, "bank-b wallet", strings.HasPrefix(w.ID, "bank-b."), true)
			eq(t, "owner", w.Owner, "bob")
		},
		afterwards: balances(map[string]uint64{"<bob>": 0}),
	}, {
		cmd: "wallet pay --from bank-a.treasury --to <alice> --amount 500.00",
		text: func(t *testing.T, out string, ids map[string]string) {
			contains(t, out, "paid 500.00 USD from bank-a.treasury to "+ids["<alice>"]+": committed in batch 2, tx ")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var p wire.PaymentResult
			e.mustJSON(&p, args...)
			eq(t, "amount", p.Amount, "50000")
			eq(t, "amount_decimal", p.AmountDecimal, "500.00")
			eq(t, "from", p.From, "bank-a.treasury")
			eq(t, "to", p.To, ids["<alice>"])
			eq(t, "batch", p.Receipt.Batch, 2)
			eq(t, "receipt txid", p.Receipt.TxID, p.TxID)
		},
		afterwards: balances(map[string]uint64{"<alice>": 500_00, "bank-a.treasury": 999_500_00}),
	}, {
		cmd: "wallet pay --from <alice> --to <bob> --amount 120.00 --reference lunch",
		text: func(t *testing.T, out string, ids map[string]string) {
			ids["<txid>"] = capture(t, out, `^paid 120\.00 USD from `+regexp.QuoteMeta(ids["<alice>"])+` to `+regexp.QuoteMeta(ids["<bob>"])+`: committed in batch 3, tx ([0-9a-f]{64})\n$`)
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var p wire.PaymentResult
			e.mustJSON(&p, args...)
			ids["<txid>"] = p.TxID.String()
			eq(t, "amount", p.Amount, "12000")
			eq(t, "amount_decimal", p.AmountDecimal, "120.00")
			eq(t, "from", p.From, ids["<alice>"])
			eq(t, "to", p.To, ids["<bob>"])
			eq(t, "batch", p.Receipt.Batch, 3)
		},
		afterwards: balances(map[string]uint64{"<alice>": 380_00, "<bob>": 120_00}),
	}, {
		cmd: "wallet balance <bob>",
		text: func(t *testing.T, out string, ids map[string]string) {
			eq(t, "output", out, ids["<bob>"]+" (bob): 120.00 USD in 1 notes; tier 0 (phone only), active, holding limit 500.00\n")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var w wire.Wallet
			e.mustJSON(&w, args...)
			eq(t, "id", w.ID, ids["<bob>"])
			eq(t, "balance", w.Balance, "12000")
			eq(t, "balance_decimal", w.BalanceDecimal, "120.00")
			eq(t, "notes", w.Notes, 1)
		},
	}, {
		cmd: "wallet history <alice>",
		text: func(t *testing.T, out string, ids map[string]string) {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("history has %d lines, want 2:\n%s", len(lines), out)
			}
			in := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \+500\.00  bank-a\.treasury +batch 2 +[0-9a-f]{16}$`)
			outRe := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  -120\.00  ` + regexp.QuoteMeta(ids["<bob>"]) + ` +batch 3 +` + ids["<txid>"][:16] + ` lunch$`)
			if !in.MatchString(lines[0]) || !outRe.MatchString(lines[1]) {
				t.Errorf("history:\n%s", out)
			}
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var h wire.History
			e.mustJSON(&h, args...)
			if len(h.Entries) != 2 {
				t.Fatalf("history %+v, want 2 entries", h)
			}
			a, b := h.Entries[0], h.Entries[1]
			eq(t, "in direction", a.Direction, "in")
			eq(t, "in amount", a.Amount, "50000")
			eq(t, "in amount_decimal", a.AmountDecimal, "500.00")
			eq(t, "in counterparty", a.Counterparty, "bank-a.treasury")
			eq(t, "in batch", a.Batch, 2)
			eq(t, "out direction", b.Direction, "out")
			eq(t, "out amount", b.Amount, "12000")
			eq(t, "out amount_decimal", b.AmountDecimal, "120.00")
			eq(t, "out counterparty", b.Counterparty, ids["<bob>"])
			eq(t, "out reference", b.Reference, "lunch")
			eq(t, "out txid", b.TxID.String(), ids["<txid>"])
			eq(t, "out batch", b.Batch, 3)
		},
	}, {
		cmd: "wallet pay --from <bob> --to bank-b.treasury --amount 120.00",
		text: func(t *testing.T, out string, ids map[string]string) {
			contains(t, out, "paid 120.00 USD from "+ids["<bob>"]+" to bank-b.treasury: committed in batch 4, tx ")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var p wire.PaymentResult
			e.mustJSON(&p, args...)
			eq(t, "amount_decimal", p.AmountDecimal, "120.00")
			eq(t, "to", p.To, "bank-b.treasury")
		},
		afterwards: balances(map[string]uint64{"<bob>": 0, "bank-b.treasury": 120_00}),
	}, {
		cmd: "issuer redeem --intermediary bank-b --amount 120.00",
		text: func(t *testing.T, out string, ids map[string]string) {
			contains(t, out, "bank-b redeemed 120.00 USD in batch 5 (tx ", "); credited to its reserve account")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var r wire.Redemption
			e.mustJSON(&r, args...)
			eq(t, "intermediary", r.Intermediary, "bank-b")
			eq(t, "amount", r.Amount, "12000")
			eq(t, "amount_decimal", r.AmountDecimal, "120.00")
			eq(t, "batch", r.Receipt.Batch, 5)
		},
		afterwards: func(t *testing.T, e *env, ids map[string]string) {
			supplyIs(1_000_000_00, 120_00, 5_000_000_00, 5_000_120_00)(t, e, ids)
			balances(map[string]uint64{"bank-b.treasury": 0, "<alice>": 380_00, "bank-a.treasury": 999_500_00})(t, e, ids)
		},
	}, {
		cmd: "log verify",
		text: func(t *testing.T, out string, ids map[string]string) {
			contains(t, out, "log verified: 5 batches, 5 transactions, head ",
				"supply: minted 1000000.00, redeemed 120.00, outstanding 999880.00 USD; matches the published supply")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var s logSummary
			e.mustJSON(&s, args...)
			hs, err := e.ledger.Headers(context.Background(), 5, 1)
			if err != nil || len(hs) != 1 {
				t.Fatalf("header 5: %v %v", hs, err)
			}
			want := logSummary{Batches: 5, Transactions: 5, Head: e.node.Config.Network.HeaderHash(&hs[0]),
				Minted: "100000000", Redeemed: "12000", Outstanding: "99988000",
				MintedDecimal: "1000000.00", RedeemedDecimal: "120.00", OutstandingDecimal: "999880.00", SupplyMatches: true}
			eq(t, "summary", s, want)
		},
	}, {
		cmd: "tx show <txid>",
		text: func(t *testing.T, out string, ids map[string]string) {
			contains(t, out, "transfer "+ids["<txid>"]+": committed in batch 3 at index 0 of 1\n",
				"inclusion proof (0 hashes) verified against root ", "batch 3 verified in the hash chain from batch 1")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var info wire.TxInfo
			e.mustJSON(&info, args...)
			eq(t, "txid", info.TxID.String(), ids["<txid>"])
			eq(t, "status", info.Status, "committed")
			eq(t, "kind", info.Kind, "transfer")
			eq(t, "batch", info.Header.Seq, 3)
			eq(t, "minted", info.Header.Minted, "100000000")
			eq(t, "outstanding_decimal", info.Header.OutstandingDecimal, "1000000.00")
			eq(t, "proof", len(info.Proof), 0)
		},
	}, {
		cmd:   "wallet pay --from <alice> --to <bob> --amount 250.00",
		fails: true,
		text: func(t *testing.T, out string, ids map[string]string) {
			eq(t, "reason", out, "limit_exceeded: per-payment limit 200.00 exceeded: 250.00 asked, at most 200.00 in one payment")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			_, err := e.run(append(args, "--json")...)
			eq(t, "code", errcode.Of(err), errcode.LimitExceeded)
		},
		afterwards: balances(map[string]uint64{"<alice>": 380_00, "<bob>": 0}),
	}, {
		cmd: "wallet link <alice> --account ACC-ALICE --reason waterfall",
		text: func(t *testing.T, out string, ids map[string]string) {
			eq(t, "output", out, "wallet "+ids["<alice>"]+" linked: tier 0 (phone only), active, holding limit 500.00, linked to account ACC-ALICE\n")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var w wire.Wallet
			e.mustJSON(&w, args...)
			eq(t, "account", w.Account, "ACC-ALICE")
			eq(t, "holding_limit", w.HoldingLimit, "50000")
		},
	}, {
		cmd: "wallet pay --from bank-a.treasury --to <alice> --amount 300.00",
		text: func(t *testing.T, out string, ids map[string]string) {
			contains(t, out, "paid 300.00 USD from bank-a.treasury to "+ids["<alice>"]+": committed in batch 6, tx ")
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var p wire.PaymentResult
			e.mustJSON(&p, args...)
			eq(t, "amount_decimal", p.AmountDecimal, "300.00")
		},
		afterwards: balances(map[string]uint64{"<alice>": 500_00, "bank-a.treasury": 999_500_00 - 120_00}),
	}, {
		cmd: "wallet account <alice>",
		text: func(t *testing.T, out string, ids map[string]string) {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			eq(t, "first line", lines[0], "account ACC-ALICE (wallet "+ids["<alice>"]+"): 180.00 USD")
			if len(lines) != 2 || !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \+180\.00  from bank-a\.treasury to wallet `).MatchString(lines[1]) {
				t.Errorf("account:\n%s", out)
			}
		},
		json: func(t *testing.T, e *env, ids map[string]string, args []string) {
			var a wire.Account
			e.mustJSON(&a, args...)
			eq(t, "balance", a.Balance, "18000")
			eq(t, "entries", len(a.Entries), 1)
		},
	}}
}

// TestReadmeWalkthrough runs README.md's walkthrough command by command,
// exactly as written there, against a real network: once reading the text
// output, once (on a fresh network) reading --json. After each step the
// API confirms the balances, supply and reserves the output claims.
func TestReadmeWalkthrough(t *testing.T) {
	steps := walkthrough()
	readme := readmeCommands(t)
	if len(readme) != len(steps) {
		t.Fatalf("README.md's walkthrough has %d commands, this test knows %d: update both together\n%q", len(readme), len(steps), readme)
	}
	for i, s := range steps {
		if got := strings.Join(readme[i], " "); got != s.cmd {
			t.Fatalf("README.md walkthrough command %d is %q, this test runs %q: update both together", i+1, got, s.cmd)
		}
	}
	for _, mode := range []string{"text", "json"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			ids := map[string]string{}
			for i, s := range steps {
				args := append([]string(nil), readme[i]...)
				for j, a := range args {
					if strings.HasPrefix(a, "<") {
						v, ok := ids[a]
						if !ok {
							t.Fatalf("step %d (%s): no earlier step printed %s", i+1, s.cmd, a)
						}
						args[j] = v
					}
				}
				ok := t.Run(s.cmd, func(t *testing.T) {
					switch {
					case s.fails:
						out, err := e.run(args...)
						if err == nil {
							t.Fatalf("succeeded:\n%s", out)
						}
						if mode == "json" {
							s.json(t, e, ids, args)
						} else {
							s.text(t, oneLine(err), ids)
						}
					case mode == "json":
						s.json(t, e, ids, args)
					default:
						s.text(t, e.must(args...), ids)
					}
					if s.afterwards != nil {
						s.afterwards(t, e, ids)
					}
				})
				if !ok {
					t.FailNow()
				}
			}
			if _, err := e.run("log", "verify"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
