package issuer

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// The records that policy and key set proposals were stored as before the
// two kinds shared one mechanism: a data directory written then must still
// open, and one written now must read the same to the code of then.
type (
	policyRecordV1 struct {
		Policy    policy.Policy     `json:"policy"`
		Approvals []policy.Approval `json:"approvals"`
		Adopted   bool              `json:"adopted"`
		Created   time.Time         `json:"created"`
	}
	keySetRecordV1 struct {
		KeySet    policy.KeySet     `json:"key_set"`
		Approvals []policy.Approval `json:"approvals"`
		Adopted   bool              `json:"adopted"`
		Created   time.Time         `json:"created"`
	}
)

func TestProposalRecordsKeepTheirStoredForm(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	approvals := []policy.Approval{{Key: crypto.PublicKey{1}, Sig: policy.Signature(make([]byte, 64))}}
	p := policy.Default("testnet", money.Currency{Code: "USD", Exponent: 2})
	p.Version = 3
	k := policy.KeySet{Network: "testnet", Version: 2, Keys: []crypto.PublicKey{{1}, {2}}, Quorum: 2}

	t.Run("policy", func(t *testing.T) {
		old := policyRecordV1{Policy: p, Approvals: approvals, Adopted: true, Created: created}
		checkStoredForm(t, policies, old, &govRecord[policy.Policy]{Doc: p, Approvals: approvals, Adopted: true, Created: created}, &policyRecordV1{})
	})
	t.Run("key set", func(t *testing.T) {
		old := keySetRecordV1{KeySet: k, Approvals: approvals, Adopted: true, Created: created}
		checkStoredForm(t, keySets, old, &govRecord[policy.KeySet]{Doc: k, Approvals: approvals, Adopted: true, Created: created}, &keySetRecordV1{})
	})
}

// checkStoredForm reads old's bytes as want, and writes want as bytes that
// the old type reads as old.
func checkStoredForm[T, O any](t *testing.T, g *proposals[T], old O, want *govRecord[T], back *O) {
	t.Helper()
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.decode(b)
	if err != nil {
		t.Fatalf("decode a record of the old form: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("old record read as\n%+v\nwant\n%+v", got, want)
	}
	nb, err := g.encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(nb, back); err != nil {
		t.Fatalf("the old form cannot read %s: %v", nb, err)
	}
	if !reflect.DeepEqual(*back, old) {
		t.Fatalf("new record read by the old form as\n%+v\nwant\n%+v", *back, old)
	}
	if _, err := g.decode([]byte(`{"approvals": 7}`)); err == nil {
		t.Fatal("a record with approvals of the wrong type decoded")
	}
}
