package issuer

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// decideApproval is a pure function: the whole mint lifecycle's decisions
// are checked here with no store, ledger or goroutine.
func TestDecideApproval(t *testing.T) {
	usd := money.Currency{Code: "USD", Exponent: 2}
	body, err := (&money.Tx{Kind: money.Mint, Nonce: 1, Outputs: []money.Output{{Value: 500, Lock: money.Lock{Kind: money.LockEd25519}}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	k1, k2, k3 := crypto.PublicKey{1}, crypto.PublicKey{2}, crypto.PublicKey{3}
	ok := func(k crypto.PublicKey) approver { return approver{key: k, officer: true, verified: true} }
	pending := func(keys ...crypto.PublicKey) *proposal {
		p := &proposal{To: "bank-a", Amount: 500, Status: roles.MintPending, Tx: body}
		for _, k := range keys {
			p.Approvals = append(p.Approvals, approval{Key: k, Sig: make([]byte, 64)})
		}
		return p
	}
	cases := []struct {
		name      string
		p         *proposal
		busy      bool
		a         approver
		reserve   uint64
		want      approvalStep
		code      errcode.Code
		status    string
		approvals int
	}{
		{"first approval is recorded", pending(), false, ok(k1), 1000, stepRecord, "", roles.MintPending, 1},
		{"quorum submits", pending(k1), false, ok(k2), 1000, stepSubmit, "", statusSubmitting, 2},
		{"quorum over the reserve rejects", pending(k1), false, ok(k2), 499, stepReject, "", roles.MintRejected, 2},
		{"an officer approves once", pending(k1), false, ok(k1), 1000, 0, errcode.Conflict, roles.MintPending, 1},
		{"a full quorum resubmits on any approval", pending(k1, k2), false, ok(k1), 1000, stepSubmit, "", statusSubmitting, 2},
		{"a third approval joins a resubmission", pending(k1, k2), false, ok(k3), 1000, stepSubmit, "", statusSubmitting, 3},
		{"a mint at the ledger is not pending", pending(k1), true, ok(k2), 1000, 0, errcode.Conflict, roles.MintPending, 1},
		{"a committed mint is not pending", &proposal{Status: roles.MintCommitted, Tx: body}, false, ok(k2), 1000, 0, errcode.Conflict, roles.MintCommitted, 0},
		{"a stranger is unauthorized", pending(k1), false, approver{key: k3, verified: true}, 1000, 0, errcode.Unauthorized, roles.MintPending, 1},
		{"a bad signature changes nothing", pending(k1), false, approver{key: k2, officer: true}, 1000, 0, errcode.BadSignature, roles.MintPending, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			step, err := decideApproval(money.TxID{9}, c.p, c.busy, c.a, 2, c.reserve, usd)
			if c.code != "" {
				if errcode.Of(err) != c.code {
					t.Fatalf("err %v, want %s", err, c.code)
				}
			} else if err != nil || step != c.want {
				t.Fatalf("step %d, err %v; want step %d", step, err, c.want)
			}
			if c.p.Status != c.status || len(c.p.Approvals) != c.approvals {
				t.Fatalf("proposal %s with %d approvals, want %s with %d", c.p.Status, len(c.p.Approvals), c.status, c.approvals)
			}
			if step == stepSubmit {
				var tx money.Tx
				if err := tx.UnmarshalBinary(c.p.Tx); err != nil || len(tx.Auth) != c.approvals {
					t.Fatalf("submitted tx: %v, %d signatures", err, len(tx.Auth))
				}
			}
		})
	}
}

func TestDecideRedeem(t *testing.T) {
	mine := &redemption{Intermediary: "bank-a", Amount: 5}
	theirs := &redemption{Intermediary: "bank-b", Amount: 5}
	cases := []struct {
		name          string
		hasReserve    bool
		done, pending *redemption
		busy          bool
		submit        bool
		code          errcode.Code
	}{
		{"a new redeem is submitted", true, nil, nil, false, true, ""},
		{"no reserve account", false, nil, nil, false, false, errcode.Forbidden("").Code},
		{"credited: the first outcome again", true, mine, nil, false, false, ""},
		{"credited to another", true, theirs, nil, false, false, errcode.Forbidden("").Code},
		{"at the ledger for another", true, nil, theirs, false, false, errcode.Forbidden("").Code},
		{"interrupted: submitted again", true, nil, mine, false, true, ""},
		{"being submitted", true, nil, mine, true, false, errcode.Conflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			submit, err := decideRedeem(money.TxID{7}, "bank-a", c.hasReserve, c.done, c.pending, c.busy)
			if submit != c.submit || (c.code == "" && err != nil) || (c.code != "" && errcode.Of(err) != c.code) {
				t.Fatalf("submit %v, err %v; want %v, %q", submit, err, c.submit, c.code)
			}
		})
	}
}
