package roles

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Aliases let a payer reach a wallet by a phone number or an email address
// instead of its ID. The central bank runs the directory (AliasDirectory)
// but knows an alias only by its keyed hash (AliasHash), under a key the
// intermediaries share and the central bank never has; each intermediary
// runs the registration (a one-time code proves the customer controls the
// alias) and the lookups of its customers (AliasBook).

// AliasKind says what an alias is.
type AliasKind string

// Alias kinds.
const (
	AliasPhone AliasKind = "phone" // E.164: "+" and 8 to 15 digits, the first not 0
	AliasEmail AliasKind = "email" // an ASCII address, lowercased
)

// Bounds of an alias, so the normaliser refuses anything longer before it
// does any work.
const (
	maxAliasInput = 320 // bytes of input, spaces and punctuation included
	maxEmail      = 254 // RFC 5321 path limit
	maxLocalPart  = 64
	minPhone      = 8
	maxPhone      = 15
)

// NormalizeAlias returns the one spelling of an alias that is hashed and
// stored, and its kind, or an error for anything that is neither a phone
// number nor an email address.
//
// A phone number is E.164: a leading "+" and 8 to 15 digits, the first not
// 0; spaces, '-', '.', '(' and ')' between digits are dropped
// ("+1 (555) 123-4567" is "+15551234567"). No national formats: without a
// "+" a number is ambiguous across countries.
//
// An email address is trimmed and lowercased entirely, domain and local
// part: RFC 5321 lets a mail server treat the local part as case-sensitive,
// but no provider in use does, and two spellings of one mailbox bound to
// two wallets would be worse than refusing the rare server that does. No
// other rewriting (dots, "+tags"): which of those a provider ignores is
// its own business, so "a.b@x" and "ab@x" are different aliases. Only
// ASCII (no internationalised addresses yet): a local part of letters,
// digits and !#$%&'*+/=?^_`{|}~- in dot-separated runs, and a domain of at
// least two dot-separated labels of letters, digits and inner hyphens.
func NormalizeAlias(s string) (string, AliasKind, error) {
	if len(s) > maxAliasInput {
		return "", "", fmt.Errorf("alias: longer than %d bytes", maxAliasInput)
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "", fmt.Errorf("alias: empty (want +<country><number> or name@domain)")
	case strings.HasPrefix(s, "+"):
		p, err := normalizePhone(s)
		if err != nil {
			return "", "", err
		}
		return p, AliasPhone, nil
	case strings.Contains(s, "@"):
		e, err := normalizeEmail(s)
		if err != nil {
			return "", "", err
		}
		return e, AliasEmail, nil
	}
	return "", "", fmt.Errorf("alias %q: want a phone number in E.164 (+<country><number>) or an email address", s)
}

// LooksLikeAlias reports whether s is meant as an alias rather than a
// wallet ID (which has neither a leading '+' nor an '@'), so a command
// taking either knows which one it was given before it validates it.
func LooksLikeAlias(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "+") || strings.Contains(s, "@")
}

func normalizePhone(s string) (string, error) {
	b := make([]byte, 1, 16)
	b[0] = '+'
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(b) > maxPhone {
				return "", fmt.Errorf("phone number %q: more than %d digits", s, maxPhone)
			}
			b = append(b, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", fmt.Errorf("phone number %q: unexpected %q (want + and digits)", s, c)
		}
	}
	digits := len(b) - 1
	if digits < minPhone {
		return "", fmt.Errorf("phone number %q: %d digits, want %d to %d", s, digits, minPhone, maxPhone)
	}
	if b[1] == '0' {
		return "", fmt.Errorf("phone number %q: a country code never starts with 0", s)
	}
	return string(b), nil
}

func normalizeEmail(s string) (string, error) {
	s = strings.ToLower(s)
	if len(s) > maxEmail {
		return "", fmt.Errorf("email address: longer than %d bytes", maxEmail)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", fmt.Errorf("email address %q: want exactly one '@'", s)
	}
	if local == "" || len(local) > maxLocalPart {
		return "", fmt.Errorf("email address %q: the part before '@' must have 1 to %d characters", s, maxLocalPart)
	}
	for _, run := range strings.Split(local, ".") {
		if run == "" {
			return "", fmt.Errorf("email address %q: a '.' at the start or end of the name, or two in a row", s)
		}
		for i := 0; i < len(run); i++ {
			if !atext(run[i]) {
				return "", fmt.Errorf("email address %q: %q is not allowed before '@'", s, run[i])
			}
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("email address %q: the domain needs at least two labels (example.org)", s)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("email address %q: a domain label must have 1 to 63 characters", s)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("email address %q: a domain label cannot start or end with '-'", s)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return "", fmt.Errorf("email address %q: %q is not allowed in the domain", s, c)
			}
		}
	}
	return s, nil
}

// atext reports whether c may appear in a dot-atom of an address's local
// part (RFC 5322 atext), lowercased.
func atext(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0
}

