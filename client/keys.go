package client

import (
	"context"
	"encoding/hex"
	"net/http"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Keys returns the issuer's officer key governance served at the base URL:
// the key set in force (anyone may read it) and, with the issuer's
// credential, rotations.
func (c *Client) Keys() roles.KeyDesk { return keysClient{c} }

// keysClient implements roles.KeyDesk over HTTP.
type keysClient struct{ c *Client }

var _ roles.KeyDesk = keysClient{}

// KeySet reads GET /v1/keyset. Like Policy it does not verify: the caller
// checks a rotation with policy.SignedKeySet.Verify against the set before
// it, which it trusts.
func (k keysClient) KeySet(ctx context.Context) (policy.SignedKeySet, error) {
	var s policy.SignedKeySet
	if err := k.c.do(ctx, http.MethodGet, "/v1/keyset", nil, &s); err != nil {
		return policy.SignedKeySet{}, err
	}
	return s, nil
}

func (k keysClient) ProposeKeySet(ctx context.Context, ks policy.KeySet) (roles.KeySetProposal, error) {
	var w wire.KeySetProposal
	if err := k.c.do(ctx, http.MethodPost, "/v1/issuer/keysets", wire.KeySetRequest{KeySet: ks}, &w); err != nil {
		return roles.KeySetProposal{}, err
	}
	return w.ToKeySetProposal(), nil
}

func (k keysClient) ApproveKeySet(ctx context.Context, id money.Hash, key crypto.PublicKey, sig policy.Signature) (roles.KeySetProposal, error) {
	var w wire.KeySetProposal
	req := wire.ApprovalRequest{Key: key.String(), Signature: hex.EncodeToString(sig[:])}
	if err := k.c.do(ctx, http.MethodPost, "/v1/issuer/keysets/"+id.String()+"/approvals", req, &w); err != nil {
		return roles.KeySetProposal{}, err
	}
	return w.ToKeySetProposal(), nil
}

func (k keysClient) GetKeySetProposal(ctx context.Context, id money.Hash) (roles.KeySetProposal, error) {
	var w wire.KeySetProposal
	if err := k.c.do(ctx, http.MethodGet, "/v1/issuer/keysets/"+id.String(), nil, &w); err != nil {
		return roles.KeySetProposal{}, err
	}
	return w.ToKeySetProposal(), nil
}

var _ roles.KeyRotator = ledgerClient{}

// RotateMintKeys hands the ledger an officer key set in force: POST
// /v1/keysets, with the issuer's credential. It makes the HTTP ledger
// client a roles.KeyRotator, so an issuer in its own process
// (`specie serve issuer`) reaches the ledger's rotation too.
func (l ledgerClient) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	var e roles.KeyEpoch
	if err := l.c.do(ctx, http.MethodPost, "/v1/keysets", s, &e); err != nil {
		return roles.KeyEpoch{}, err
	}
	return e, nil
}
