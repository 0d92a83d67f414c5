package intermediary_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestRefundsScript runs testdata/refunds.txt: a buyer at bank-b pays a
// shop at bank-a, the shop refunds, the buyer disputes, the shop's bank
// resolves, with bank-a reachable or not, as commands and what each
// intermediary then shows. Payments are o1, o2, ...; disputes d1, d2, ...
//
//	pay AMOUNT                       the buyer pays the shop (o<n>)
//	refund o<n> AMOUNT               the shop refunds part of o<n>
//	dispute o<n> REASON...           the buyer's bank opens a dispute (d<n>)
//	resolve d<n> refund [AMOUNT]     the shop's bank refunds it (all that is left without AMOUNT)
//	resolve d<n> reject REASON...    the shop's bank rejects it
//	shop-bank down|up                whether bank-b reaches bank-a
//	retry                            bank-b hands over what it could not
//	show o<n> | show d<n>            what the two sides see
func TestRefundsScript(t *testing.T) {
	const path = "testdata/refunds.txt"
	header, cases := readScript(t, path)
	e := newSeededEnv(t, 1, "bank-a", "bank-b")
	shop := e.wallet("bank-a", "shop", 0)
	buyer := e.wallet("bank-b", "buyer", 100_00)
	cur := e.net.Network.Currency
	a, b := e.bank("bank-a"), e.bank("bank-b")
	names := map[string]string{shop: "<shop>", buyer: "<buyer>"}
	orders := map[string]money.TxID{}
	disputes := map[string]string{}
	name := func(s string) string {
		for k, v := range names {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	outcome := func(err error) string {
		var ee *errcode.Error
		if errors.As(err, &ee) {
			return fmt.Sprintf("%s: %s", ee.Code, name(ee.Message))
		}
		if err != nil {
			t.Fatalf("not an errcode: %v", err)
		}
		return "ok"
	}
	var out strings.Builder
	out.WriteString(header)
	for _, c := range cases {
		f := strings.Fields(c.cmd)
		amount := func(s string) uint64 {
			v, err := cur.Parse(s)
			if err != nil {
				t.Fatalf("%s: %v", c.cmd, err)
			}
			return v
		}
		var got string
		switch f[0] {
		case "pay":
			r, err := b.Pay(as("bank-b"), roles.Payment{From: buyer, To: shop, Amount: amount(f[1])})
			got = outcome(err)
			if err == nil {
				o := fmt.Sprintf("o%d", len(orders)+1)
				orders[o], names[r.TxID.String()] = r.TxID, o
				got = "ok: " + o
			}
		case "refund":
			_, err := a.Pay(as("bank-a"), roles.Payment{From: shop, Amount: amount(f[2]), RefundOf: orders[f[1]]})
			got = outcome(err)
		case "dispute":
			d, err := b.OpenDispute(as("bank-b"), roles.DisputeRequest{Wallet: buyer, TxID: orders[f[1]], Reason: strings.Join(f[2:], " ")})
			got = outcome(err)
			if err == nil {
				id := fmt.Sprintf("d%d", len(disputes)+1)
				disputes[id], names[d.ID] = d.ID, id
				got = fmt.Sprintf("ok: %s %s", id, d.State)
			}
		case "resolve":
			var d roles.Dispute
			var err error
			if f[2] == "refund" {
				var v uint64
				if len(f) > 3 {
					v = amount(f[3])
				}
				d, err = a.RefundDispute(as("bank-a"), disputes[f[1]], v, "")
			} else {
				d, err = a.RejectDispute(as("bank-a"), disputes[f[1]], strings.Join(f[3:], " "))
			}
			got = outcome(err)
			if err == nil {
				got = "ok: " + string(d.State)
				if d.Refund != (money.TxID{}) {
					names[d.Refund.String()] = "<" + f[1] + "'s refund>"
				}
			}
		case "shop-bank":
			e.mu.Lock()
			if f[1] == "down" {
				e.peers["bank-a"] = &flakyPeer{Intermediary: a} // takes no disputes: unreachable for them
			} else {
				delete(e.peers, "bank-a")
			}
			e.mu.Unlock()
			got = "ok"
		case "retry":
			got = outcome(b.RetryDisputes(context.Background()))
		case "show":
			if err := errorsJoin(a.RetryDeliveries(context.Background()), b.RetryDeliveries(context.Background())); err != nil {
				t.Fatal(err)
			}
			if tx, ok := orders[f[1]]; ok {
				_, out := e.refunds(shop, tx)
				in, _ := e.refunds(buyer, tx)
				got = fmt.Sprintf("shop refunded %s, buyer got back %s; shop holds %s, buyer %s",
					cur.Format(out), cur.Format(in), cur.Format(e.balance(shop)), cur.Format(e.balance(buyer)))
				break
			}
			var sides []string
			for _, side := range []*intermediary.Intermediary{b, a} {
				d, err := side.Dispute(as(side.Name()), disputes[f[1]])
				s := side.Name() + ": "
				switch {
				case err != nil:
					s += string(errcode.Of(err))
				case d.State == roles.DisputeRefunded:
					s += fmt.Sprintf("%s %s", d.State, cur.Format(d.RefundAmount))
				case d.State == roles.DisputeRejected:
					s += fmt.Sprintf("%s (%s)", d.State, name(d.Resolution))
				default:
					s += string(d.State)
				}
				sides = append(sides, s)
			}
			got = strings.Join(sides, "; ")
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

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
