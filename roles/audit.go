package roles

import (
	"context"

	"github.com/specie/specie/money"
)

// BatchContents is one committed batch in full: its header and its
// transactions in commit order, each in the canonical binary encoding with
// its signatures (money.Tx.MarshalBinary). They hold public keys, values and
// signatures, never names or accounts: what an independent auditor needs to
// re-verify the batch without trusting the ledger's operator.
type BatchContents struct {
	Header money.BatchHeader
	Txs    [][]byte
}

// BatchSource serves whole batches. It sits beside Ledger rather than in it
// because a ledger keeps full transactions only when it runs with its
// archive (ledger.Config.Archive); one that does not answers
// errcode.NotFound.
type BatchSource interface {
	// Batch returns batch seq in full; errcode.NotFound if the log has no
	// such batch or the ledger did not keep its transactions.
	Batch(ctx context.Context, seq uint64) (BatchContents, error)
}
