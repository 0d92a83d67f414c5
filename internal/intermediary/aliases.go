package intermediary

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// Aliases (roles.AliasBook): a customer binds a phone number or email
// address to a wallet here, proving control of it with a one-time code;
// anyone with a credential looks one up, a limited number of times per
// caller; the central bank's directory (Config.Aliases) holds the bindings,
// keyed by an HMAC of the alias under a key the intermediaries share.
//
// This intermediary stores the pending codes and, per wallet, the hashes
// it bound (aliases_close.go, so that closing a wallet ends its bindings),
// never a binding itself: the directory is the one record of who an alias
// reaches.

// Defaults of the alias lookup limit and of one-time codes.
const (
	DefaultAliasLookupEvery = 6 * time.Second // 10 a minute once the burst is spent
	DefaultAliasLookupBurst = 20
	// AliasCodeTTL is how long a one-time code may be confirmed.
	AliasCodeTTL = 10 * time.Minute
	// AliasCodeAttempts is how many wrong codes end a request.
	AliasCodeAttempts = 3
	// AliasCodesPerTTL is how many codes one alias may be sent at once
	// from here; then one more per AliasCodeTTL, so nobody floods a
	// phone with messages through the bank.
	AliasCodesPerTTL = 3
	aliasCodeDigits  = 6
)

// aliasState is the intermediary's alias machinery beside its store.
type aliasState struct {
	once sync.Once
	key  []byte   // roles.AliasKey of the shared salt
	lim  *limiter // lookups per caller
	sent *limiter // codes sent per alias hash
	mu   sync.Mutex
	file sync.Mutex // appends to Config.OTPFile
}

// Store layout: a pending code per alias hash, whichever wallet asked last.
//
//	ao/<hash>  JSON otpRec
var prefOTP = []byte("ao/")

// otpRec is a pending one-time code: only its MAC is kept.
type otpRec struct {
	Wallet   string    `json:"wallet"`
	Move     bool      `json:"move,omitempty"`
	MAC      string    `json:"mac"` // hex HMAC(alias key, "otp", hash, code)
	Expires  time.Time `json:"expires"`
	Attempts int       `json:"attempts"` // wrong codes tried so far
}

func otpKey(hash string) []byte { return append(append([]byte(nil), prefOTP...), hash...) }

// aliases returns the directory and the hashing key, or not_found when
// this intermediary offers no aliases.
func (in *Intermediary) aliases() (roles.AliasDirectory, *aliasState, error) {
	if in.cfg.Aliases == nil {
		return nil, nil, errcode.New(errcode.NotFound, "intermediary %s offers no aliases (no alias directory configured)", in.cfg.Name)
	}
	a := &in.alias
	a.once.Do(func() {
		a.key = roles.AliasKey(in.cfg.PseudonymSalt)
		every, burst := in.cfg.AliasLookupEvery, in.cfg.AliasLookupBurst
		if every <= 0 {
			every = DefaultAliasLookupEvery
		}
		if burst <= 0 {
			burst = DefaultAliasLookupBurst
		}
		a.lim = newLimiter(every, burst)
		a.sent = newLimiter(AliasCodeTTL, AliasCodesPerTTL)
	})
	return in.cfg.Aliases, a, nil
}

// normAlias normalises an alias from a request: malformed if it is none.
func normAlias(s string) (string, roles.AliasKind, error) {
	n, kind, err := roles.NormalizeAlias(s)
	if err != nil {
		return "", "", errcode.New(errcode.Malformed, "%v", err)
	}
	return n, kind, nil
}

// MaskName is how this intermediary shows a customer to a payer who looks
// up their alias: the first word of the name and the initial of the last
// ("Alice Smith" -> "Alice S."), at most 32 characters of the first,
// control characters dropped; enough to check a payee, not to find them.
func MaskName(owner string) string {
	clean := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, owner)
	f := strings.Fields(clean)
	if len(f) == 0 {
		return "?"
	}
	first := []rune(f[0])
	if len(first) > 32 {
		first = first[:32]
	}
	out := string(first)
	if len(f) > 1 {
		last, _ := utf8.DecodeRuneInString(f[len(f)-1])
		out += " " + string(unicode.ToUpper(last)) + "."
	}
	return out
}

