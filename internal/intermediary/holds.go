package intermediary

import (
	"context"
	"strings"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// Holds on a payee's incoming capacity (issue 9, section 3).
//
// A payment to a wallet here from another intermediary is decided in two
// places: the payer's intermediary asks ReceiveFor with the amount before
// it signs, and delivers the committed transaction later. Between the two
// the amount is held here: ReceiveFor places a hold on the wallet (its
// part of the amount, the waterfall's part going to its linked account),
// which checkIncomingLocked counts against the holding limit like the
// incoming of a payment between two wallets here (admitIncoming). Both
// are decided under the payee wallet's lock, so concurrent payers, at any
// intermediaries, cannot together take a wallet over its limit.
//
// A hold ends in one of three ways:
//   - the payment is delivered with the hold's ID in its memo: the hold
//     is dropped under the wallet's lock in the same step that adds the
//     credited notes to its index (commitIndexed), so the amount is never
//     counted twice nor not at all;
//   - the payer's intermediary releases it (ReleaseHold), best effort,
//     when it abandons the payment for certain: refused before signing
//     (screening, the payer's limits, insufficient funds) or rejected by
//     the ledger. A payment whose outcome is unknown keeps its hold;
//   - it expires, Config.HoldTTL after it was placed (Config.Now clock):
//     the next check of the wallet, or the background loop
//     (expireHolds), forgets it. A payment delivered after its hold
//     expired, or without one (a peer that predates holds), is credited
//     as before, and checked again after the fact (overLimit).
//
// AML screening's incoming windows are not covered by holds: a payment
// from another process is counted there on delivery (screen.go).
//
// Holds are in memory only: they last seconds, and writing them would cost
// the pay path a sync. A restart of this intermediary forgets them, which
// errs on the payer's side: for up to one TTL after it, a payment here may
// be admitted that a payment announced before the restart then takes over
// the limit (it is credited, and overLimit applies the waterfall or logs).

// hold is a payment announced by another intermediary (peer) to a wallet
// here: amount of the wallet's capacity, until expires.
type hold struct {
	id      string
	peer    string
	amount  uint64
	expires time.Time
}

// holdRef names a hold to drop when a delivery credits its wallet.
type holdRef struct {
	id, peer string
}

// maxHoldIDLen bounds a hold ID in a memo or a release.
const maxHoldIDLen = 64

// heldForPeersLocked is what the wallet's live holds take of its capacity;
// it forgets the expired ones. The caller holds ws.mu.
func (in *Intermediary) heldForPeersLocked(ws *walletState) uint64 {
	if len(ws.holds) == 0 {
		return 0
	}
	now := in.cfg.Now()
	var sum uint64
	live := ws.holds[:0]
	for _, h := range ws.holds {
		if !now.Before(h.expires) {
			continue
		}
		live = append(live, h)
		sum = addSat(sum, h.amount)
	}
	clear(ws.holds[len(live):])
	ws.holds = live
	if len(ws.holds) == 0 {
		ws.holds = nil
	}
	return sum
}

// placeHoldLocked holds amount of wallet wid's capacity for a payment
// from peer and returns the hold's ID. The caller holds ws.mu.
func (in *Intermediary) placeHoldLocked(ws *walletState, wid, peer string, amount uint64) (string, error) {
	var b [10]byte // 80 bits
	if err := in.random(b[:]); err != nil {
		return "", internalErr("hold id", err)
	}
	id := "h" + strings.ToLower(idEncoding.EncodeToString(b[:]))
	ws.holds = append(ws.holds, hold{id: id, peer: peer, amount: amount, expires: in.cfg.Now().Add(in.cfg.HoldTTL)})
	in.noteHolds(wid)
	return id, nil
}

// noteHolds records that wallet wid has holds, for expireHolds.
func (in *Intermediary) noteHolds(wid string) {
	in.holdsMu.Lock()
	defer in.holdsMu.Unlock()
	if in.holdWallets == nil {
		in.holdWallets = map[string]struct{}{}
	}
	in.holdWallets[wid] = struct{}{}
}

// expireHolds forgets the expired holds of every wallet that has some,
// so a hold never delivered nor released (and its wallet never asked
// about again) does not stay in memory. The background loop calls it.
// It returns how many holds are left.
func (in *Intermediary) expireHolds() int {
	in.holdsMu.Lock()
	ids := in.holdWallets
	in.holdWallets = nil
	in.holdsMu.Unlock()
	left := 0
	for wid := range ids {
		ws := in.walletState(wid)
		n := func() int {
			ws.mu.Lock()
			defer ws.mu.Unlock()
			in.heldForPeersLocked(ws)
			if len(ws.holds) > 0 {
				in.noteHolds(wid)
			}
			return len(ws.holds)
		}()
		left += n
	}
	return left
}

// dropHoldLocked removes the hold id placed for peer, if it is still
// there, and reports whether it was. The caller holds ws.mu.
func dropHoldLocked(ws *walletState, id, peer string) bool {
	for i, h := range ws.holds {
		if h.id == id && h.peer == peer {
			ws.holds = append(ws.holds[:i], ws.holds[i+1:]...)
			return true
		}
	}
	return false
}

// dropHold removes the hold id placed for peer on wallet wid, if any.
func (in *Intermediary) dropHold(wid, id, peer string) {
	if id == "" {
		return
	}
	ws := in.walletState(wid)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	dropHoldLocked(ws, id, peer)
}

// checkHoldID admits "" (no hold) and hold IDs of at most maxHoldIDLen
// printable ASCII characters; what names the field in the error.
func checkHoldID(what, id string) error {
	if len(id) > maxHoldIDLen {
		return errcode.New(errcode.Malformed, "%s longer than %d characters", what, maxHoldIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] > 0x7e {
			return errcode.New(errcode.Malformed, "%s: want printable ASCII characters, byte %d is 0x%02x", what, i, id[i])
		}
	}
	return nil
}

// ReleaseHold ends the hold id on wallet wid that the caller's
// intermediary placed with ReceiveFor and will not use: its payment was
// abandoned. Releasing a hold that is gone (delivered, expired, released,
// forgotten by a restart) is not an error. It implements
// roles.HoldReleaser.
func (in *Intermediary) ReleaseHold(ctx context.Context, wid, id string) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return err
	}
	if roles.IntermediaryOf(wid) != in.cfg.Name {
		return errcode.New(errcode.NotFound, "no wallet %s at %s", wid, in.cfg.Name)
	}
	if id == "" {
		return errcode.New(errcode.Malformed, "no hold")
	}
	if err := checkHoldID("hold", id); err != nil {
		return err
	}
	caller, _ := roles.Caller(ctx)
	in.dropHold(wid, id, caller.Name)
	in.log.Debug("hold released by the payer", "wallet", wid, "hold", id, "peer", caller.Name)
	return nil
}

// releaseHold tells the payee's intermediary peer, best effort, that the
// payment to wallet wid it placed hold id for is abandoned. Failing is
// only logged: the hold then expires.
func (in *Intermediary) releaseHold(ctx context.Context, peer, wid, id string) {
	if id == "" {
		return
	}
	p, ok := in.peer(peer)
	if !ok {
		return
	}
	hr, ok := p.(roles.HoldReleaser)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hr.ReleaseHold(in.asSelf(ctx), wid, id); err != nil {
		in.log.Info("hold not released; it expires", "peer", peer, "wallet", wid, "hold", id, "err", err)
	}
}
