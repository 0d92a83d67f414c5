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
	// KeySet is set, and Txs empty, for a rotation batch: the officer key
	// set it put in force, as its rotation record
	// (policy.SignedKeySet.MarshalBinary), whose policy.RotationID is the
	// batch's one Merkle leaf. Served whether or not the ledger keeps its
	// archive.
	KeySet []byte
	// IDs are the batch's Merkle leaves, one per transaction, in order:
	// each transaction's txid, or, in a group of a sharded network, the
	// txid a step of a cross-group transaction was logged under (the
	// transaction is archived whole with each step; internal/shard). An
	// auditor checks them against the header's root and tells the steps
	// apart by them. Empty when the server does not say (an older one).
	IDs []money.Hash
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

// CheckpointSource serves signed checkpoints of the log-wide Merkle tree
// over batch headers (RFC 9162) and consistency proofs between its sizes
// (internal/logtree), so a party that kept an earlier checkpoint can tell
// that the log it sees now extends it.
type CheckpointSource interface {
	// Checkpoint is the log's current checkpoint as a signed note.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Consistency proves that the log of size from is a prefix of the log
	// of size to.
	Consistency(ctx context.Context, from, to uint64) ([]money.Hash, error)
	// LogKey is the key that verifies the checkpoints, in the signed note
	// format (name+hash+key).
	LogKey(ctx context.Context) (string, error)
}
