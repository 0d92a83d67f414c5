package client

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// SubmitPart sends one step of a cross-group transaction, in its wire
// form (internal/ledger: Part.MarshalBinary), to a ledger group
// (POST /v1/parts). Only a router of a sharded network calls it, with the
// router's credential; a replicated group's follower names its leader and
// the part is sent there, as a transaction is. Refusals come back with
// the ledger's codes: double_spend when the step is already logged,
// conflict when a step it excludes is.
func (c *Client) SubmitPart(ctx context.Context, part []byte) (roles.Receipt, error) {
	var rc roles.Receipt
	req := wire.PartRequest{Part: base64.StdEncoding.EncodeToString(part)}
	if err := c.do(ctx, http.MethodPost, "/v1/parts", req, &rc); err != nil {
		return roles.Receipt{}, err
	}
	return rc, nil
}
