// Package audit lets a third party check the ledger without trusting its
// operator: it verifies the hash chain of batch headers, the supply the
// headers commit to, and any transaction's Merkle inclusion proof.
package audit

import (
	"context"
	"fmt"

	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Summary is what a verified log shows.
type Summary struct {
	Batches      uint64     `json:"batches"`
	Transactions uint64     `json:"transactions"`
	Head         money.Hash `json:"head"`
	Minted       uint64     `json:"minted"`
	Redeemed     uint64     `json:"redeemed"`
	Outstanding  uint64     `json:"outstanding"`
	// SupplyMatches says the published supply equals what the last header
	// commits to.
	SupplyMatches bool `json:"supply_matches"`
	// KeySets counts the officer key rotations verified in the log
	// (VerifyLog).
	KeySets int `json:"key_sets"`
}

// Chain checks headers incrementally. Feed it every header from 1 on.
type Chain struct {
	net money.Network
	sum Summary
	// last is the previous header, to check monotonic supply.
	last *money.BatchHeader
}

// NewChain starts verifying the log of network net.
func NewChain(net money.Network) *Chain { return &Chain{net: net} }

// Add checks the next header with money.Network.VerifyNext: its sequence
// number, that it names the hash of the previous header, and that minted
// and redeemed only grow with redeemed never above minted.
func (c *Chain) Add(h money.BatchHeader) error {
	if err := c.net.VerifyNext(c.last, &h); err != nil {
		return err
	}
	c.sum.Batches = h.Seq
	c.sum.Transactions += uint64(h.TxCount)
	c.sum.Head = c.net.HeaderHash(&h)
	c.sum.Minted, c.sum.Redeemed, c.sum.Outstanding = h.Minted, h.Redeemed, h.Minted-h.Redeemed
	c.last = &h
	return nil
}

// Summary reports what has been verified so far.
func (c *Chain) Summary() Summary { return c.sum }

// VerifyLog fetches every header from the ledger, checks the chain, and
// compares the supply the ledger publishes with what the headers commit to.
// Each officer key rotation GET /v1/info serves is checked in the log: its
// batch (fetched when l is also a roles.BatchSource) is the rotation batch
// the chain holds, and the quorum of the set before it approved it, from
// the founding keys on.
// The supply is read first, as a snapshot at batch s.Batches: the log must
// reach that batch and commit to the same totals there, so batches committed
// during the audit neither fail it nor let trailing batches go unserved.
func VerifyLog(ctx context.Context, l roles.Ledger) (Summary, error) {
	sum, _, err := verifyLog(ctx, l)
	return sum, err
}

// verifyLog is VerifyLog, also returning the published supply it checked
// the chain against (VerifySharded adds the groups' up).
func verifyLog(ctx context.Context, l roles.Ledger) (Summary, roles.LedgerSupply, error) {
	info, err := l.Info(ctx)
	if err != nil {
		return Summary{}, roles.LedgerSupply{}, fmt.Errorf("verify log: %w", err)
	}
	s, err := l.Supply(ctx)
	if err != nil {
		return Summary{}, roles.LedgerSupply{}, fmt.Errorf("verify log: supply: %w", err)
	}
	c := NewChain(info.Network)
	var at Summary // the chain at batch s.Batches
	rotAt := make(map[uint64]money.BatchHeader, len(info.KeySets))
	for _, e := range info.KeySets {
		rotAt[e.Batch] = money.BatchHeader{}
	}
	for from := uint64(1); ; {
		hs, err := l.Headers(ctx, from, 1000)
		if err != nil {
			return c.Summary(), s, fmt.Errorf("verify log: headers from %d: %w", from, err)
		}
		for _, h := range hs {
			if err := c.Add(h); err != nil {
				return c.Summary(), s, fmt.Errorf("verify log: %w", err)
			}
			if h.Seq == s.Batches {
				at = c.Summary()
			}
			if _, ok := rotAt[h.Seq]; ok {
				rotAt[h.Seq] = h
			}
		}
		if len(hs) == 0 {
			break
		}
		from += uint64(len(hs))
	}
	sum := c.Summary()
	if sum.Batches < s.Batches {
		return sum, s, fmt.Errorf("verify log: the ledger publishes %d batches but serves %d", s.Batches, sum.Batches)
	}
	sum.SupplyMatches = s.Minted == at.Minted && s.Redeemed == at.Redeemed && s.Outstanding == at.Outstanding
	if !sum.SupplyMatches {
		return sum, s, fmt.Errorf("verify log: published supply (minted %d, redeemed %d) differs from the log at batch %d (minted %d, redeemed %d)", s.Minted, s.Redeemed, s.Batches, at.Minted, at.Redeemed)
	}
	if len(info.KeySets) > 0 {
		src, ok := l.(roles.BatchSource)
		if !ok {
			return sum, s, fmt.Errorf("verify log: the ledger serves %d officer key rotations and no batches to check them in", len(info.KeySets))
		}
		cur := policy.KeySet{Network: info.Network.ID, Version: 1, Keys: info.MintKeys, Quorum: info.MintQuorum}
		for _, e := range info.KeySets {
			h, ok := rotAt[e.Batch]
			if e.Batch == 0 || !ok || h.Seq != e.Batch {
				return sum, s, fmt.Errorf("verify log: officer key set version %d (from batch %d) is not a batch of the log", e.KeySet.KeySet.Version, e.FromBatch)
			}
			if err := verifyRotation(ctx, src, info.Network, h, &cur, &e); err != nil {
				return sum, s, fmt.Errorf("verify log: %w", err)
			}
			cur = e.KeySet.KeySet
			sum.KeySets++
		}
	}
	return sum, s, nil
}

// verifyRotation checks that rotation e is batch h of the verified chain
// (the batch served with h's header, its one leaf the ID of its rotation
// record, which is e's set with e's approvals, applying from the batch
// after it) and that the quorum of cur, the set before it, approved it.
func verifyRotation(ctx context.Context, src roles.BatchSource, net money.Network, h money.BatchHeader, cur *policy.KeySet, e *roles.KeyEpoch) error {
	b, err := src.Batch(ctx, h.Seq)
	if err != nil {
		return fmt.Errorf("rotation batch %d: %w", h.Seq, err)
	}
	if net.HeaderHash(&b.Header) != net.HeaderHash(&h) || b.KeySet == nil || len(b.Txs) != 0 {
		return fmt.Errorf("batch %d is served otherwise than as the rotation batch its header is", h.Seq)
	}
	if h.TxCount != 1 || h.TxRoot != money.MerkleRoot([]money.Hash{policy.RotationID(b.KeySet)}) {
		return fmt.Errorf("batch %d: its header does not commit to the rotation record served", h.Seq)
	}
	var s policy.SignedKeySet
	if err := s.UnmarshalBinary(b.KeySet); err != nil {
		return fmt.Errorf("batch %d: %w", h.Seq, err)
	}
	if served, err := e.KeySet.MarshalBinary(); err != nil || policy.RotationID(served) != policy.RotationID(b.KeySet) || e.FromBatch != h.Seq+1 {
		return fmt.Errorf("batch %d: GET /v1/info serves officer key set version %d otherwise than the log holds it", h.Seq, e.KeySet.KeySet.Version)
	}
	if err := s.Verify(cur); err != nil {
		return fmt.Errorf("the rotation in batch %d: %w", h.Seq, err)
	}
	return nil
}

// VerifyTx checks a transaction's inclusion proof against its batch header,
// and that the header is the one the verified chain holds at that sequence
// when chain headers are given (by seq).
func VerifyTx(net money.Network, info roles.TxInfo, headerAt func(seq uint64) (money.BatchHeader, bool)) error {
	h := info.Header
	if err := h.VerifyInclusion(info.TxID, info.Index, info.Proof); err != nil {
		return fmt.Errorf("transaction %s: %w", info.TxID, err)
	}
	if headerAt != nil {
		ch, ok := headerAt(h.Seq)
		if !ok || net.HeaderHash(&ch) != net.HeaderHash(&h) {
			return fmt.Errorf("transaction %s: batch %d header differs from the log", info.TxID, h.Seq)
		}
	}
	return nil
}
