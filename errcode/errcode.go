// Package errcode gives every rejection a stable, machine-readable code.
// Services return *Error; the API edge turns it into
// {"error": {"code", "message"}} with the matching HTTP status, and the Go
// client turns that back into the same *Error, so callers check codes the
// same way in process and over HTTP.
//
// The codes are the contract for failure: a program decides what to do
// (retry on Unavailable, ask for funds on InsufficientFunds, never retry
// DoubleSpend) by code, never by message text, which may change. It is
// public so programs outside Specie can match them with Is.
package errcode

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/specie/specie/money"
)

// Code is a stable error code. Codes are API: never rename one.
type Code string

// The codes. DESIGN.md section 7 lists the first seven.
const (
	DoubleSpend       Code = "double_spend"       // an input is not unspent though its output was created: spent, or presented with another value or lock (or the tx was already committed)
	InsufficientFunds Code = "insufficient_funds" // a wallet or reserve holds too little
	LimitExceeded     Code = "limit_exceeded"     // a policy limit would be broken
	Blocked           Code = "blocked"            // fraud or AML screening (or a frozen wallet) stopped the payment; nothing moved
	BadSignature      Code = "bad_signature"      // a signature does not verify or is missing
	Unauthorized      Code = "unauthorized"       // no valid credential, or not allowed to act here
	Malformed         Code = "malformed"          // the request cannot be parsed or breaks a format rule
	NotFound          Code = "not_found"          // no such wallet, note, transaction or proposal
	UnknownNote       Code = "unknown_note"       // an input names an output no committed transaction created
	Conflict          Code = "conflict"           // the request clashes with the current state (e.g. approving twice)
	Unavailable       Code = "unavailable"        // a peer or the ledger cannot be reached, or cannot write now (a full disk, a stopped ledger); nothing is known to have failed: retry
	Internal          Code = "internal"           // a bug or storage failure; nothing was reported committed
	NotLeader         Code = "not_leader"         // a replica of a replicated ledger that does not lead was sent a write; the leader's address is in the Specie-Leader header (when known): send it there
	RateLimited       Code = "rate_limited"       // the caller made too many requests of this kind (alias lookups) too fast; nothing changed: retry later
)

// LeaderHeader is the response header in which a ledger replica that does
// not lead names the base URL of the one that does.
const LeaderHeader = "Specie-Leader"

// Error is a rejection with a code.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Status overrides the code's default HTTP status (e.g. 403 rather than
	// 401 for a valid credential used on someone else's wallet).
	Status int `json:"-"`
	// Leader is, for NotLeader, the base URL of the replica that leads
	// ("" when none is known); the API sends it as LeaderHeader.
	Leader string `json:"-"`
	// RetryAfter is, for RateLimited or Unavailable, how long until a
	// retry may succeed: the limiter's wait, or the Retry-After a server
	// answered with (the client reads it back). See RetryAfter.
	RetryAfter time.Duration `json:"-"`
}

// RateLimitedFor is a RateLimited error whose caller may retry after wait.
func RateLimitedFor(wait time.Duration, format string, a ...any) *Error {
	e := New(RateLimited, format, a...)
	e.RetryAfter = wait
	return e
}

// RetryAfter is how long a caller should wait before sending again a
// request that failed with err, as the API's Retry-After header says it
// (RFC 9110): for RateLimited and Unavailable the error's own RetryAfter,
// at least a second (the ledger or a peer was unreachable or busy: a
// retry soon is what the API asks for); 0 for every other error, which a
// retry would only repeat.
func RetryAfter(err error) time.Duration {
	var e *Error
	if !errors.As(err, &e) || e.Code != RateLimited && e.Code != Unavailable {
		return 0
	}
	return max(e.RetryAfter, time.Second)
}

// NotLeaderAt is a NotLeader error naming the leader's base URL.
func NotLeaderAt(leader string, format string, a ...any) *Error {
	e := New(NotLeader, format, a...)
	e.Leader = leader
	return e
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// New makes an error with a code.
func New(c Code, format string, a ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, a...)}
}

// Forbidden is Unauthorized with status 403: the caller is known but may not
// act on this resource.
func Forbidden(format string, a ...any) *Error {
	e := New(Unauthorized, format, a...)
	e.Status = http.StatusForbidden
	return e
}

// Of returns the code carried by err, Malformed for money.ErrMalformed, and
// Internal for anything else.
func Of(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, money.ErrMalformed) {
		return Malformed
	}
	return Internal
}

// Is reports whether err carries code c.
func Is(err error, c Code) bool { return Of(err) == c }

// HTTPStatus is the status the API answers with for err.
func HTTPStatus(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	switch Of(err) {
	case DoubleSpend, Conflict:
		return http.StatusConflict
	case InsufficientFunds, LimitExceeded, UnknownNote, Blocked:
		return http.StatusUnprocessableEntity
	case BadSignature, Malformed:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case NotFound:
		return http.StatusNotFound
	case Unavailable:
		return http.StatusServiceUnavailable
	case NotLeader:
		return http.StatusMisdirectedRequest
	case RateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
