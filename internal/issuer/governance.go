package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Governance by quorum: a policy version (policy.go) and the next officer
// key set (keys.go) are each proposed by an officer, approved by the
// officers of the key set in force, and in force with the approval that
// reaches the quorum. Both are one mechanism, a proposals value per kind
// of document; what differs (how the document is checked, what coming into
// force does in memory) stays with the kind.
//
// Store layout, per kind (prefix and pointer named by the kind):
//
//	<prefix><hash>  proposal record (JSON: {<field>: document, "approvals",
//	                "adopted", "created"})
//	<inForce>       the hash of the adopted proposal in force (32 bytes)
//
// The proposal's ID is the document's hash, which is what each officer
// signs, so two proposals with the same content are one. The approval that
// reaches the quorum writes its record and the pointer in one synced batch,
// so a crash leaves either the old document in force and the approval
// unrecorded, or both written.

// proposals is the store and the rules of one kind of governed document.
type proposals[T any] struct {
	noun    string // in messages: "policy", "key set"
	field   string // the document's JSON field in the stored record
	prefix  []byte
	inForce []byte
	version func(T) uint64
}

// govRecord is a proposal as stored. Adopted is set once it came into
// force; whether it still is, or is stale, follows from the document in
// force (see status), so no other record is rewritten when one comes into
// force.
type govRecord[T any] struct {
	Doc       T
	Approvals []policy.Approval
	Adopted   bool
	Created   time.Time
}

// inForceView is what a proposal's status depends on: the ID of the
// adopted proposal in force (zero when none is, or for the founding key
// set, which no proposal made) and the version in force (0 before any).
type inForceView struct {
	id      money.Hash
	version uint64
}

// encode writes r in the layout above; the field name per kind keeps the
// records written before the two kinds shared this code readable.
func (g *proposals[T]) encode(r *govRecord[T]) ([]byte, error) {
	return json.Marshal(map[string]any{
		g.field:     r.Doc,
		"approvals": r.Approvals,
		"adopted":   r.Adopted,
		"created":   r.Created,
	})
}

func (g *proposals[T]) decode(v []byte) (*govRecord[T], error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	r := new(govRecord[T])
	for name, dst := range map[string]any{g.field: &r.Doc, "approvals": &r.Approvals, "adopted": &r.Adopted, "created": &r.Created} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return r, nil
}

// status is what a stored proposal is now, given the document in force.
func (g *proposals[T]) status(id money.Hash, r *govRecord[T], in inForceView) string {
	switch {
	case r.Adopted && id == in.id:
		return roles.PolicyInForce
	case r.Adopted:
		return roles.PolicySuperseded
	case g.version(r.Doc) <= in.version:
		return roles.PolicyStale
	}
	return roles.PolicyPending
}

// pointer reads the ID of the proposal in force; found is false before
// any came into force.
func (g *proposals[T]) pointer(db *store.DB) (id money.Hash, found bool, err error) {
	v, err := db.Get(g.inForce)
	if errors.Is(err, store.ErrNotFound) {
		return money.Hash{}, false, nil
	}
	if err != nil {
		return money.Hash{}, false, fmt.Errorf("read %s in force: %w", g.noun, err)
	}
	if len(v) != len(money.Hash{}) {
		return money.Hash{}, false, fmt.Errorf("%s in force: %d bytes, want %d", g.noun, len(v), len(money.Hash{}))
	}
	return money.Hash(v), true, nil
}

