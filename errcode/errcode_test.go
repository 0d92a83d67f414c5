package errcode_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

// TestHTTPStatusEveryCode pins the status the API answers with for every
// code: clients and the OpenAPI spec rely on it.
func TestHTTPStatusEveryCode(t *testing.T) {
	cases := []struct {
		code errcode.Code
		want int
	}{
		{errcode.DoubleSpend, http.StatusConflict},
		{errcode.Conflict, http.StatusConflict},
		{errcode.InsufficientFunds, http.StatusUnprocessableEntity},
		{errcode.LimitExceeded, http.StatusUnprocessableEntity},
		{errcode.Blocked, http.StatusUnprocessableEntity},
		{errcode.UnknownNote, http.StatusUnprocessableEntity},
		{errcode.BadSignature, http.StatusBadRequest},
		{errcode.Malformed, http.StatusBadRequest},
		{errcode.Unauthorized, http.StatusUnauthorized},
		{errcode.NotFound, http.StatusNotFound},
		{errcode.Unavailable, http.StatusServiceUnavailable},
		{errcode.Internal, http.StatusInternalServerError},
		{errcode.NotLeader, http.StatusMisdirectedRequest},
		{errcode.RateLimited, http.StatusTooManyRequests},
		{errcode.Code("no_such_code"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		t.Run(string(c.code), func(t *testing.T) {
			err := errcode.New(c.code, "x %d", 1)
			if got := errcode.HTTPStatus(err); got != c.want {
				t.Fatalf("HTTPStatus(%s) = %d, want %d", c.code, got, c.want)
			}
			// Wrapping must not change the status.
			if got := errcode.HTTPStatus(fmt.Errorf("ctx: %w", err)); got != c.want {
				t.Fatalf("wrapped HTTPStatus(%s) = %d, want %d", c.code, got, c.want)
			}
		})
	}
}

func TestForbidden(t *testing.T) {
	err := errcode.Forbidden("wallet %s belongs to someone else", "bank-a.x")
	if err.Code != errcode.Unauthorized {
		t.Fatalf("code %s, want unauthorized", err.Code)
	}
	if got := errcode.HTTPStatus(err); got != http.StatusForbidden {
		t.Fatalf("status %d, want 403", got)
	}
	if got := errcode.HTTPStatus(fmt.Errorf("pay: %w", err)); got != http.StatusForbidden {
		t.Fatalf("wrapped status %d, want 403", got)
	}
	if err.Error() != "unauthorized: wallet bank-a.x belongs to someone else" {
		t.Fatalf("message %q", err.Error())
	}
}

func TestOf(t *testing.T) {
	dbl := errcode.New(errcode.DoubleSpend, "note spent")
	cases := []struct {
		name string
		err  error
		want errcode.Code
	}{
		{"nil", nil, ""},
		{"direct", dbl, errcode.DoubleSpend},
		{"wrapped once", fmt.Errorf("submit: %w", dbl), errcode.DoubleSpend},
		{"wrapped twice", fmt.Errorf("pay: %w", fmt.Errorf("submit: %w", dbl)), errcode.DoubleSpend},
		{"joined", errors.Join(errors.New("other"), dbl), errcode.DoubleSpend},
		{"malformed", money.ErrMalformed, errcode.Malformed},
		{"wrapped malformed", fmt.Errorf("decode: %w", money.ErrMalformed), errcode.Malformed},
		{"code wins over malformed", fmt.Errorf("%w: %w", errcode.New(errcode.BadSignature, "sig"), money.ErrMalformed), errcode.BadSignature},
		{"plain error", errors.New("disk on fire"), errcode.Internal},
		{"formatted not wrapped", fmt.Errorf("x: %v", dbl), errcode.Internal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := errcode.Of(c.err); got != c.want {
				t.Fatalf("Of = %q, want %q", got, c.want)
			}
			if c.want != "" && !errcode.Is(c.err, c.want) {
				t.Fatalf("Is(%q) false", c.want)
			}
		})
	}
	if got := errcode.HTTPStatus(fmt.Errorf("decode: %w", money.ErrMalformed)); got != http.StatusBadRequest {
		t.Fatalf("malformed status %d, want 400", got)
	}
	if got := errcode.HTTPStatus(errors.New("boom")); got != http.StatusInternalServerError {
		t.Fatalf("plain error status %d, want 500", got)
	}
}

// TestStatusOverride: a non-zero Status wins over the code's default, so a
// service can answer 403 for a known caller without a new code.
func TestStatusOverride(t *testing.T) {
	e := errcode.New(errcode.NotFound, "gone")
	e.Status = http.StatusGone
	if got := errcode.HTTPStatus(e); got != http.StatusGone {
		t.Fatalf("status %d, want 410", got)
	}
}

// TestRetryAfter: what the API's Retry-After says for each kind of error.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"rate limited with the limiter's wait", errcode.RateLimitedFor(6*time.Second, "wait"), 6 * time.Second},
		{"rate limited under a second", errcode.RateLimitedFor(200*time.Millisecond, "wait"), time.Second},
		{"rate limited, no wait known", errcode.New(errcode.RateLimited, "wait"), time.Second},
		{"unavailable", errcode.New(errcode.Unavailable, "ledger down"), time.Second},
		{"unavailable, wrapped", fmt.Errorf("pay: %w", errcode.New(errcode.Unavailable, "ledger down")), time.Second},
		{"unavailable, a server's Retry-After read back", &errcode.Error{Code: errcode.Unavailable, RetryAfter: 5 * time.Second}, 5 * time.Second},
		{"another code with a RetryAfter", &errcode.Error{Code: errcode.Conflict, RetryAfter: 5 * time.Second}, 0},
		{"insufficient funds", errcode.New(errcode.InsufficientFunds, "short"), 0},
		{"internal", errors.New("disk on fire"), 0},
		{"nil", nil, 0},
	} {
		if got := errcode.RetryAfter(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
