// Package emvco encodes and decodes merchant-presented QR codes in the
// EMVCo MPM format (EMV QR Code Specification for Payment Systems,
// Merchant-Presented Mode, v1.1), the format Pix, UPI, SGQR and most
// national QR schemes build on, so that a shop's till and any EMVCo-aware
// app can read a Specie code.
//
// A payload is a string of data objects, each ID (2 digits), length (2
// digits, counted in characters, not bytes) and value:
//
//	00 02 01                         payload format indicator, always first
//	01 02 11|12                      point of initiation: 11 static, 12 dynamic
//	26 .. 00 10 org.specie           Specie's merchant account template (any ID 26-51)
//	      01 .. <wallet ID>          the payee: exactly one of 01 wallet ID,
//	      02 .. <alias>                         02 alias (phone or email),
//	      03 .. <request ID>                    03 payment request ID
//	52 04 5812                       merchant category code (ISO 18245)
//	53 03 840                        transaction currency (ISO 4217 numeric)
//	54 .. 12.50                      amount, dynamic codes only (decimal, "." mark)
//	58 02 US                         country (ISO 3166-1 alpha-2)
//	59 .. Corner Cafe                merchant name (at most 25)
//	60 .. Springfield                merchant city (at most 15)
//	62 .. 01 .. INV-42               additional data: 01 bill number (the reference)
//	63 04 A13A                       CRC-16/CCITT-FALSE over everything before it,
//	                                 "6304" included; always last
//
// Parse checks a payload against the EMVCo rules alone (it accepts other
// schemes' codes, such as the specification's own examples); Decode also
// applies Specie's rules: a Specie account template, the network's
// currency, an amount exactly when the code is dynamic. Amounts are uint64
// minor units converted through money.Currency; there is no floating point.
// Every rejection is an *Error wrapping one of the Err* sentinels, so a
// caller can tell a damaged scan (ErrCRC) from a code for another currency
// (ErrCurrency) with errors.Is.
package emvco
