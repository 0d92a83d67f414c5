package iso20022

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// RoleIssuer is the role name under which the central bank's messages
// (pacs.009 in and out, reserve statements) are exchanged; every other
// role is an intermediary's name.
const RoleIssuer = "issuer"

// ReserveDesk is what the gateway needs of the issuer: reserve credits from
// the settlement system, exactly once per reference, and the reserve
// journal that statements and outgoing pacs.009s are made from.
// *issuer.Issuer implements it.
type ReserveDesk interface {
	CreditReserve(ctx context.Context, ref, intermediary string, amount uint64) (issuer.ReserveEntry, error)
	ReserveJournal(ctx context.Context, intermediary string, from, to time.Time) (opening, closing uint64, entries []issuer.ReserveEntry, err error)
}

// Config sets up a gateway. Only the roles given are served.
type Config struct {
	Currency money.Currency
	// BIC is the central bank's BIC: the creditor of reserve funding and
	// the debtor of redemptions.
	BIC string
	// BICs maps each intermediary's name to its BIC, by which the
	// settlement system and other banks know it.
	BICs map[string]string
	// SettlementAccounts maps an intermediary to its account at the
	// settlement system, credited by redemptions; "" means "RTGS-<BIC>".
	SettlementAccounts map[string]string
	Issuer             ReserveDesk                   // nil if the issuer is not served
	Intermediaries     map[string]roles.Intermediary // by name
	// Validate checks a document against its official schema before it is
	// read; nil means the gateway's default (see validate.go).
	Validate func(msg string, doc []byte) error
	Now      func() time.Time // nil means time.Now
	Logger   *slog.Logger     // nil means slog.Default()
	// FS is the filesystem under the gateway's store; nil means the
	// operating system's. Tests crash it on purpose.
	FS vfs.FS
}

// Gateway turns ISO 20022 messages into reserve credits and payments and
// back. Every message is applied at most once per role and MsgId, and a
// resent one is answered with the answer first given, across restarts: the
// answers live in the gateway's own Pebble store.
type Gateway struct {
	cfg   Config
	log   *slog.Logger
	db    *store.DB
	bySIC map[string]string // BIC -> intermediary name
	locks [64]sync.Mutex    // striped by role and MsgId: one processing of a message at a time

	// inflight holds the payment keys (role 0x00 key) that messages being
	// processed now have claimed, so that two messages carrying the same
	// payment at once cannot both apply it: the second sees DUPL.
	inMu     sync.Mutex
	inflight map[string]bool
}

// Store layout (values JSON):
//
//	m/<role> 0x00 <MsgId>            processed message: hash of the document, answer
//	u/<role> 0x00 <payment key>      payment identification (UETR, or agent+EndToEndId) -> MsgId
//	c/<role> 0x00 <MsgId> 0x00 <E2E> credit applied to a wallet by a pacs.008 (for recalls)
//	o/<role> 0x00 <MsgId>            produced message (outbox)
//	d/<role> 0x00 <date> <MsgId>     outbox index by date (YYYY-MM-DD)
var (
	prefMsg    = "m/"
	prefPmt    = "u/"
	prefCredit = "c/"
	prefOut    = "o/"
	prefDay    = "d/"
)

func gkey(prefix, role string, parts ...string) []byte {
	k := append([]byte(prefix), role...)
	for _, p := range parts {
		k = append(append(k, 0), p...)
	}
	return k
}

// processed is a message already answered.
type processed struct {
	Hash   string `json:"hash"` // sha256 of the document
	Kind   string `json:"kind"`
	Answer []byte `json:"answer"`
}

// Produced is a message the gateway wrote for a role: an answer's
// companion (a pacs.004 return, an outgoing pacs.008 or pacs.009).
type Produced struct {
	MsgID   string    `json:"msg_id"`
	Kind    string    `json:"kind"`
	Created time.Time `json:"created"`
	XML     []byte    `json:"xml"`
}

