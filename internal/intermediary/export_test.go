package intermediary

import (
	"context"

	"github.com/specie/specie/money"
)

// HeldNotes lists every note wallet id holds, reserved ones included, for
// tests that compare a wallet with the ledger.
func HeldNotes(in *Intermediary, id string) ([]money.Note, error) {
	return in.Holdings(in.asSelf(context.Background()), id)
}
