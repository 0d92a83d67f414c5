package money

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

const tagBatch = "specie/batch/v1\x00"

// BatchHeader is one entry of the ledger's verifiable log. Each header
// commits to its transactions (a Merkle root of their txids in commit order),
// to the header before it, and to the cumulative supply, so anyone holding
// the headers can check the chain and the supply without trusting the
// operator.
type BatchHeader struct {
	Seq      uint64 `json:"seq"`      // 1, 2, 3, ...
	Prev     Hash   `json:"prev"`     // hash of header Seq-1; zero for Seq 1
	TxRoot   Hash   `json:"tx_root"`  // Merkle root of the committed txids
	TxCount  uint32 `json:"tx_count"` // number of committed transactions
	Minted   uint64 `json:"minted"`   // total ever minted, through this batch
	Redeemed uint64 `json:"redeemed"` // total ever redeemed, through this batch
}

// Outstanding is the supply after this batch: minted minus redeemed.
func (h *BatchHeader) Outstanding() uint64 { return h.Minted - h.Redeemed }

// Hash computes the header's hash on network n, which the next header names.
func (n Network) HeaderHash(h *BatchHeader) Hash {
	b := make([]byte, 0, 160)
	b = append(b, tagBatch...)
	b = append(b, byte(len(n.ID)))
	b = append(b, n.ID...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = append(b, h.Prev[:]...)
	b = append(b, h.TxRoot[:]...)
	b = binary.BigEndian.AppendUint32(b, h.TxCount)
	b = binary.BigEndian.AppendUint64(b, h.Minted)
	b = binary.BigEndian.AppendUint64(b, h.Redeemed)
	return sha256.Sum256(b)
}

// Merkle trees follow RFC 6962 (Certificate Transparency): leaves and inner
// nodes are hashed with different prefixes, so a proof cannot pass an inner
// node off as a leaf.

func leafHash(id Hash) Hash {
	var b [33]byte
	copy(b[1:], id[:])
	return sha256.Sum256(b[:])
}

func nodeHash(l, r Hash) Hash {
	var b [65]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// MerkleRoot is the root over txids in order; the empty tree hashes to
// SHA-256 of nothing.
func MerkleRoot(ids []Hash) Hash {
	if len(ids) == 0 {
		return sha256.Sum256(nil)
	}
	level := make([]Hash, len(ids))
	for i, id := range ids {
		level[i] = leafHash(id)
	}
	return rootOf(level)
}

// rootOf hashes leaf hashes up to a root, splitting at the largest power of
// two below n as RFC 6962 does.
func rootOf(leaves []Hash) Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := split(len(leaves))
	return nodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// MerkleProof is the audit path for ids[index].
func MerkleProof(ids []Hash, index int) []Hash {
	if index < 0 || index >= len(ids) {
		return nil
	}
	leaves := make([]Hash, len(ids))
	for i, id := range ids {
		leaves[i] = leafHash(id)
	}
	var path []Hash
	var walk func(l []Hash, m int)
	walk = func(l []Hash, m int) {
		if len(l) <= 1 {
			return
		}
		k := split(len(l))
		if m < k {
			walk(l[:k], m)
			path = append(path, rootOf(l[k:]))
		} else {
			walk(l[k:], m-k)
			path = append(path, rootOf(l[:k]))
		}
	}
	walk(leaves, index)
	return path
}

// ErrBadProof reports an inclusion proof that does not lead to the root.
var ErrBadProof = errors.New("inclusion proof does not match the batch root")

// VerifyInclusion checks that txid sits at index among count transactions
// whose Merkle root is root (RFC 9162 section 2.1.3.2).
func VerifyInclusion(txid Hash, index, count uint64, proof []Hash, root Hash) error {
	if index >= count {
		return ErrBadProof
	}
	fn, sn := index, count-1
	r := leafHash(txid)
	for _, p := range proof {
		if sn == 0 {
			return ErrBadProof
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || r != root {
		return ErrBadProof
	}
	return nil
}

// VerifyInclusion checks the Merkle proof that txid is the index-th of the
// transactions batch h commits to (h.TxRoot over h.TxCount txids): what a
// ledger's answer for one transaction (its header, index and proof) must
// pass. It proves inclusion in this header only; that the header belongs to
// the log is Network.VerifyNext's part.
func (h *BatchHeader) VerifyInclusion(txid TxID, index uint32, proof []Hash) error {
	return VerifyInclusion(txid, uint64(index), uint64(h.TxCount), proof, h.TxRoot)
}

// VerifyNext checks that h may follow prev in network n's log (prev nil:
// h is the first batch): the next sequence number, the hash of prev in
// h.Prev (zero for the first), supply totals that never go backwards with
// redeemed never above minted, and at least one transaction. Applied from
// batch 1 on, it is the whole hash-chain check a third party makes before
// trusting any header's totals or Merkle root.
func (n Network) VerifyNext(prev, h *BatchHeader) error {
	var wantSeq uint64 = 1
	var wantPrev Hash
	if prev != nil {
		wantSeq, wantPrev = prev.Seq+1, n.HeaderHash(prev)
	}
	if h.Seq != wantSeq {
		return fmt.Errorf("batch %d: expected sequence %d", h.Seq, wantSeq)
	}
	if h.Prev != wantPrev {
		return fmt.Errorf("batch %d: previous hash %s, but batch %d hashes to %s", h.Seq, h.Prev, h.Seq-1, wantPrev)
	}
	if prev != nil && (h.Minted < prev.Minted || h.Redeemed < prev.Redeemed) {
		return fmt.Errorf("batch %d: supply totals went backwards", h.Seq)
	}
	if h.Redeemed > h.Minted {
		return fmt.Errorf("batch %d: redeemed %d exceeds minted %d", h.Seq, h.Redeemed, h.Minted)
	}
	if h.TxCount == 0 {
		return fmt.Errorf("batch %d: empty batch", h.Seq)
	}
	return nil
}
