// Package money holds Specie's money model: integer amounts in minor units,
// notes (unspent outputs), transactions and their one canonical binary
// encoding, from which transaction IDs and note IDs are derived.
//
// It imports nothing of Specie's: every other package builds on it, and the
// bytes it produces are what signatures cover and what the ledger stores.
package money
