package policy_test

import (
	"fmt"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// An intermediary applies a policy only once it has checked the officers'
// quorum signed it.
func ExampleSigned_Verify() {
	var keys []*crypto.PrivateKey
	var officers []crypto.PublicKey
	for i := range 3 {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k, _ := crypto.KeyFromSeed(seed)
		keys = append(keys, k)
		officers = append(officers, k.Public())
	}
	p := policy.Default("devnet", money.Currency{Code: "USD", Exponent: 2})
	s := policy.Signed{Policy: p, Approvals: []policy.Approval{policy.Sign(&p, keys[0])}}
	fmt.Println(s.Verify("devnet", officers, 2) != nil)

	s.Approvals = append(s.Approvals, policy.Sign(&p, keys[2]))
	fmt.Println(s.Verify("devnet", officers, 2))
	t0, _ := p.Tier(0)
	fmt.Printf("%s: holding %d, per payment %d\n", t0.Name, t0.Holding, t0.PerPayment)
	// Output:
	// true
	// <nil>
	// phone only: holding 50000, per payment 20000
}
