package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// TestRejections runs commands that must fail against a funded network:
// each returns an error with the right code and a one-line reason, and
// leaves supply, reserves, the log, every balance and the pending mint as
// they were.
func TestRejections(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mint("bank-a", 1_000_000_00)
	alice := e.openWallet("bank-a", "alice")
	bob := e.openWallet("bank-b", "bob")
	e.pay("bank-a.treasury", alice, 500_00)
	e.pay(alice, bob, 120_00)
	wallets := []string{"bank-a.treasury", "bank-b.treasury", alice, bob}

	// A pending mint that officer 1 has approved, and the committed one.
	pending, err := e.issuer.ProposeMint(ctx, "bank-b", 10_00)
	if err != nil {
		t.Fatal(err)
	}
	k1 := e.officer(0)
	if pending, err = e.issuer.ApproveMint(ctx, pending.ID, k1.Public(), k1.Sign(crypto.Mint, e.node.Config.Network.ID, pending.ID)); err != nil {
		t.Fatal(err)
	}
	s, err := e.issuer.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mints := []roles.Mint{pending}
	unknownHash := strings.Repeat("ab", 32)
	redeemKey := filepath.Join(e.dir, "keys", "issuer-redeem.key")
	down := "http://" + closedAddr(t)
	pid := pending.ID.String()

	tests := []struct {
		name string
		args []string
		code errcode.Code
		msg  string // in the one-line reason
	}{
		{"too many decimals", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount", "1.234"}, errcode.Malformed, "more than 2 decimal places"},
		{"negative amount", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount", "-5"}, errcode.Malformed, `"-5"`},
		{"letters", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount", "abc"}, errcode.Malformed, `"abc"`},
		{"zero", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount", "0.00"}, errcode.Malformed, "must be positive"},
		{"empty amount", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount="}, errcode.Malformed, "empty"},
		{"overflow", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount", "184467440737095516.16"}, errcode.Malformed, "overflow"},
		{"bad mint amount", []string{"issuer", "propose", "--to", "bank-a", "--amount", "1.234"}, errcode.Malformed, "more than 2 decimal places"},
		{"bad redeem amount", []string{"issuer", "redeem", "--intermediary", "bank-a", "--amount", "abc"}, errcode.Malformed, `"abc"`},
		{"unknown wallet", []string{"wallet", "balance", "bank-a.nosuch"}, errcode.NotFound, "bank-a.nosuch"},
		{"unknown payee", []string{"wallet", "pay", "--from", alice, "--to", "bank-b.nosuch", "--amount", "1.00"}, errcode.NotFound, "bank-b.nosuch"},
		{"unknown payer", []string{"wallet", "pay", "--from", "bank-a.nosuch", "--to", bob, "--amount", "1.00"}, errcode.NotFound, "bank-a.nosuch"},
		{"wallet id without intermediary", []string{"wallet", "history", "nosuch"}, errcode.Malformed, "<intermediary>.<id>"},
		{"unknown intermediary", []string{"wallet", "balance", "bank-z.x"}, errcode.NotFound, `no credential for "bank-z"`},
		{"insufficient funds", []string{"wallet", "pay", "--from", alice, "--to", bob, "--amount", "380.01"}, errcode.InsufficientFunds, ""},
		{"empty wallet", []string{"wallet", "pay", "--from", "bank-b.treasury", "--to", bob, "--amount", "0.01"}, errcode.InsufficientFunds, ""},
		{"redeem more than the treasury", []string{"issuer", "redeem", "--intermediary", "bank-b", "--amount", "1.00"}, errcode.InsufficientFunds, ""},
		{"mint beyond reserves", []string{"issuer", "propose", "--to", "bank-a", "--amount", "4000000.01"}, errcode.InsufficientFunds, "4000000.01"},
		{"mint to nobody", []string{"issuer", "propose", "--to", "bank-z", "--amount", "1.00"}, errcode.NotFound, "bank-z"},
		{"approve twice", []string{"issuer", "approve", pid, "--officer", "1"}, errcode.Conflict, "already approved"},
		{"approve with a non-officer key", []string{"issuer", "approve", pid, "--key", redeemKey}, errcode.Unauthorized, "not a mint officer key"},
		{"no such officer", []string{"issuer", "approve", pid, "--officer", "4"}, errcode.Malformed, "--officer 4"},
		{"no key at all", []string{"issuer", "approve", pid}, errcode.Malformed, "--officer"},
		{"bad mint id", []string{"issuer", "approve", "zz", "--officer", "2"}, errcode.Malformed, "mint ID"},
		{"unknown mint id", []string{"issuer", "approve", unknownHash, "--officer", "2"}, errcode.NotFound, unknownHash},
		{"show unknown mint", []string{"issuer", "show", unknownHash}, errcode.NotFound, unknownHash},
		{"show bad mint id", []string{"issuer", "show", "12"}, errcode.Malformed, "mint ID"},
		{"bad txid", []string{"tx", "show", "xyz"}, errcode.Malformed, "txid"},
		{"unknown txid", []string{"tx", "show", unknownHash}, errcode.NotFound, unknownHash},
		{"bank-a reads bob's wallet", []string{"--as", "bank-a", "wallet", "balance", bob}, errcode.Unauthorized, ""},
		{"bank-a reads bob's history", []string{"--as", "bank-a", "wallet", "history", bob}, errcode.Unauthorized, ""},
		{"bank-a spends bob's money", []string{"--as", "bank-a", "wallet", "pay", "--from", bob, "--to", alice, "--amount", "1.00"}, errcode.Unauthorized, ""},
		{"bank-a mints", []string{"--as", "bank-a", "issuer", "propose", "--to", "bank-a", "--amount", "1.00"}, errcode.Unauthorized, ""},
		{"bank-a approves", []string{"--as", "bank-a", "issuer", "approve", pid, "--officer", "2"}, errcode.Unauthorized, ""},
		{"bank-a redeems for bank-b", []string{"--as", "bank-a", "issuer", "redeem", "--intermediary", "bank-b", "--amount", "1.00"}, errcode.Unauthorized, ""},
		{"wrong token", []string{"--token", "wrong", "wallet", "pay", "--from", alice, "--to", bob, "--amount", "1.00"}, errcode.Unauthorized, "invalid bearer token"},
		{"no server: supply", []string{"--api", down, "supply"}, errcode.Unavailable, "connection refused"},
		{"no server: pay", []string{"--api", down, "wallet", "pay", "--from", alice, "--to", bob, "--amount", "1.00"}, errcode.Unavailable, ""},
		{"no server: approve", []string{"--api", down, "issuer", "approve", pid, "--officer", "2"}, errcode.Unavailable, ""},
		{"no server, no config", []string{"--api", down, "--data", t.TempDir(), "wallet", "pay", "--from", alice, "--to", bob, "--amount", "1.00"}, errcode.Unavailable, "no devnet config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(wallets, mints)
			// Later --api/--data flags override the env's.
			out, err := e.run(tt.args...)
			if err == nil {
				t.Fatalf("specie %s succeeded:\n%s", strings.Join(tt.args, " "), out)
			}
			if got := errcode.Of(err); got != tt.code {
				t.Errorf("code %s, want %s (%v)", got, tt.code, err)
			}
			line := oneLine(err)
			if strings.Contains(line, "\n") || line == "" {
				t.Errorf("reason is not one line: %q", line)
			}
			if !strings.Contains(line, tt.msg) {
				t.Errorf("reason %q lacks %q", line, tt.msg)
			}
			if out != "" {
				t.Errorf("a failed command printed to stdout:\n%s", out)
			}
			if after := e.snapshot(wallets, mints); !after.equal(before) {
				t.Errorf("rejected command changed state:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	// A script checking with `supply --json` sees the supply of before.
	var sup wire.Supply
	e.mustJSON(&sup, "supply")
	if sup.Minted != wire.FormatAmount(s.Minted) || sup.Redeemed != wire.FormatAmount(s.Redeemed) || sup.Batches != s.Batches || sup.Unspent != s.Unspent {
		t.Errorf("supply --json after the rejections %+v, want %+v", sup, s.LedgerSupply)
	}
}

// TestUsageErrors: cobra's own rejections (unknown command or flag, missing
// flags and arguments) fail too, without output on stdout.
func TestUsageErrors(t *testing.T) {
	t.Setenv("SPECIE_API", "http://"+closedAddr(t))
	for _, args := range [][]string{
		{"bogus"},
		{"wallet", "pay", "--from", "bank-a.x"},
		{"wallet", "balance"},
		{"wallet", "balance", "a.b", "c.d"},
		{"supply", "--nope"},
		{"issuer", "propose", "--amount", "1.00"},
	} {
		out, err := runCLI(args...)
		if err == nil {
			t.Errorf("specie %s succeeded", strings.Join(args, " "))
			continue
		}
		if strings.Contains(oneLine(err), "\n") {
			t.Errorf("specie %s: reason not one line", strings.Join(args, " "))
		}
		if out != "" {
			t.Errorf("specie %s printed:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestHelp: every command in the tree answers --help with its Short text,
// without a network, and has Short text to show.
func TestHelp(t *testing.T) {
	t.Setenv("SPECIE_API", "http://"+closedAddr(t))
	tree := newRoot(new(strings.Builder))
	tree.InitDefaultHelpCmd()
	tree.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command, path []string)
	n := 0
	walk = func(c *cobra.Command, path []string) {
		n++
		name := strings.Join(append([]string{"specie"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			if strings.TrimSpace(c.Short) == "" {
				t.Errorf("%s has no Short text", name)
			}
			out, err := runCLI(append(append([]string{}, path...), "--help")...)
			if err != nil {
				t.Fatalf("%s --help: %v", name, err)
			}
			if !strings.Contains(out, "Usage:") {
				t.Errorf("%s --help shows no usage:\n%s", name, out)
			}
			want := c.Long
			if want == "" {
				want = c.Short
			}
			if !strings.Contains(out, strings.TrimSpace(want)) {
				t.Errorf("%s --help lacks its description %q:\n%s", name, want, out)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(tree, nil)
	if n < 20 {
		t.Errorf("walked only %d commands", n)
	}
}