// Open opens (creating at first use) the gateway's store in dir.
func Open(dir string, cfg Config) (*Gateway, error) {
	if cfg.Currency.Code == "" {
		return nil, errors.New("open gateway: a currency is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Validate == nil {
		cfg.Validate = validate
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger.With("role", "iso20022"), bySIC: make(map[string]string), inflight: map[string]bool{}}
	for name, bic := range cfg.BICs {
		g.bySIC[bic] = name
	}
	db, err := store.Open(dir, store.Options{CacheBytes: 4 << 20, FS: cfg.FS})
	if err != nil {
		return nil, fmt.Errorf("open gateway: %w", err)
	}
	g.db = db
	return g, nil
}

// Close closes the store.
func (g *Gateway) Close() error { return g.db.Close() }

// Serves says whether the gateway serves role: the issuer when it was
// given the issuer's desk, an intermediary when it was given that one.
func (g *Gateway) Serves(role string) bool {
	if role == RoleIssuer {
		return g.cfg.Issuer != nil
	}
	_, ok := g.cfg.Intermediaries[role]
	return ok
}

// authorize admits the issuer's staff for the issuer and an
// intermediary's own credential for that intermediary.
func (g *Gateway) authorize(ctx context.Context, role string) error {
	p, ok := roles.Caller(ctx)
	if !ok {
		return errcode.New(errcode.Unauthorized, "no credential")
	}
	if !g.Serves(role) {
		return errcode.New(errcode.NotFound, "no role %q served by this gateway", role)
	}
	if role == RoleIssuer {
		if p.Role != roles.RoleIssuer {
			return errcode.Forbidden("only the issuer may exchange the issuer's messages, not %s", p.Name)
		}
		return nil
	}
	if p.Name != role {
		return errcode.Forbidden("%s may not exchange %s's messages", p.Name, role)
	}
	return nil
}

// Answer is the gateway's reply to one message.
type Answer struct {
	Kind  string // the answer's message name, e.g. Pacs002
	MsgID string
	XML   []byte
}

// outcome is what handling a message decided: its answer, the messages
// produced beside it, and the records to keep with it.
type outcome struct {
	answer   Answer
	produced []Produced
	pmtKeys  []string          // payment identifications now used
	credits  map[string]credit // E2E -> credit, pacs.008 in
	sets     map[string][]byte // other keys to write with the answer
	claims   []string          // payment keys claimed while processing (usedPayment)
}

// Process reads one message for role and answers it. A message already
// processed (same role and MsgId, same bytes) gets its first answer and
// changes nothing; the same MsgId with other content is rejected DUPL.
// An unreadable or non-conforming document is answered with a rejection
// naming the problem (FF01). An error is returned only for a caller not
// allowed here or an outcome that is not known yet (errcode.Unavailable:
// nothing was answered, resending is safe).
func (g *Gateway) Process(ctx context.Context, role string, doc []byte) (Answer, error) {
	if err := g.authorize(ctx, role); err != nil {
		return Answer{}, err
	}
	msg, err := Detect(doc)
	if err == nil {
		err = g.cfg.Validate(msg, doc)
	}
	if err != nil {
		return g.unreadable(role, msg, doc, err)
	}
	hdr, err := header(msg, doc)
	if err != nil {
		return g.unreadable(role, msg, doc, err)
	}
	sum := sha256.Sum256(doc)
	hash := hex.EncodeToString(sum[:])

	mu := g.lock(role, hdr.msgID)
	mu.Lock()
	defer mu.Unlock()
	prev, err := g.processed(role, hdr.msgID)
	if err != nil {
		return Answer{}, err
	}
	if prev != nil {
		if prev.Hash == hash {
			return Answer{Kind: prev.Kind, MsgID: MsgIDOf(prev.Answer), XML: prev.Answer}, nil
		}
		// Same MsgId, other content: refused, and not recorded (the key
		// belongs to the first message).
		return g.rejectAll(role, msg, hdr, hash, ReasonDuplicate, "message "+hdr.msgID+" was already received with other content")
	}
	out := &outcome{}
	defer g.release(out)
	if err := g.handle(ctx, role, msg, hdr, hash, doc, out); err != nil {
		return Answer{}, err
	}
	if err := g.record(role, hdr.msgID, hash, out); err != nil {
		return Answer{}, err
	}
	return out.answer, nil
}

func (g *Gateway) lock(role, msgID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(role))
	h.Write([]byte{0})
	h.Write([]byte(msgID))
	return &g.locks[h.Sum32()%uint32(len(g.locks))]
}

