package intermediary

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Deposit accounts (issue 9, section 3): the intermediary's own book of
// bank money, not digital currency, to which a wallet may be linked. The
// waterfall moves what a wallet may not hold into its linked account (the
// intermediary keeps those notes in its treasury), and the reverse
// waterfall pays from the account what the wallet lacks.
//
//	k/<account>                                   accountRec (JSON): the wallet it serves
//	g/<account>\x00<nanos u64 BE><txid><dir>      roles.AccountEntry (JSON)
//
// An account's balance is the sum of its history, never stored: credits
// (the waterfall, the sweep) are written when their payment is applied,
// and a draw (the reverse waterfall) when its payment is reserved, under
// the wallet's lock, and deleted again if the payment never commits. So
// no two writers ever read-modify-write one balance, and a draw decided
// under the wallet's lock sees every other draw.
const (
	pAccount        = "k/"
	pAccountHistory = "g/"
)

// MaxAccountLen bounds a deposit account's identifier in bytes.
const MaxAccountLen = 64

type accountRec struct {
	Wallet string `json:"wallet"`
}

func accountKey(id string) []byte { return append([]byte(pAccount), id...) }

func accountHistoryPrefix(id string) []byte {
	k := append([]byte(pAccountHistory), id...)
	return append(k, 0)
}

func accountHistoryKey(id string, nanos int64, txid money.TxID, dir string) []byte {
	k := binary.BigEndian.AppendUint64(accountHistoryPrefix(id), uint64(nanos))
	k = append(k, txid[:]...)
	return append(k, dir[0])
}

// accountHistory lists account id's entries, oldest first, and its
// balance: what came in less what went out.
func (in *Intermediary) accountHistory(id string) ([]roles.AccountEntry, uint64, error) {
	es := []roles.AccountEntry{}
	var bal uint64
	err := in.db.Scan(accountHistoryPrefix(id), nil, func(_, v []byte) error {
		var e roles.AccountEntry
		if err := decodeRec(v, &e); err != nil {
			return err
		}
		if e.Direction == "in" {
			bal = addSat(bal, e.Amount)
		} else {
			bal -= min(bal, e.Amount)
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return nil, 0, internalErr("account "+id, err)
	}
	return es, bal, nil
}

// setAccountEntry adds e to account id's history in b.
func setAccountEntry(b interface{ Set(k, v []byte) }, id string, e roles.AccountEntry) error {
	v, err := recBytes(e)
	if err != nil {
		return err
	}
	b.Set(accountHistoryKey(id, e.Time.UnixNano(), e.TxID, e.Direction), v)
	return nil
}

func checkAccountID(id string) error {
	if id == "" || len(id) > MaxAccountLen || strings.TrimSpace(id) != id {
		return errcode.New(errcode.Malformed, "account: want 1 to %d bytes without surrounding spaces", MaxAccountLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return errcode.New(errcode.Malformed, "account: want printable ASCII characters")
		}
	}
	return nil
}

// Link links wallet id to deposit account at this intermediary, opening
// the account (at balance zero) if it is new. An account serves one
// wallet.
func (in *Intermediary) Link(ctx context.Context, id, account, reason string) (roles.Wallet, error) {
	if err := checkAccountID(account); err != nil {
		return roles.Wallet{}, err
	}
	return in.change(ctx, id, "link", reason, func(p *profileRec, _ uint64, b *store.Batch) (string, error) {
		if p.Account == account {
			return "", errcode.New(errcode.Conflict, "wallet %s is already linked to account %s", id, account)
		}
		var acc accountRec
		found, err := getRec(in.db, accountKey(account), &acc)
		if err != nil {
			return "", internalErr("account "+account, err)
		}
		if found && acc.Wallet != "" && acc.Wallet != id {
			return "", errcode.New(errcode.Conflict, "account %s is linked to another wallet", account)
		}
		acc.Wallet = id
		v, err := recBytes(acc)
		if err != nil {
			return "", internalErr("account "+account, err)
		}
		b.Set(accountKey(account), v)
		detail := "linked to account " + account
		if p.Account != "" {
			detail = fmt.Sprintf("linked to account %s (was %s)", account, p.Account)
		}
		p.Account = account
		return detail, nil
	})
}

// Account reports the deposit account linked to wallet id, with its
// history, oldest first.
func (in *Intermediary) Account(ctx context.Context, id string) (roles.Account, []roles.AccountEntry, error) {
	if err := in.enter(); err != nil {
		return roles.Account{}, nil, err
	}
	defer in.exit()
	if err := in.readable(ctx, id); err != nil {
		return roles.Account{}, nil, err
	}
	account, err := in.linkedAccount(id)
	if err != nil {
		return roles.Account{}, nil, err
	}
	if account == "" {
		return roles.Account{}, nil, errcode.New(errcode.NotFound, "wallet %s has no linked account", id)
	}
	es, bal, err := in.accountHistory(account)
	if err != nil {
		return roles.Account{}, nil, err
	}
	return roles.Account{ID: account, Wallet: id, Balance: bal}, es, nil
}
