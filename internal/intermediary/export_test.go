package intermediary

import "github.com/specie/specie/money"

// HeldNotes lists every note wallet id holds, reserved ones included, for
// tests that compare a wallet with the ledger.
func HeldNotes(in *Intermediary, id string) ([]money.Note, error) {
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
