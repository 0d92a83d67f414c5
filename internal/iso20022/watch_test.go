package iso20022_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/iso20022"
)

func ls(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// TestWatchDirectory runs directory mode over HTTP with bank-a's
// credential: a crash after the gateway applied a message but before its
// answer was written leaves the file in place; the restarted watcher
// sends it again, gets the first answer, and every deposit is credited
// exactly once. A file sent with a credential the gateway refuses goes to
// failed/.
func TestWatchDirectory(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 10_000_00)
	alice := e.open("bank-a", "alice")
	in, out := filepath.Join(t.TempDir(), "in"), filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		d := deposits{MsgID: fmt.Sprintf("DIR-%03d", i), Agent: "BNKAUS33", Txs: []deposit{{E2E: fmt.Sprintf("E2E-DIR-%d", i), Ccy: "USD", Amount: "10.00", Wallet: alice, Name: "Alice"}}}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("msg-%03d.xml", i)), fill(t, "pacs008-deposits.xml", d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file still being written (not *.xml yet) is left alone.
	if err := os.WriteFile(filepath.Join(in, ".msg-999.xml.part"), []byte("<Docu"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.n.Config.Token("bank-a")
	gw := client.New(e.n.URL, tok).ISO20022("bank-a")
	sent := 0
	crashing := &iso20022.Watcher{In: in, Out: out, Send: func(ctx context.Context, doc []byte) ([]byte, error) {
		a, err := gw.Send(ctx, doc)
		sent++
		if sent == 2 {
			// Applied at the gateway; the watcher dies before writing.
			return nil, errcode.New(errcode.Unavailable, "crash")
		}
		return a, err
	}}
	if n, err := crashing.Pass(context.Background()); !errcode.Is(err, errcode.Unavailable) || n != 1 {
		t.Fatalf("crashing pass: %d %v", n, err)
	}
	if got := e.balance(alice); got != 20_00 {
		t.Fatalf("after the crash alice has %d, want 20.00 (two messages applied)", got)
	}
	restarted := &iso20022.Watcher{In: in, Out: out, Send: gw.Send, Workers: 4}
	if n, err := restarted.Pass(context.Background()); err != nil || n != 3 {
		t.Fatalf("restarted pass: %d %v", n, err)
	}
	if got := e.balance(alice); got != 40_00 {
		t.Fatalf("alice has %d, want 40.00: each deposit exactly once", got)
	}
	if d := ls(t, filepath.Join(in, iso20022.DoneDir)); len(d) != 4 {
		t.Fatalf("done: %v", d)
	}
	answers := ls(t, out)
	if len(answers) != 4 {
		t.Fatalf("answers: %v", answers)
	}
	for _, name := range answers {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if iso20022.MsgIDOf(b)+".xml" != name {
			t.Fatalf("%s holds answer %s", name, iso20022.MsgIDOf(b))
		}
		conforms(t, iso20022.Pacs002, b)
		if grp, _, _ := status(t, iso20022.Answer{XML: b}); grp != "ACSC" {
			t.Fatalf("%s: %s", name, grp)
		}
	}
	if left := ls(t, in); len(left) != 1 || left[0] != ".msg-999.xml.part" {
		t.Fatalf("left in the in directory: %v", left)
	}
	// Nothing more to do: a second pass answers nothing.
	if n, err := restarted.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("idle pass: %d %v", n, err)
	}

	// bank-b's credential for bank-a's gateway: refused, moved to failed/.
	btok, _ := e.n.Config.Token("bank-b")
	wrong := &iso20022.Watcher{In: in, Out: out, Send: client.New(e.n.URL, btok).ISO20022("bank-a").Send}
	d := deposits{MsgID: "DIR-WRONG", Agent: "BNKAUS33", Txs: []deposit{{E2E: "E2E-W", Ccy: "USD", Amount: "10.00", Wallet: alice, Name: "Alice"}}}
	if err := os.WriteFile(filepath.Join(in, "wrong.xml"), fill(t, "pacs008-deposits.xml", d), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := wrong.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("refused pass: %d %v", n, err)
	}
	if f := ls(t, filepath.Join(in, iso20022.FailedDir)); len(f) != 2 || f[0] != "wrong.xml" {
		t.Fatalf("failed: %v", f)
	}
	if got := e.balance(alice); got != 40_00 {
		t.Fatalf("alice has %d after a refused file", got)
	}
}
