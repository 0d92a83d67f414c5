package intermediary

import (
	"context"

	"github.com/specie/specie/money"
)

// Holdings lists every note wallet id holds on the intermediary's books,
// those reserved by a spend in flight included: what an audit compares
// with the ledger (each note unspent there with its value, held by no
// other wallet, together the wallet's balance once nothing is in flight).
// Only the intermediary's own credential may ask.
func (in *Intermediary) Holdings(ctx context.Context, id string) ([]money.Note, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.readable(ctx, id); err != nil {
		return nil, err
	}
	recs, err := in.notes(id)
	if err != nil {
		return nil, err
	}
	out := make([]money.Note, len(recs))
	for i, r := range recs {
		out[i] = r.Note
	}
	return out, nil
}
