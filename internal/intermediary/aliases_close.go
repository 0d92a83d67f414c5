package intermediary

import (
	"context"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/roles"
)

// Aliases of a closed wallet. The directory is the record of who an alias
// reaches, but it is keyed by alias hash only, so to end a closed wallet's
// bindings this intermediary keeps which hashes it bound to each wallet:
//
//	aw/<wallet>/<hash>  an alias hash bound, or being bound, to the wallet
//	ax/<wallet>/<hash>  the wallet is closed: the binding is still to end
//
// ConfirmAlias writes the aw/ entry before it binds, so the index holds
// every binding made here (and perhaps one the directory refused, or one
// moved away since: unbinding those answers not_found, which is done).
// RemoveAlias deletes it. Closing a wallet moves its aw/ entries to ax/ in
// the write that closes it, then unbinds each: a close is never refused
// because the directory is down, and what the directory did not take is
// retried by the background loop, also after a restart (the owed entries
// are on disk), until it answers.
// Meanwhile a payment to the alias reaches the closed wallet, which
// refuses it (blocked): no money goes there. Bindings made before this
// index existed are not in it.
var (
	prefAliasOf     = []byte("aw/")
	prefAliasUnbind = []byte("ax/")
)

func aliasIndexKey(prefix []byte, wallet, hash string) []byte {
	k := append([]byte(nil), prefix...)
	k = append(k, wallet...)
	k = append(k, '/')
	return append(k, hash...)
}

// splitAliasIndexKey is aliasIndexKey's inverse; the hash is the 64 hex
// digits at the end, so a wallet ID may hold any byte.
func splitAliasIndexKey(prefix, k []byte) (wallet, hash string, err error) {
	const n = 64
	if len(k) < len(prefix)+1+n || k[len(k)-n-1] != '/' {
		return "", "", fmt.Errorf("bad alias index key %q", k)
	}
	return string(k[len(prefix) : len(k)-n-1]), string(k[len(k)-n:]), nil
}

// indexAlias records, durably and before the directory is asked, that
// hash is being bound to wallet.
func (in *Intermediary) indexAlias(wallet, hash string) error {
	b := in.db.NewBatch()
	b.Set(aliasIndexKey(prefAliasOf, wallet, hash), nil)
	if err := b.Commit(true); err != nil {
		return internalErr("index the alias of "+wallet, err)
	}
	return nil
}

// unindexAlias forgets that hash is bound to wallet, once it is not.
func (in *Intermediary) unindexAlias(wallet, hash string) {
	b := in.db.NewBatch()
	b.Delete(aliasIndexKey(prefAliasOf, wallet, hash))
	if err := b.Commit(false); err != nil {
		in.log.Warn("alias unbound but still in the wallet's alias index", "wallet", wallet, "err", err)
	}
}

// owesUnbindInto adds to b, the batch that closes wallet, the move of its
// aliases from the index to the unbinding still owed.
func (in *Intermediary) owesUnbindInto(b *store.Batch, wallet string) error {
	prefix := aliasIndexKey(prefAliasOf, wallet, "")
	return in.db.Scan(prefix, nil, func(k, _ []byte) error {
		_, hash, err := splitAliasIndexKey(prefAliasOf, k)
		if err != nil {
			return err
		}
		b.Delete(k)
		b.Set(aliasIndexKey(prefAliasUnbind, wallet, hash), nil)
		return nil
	})
}

// unbindClosed ends the bindings owed by closed wallets, of wallet only
// when it is not "": each the directory ends, or answers it has not,
// is done; the rest stays owed. It returns how many stay.
func (in *Intermediary) unbindClosed(ctx context.Context, wallet string) (int, error) {
	if in.cfg.Aliases == nil {
		return 0, nil
	}
	prefix := prefAliasUnbind
	if wallet != "" {
		prefix = aliasIndexKey(prefAliasUnbind, wallet, "")
	}
	type owed struct{ wallet, hash string }
	var todo []owed
	err := in.db.Scan(prefix, nil, func(k, _ []byte) error {
		w, h, err := splitAliasIndexKey(prefAliasUnbind, k)
		if err != nil {
			return err
		}
		todo = append(todo, owed{w, h})
		return nil
	})
	if err != nil {
		return 0, internalErr("read the aliases of closed wallets", err)
	}
	left := 0
	for _, o := range todo {
		err := in.cfg.Aliases.UnbindAlias(in.asSelf(ctx), o.hash, o.wallet)
		if err != nil && !errcode.Is(err, errcode.NotFound) {
			left++
			in.log.Warn("closed wallet's alias still bound; retrying in the background", "wallet", o.wallet, "err", err)
			continue
		}
		b := in.db.NewBatch()
		b.Delete(aliasIndexKey(prefAliasUnbind, o.wallet, o.hash))
		if err := b.Commit(false); err != nil {
			return left, internalErr("forget the unbound alias of "+o.wallet, err)
		}
	}
	return left, nil
}

// boundToClosed is ConfirmAlias's check after a bind: a wallet closed
// while its alias was being bound owes the unbinding as if it had been
// bound before the close.
func (in *Intermediary) boundToClosed(ctx context.Context, wallet, hash string) {
	w, err := in.wallet(wallet)
	if err != nil || w.State != roles.WalletClosed {
		return
	}
	b := in.db.NewBatch()
	b.Delete(aliasIndexKey(prefAliasOf, wallet, hash))
	b.Set(aliasIndexKey(prefAliasUnbind, wallet, hash), nil)
	if err := b.Commit(true); err != nil {
		in.log.Warn("alias bound to a wallet closed meanwhile; not queued for unbinding", "wallet", wallet, "err", err)
		return
	}
	if _, err := in.unbindClosed(ctx, wallet); err != nil {
		in.log.Warn("unbinding a closed wallet's alias", "wallet", wallet, "err", err)
	}
}
