package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/roles"
)

// AliasDirectory is the central bank's alias directory (roles.AliasDirectory):
// keyed hash of a phone number or email address -> the wallet it reaches and
// the payee's name as the owning intermediary masked it. It never sees an
// alias, only HMACs under a key the intermediaries keep from it, so it
// learns which wallets have aliases and how many, but no number or address.
//
// It shares the issuer's store and the holding-limit registry's gate (so
// Close waits for its calls too), and serialises its writes under one lock:
// they are rare (a customer registering or moving an alias), and a lookup
// takes no lock.
type AliasDirectory struct {
	is *Issuer
	mu sync.Mutex // serialises binds and unbinds
}

// Store layout: one key per alias, so one binding per alias by
// construction, and a move is one synced write of that key.
//
//	ad/<hash>  JSON aliasRec
var prefAlias = []byte("ad/")

// aliasRec is a stored binding (the hash is the key).
type aliasRec struct {
	Wallet  string    `json:"wallet"`
	Display string    `json:"display"`
	Since   time.Time `json:"since"`
}

// MaxAliasDisplay bounds the masked name stored with a binding, in bytes.
const MaxAliasDisplay = 64

// Aliases returns the desk's alias directory.
func (is *Issuer) Aliases() *AliasDirectory { return is.aliases }

func aliasKey(hash string) []byte { return append(append([]byte(nil), prefAlias...), hash...) }

// caller admits an intermediary only.
func (d *AliasDirectory) caller(ctx context.Context) (string, error) {
	return requireIntermediaryTo(ctx, "use the alias directory")
}

// checkHash refuses anything but a keyed hash: 64 lowercase hex digits, so
// a careless caller cannot store a phone number in the clear.
func checkHash(hash string) error {
	if !validPerson(hash) {
		return errcode.New(errcode.Malformed, "alias hash must be 64 lowercase hex digits (HMAC-SHA256 of the normalised alias)")
	}
	return nil
}

func validDisplay(s string) bool {
	if s == "" || len(s) > MaxAliasDisplay {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// get reads the binding of hash; found is false when there is none.
func (d *AliasDirectory) get(hash string) (roles.AliasBinding, bool, error) {
	v, err := d.is.db.Get(aliasKey(hash))
	if errors.Is(err, store.ErrNotFound) {
		return roles.AliasBinding{}, false, nil
	}
	if err != nil {
		return roles.AliasBinding{}, false, storeErr(err, "read alias")
	}
	var rec aliasRec
	if err := json.Unmarshal(v, &rec); err != nil {
		return roles.AliasBinding{}, false, errcode.New(errcode.Internal, "alias %s: %v", hash, err)
	}
	return roles.AliasBinding{Hash: hash, Wallet: rec.Wallet, Display: rec.Display, Since: rec.Since}, true, nil
}

// BindAlias binds b.Hash to b.Wallet (see roles.AliasDirectory).
func (d *AliasDirectory) BindAlias(ctx context.Context, b roles.AliasBinding, move bool) (roles.AliasBinding, error) {
	caller, err := d.caller(ctx)
	if err != nil {
		return roles.AliasBinding{}, err
	}
	if err := checkHash(b.Hash); err != nil {
		return roles.AliasBinding{}, err
	}
	if !validWallet(b.Wallet) {
		return roles.AliasBinding{}, errcode.New(errcode.Malformed, "wallet %q: want <intermediary>.<id>, at most %d letters, digits, '.', '_' or '-'", b.Wallet, maxWalletID)
	}
	if owner := roles.IntermediaryOf(b.Wallet); owner != caller {
		return roles.AliasBinding{}, errcode.Forbidden("wallet %s belongs to %s, not %s", b.Wallet, owner, caller)
	}
	if !validDisplay(b.Display) {
		return roles.AliasBinding{}, errcode.New(errcode.Malformed, "display name: 1 to %d bytes of printable UTF-8", MaxAliasDisplay)
	}
	if err := d.is.reg.enter(); err != nil {
		return roles.AliasBinding{}, err
	}
	defer d.is.reg.gate.RUnlock()
	d.mu.Lock()
	defer d.mu.Unlock()

	old, found, err := d.get(b.Hash)
	if err != nil {
		return roles.AliasBinding{}, err
	}
	since := time.Now().UTC()
	if found {
		switch {
		case old.Wallet == b.Wallet && old.Display == b.Display:
			return old, nil // a retry: nothing to write
		case old.Wallet == b.Wallet:
			since = old.Since // a new display name is not a new binding
		case !move:
			return roles.AliasBinding{}, errcode.New(errcode.Conflict, "alias is already bound to a wallet at %s; move it to bind it here", old.Intermediary())
		}
	}
	v, err := json.Marshal(aliasRec{Wallet: b.Wallet, Display: b.Display, Since: since})
	if err != nil {
		return roles.AliasBinding{}, errcode.New(errcode.Internal, "encode alias: %v", err)
	}
	// One key per alias: the old binding (if any) ends in the very write
	// that starts the new one, so a crash leaves one or the other.
	batch := d.is.db.NewBatch()
	batch.Set(aliasKey(b.Hash), v)
	if err := batch.Commit(true); err != nil {
		return roles.AliasBinding{}, storeErr(err, "save alias of %s", b.Wallet)
	}
	if found && old.Wallet != b.Wallet {
		d.is.log.Info("alias moved", "from", old.Wallet, "to", b.Wallet)
	}
	b.Since = since
	return b, nil
}

// LookupAlias returns the binding of hash.
func (d *AliasDirectory) LookupAlias(ctx context.Context, hash string) (roles.AliasBinding, error) {
	if _, err := d.caller(ctx); err != nil {
		return roles.AliasBinding{}, err
	}
	if err := checkHash(hash); err != nil {
		return roles.AliasBinding{}, err
	}
	if err := d.is.reg.enter(); err != nil {
		return roles.AliasBinding{}, err
	}
	defer d.is.reg.gate.RUnlock()
	b, found, err := d.get(hash)
	if err != nil {
		return roles.AliasBinding{}, err
	}
	if !found {
		return roles.AliasBinding{}, errcode.New(errcode.NotFound, "no wallet has this alias")
	}
	return b, nil
}

// UnbindAlias ends the binding of hash to wallet.
func (d *AliasDirectory) UnbindAlias(ctx context.Context, hash, wallet string) error {
	caller, err := d.caller(ctx)
	if err != nil {
		return err
	}
	if err := checkHash(hash); err != nil {
		return err
	}
	if err := check(caller, hash, wallet); err != nil {
		return err
	}
	if err := d.is.reg.enter(); err != nil {
		return err
	}
	defer d.is.reg.gate.RUnlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	old, found, err := d.get(hash)
	if err != nil {
		return err
	}
	if !found || old.Wallet != wallet {
		return errcode.New(errcode.NotFound, "alias is not bound to %s", wallet)
	}
	batch := d.is.db.NewBatch()
	batch.Delete(aliasKey(hash))
	if err := batch.Commit(true); err != nil {
		return storeErr(err, "remove alias of %s", wallet)
	}
	return nil
}

// AliasCount is how many aliases are bound, for tests and the operator:
// the one figure about aliases the directory can tell.
func (d *AliasDirectory) AliasCount() (int, error) {
	n := 0
	err := d.is.db.Scan(prefAlias, nil, func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return 0, fmt.Errorf("count aliases: %w", err)
	}
	return n, nil
}

var _ roles.AliasDirectory = (*AliasDirectory)(nil)
