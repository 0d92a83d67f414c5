package wire

import "github.com/specie/specie/roles"

// Aliases carry no amounts, so their JSON forms are the roles types
// themselves (whose fields are tagged); these names are the wire contract.

// AliasBinding is an entry of the central bank's alias directory:
// GET /v1/directory/aliases/{hash} and the answer to a PUT.
type AliasBinding = roles.AliasBinding

// AliasChallenge answers POST /v1/intermediaries/{name}/aliases/codes.
type AliasChallenge = roles.AliasChallenge

// AliasEntry answers .../aliases/confirm and .../aliases/lookup.
type AliasEntry = roles.AliasEntry

// AliasCodeRequest is POST /v1/intermediaries/{name}/aliases/codes: send a
// one-time code for binding alias to wallet (move: from wherever it is
// bound now).
type AliasCodeRequest = roles.AliasRequest

// BindAliasRequest is PUT /v1/directory/aliases/{hash}.
type BindAliasRequest struct {
	Wallet  string `json:"wallet"`
	Display string `json:"display"`
	Move    bool   `json:"move,omitempty"`
}

// ConfirmAliasRequest is POST /v1/intermediaries/{name}/aliases/confirm.
type ConfirmAliasRequest struct {
	Wallet string `json:"wallet"`
	Alias  string `json:"alias"`
	Code   string `json:"code"`
}

// LookupAliasRequest is POST /v1/intermediaries/{name}/aliases/lookup. The
// alias travels in the body, never the URL, so no access log or proxy
// records phone numbers.
type LookupAliasRequest struct {
	Alias string `json:"alias"`
}

// RemoveAliasRequest is POST /v1/intermediaries/{name}/aliases/remove.
type RemoveAliasRequest struct {
	Wallet string `json:"wallet"`
	Alias  string `json:"alias"`
}

// AliasRemoved answers a removal: .../aliases/remove and
// DELETE /v1/directory/aliases/{hash}/{wallet}.
type AliasRemoved struct {
	Status string `json:"status"` // "removed"
}
