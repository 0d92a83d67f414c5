package intermediary

import (
	"errors"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
)

// ReservationKeys returns what a test needs to try spending reservation
// id's escrowed note behind the intermediaries' backs: the note, its
// terms, the payer wallet's key (held by payer) and the escrow key the
// payee's intermediary contributed (held by payee).
func ReservationKeys(payer, payee *Intermediary, id string) (money.Note, money.Escrow, *crypto.PrivateKey, *crypto.PrivateKey, error) {
	r, err := payer.loadRes(pResPayer, id)
	if err != nil {
		return money.Note{}, money.Escrow{}, nil, nil, err
	}
	_, signer, err := payer.signer(r.Payer)
	if err != nil {
		return money.Note{}, money.Escrow{}, nil, nil, err
	}
	pk, ok := signer.(*crypto.PrivateKey)
	if !ok {
		return money.Note{}, money.Escrow{}, nil, nil, errors.New("the payer wallet's key is not in memory")
	}
	q, err := payee.loadRes(pResPayee, id)
	if err != nil {
		return money.Note{}, money.Escrow{}, nil, nil, err
	}
	qk, err := crypto.KeyFromSeed(q.Seed)
	if err != nil {
		return money.Note{}, money.Escrow{}, nil, nil, err
	}
	return r.Note, r.Escrow, pk, qk, nil
}