func (a *aliasState) codeMAC(hash, code string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("specie/alias-otp/v1\x00"))
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// aliasWallet checks that id is an open wallet here and returns its
// masked name.
func (in *Intermediary) aliasWallet(ctx context.Context, id string) (string, error) {
	if err := in.readable(ctx, id); err != nil {
		return "", err
	}
	w, err := in.wallet(id)
	if err != nil {
		return "", err
	}
	if w.State == roles.WalletClosed {
		return "", errcode.New(errcode.Conflict, "wallet %s is closed", id)
	}
	return MaskName(w.Owner), nil
}

// RequestAliasCode sends a one-time code for binding r.Alias to r.Wallet
// (see roles.AliasBook). A new request for the same alias replaces an
// earlier one and its code. At most AliasCodesPerTTL codes go to one alias
// at once, then one per AliasCodeTTL: more is rate_limited.
func (in *Intermediary) RequestAliasCode(ctx context.Context, r roles.AliasRequest) (roles.AliasChallenge, error) {
	if err := in.enter(); err != nil {
		return roles.AliasChallenge{}, err
	}
	defer in.exit()
	dir, a, err := in.aliases()
	if err != nil {
		return roles.AliasChallenge{}, err
	}
	alias, kind, err := normAlias(r.Alias)
	if err != nil {
		return roles.AliasChallenge{}, err
	}
	if _, err := in.aliasWallet(ctx, r.Wallet); err != nil {
		return roles.AliasChallenge{}, err
	}
	hash := roles.AliasHash(a.key, alias)
	// Refuse now what confirming would refuse, before a code goes out.
	cur, err := dir.LookupAlias(in.asSelf(ctx), hash)
	switch {
	case errcode.Is(err, errcode.NotFound):
	case err != nil:
		return roles.AliasChallenge{}, serviceErr("look up the alias in the alias directory", err)
	case cur.Wallet == r.Wallet:
		return roles.AliasChallenge{}, errcode.New(errcode.Conflict, "%s is already bound to %s", alias, r.Wallet)
	case !r.Move:
		return roles.AliasChallenge{}, errcode.New(errcode.Conflict, "%s is already bound to a wallet at %s; move it to bind it here", alias, cur.Intermediary())
	}

	if ok, wait := a.sent.allow(hash, in.cfg.Now()); !ok {
		return roles.AliasChallenge{}, errcode.RateLimitedFor(wait, "%d codes were sent to %s lately: request another in %s", AliasCodesPerTTL, alias, wait.Round(time.Second))
	}
	var rnd [8]byte
	if err := in.random(rnd[:]); err != nil {
		return roles.AliasChallenge{}, errcode.New(errcode.Internal, "one-time code: %v", err)
	}
	code := fmt.Sprintf("%0*d", aliasCodeDigits, binary.BigEndian.Uint64(rnd[:])%1_000_000)
	rec := otpRec{Wallet: r.Wallet, Move: r.Move, MAC: a.codeMAC(hash, code), Expires: in.cfg.Now().Add(AliasCodeTTL).UTC()}
	a.mu.Lock()
	err = in.putOTP(hash, &rec)
	a.mu.Unlock()
	if err != nil {
		return roles.AliasChallenge{}, err
	}
	if err := in.sendCode(a, alias, r.Wallet, code); err != nil {
		return roles.AliasChallenge{}, err
	}
	return roles.AliasChallenge{Alias: alias, Kind: kind, Wallet: r.Wallet, Move: r.Move, Expires: rec.Expires, Attempts: AliasCodeAttempts}, nil
}

// sendCode delivers a one-time code. There is no SMS or mail gateway in a
// devnet: the code goes to Config.OTPFile and the log, where the customer
// (the person trying the devnet) reads it.
func (in *Intermediary) sendCode(a *aliasState, alias, wallet, code string) error {
	in.log.Info("one-time code for an alias (devnet: no SMS or mail gateway)", "alias", alias, "wallet", wallet, "code", code)
	if in.cfg.OTPFile == "" {
		return nil
	}
	a.file.Lock()
	defer a.file.Unlock()
	f, err := os.OpenFile(in.cfg.OTPFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return errcode.New(errcode.Unavailable, "send one-time code: %v", err)
	}
	_, werr := fmt.Fprintf(f, "%s %s %s %s\n", in.cfg.Now().UTC().Format(time.RFC3339), alias, wallet, code)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return errcode.New(errcode.Unavailable, "send one-time code: %v", werr)
	}
	return nil
}

