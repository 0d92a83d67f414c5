package issuer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// deliverTimeout bounds one delivery, so a stuck intermediary cannot hold
// up the others or Close.
const deliverTimeout = 30 * time.Second

// RetryDeliveries hands every committed mint still in the outbox to its
// intermediary. Deliveries that fail stay in the outbox; the error lists
// them. The background loop calls it periodically; tests and operators may
// call it at will.
func (is *Issuer) RetryDeliveries(ctx context.Context) error {
	ids, err := is.outbox()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := is.deliverOne(ctx, id); err != nil {
			is.log.Warn("delivery failed; will retry", "id", id, "err", err)
			errs = append(errs, fmt.Errorf("mint %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// outbox lists the committed mints still to deliver.
func (is *Issuer) outbox() ([]money.TxID, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return nil, err
	}
	var ids []money.TxID
	err := is.db.Scan(prefOutbox, nil, func(k, _ []byte) error {
		var id money.TxID
		if len(k) != len(prefOutbox)+len(id) {
			return fmt.Errorf("bad outbox key %x", k)
		}
		copy(id[:], k[len(prefOutbox):])
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, errcode.New(errcode.Internal, "read outbox: %v", err)
	}
	return ids, nil
}

// Undelivered reports how many committed mints wait in the outbox.
func (is *Issuer) Undelivered() (int, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return 0, err
	}
	n := 0
	err := is.db.Scan(prefOutbox, nil, func(_, _ []byte) error { n++; return nil })
	return n, err
}

// deliverOne delivers one committed mint if it is still in the outbox, and
// removes it from the outbox once the intermediary has it. Deliveries run
// one at a time, so the same mint is never delivered by two callers at once
// (intermediaries credit a repeated delivery once in any case).
func (is *Issuer) deliverOne(ctx context.Context, id money.TxID) error {
	is.deliver.Lock()
	defer is.deliver.Unlock()

	to, p, err := is.toDeliver(id)
	if err != nil || p == nil {
		return err // nil, nil: already delivered
	}
	tx, err := txOf(id, p)
	if err != nil {
		return err
	}
	inter, ok := is.dir(string(to))
	if !ok {
		return errcode.New(errcode.Unavailable, "intermediary %q cannot be reached", to)
	}
	dctx, cancel := context.WithTimeout(roles.WithCaller(ctx, self), deliverTimeout)
	err = inter.Deliver(dctx, tx)
	cancel()
	if err != nil {
		return fmt.Errorf("deliver to %s: %w", to, err)
	}

	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return nil // delivered; it is delivered again after the next Open, and credited once
	}
	b := is.db.NewBatch()
	b.Delete(key(prefOutbox, id[:]))
	if err := b.Commit(true); err != nil {
		return storeErr(err, "clear outbox")
	}
	is.log.Info("mint delivered", "id", id, "to", string(to))
	return nil
}

// toDeliver reads the outbox entry of mint id (the intermediary it pays)
// and its proposal; a nil proposal and no error when it is delivered.
func (is *Issuer) toDeliver(id money.TxID) ([]byte, *proposal, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return nil, nil, err
	}
	to, err := is.db.Get(key(prefOutbox, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	p, err := is.getProposal(id)
	if err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	return to, p, nil
}
