package emvco_test

import (
	"errors"
	"fmt"

	"github.com/specie/specie/emvco"
	"github.com/specie/specie/money"
)

// A shop's till shows a dynamic code for one bill; the customer's app
// decodes what it scanned and learns whom to pay, how much and for what.
func ExampleEncode() {
	usd := money.Currency{Code: "USD", Exponent: 2}
	code, err := emvco.Encode(emvco.Payload{
		Dynamic:   true,
		Payee:     emvco.Payee{Wallet: "w-cafe"},
		MCC:       "5814",
		Amount:    450,
		Country:   "US",
		Name:      "Corner Cafe",
		City:      "Springfield",
		Reference: "INV-7",
	}, usd)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := emvco.Decode(code, usd)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Payee.Wallet, usd.Format(p.Amount), p.Reference, p.Name)
	// Output: w-cafe 4.50 INV-7 Corner Cafe
}

// A code damaged in the scan, or edited after it was printed, fails its
// CRC: the app refuses it before anything is paid.
func ExampleDecode_badCRC() {
	usd := money.Currency{Code: "USD", Exponent: 2}
	code, _ := emvco.Encode(emvco.Payload{
		Payee: emvco.Payee{Wallet: "w-cafe"}, MCC: "5814",
		Country: "US", Name: "Corner Cafe", City: "Springfield",
	}, usd)
	edited := code[:len(code)-1] + "0"
	if code[len(code)-1] == '0' {
		edited = code[:len(code)-1] + "1"
	}
	_, err := emvco.Decode(edited, usd)
	fmt.Println(errors.Is(err, emvco.ErrCRC))
	// Output: true
}
