package client

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// SubmitPart sends one step of a cross-group transaction, in its wire
// form (internal/ledger: Part.MarshalBinary), to a ledger group
// (POST /v1/parts). Only a router of a sharded network calls it, with the
// router's credential; a replicated group's follower names its leader and
// the part is sent there, as a transaction is. Refusals come back with
// the ledger's codes: double_spend when the step is already logged,
// conflict when a step it excludes is.
//
// id is the txid the part is logged under. It goes as the Idempotency-Key
// header: a part is idempotent by it (logged once, refused as logged
// after), so Go's transport may send it again when a kept-alive connection
// is closed under it (a group at its connection cap closes idle ones).
func (c *Client) SubmitPart(ctx context.Context, id money.TxID, part []byte) (roles.Receipt, error) {
	var rc roles.Receipt
	req := wire.PartRequest{Part: base64.StdEncoding.EncodeToString(part)}
	if err := c.doWith(ctx, http.MethodPost, "/v1/parts", idemHeader(id.String()), req, &rc); err != nil {
		return roles.Receipt{}, err
	}
	return rc, nil
}