func (in *Intermediary) putOTP(hash string, rec *otpRec) error {
	v, err := recBytes(rec)
	if err != nil {
		return errcode.New(errcode.Internal, "%v", err)
	}
	b := in.db.NewBatch()
	b.Set(otpKey(hash), v)
	if err := b.Commit(true); err != nil {
		return internalErr("save one-time code", err)
	}
	return nil
}

func (in *Intermediary) dropOTP(hash string) error {
	b := in.db.NewBatch()
	b.Delete(otpKey(hash))
	if err := b.Commit(true); err != nil {
		return internalErr("delete one-time code", err)
	}
	return nil
}

// ConfirmAlias binds the alias when code is the pending request's (see
// roles.AliasBook). A wrong code counts durably before it is answered, so
// a crash or a restart does not give a guesser more tries.
func (in *Intermediary) ConfirmAlias(ctx context.Context, wallet, alias, code string) (roles.AliasEntry, error) {
	if err := in.enter(); err != nil {
		return roles.AliasEntry{}, err
	}
	defer in.exit()
	dir, a, err := in.aliases()
	if err != nil {
		return roles.AliasEntry{}, err
	}
	norm, kind, err := normAlias(alias)
	if err != nil {
		return roles.AliasEntry{}, err
	}
	display, err := in.aliasWallet(ctx, wallet)
	if err != nil {
		return roles.AliasEntry{}, err
	}
	code = strings.TrimSpace(code)
	if len(code) != aliasCodeDigits || strings.Trim(code, "0123456789") != "" {
		return roles.AliasEntry{}, errcode.New(errcode.Malformed, "one-time code: want %d digits", aliasCodeDigits)
	}
	hash := roles.AliasHash(a.key, norm)

	a.mu.Lock()
	defer a.mu.Unlock()
	var rec otpRec
	found, err := getRec(in.db, otpKey(hash), &rec)
	if err != nil {
		return roles.AliasEntry{}, internalErr("read one-time code", err)
	}
	if !found || rec.Wallet != wallet {
		return roles.AliasEntry{}, errcode.New(errcode.NotFound, "no one-time code is pending for %s on %s: request one first", norm, wallet)
	}
	if !in.cfg.Now().Before(rec.Expires) {
		if err := in.dropOTP(hash); err != nil {
			return roles.AliasEntry{}, err
		}
		return roles.AliasEntry{}, errcode.Forbidden("the one-time code for %s expired at %s: request a new one", norm, rec.Expires.Format(time.RFC3339))
	}
	if !hmac.Equal([]byte(a.codeMAC(hash, code)), []byte(rec.MAC)) {
		rec.Attempts++
		if rec.Attempts >= AliasCodeAttempts {
			if err := in.dropOTP(hash); err != nil {
				return roles.AliasEntry{}, err
			}
			return roles.AliasEntry{}, errcode.New(errcode.LimitExceeded, "%d wrong one-time codes for %s: the request is void, request a new code", rec.Attempts, norm)
		}
		if err := in.putOTP(hash, &rec); err != nil {
			return roles.AliasEntry{}, err
		}
		return roles.AliasEntry{}, errcode.Forbidden("wrong one-time code for %s: %d tries left", norm, AliasCodeAttempts-rec.Attempts)
	}
	// The directory write is the binding; the code is dropped after it.
	// A crash in between leaves the code pending, and confirming it again
	// finds the binding made and answers it (BindAlias of the binding in
	// force writes nothing).
	// The wallet's alias index (aliases_close.go) has the hash before the
	// directory does, so closing the wallet always finds it.
	if err := in.indexAlias(wallet, hash); err != nil {
		return roles.AliasEntry{}, err
	}
	b, err := dir.BindAlias(in.asSelf(ctx), roles.AliasBinding{Hash: hash, Wallet: wallet, Display: display}, rec.Move)
	if err != nil {
		// conflict: bound elsewhere since the code was sent.
		return roles.AliasEntry{}, serviceErr("bind the alias in the alias directory", err, errcode.Conflict)
	}
	in.boundToClosed(ctx, wallet, hash)
	if err := in.dropOTP(hash); err != nil {
		in.log.Warn("alias bound but its one-time code not deleted", "wallet", wallet, "err", err)
	}
	return roles.AliasEntry{Alias: norm, Kind: kind, Wallet: b.Wallet, Intermediary: b.Intermediary(), Display: b.Display}, nil
}