func (g *proposals[T]) get(db *store.DB, id money.Hash) (*govRecord[T], error) {
	v, err := db.Get(key(g.prefix, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errcode.New(errcode.NotFound, "no %s proposal %s", g.noun, id)
	}
	if err != nil {
		return nil, storeErr(err, "read %s proposal %s", g.noun, id)
	}
	r, err := g.decode(v)
	if err != nil {
		return nil, errcode.New(errcode.Internal, "decode %s proposal %s: %v", g.noun, id, err)
	}
	return r, nil
}

// save writes r and, when it has just come into force, the pointer to it,
// in one synced batch. Caller holds the issuer's mu.
func (g *proposals[T]) save(db *store.DB, id money.Hash, r *govRecord[T], inForce bool) error {
	v, err := g.encode(r)
	if err != nil {
		return errcode.New(errcode.Internal, "encode %s proposal %s: %v", g.noun, id, err)
	}
	b := db.NewBatch()
	b.Set(key(g.prefix, id[:]), v)
	if inForce {
		b.Set(g.inForce, id[:])
	}
	if err := b.Commit(true); err != nil {
		return storeErr(err, "save %s proposal %s", g.noun, id)
	}
	return nil
}

// scan calls fn with every stored proposal, in key order.
func (g *proposals[T]) scan(db *store.DB, fn func(id money.Hash, r *govRecord[T]) error) error {
	return db.Scan(g.prefix, nil, func(k, v []byte) error {
		if len(k) != len(g.prefix)+len(money.Hash{}) {
			return fmt.Errorf("bad %s proposal key %x", g.noun, k)
		}
		id := money.Hash(k[len(g.prefix):])
		r, err := g.decode(v)
		if err != nil {
			return fmt.Errorf("decode %s proposal %s: %w", g.noun, id, err)
		}
		return fn(id, r)
	})
}

// propose records doc as a pending proposal: it must be numbered the
// version in force plus one and not be proposed already. Caller holds the
// issuer's mu.
func (g *proposals[T]) propose(db *store.DB, id money.Hash, doc T, in inForceView, now time.Time) (*govRecord[T], error) {
	if want, got := in.version+1, g.version(doc); got != want {
		return nil, errcode.New(errcode.Conflict, "%s version %d is in force: propose version %d, not %d", g.noun, want-1, want, got)
	}
	if has, err := db.Has(key(g.prefix, id[:])); err != nil {
		return nil, storeErr(err, "read %s proposal %s", g.noun, id)
	} else if has {
		return nil, errcode.New(errcode.Conflict, "%s proposal %s already exists", g.noun, id)
	}
	r := &govRecord[T]{Doc: doc, Approvals: []policy.Approval{}, Created: now}
	if err := g.save(db, id, r, false); err != nil {
		return nil, err
	}
	return r, nil
}

// approve records a's approval of proposal id and says whether it came
// into force with it; the record and, at the quorum, the pointer are on
// disk when it returns. Caller holds the issuer's mu.
func (g *proposals[T]) approve(db *store.DB, id money.Hash, a approver, in inForceView, quorum int) (*govRecord[T], bool, error) {
	r, err := g.get(db, id)
	if err != nil {
		return nil, false, err
	}
	adopt, err := g.decide(id, r, g.status(id, r, in), a, quorum)
	if err != nil {
		return nil, false, err
	}
	if err := g.save(db, id, r, adopt); err != nil {
		return nil, false, err
	}
	return r, adopt, nil
}

// decide is approve's decision, a pure function of the stored record r,
// its status now and the approval. It returns a rejection, or r with the
// approval added and whether r comes into force with it. The checks come
// in the order mints make them, so the same mistake gets the same code in
// every kind.
func (g *proposals[T]) decide(id money.Hash, r *govRecord[T], status string, a approver, quorum int) (bool, error) {
	if status != roles.PolicyPending {
		return false, errcode.New(errcode.Conflict, "%s proposal %s (version %d) is %s, not pending", g.noun, id, g.version(r.Doc), status)
	}
	if !a.officer {
		return false, errcode.New(errcode.Unauthorized, "key %s is not an officer key of the set in force", a.key)
	}
	if slices.ContainsFunc(r.Approvals, func(x policy.Approval) bool { return x.Key == a.key }) {
		return false, errcode.New(errcode.Conflict, "key %s already approved %s proposal %s", a.key, g.noun, id)
	}
	if !a.verified {
		return false, errcode.New(errcode.BadSignature, "approval of %s proposal %s by %s does not verify", g.noun, id, a.key)
	}
	r.Approvals = append(r.Approvals, policy.Approval{Key: a.key, Sig: policy.Signature(a.sig)})
	if len(r.Approvals) < quorum {
		return false, nil
	}
	r.Adopted = true
	return true, nil
}

// governDesk runs fn under the issuer's lock, once the issuer is known to
// be open; every governance call but the first checks reads this way.
func governDesk[V any](is *Issuer, fn func() (V, error)) (V, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		var zero V
		return zero, err
	}
	return fn()
}

// getProposal reports one proposal of g's kind, as view shows it, to a
// caller allowed to govern what.
func getProposal[T, V any](ctx context.Context, is *Issuer, what string, g *proposals[T], id money.Hash, view func(money.Hash, *govRecord[T]) V) (V, error) {
	if err := requireIssuerTo(ctx, what); err != nil {
		var zero V
		return zero, err
	}
	return governDesk(is, func() (V, error) {
		r, err := g.get(is.db, id)
		if err != nil {
			var zero V
			return zero, err
		}
		return view(id, r), nil
	})
}