func (g *Gateway) processed(role, msgID string) (*processed, error) {
	v, err := g.db.Get(gkey(prefMsg, role, msgID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err, "read message %s", msgID)
	}
	p := new(processed)
	if err := json.Unmarshal(v, p); err != nil {
		return nil, errcode.New(errcode.Internal, "decode message record %s: %v", msgID, err)
	}
	return p, nil
}

// record writes the answer, the produced messages and the payment keys
// in one synced batch.
func (g *Gateway) record(role, msgID, hash string, out *outcome) error {
	b := g.db.NewBatch()
	v, err := json.Marshal(processed{Hash: hash, Kind: out.answer.Kind, Answer: out.answer.XML})
	if err != nil {
		b.Discard()
		return errcode.New(errcode.Internal, "encode message record: %v", err)
	}
	b.Set(gkey(prefMsg, role, msgID), v)
	for _, k := range out.pmtKeys {
		b.Set(gkey(prefPmt, role, k), []byte(msgID))
	}
	for e2e, c := range out.credits {
		cv, err := json.Marshal(c)
		if err != nil {
			b.Discard()
			return errcode.New(errcode.Internal, "encode credit: %v", err)
		}
		b.Set(gkey(prefCredit, role, msgID, e2e), cv)
	}
	for k, v := range out.sets {
		b.Set([]byte(k), v)
	}
	for _, p := range out.produced {
		if err := g.putProduced(b, role, p); err != nil {
			b.Discard()
			return err
		}
	}
	if err := b.Commit(true); err != nil {
		return storeErr(err, "record answer to %s", msgID)
	}
	return nil
}

func (g *Gateway) putProduced(b *store.Batch, role string, p Produced) error {
	v, err := json.Marshal(p)
	if err != nil {
		return errcode.New(errcode.Internal, "encode produced message: %v", err)
	}
	b.Set(gkey(prefOut, role, p.MsgID), v)
	b.Set(gkey(prefDay, role, isoDate(p.Created), p.MsgID), nil)
	return nil
}

// usedPayment says whether payment key k was already used: recorded by
// an earlier message, or claimed by one being processed now. A key not
// used is claimed for out's message until Process has recorded it.
func (g *Gateway) usedPayment(role, k string, out *outcome) (bool, error) {
	ik := role + "\x00" + k
	g.inMu.Lock()
	defer g.inMu.Unlock()
	if g.inflight[ik] {
		return true, nil
	}
	_, err := g.db.Get(gkey(prefPmt, role, k))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, storeErr(err, "read payment %s", k)
	}
	g.inflight[ik] = true
	out.claims = append(out.claims, ik)
	return false, nil
}

// release ends out's claims on payment keys (recorded or abandoned).
func (g *Gateway) release(out *outcome) {
	g.inMu.Lock()
	defer g.inMu.Unlock()
	for _, k := range out.claims {
		delete(g.inflight, k)
	}
}

func storeErr(err error, format string, a ...any) error {
	code := errcode.Internal
	if store.Retryable(err) {
		code = errcode.Unavailable
	}
	return errcode.New(code, "%s: %v", fmt.Sprintf(format, a...), err)
}

// answerID derives the MsgId of an answer from what it answers, so an
// answer rebuilt after a crash carries the same identification.
func answerID(kind, role string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(role))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	// "SPC" and 32 hex digits: 35 characters, Max35Text.
	return "SPC" + hex.EncodeToString(h.Sum(nil))[:32]
}

// MsgIDOf reads the first MsgId of a document the gateway wrote (its
// group header's), "" if it has none.
func MsgIDOf(doc []byte) string {
	_, after, ok := strings.Cut(string(doc), "<MsgId>")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(after, "</MsgId>")
	return id
}

// payKey is a payment's identification for exactly-once: its UETR, or
// failing that the debtor agent's BIC with the EndToEndId.
func payKey(id PmtID, debtorAgent string) string {
	if id.UETR != "" {
		return "uetr:" + id.UETR
	}
	return "e2e:" + debtorAgent + "/" + id.EndToEndID
}
