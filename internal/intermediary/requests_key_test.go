package intermediary_test

import (
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// TestRequestCreateWithAKey pins that a create resent with its idempotency
// key (an answer lost, a crash, a gateway's resent pain.013) returns the
// request the first made, at the same and at another payer's bank, and
// that the key reused for another payer, amount or reference is a
// conflict that creates nothing.
func TestRequestCreateWithAKey(t *testing.T) {
	e, _ := newRequestEnv(t)
	shop := e.wallet("bank-a", "shop", 0)
	for _, payerBank := range []string{"bank-a", "bank-b"} {
		t.Run(payerBank, func(t *testing.T) {
			payer := e.wallet(payerBank, "alice-"+payerBank, 2_000)
			key := "order-" + payerBank
			spec := roles.RequestSpec{Payee: shop, Payer: payer, Amount: 1_250, Reference: "INV-9", Expires: time.Now().Add(time.Hour), IdempotencyKey: key}
			first, err := e.bank("bank-a").CreateRequest(as("bank-a"), spec)
			if err != nil {
				t.Fatal(err)
			}
			spec.Expires = spec.Expires.Add(time.Minute) // a resend computes its own expiry
			again, err := e.bank("bank-a").CreateRequest(as("bank-a"), spec)
			if err != nil || again.ID != first.ID {
				t.Fatalf("resent create: %s, %v; want %s", again.ID, err, first.ID)
			}
			for _, bad := range []roles.RequestSpec{
				{Payee: shop, Payer: payer, Amount: 1_251, Reference: "INV-9", Expires: spec.Expires, IdempotencyKey: key},
				{Payee: shop, Payer: payer, Amount: 1_250, Reference: "INV-10", Expires: spec.Expires, IdempotencyKey: key},
				{Payee: shop, Payer: e.wallet(payerBank, "bob-"+payerBank, 0), Amount: 1_250, Reference: "INV-9", Expires: spec.Expires, IdempotencyKey: key},
			} {
				if _, err := e.bank("bank-a").CreateRequest(as("bank-a"), bad); !errcode.Is(err, errcode.Conflict) {
					t.Fatalf("key reused for %+v: %v, want conflict", bad, err)
				}
			}
			if _, err := e.bank("bank-a").CreateRequest(as("bank-a"), roles.RequestSpec{Payee: shop, Payer: payer, Amount: 1, Expires: spec.Expires, IdempotencyKey: "bad\x01key"}); !errcode.Is(err, errcode.Malformed) {
				t.Fatalf("a key that is not printable ASCII: %v", err)
			}
			for _, w := range []string{shop, payer} {
				name := roles.IntermediaryOf(w)
				l, err := e.bank(name).WalletRequests(as(name), w, "")
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, r := range l {
					if r.Payer == payer {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s sees %d requests to %s, want 1: %+v", w, n, payer, l)
				}
			}
			if _, err := e.accept(first.ID, payer, 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}
