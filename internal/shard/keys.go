package shard

import (
	"context"
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Officer key rotation on a sharded network (roles.KeyRotator). Every log
// that checks a mint's officer quorum must apply a rotation: each group
// (a mint whose outputs all fall in one group is validated there) and the
// coordinator's log (a mint spanning groups is validated by its begin
// there; the groups' commit parts do not check it again). Each applies it
// as on one ledger, as a rotation batch of its own log.
//
// The logs cannot all apply it at one instant, so the router keeps the
// window closed for what goes through it:
//
//   - A rotation is applied in a fixed order, the coordinator's log first,
//     then group 0, 1, ..., each idempotently (a log that has it answers
//     the same epoch), under the router's key lock held for writing.
//   - A submission holding a mint takes the key lock for reading, and
//     only once every log reports the same key set chain: no mint through
//     the router is in flight while a rotation is applied, and none is
//     taken while one log lags another (an interrupted rotation). When
//     the logs disagree, the router first completes the rotation from the
//     log that is ahead (its rotation record carries the approvals each
//     lagging log verifies again); if that fails the mint is refused
//     unavailable, nothing applied.
//   - Info reports only the rotations every log has applied, so the
//     issuer, which pushes each set in force that Info does not show
//     (at start and every retry period), pushes again until all have it.
//     CompleteRotations, run when a router starts, does the same without
//     waiting for the issuer.
//
// What the router cannot close: a mint submitted straight to one group's
// own API (not through a router) while that group lags, and a mint by a
// second router process racing the first one's rotation. Both are bounded
// by the time a rotation takes to reach every log, which the issuer's
// retries and CompleteRotations keep short.

// keyLogs is every log a rotation must reach, in the order it is applied:
// the coordinator's first, then the groups by index.
func (r *Router) keyLogs() []Group {
	return append([]Group{r.coord.cfg.Log}, r.groups...)
}

// logName names keyLogs()[i] in errors.
func logName(i int) string {
	if i == 0 {
		return "the coordinator's log"
	}
	return fmt.Sprintf("group %d", i-1)
}

// keyChains reads every log's applied rotations, in keyLogs order.
func (r *Router) keyChains(ctx context.Context) ([][]roles.KeyEpoch, error) {
	logs := r.keyLogs()
	out := make([][]roles.KeyEpoch, len(logs))
	for i, g := range logs {
		info, err := g.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("officer keys of %s: %w", logName(i), err)
		}
		out[i] = info.KeySets
	}
	return out, nil
}

// longest returns the index of the log with the most rotations applied,
// after checking that every log's chain is a prefix of it: two logs that
// applied different sets under one version have diverged, which no retry
// mends.
func longest(chains [][]roles.KeyEpoch) (int, error) {
	top := 0
	for i, c := range chains {
		if len(c) > len(chains[top]) {
			top = i
		}
	}
	for i, c := range chains {
		for k, e := range c {
			want := chains[top][k].KeySet.KeySet
			if e.KeySet.KeySet.Version != want.Version || e.KeySet.KeySet.Hash() != want.Hash() {
				return 0, errcode.New(errcode.Internal, "%s applied officer key set version %d %x, %s version %d %x: the logs disagree",
					logName(i), e.KeySet.KeySet.Version, e.KeySet.KeySet.Hash(), logName(top), want.Version, want.Hash())
			}
		}
	}
	return top, nil
}

// agreed reports whether every log applied the same rotations.
func agreed(chains [][]roles.KeyEpoch) bool {
	for _, c := range chains {
		if len(c) != len(chains[0]) {
			return false
		}
	}
	return true
}

// rotateIn applies s in log i.
func (r *Router) rotateIn(ctx context.Context, i int, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	rot, ok := r.keyLogs()[i].(roles.KeyRotator)
	if !ok {
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "%s takes no officer key rotation", logName(i))
	}
	e, err := rot.RotateMintKeys(ctx, s)
	if err != nil {
		return roles.KeyEpoch{}, fmt.Errorf("officer key set version %d in %s: %w", s.KeySet.Version, logName(i), err)
	}
	return e, nil
}

// completeRotations brings every log to the rotations of the one that is
// furthest, in keyLogs order. The caller holds keyMu for writing.
func (r *Router) completeRotations(ctx context.Context) (int, error) {
	chains, err := r.keyChains(ctx)
	if err != nil {
		return 0, err
	}
	top, err := longest(chains)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, c := range chains {
		for _, e := range chains[top][len(c):] {
			if _, err := r.rotateIn(ctx, i, e.KeySet); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// CompleteRotations finishes a rotation that a stopped router applied in
// some logs only: every log gets the rotations the furthest one has. Call
// it when a router starts; mints call it too when they find the logs
// disagree. It returns how many rotations it applied.
func (r *Router) CompleteRotations(ctx context.Context) (int, error) {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	return r.completeRotations(ctx)
}

// RotateMintKeys applies s in every log: the coordinator's, then each
// group's. Any rotation a log lags behind is completed first, so s follows
// the same set everywhere and every log judges it alike (a set the
// coordinator's log refuses, unauthorized or conflict, is applied
// nowhere). The same set again answers its epoch and completes it where
// missing, so the issuer retries after unavailable. The epoch returned is
// group 0's.
func (r *Router) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if _, err := r.completeRotations(ctx); err != nil {
		return roles.KeyEpoch{}, err
	}
	var out roles.KeyEpoch
	for i := range r.keyLogs() {
		e, err := r.rotateIn(ctx, i, s)
		if err != nil {
			return roles.KeyEpoch{}, err
		}
		if i == 1 {
			out = e
		}
	}
	return out, nil
}

var _ roles.KeyRotator = (*Router)(nil)

// mintGate admits a submission holding a mint once every log applies the
// same officer key set, completing a rotation some log lags behind; the
// caller calls release when the submission is answered. While it holds
// the gate no rotation is applied.
func (r *Router) mintGate(ctx context.Context) (release func(), err error) {
	completed := false
	for {
		r.keyMu.RLock()
		chains, err := r.keyChains(ctx)
		if err == nil {
			if _, err = longest(chains); err == nil && agreed(chains) {
				return r.keyMu.RUnlock, nil
			}
		}
		r.keyMu.RUnlock()
		if err == nil && !completed {
			completed = true
			if _, err = r.CompleteRotations(ctx); err == nil {
				continue
			}
		}
		if err == nil {
			err = errors.New("the logs still disagree")
		}
		return nil, errcode.New(errcode.Unavailable, "mint not taken: the officer key set is not the same in every group yet: %v", err)
	}
}

// holdsMint reports whether any of txs is a mint.
func holdsMint(txs ...*money.Tx) bool {
	for _, tx := range txs {
		if tx != nil && tx.Kind == money.Mint {
			return true
		}
	}
	return false
}

// applied trims info's key sets to the rotations every log has applied,
// which is what a mint through the router is checked against.
func (r *Router) applied(ctx context.Context, info *roles.LedgerInfo) error {
	chains, err := r.keyChains(ctx)
	if err != nil {
		return err
	}
	n := len(info.KeySets)
	for _, c := range chains {
		n = min(n, len(c))
	}
	info.KeySets = info.KeySets[:n]
	return nil
}
