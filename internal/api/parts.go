package api

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/roles"
)

// PartLedger is a ledger that takes the steps of cross-group
// transactions (*ledger.Ledger): a group of a sharded network.
type PartLedger interface {
	SubmitPart(ctx context.Context, p ledger.Part) (roles.Receipt, error)
}

// MaxPartBody bounds POST /v1/parts: one transaction (at most 64 inputs
// and outputs) and up to 65 notes each side, base64 in JSON.
const MaxPartBody = 64 << 10

// partRoutes serves POST /v1/parts when the ledger takes parts: the route
// a router (`specie serve router`, internal/shard) sends each step of
// two-phase commit through to a group in another process. It is internal
// to the ledger operator: only the router principal may call it, since a
// part can lock notes, and one marked verified skips signature checks.
// Answers are the ledger's: double_spend for a step already logged,
// conflict when an excluded step is, not_leader (with the leader's URL)
// from a follower, as POST /v1/transactions answers.
func (s *Server) partRoutes() {
	pl, ok := s.cfg.Ledger.(PartLedger)
	if !ok {
		return
	}
	s.handle("POST /v1/parts", s.authed(func(w http.ResponseWriter, r *http.Request) error {
		p, _ := roles.Caller(r.Context())
		if p.Role != roles.RoleRouter {
			return errcode.Forbidden("principal %q (role %q) may not submit parts of cross-group transactions: only the router does", p.Name, p.Role)
		}
		var req wire.PartRequest
		if err := decodeBody(w, r, MaxPartBody, &req); err != nil {
			return err
		}
		b, err := base64.StdEncoding.Strict().DecodeString(req.Part)
		if err != nil {
			return errcode.New(errcode.Malformed, "part: bad base64: %v", err)
		}
		part, err := ledger.DecodePart(b)
		if err != nil {
			return err
		}
		rc, err := pl.SubmitPart(r.Context(), part)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rc)
		return nil
	}))
}