// LookupAlias resolves an alias for any authenticated caller, within the
// caller's lookup budget (Config.AliasLookupEvery, AliasLookupBurst): a
// lookup over it is refused with rate_limited and never reaches the
// directory. Malformed aliases cost a token too, so the budget bounds
// what a caller learns, not what it gets right.
func (in *Intermediary) LookupAlias(ctx context.Context, alias string) (roles.AliasEntry, error) {
	if err := in.enter(); err != nil {
		return roles.AliasEntry{}, err
	}
	defer in.exit()
	p, ok := roles.Caller(ctx)
	if !ok {
		return roles.AliasEntry{}, errcode.New(errcode.Unauthorized, "no credential")
	}
	dir, a, err := in.aliases()
	if err != nil {
		return roles.AliasEntry{}, err
	}
	if ok, wait := a.lim.allow(p.Role+"/"+p.Name, in.cfg.Now()); !ok {
		return roles.AliasEntry{}, errcode.RateLimitedFor(wait, "too many alias lookups by %s: try again in %s", p.Name, wait.Round(time.Millisecond))
	}
	norm, kind, err := normAlias(alias)
	if err != nil {
		return roles.AliasEntry{}, err
	}
	b, err := dir.LookupAlias(in.asSelf(ctx), roles.AliasHash(a.key, norm))
	if errcode.Is(err, errcode.NotFound) {
		return roles.AliasEntry{}, errcode.New(errcode.NotFound, "no wallet has the alias %s", norm)
	}
	if err != nil {
		return roles.AliasEntry{}, serviceErr("look up the alias in the alias directory", err)
	}
	return roles.AliasEntry{Alias: norm, Kind: kind, Wallet: b.Wallet, Intermediary: b.Intermediary(), Display: b.Display}, nil
}

// RemoveAlias ends the alias's binding to wallet: not_found when it is not
// bound to wallet (never was, removed, or moved to another wallet since).
func (in *Intermediary) RemoveAlias(ctx context.Context, wallet, alias string) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	dir, a, err := in.aliases()
	if err != nil {
		return err
	}
	norm, _, err := normAlias(alias)
	if err != nil {
		return err
	}
	if err := in.readable(ctx, wallet); err != nil {
		return err
	}
	hash := roles.AliasHash(a.key, norm)
	if err := dir.UnbindAlias(in.asSelf(ctx), hash, wallet); err != nil {
		if errcode.Is(err, errcode.NotFound) {
			in.unindexAlias(wallet, hash)
			return errcode.New(errcode.NotFound, "%s is not bound to %s", norm, wallet)
		}
		return serviceErr("unbind the alias in the alias directory", err)
	}
	in.unindexAlias(wallet, hash)
	return nil
}

var _ roles.AliasBook = (*Intermediary)(nil)

// expireAliasCodes deletes the one-time codes past their expiry, so codes
// requested and never confirmed do not pile up; the background loop runs
// it. It returns how many it deleted.
func (in *Intermediary) expireAliasCodes() (int, error) {
	if in.cfg.Aliases == nil {
		return 0, nil
	}
	a := &in.alias
	a.mu.Lock()
	defer a.mu.Unlock()
	now := in.cfg.Now()
	var dead [][]byte
	err := in.db.Scan(prefOTP, nil, func(k, v []byte) error {
		var rec otpRec
		if err := decodeRec(v, &rec); err != nil {
			return fmt.Errorf("one-time code %q: %w", k, err)
		}
		if !now.Before(rec.Expires) {
			dead = append(dead, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, internalErr("scan one-time codes", err)
	}
	if len(dead) == 0 {
		return 0, nil
	}
	b := in.db.NewBatch()
	for _, k := range dead {
		b.Delete(k)
	}
	if err := b.Commit(true); err != nil {
		return 0, internalErr("delete expired one-time codes", err)
	}
	return len(dead), nil
}
