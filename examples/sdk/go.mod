module example.com/specie-sdk-example

go 1.26.8

require github.com/specie/specie v0.0.0

require (
	github.com/oasisprotocol/curve25519-voi v0.0.0-20230904125328-1f23a7beb09a // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/specie/specie => ../..