// aliasHashDomain separates alias hashes from every other use of the
// intermediaries' shared secret.
const aliasHashDomain = "specie/alias/v1\x00"

// AliasHash is how the directory knows an alias: HMAC-SHA256 of the
// normalised alias under key, a secret of the intermediaries that the
// central bank never has, in 64 lowercase hex digits. Phone numbers are
// few enough to hash them all; without the key the directory cannot.
func AliasHash(key []byte, normalized string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(aliasHashDomain))
	m.Write([]byte(normalized))
	return hex.EncodeToString(m.Sum(nil))
}

// AliasKey derives the alias hashing key from the intermediaries' shared
// pseudonym salt (see Pseudonym), domain-separated, so one secret shared
// once serves both registries while a pseudonym and an alias hash of the
// same string never match.
func AliasKey(salt []byte) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("specie/alias-key/v1"))
	return m.Sum(nil)
}

// AliasBinding is one entry of the central bank's alias directory: an
// alias's keyed hash and the wallet it reaches, with the payee's name as
// the owning intermediary chose to show it (masked: "Alice S.").
type AliasBinding struct {
	Hash    string    `json:"hash"`
	Wallet  string    `json:"wallet"`
	Display string    `json:"display"`
	Since   time.Time `json:"since,omitzero"` // when this binding started (the directory's clock)
}

// Intermediary is the intermediary holding the bound wallet.
func (b AliasBinding) Intermediary() string { return IntermediaryOf(b.Wallet) }

// AliasDirectory is the central bank's alias directory. Only intermediaries
// call it, each binding only wallets of its own. It keeps at most one
// binding per hash, so an alias never reaches two wallets at once.
type AliasDirectory interface {
	// BindAlias binds b.Hash to b.Wallet, a wallet of the caller's. An
	// unbound hash is bound; a hash bound to b.Wallet already has its
	// display name replaced. A hash bound to another wallet is a conflict
	// unless move is set: then the old binding ends and the new one
	// starts in one write (the caller has proved control of the alias
	// anew, see AliasBook). The answer is the binding in force.
	BindAlias(ctx context.Context, b AliasBinding, move bool) (AliasBinding, error)
	// LookupAlias returns the binding of hash; errcode.NotFound if none.
	LookupAlias(ctx context.Context, hash string) (AliasBinding, error)
	// UnbindAlias ends the binding of hash to wallet, a wallet of the
	// caller's: not_found if hash is not bound to that wallet (never
	// bound, removed, or moved away since).
	UnbindAlias(ctx context.Context, hash, wallet string) error
}

// AliasBook is the alias service an intermediary offers its customers,
// through its own credential: register an alias for a wallet after proving
// control of it with a one-time code, look an alias up (rate-limited per
// caller), remove it. The intermediary hashes every alias with the shared
// key before the directory sees it.
type AliasBook interface {
	// RequestAliasCode sends a one-time code to the alias (in the devnet, to
	// a file and the log) for binding it to r.Wallet. With r.Move the
	// alias may be bound elsewhere now and moves here when confirmed;
	// without it that is a conflict, found before any code is sent. Too
	// many codes to one alias in a short time are rate_limited.
	RequestAliasCode(ctx context.Context, r AliasRequest) (AliasChallenge, error)
	// ConfirmAlias binds the alias of a pending request for wallet when
	// code is its code: unauthorized for a wrong or expired code,
	// limit_exceeded once too many wrong codes were tried (the request
	// ends), not_found when no request is pending.
	ConfirmAlias(ctx context.Context, wallet, alias, code string) (AliasEntry, error)
	// LookupAlias resolves an alias to a wallet and the payee's masked
	// name; not_found when unbound, rate_limited past the caller's budget.
	LookupAlias(ctx context.Context, alias string) (AliasEntry, error)
	// RemoveAlias ends the alias's binding to wallet.
	RemoveAlias(ctx context.Context, wallet, alias string) error
}

// AliasRequest asks for a one-time code to bind Alias to Wallet.
type AliasRequest struct {
	Wallet string `json:"wallet"`
	Alias  string `json:"alias"`
	Move   bool   `json:"move,omitempty"`
}

// AliasChallenge says a code was sent: to which (normalised) alias, for
// which wallet, until when, and how many wrong tries end the request.
type AliasChallenge struct {
	Alias    string    `json:"alias"`
	Kind     AliasKind `json:"kind"`
	Wallet   string    `json:"wallet"`
	Move     bool      `json:"move,omitempty"`
	Expires  time.Time `json:"expires"`
	Attempts int       `json:"attempts"`
}

// AliasEntry is an alias as its intermediary reports it: normalised, the
// wallet it reaches, the intermediary holding that, and the payee's masked
// name to check before paying.
type AliasEntry struct {
	Alias        string    `json:"alias"`
	Kind         AliasKind `json:"kind"`
	Wallet       string    `json:"wallet"`
	Intermediary string    `json:"intermediary"`
	Display      string    `json:"display"`
}
