// Package money holds Specie's money model: integer amounts in minor units,
// notes (unspent outputs), transactions and their one canonical binary
// encoding, from which transaction IDs and note IDs are derived, and the
// batch headers and Merkle proofs of the ledger's verifiable log.
//
// It is the contract for bytes and arithmetic: the encoding it produces is
// what signatures cover, what the ledger stores and what the API carries
// (base64), so every party that builds, signs or checks a transaction, or
// verifies the log, must compute exactly what this package computes. It is
// public so that programs outside Specie (wallets, banks' systems,
// auditors) use this code rather than a copy of it. Amounts are uint64
// minor units everywhere; there is no floating point.
//
// Of Specie it imports only internal/codec, the byte reader its decoder
// shares with the ledger's disk formats; every other package builds on it.
package money
