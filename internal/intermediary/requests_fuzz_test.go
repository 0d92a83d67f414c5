package intermediary_test

import (
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// FuzzOfferRequest throws arbitrary requests, as another intermediary's
// offer, at the payer's intermediary. It never panics; an offer it
// refuses leaves its copy of that request as it was; one it takes names a
// wallet here as payer and the caller's wallet as payee, with a version no
// older than before.
func FuzzOfferRequest(f *testing.F) {
	e, _ := newRequestEnv(f)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 0)
	r := e.request(payee, payer, 100)
	f.Add(r.ID, r.Payee, r.Payer, r.Reference, string(r.State), r.Amount, r.Version, r.Expires.UnixNano())
	f.Add(r.ID, r.Payee, r.Payer, "", "cancelled", uint64(0), uint64(2), r.Expires.UnixNano())
	f.Add(r.ID+"x", r.Payee, "bank-b.nosuch", "\xff", "paid", uint64(1), uint64(9), int64(0))
	f.Add("bank-b.rq1", "bank-b.w", payer, "r", "pending", uint64(1), uint64(1), int64(1))
	f.Add("", "", "", "", "", uint64(0), uint64(0), int64(0))
	b := e.bank("bank-b")
	f.Fuzz(func(t *testing.T, id, payeeW, payerW, ref, state string, amount, version uint64, expires int64) {
		offer := roles.PaymentRequest{ID: id, Payee: payeeW, Payer: payerW, Reference: ref, State: roles.RequestState(state),
			Amount: amount, Version: version, Expires: time.Unix(0, expires), Created: time.Unix(0, expires), Updated: time.Unix(0, expires)}
		before, berr := b.Request(as("bank-b"), id)
		err := b.OfferRequest(as("bank-a"), offer)
		after, aerr := b.Request(as("bank-b"), id)
		if err != nil {
			if errcode.Of(err) == errcode.Internal {
				t.Fatalf("offer %+v: %v", offer, err)
			}
			if errcode.Of(berr) != errcode.Of(aerr) || before != after {
				t.Fatalf("refused offer %+v (%v) changed the copy: %+v (%v) -> %+v (%v)", offer, err, before, berr, after, aerr)
			}
			return
		}
		if aerr != nil {
			t.Fatalf("offer %+v taken, then not readable: %v", offer, aerr)
		}
		if after.Payer != payerW || after.Payee != payeeW || roles.IntermediaryOf(after.Payer) != "bank-b" || roles.IntermediaryOf(after.Payee) != "bank-a" {
			t.Fatalf("offer %+v taken as %+v", offer, after)
		}
		if berr == nil && after.Version < before.Version {
			t.Fatalf("offer %+v took the copy back from version %d to %d", offer, before.Version, after.Version)
		}
	})
}
