package intermediary_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata scripts")

// scriptCase is one command of a script and the output it must print.
type scriptCase struct {
	cmd  string
	want string
}

// readScript reads a script: comment lines (#), then commands, each
// followed by a line "----" and its expected output up to a blank line.
func readScript(t *testing.T, path string) (header string, cases []scriptCase) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var head strings.Builder
	var cur *scriptCase
	inOut := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && (strings.HasPrefix(line, "#") || (line == "" && len(cases) == 0)):
			head.WriteString(line + "\n")
		case cur == nil && line != "":
			cur = &scriptCase{cmd: line}
		case cur != nil && !inOut && line == "----":
			inOut = true
		case cur != nil && inOut && line != "":
			cur.want += line + "\n"
		case cur != nil && inOut && line == "":
			cases = append(cases, *cur)
			cur, inOut = nil, false
		}
	}
	if cur != nil {
		cases = append(cases, *cur)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return head.String(), cases
}

// TestLimitsScript runs testdata/limits.txt: a tier-0 wallet's limits
// over days and months, on a fake clock, as commands and their outputs.
func TestLimitsScript(t *testing.T) {
	const path = "testdata/limits.txt"
	header, cases := readScript(t, path)
	te := newTierEnv(t, jan31, "bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 0)
	alice := te.walletAt("bank-a", tier(0, phone), 0)
	cur := te.net.Network.Currency
	outcome := func(err error) string {
		if err != nil {
			return fmt.Sprintf("%s: %s", errcode.Of(err), strings.ReplaceAll(err.(*errcode.Error).Message, alice, "<alice>"))
		}
		return "ok"
	}
	var out strings.Builder
	out.WriteString(header)
	for _, c := range cases {
		f := strings.Fields(c.cmd)
		var got string
		amount := func() uint64 {
			v, err := cur.Parse(f[1])
			if err != nil {
				t.Fatalf("%s: %v", c.cmd, err)
			}
			return v
		}
		switch f[0] {
		case "at":
			at, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				t.Fatalf("%s: %v", c.cmd, err)
			}
			te.clock.set(at)
			got = "ok"
		case "fund":
			te.issue("bank-a", amount())
			got = outcome(te.pay("bank-a.treasury", alice, amount()))
		case "pay":
			got = outcome(te.pay(alice, shop, amount()))
		case "state":
			d, m := te.outgoing(alice)
			got = fmt.Sprintf("holds %s, paid %s today, %s this month", cur.Format(te.balance(alice)), cur.Format(d), cur.Format(m))
		default:
			t.Fatalf("unknown command %q", c.cmd)
		}
		got += "\n"
		fmt.Fprintf(&out, "%s\n----\n%s\n", c.cmd, got)
		if !*rewrite && got != c.want {
			t.Errorf("%s:\ngot  %swant %s", c.cmd, got, c.want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
