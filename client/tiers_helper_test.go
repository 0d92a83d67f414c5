package client_test

import (
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// unlimited asks for a wallet of the default policy's merchant tier, which
// has no holding, payment, daily or monthly limit: for tests of payments,
// not of limits.
func unlimited(owner string) roles.WalletRequest {
	return roles.WalletRequest{Owner: owner, Tier: 3, Evidence: []roles.EvidenceRef{
		{Kind: policy.Identity, Ref: "ID-" + owner}, {Kind: policy.Address, Ref: "addr-" + owner}, {Kind: policy.Business, Ref: "REG-" + owner}}}
}
