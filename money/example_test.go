package money_test

import (
	"fmt"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
)

// Amounts are integers of minor units; Parse and Format convert exactly,
// without floating point.
func ExampleCurrency_Parse() {
	usd := money.Currency{Code: "USD", Exponent: 2}
	for _, s := range []string{"12.50", "1250", "0.005"} {
		v, err := usd.Parse(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(s, "->", v, "minor units ->", usd.Format(v))
	}
	// Output:
	// 12.50 -> 1250 minor units -> 12.50
	// 1250 -> 1250 minor units -> 12.50
	// error: parse amount "0.005": more than 2 decimal places for USD
}

// A transfer built and signed by the owner of its input: the txid hashes
// the canonical encoding without signatures, the owner signs the txid for
// the spend domain on this network, and the full encoding (what the API
// carries) decodes to the same transaction.
func ExampleNetwork_TxID() {
	net := money.Network{ID: "specie-devnet", Currency: money.Currency{Code: "USD", Exponent: 2}}
	var seed [32]byte // fixed keys, so the output is fixed; use crypto.GenerateKey
	alice, _ := crypto.KeyFromSeed(seed[:])
	seed[0] = 1
	bob, _ := crypto.KeyFromSeed(seed[:])

	// A note alice holds: created as output 0 of some earlier transaction.
	note := money.Note{TxID: money.Hash{0xaa}, Index: 0, Output: money.Output{Value: 10_00, Lock: money.KeyLock(alice.Public())}}
	tx := &money.Tx{
		Kind:    money.Transfer,
		Inputs:  []money.Note{note},
		Outputs: []money.Output{{Value: 7_50, Lock: money.KeyLock(bob.Public())}, {Value: 2_50, Lock: money.KeyLock(alice.Public())}},
	}
	txid := net.TxID(tx)
	tx.InputSigs = []money.Sig{alice.Sign(crypto.Spend, net.ID, txid)}
	if err := tx.Check(); err != nil {
		fmt.Println(err)
		return
	}

	b, _ := tx.MarshalBinary()
	var back money.Tx
	if err := back.UnmarshalBinary(b); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("txid", txid)
	fmt.Println("encoded", len(b), "bytes; decodes to the same txid:", net.TxID(&back) == txid)
	fmt.Println("alice's signature verifies:", crypto.Verify(alice.Public(), crypto.Spend, net.ID, txid, back.InputSigs[0]))
	fmt.Println("bob's new note", net.NoteID(&back.OutputNotes(txid)[0]))
	// Output:
	// txid 36436f90f5aff3110c8b3cf29bb4bc8e0f4c0799f52d80eab8d5df3fd9efe40d
	// encoded 238 bytes; decodes to the same txid: true
	// alice's signature verifies: true
	// bob's new note 2e1ece3ed9832285a14621a08d4e82598e0352ef02a5befa6fe6ca9943971452
}

// A third party checks a transaction's inclusion in the log: the batch
// header commits to its transactions by a Merkle root, and each header to
// the one before by hash. Here the headers are built by hand; a ledger
// serves them (roles.Ledger.Tx, Headers).
func ExampleBatchHeader_VerifyInclusion() {
	net := money.Network{ID: "specie-devnet", Currency: money.Currency{Code: "USD", Exponent: 2}}
	txids := []money.TxID{{1}, {2}, {3}}
	h1 := money.BatchHeader{Seq: 1, TxRoot: money.MerkleRoot(txids[:1]), TxCount: 1, Minted: 100_00}
	h2 := money.BatchHeader{Seq: 2, Prev: net.HeaderHash(&h1), TxRoot: money.MerkleRoot(txids[1:]), TxCount: 2, Minted: 100_00}

	proof := money.MerkleProof(txids[1:], 1) // txids[2] is the second of batch 2
	fmt.Println("txid 3 in batch 2:", h2.VerifyInclusion(txids[2], 1, proof))
	fmt.Println("txid 1 with that proof:", h2.VerifyInclusion(txids[0], 1, proof))
	fmt.Println("batch 1 starts the chain:", net.VerifyNext(nil, &h1))
	fmt.Println("batch 2 follows it:", net.VerifyNext(&h1, &h2))
	forged := h1
	forged.Minted = 1_000_000_00
	fmt.Println("batch 2 after a forged batch 1:", net.VerifyNext(&forged, &h2) != nil)
	// Output:
	// txid 3 in batch 2: <nil>
	// txid 1 with that proof: inclusion proof does not match the batch root
	// batch 1 starts the chain: <nil>
	// batch 2 follows it: <nil>
	// batch 2 after a forged batch 1: true
}
