package errcode_test

import (
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

// Match a rejection by its code, never by its message: Is sees through
// wrapping, and a malformed transaction from the money package counts as
// Malformed.
func ExampleIs() {
	err := fmt.Errorf("pay rent: %w", errcode.New(errcode.InsufficientFunds, "available 380.00 USD is less than 1000.00"))
	fmt.Println(errcode.Is(err, errcode.InsufficientFunds), errcode.Is(err, errcode.LimitExceeded))
	fmt.Println("code", errcode.Of(err), "status", errcode.HTTPStatus(err))

	var tx money.Tx
	err = tx.UnmarshalBinary([]byte{1})
	fmt.Println("short transaction:", errcode.Of(err))
	fmt.Println("any other error:", errcode.Of(errors.New("disk on fire")))
	// Output:
	// true false
	// code insufficient_funds status 422
	// short transaction: malformed
	// any other error: internal
}

// The client returns *errcode.Error, carrying the HTTP status it came with;
// errors.As gets at the fields.
func ExampleError() {
	var err error = errcode.Forbidden("wallet %s belongs to another intermediary", "bank-b.x")
	var e *errcode.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, errcode.HTTPStatus(e), e.Message)
	}
	// Output:
	// unauthorized 403 wallet bank-b.x belongs to another intermediary
}
