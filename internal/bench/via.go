package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// How a payments bench pays (PayOptions.Via), to measure what reaching a
// payee by alias or by request-to-pay costs against a plain payment.
const (
	// ViaWallet pays the payee's wallet ID (the default).
	ViaWallet = "wallet"
	// ViaAlias looks the payee's alias (a phone number registered for
	// every wallet before the run) up at the payer's intermediary, as
	// `specie wallet pay --to ALIAS` does, then pays the wallet found;
	// the lookup and the payment are timed as one payment.
	ViaAlias = "alias"
	// ViaRequest has the payee's intermediary create a payment request
	// and the payer's accept it, timed as one payment.
	ViaRequest = "request"
)

// viaOf is o.Via checked, "" read as ViaWallet.
func viaOf(via string) (string, error) {
	switch via {
	case "", ViaWallet:
		return ViaWallet, nil
	case ViaAlias, ViaRequest:
		return via, nil
	}
	return "", fmt.Errorf("bench payments: via %q: want %s, %s or %s", via, ViaWallet, ViaAlias, ViaRequest)
}

// checkVia reports an intermediary of t that cannot serve via.
func checkVia(t PayTarget, via string) error {
	for _, b := range t.Banks {
		switch via {
		case ViaAlias:
			if _, ok := b.(roles.AliasBook); !ok {
				return fmt.Errorf("bench payments --via alias: intermediary %s offers no alias service", b.Name())
			}
		case ViaRequest:
			if _, ok := b.(roles.Requests); !ok {
				return fmt.Errorf("bench payments --via request: intermediary %s offers no request-to-pay", b.Name())
			}
		}
	}
	return nil
}

// maxAliasWallets bounds the wallets given an alias: the index is six
// digits of the phone number.
const maxAliasWallets = 1_000_000

// benchAlias is the phone number the bench registers for wallet i of a
// run: E.164, +1 555, five digits of the run, six of the wallet, so
// runs against one network rarely collide (a collision is a conflict,
// reported, never a moved alias).
func benchAlias(run uint64, i int) string {
	return fmt.Sprintf("+1555%05d%06d", run%100_000, i)
}

// registerAliases binds a phone number to every wallet through the
// customer's flow: a one-time code requested at the wallet's
// intermediary, read from where the devnet "sends" it (o.OTPFile), and
// confirmed. It returns each wallet's alias.
func registerAliases(ctx context.Context, t PayTarget, o PayOptions, as func(context.Context, string) context.Context,
	wallets [][]string, p *progress) (map[string]string, error) {
	if o.OTPFile == nil {
		return nil, fmt.Errorf("bench payments --via alias: no one-time code file to read the banks' codes from")
	}
	if len(t.Banks)*o.WalletsPer > maxAliasWallets {
		return nil, fmt.Errorf("bench payments --via alias: at most %d wallets get an alias, have %d", maxAliasWallets, len(t.Banks)*o.WalletsPer)
	}
	run := uint64(time.Now().UnixNano() / int64(time.Millisecond))
	alias := func(b, i int) string { return benchAlias(run, b*o.WalletsPer+i) }
	var n, confirmed atomic.Int64
	p.set(func() string {
		return fmt.Sprintf("alias codes requested: %d of %d", n.Load(), len(t.Banks)*o.WalletsPer)
	})
	err := forEach(ctx, t.Banks, o.WalletsPer, o.FundClients, func(ctx context.Context, b, i int) error {
		bank := t.Banks[b]
		r := roles.AliasRequest{Wallet: wallets[b][i], Alias: alias(b, i)}
		if _, err := bank.(roles.AliasBook).RequestAliasCode(as(ctx, bank.Name()), r); err != nil {
			return fmt.Errorf("request a code for %s on %s at %s: %w", r.Alias, r.Wallet, bank.Name(), err)
		}
		n.Add(1)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("bench payments: %w", err)
	}
	codes := make([]map[string]string, len(t.Banks))
	for b, bank := range t.Banks {
		if codes[b], err = readCodes(o.OTPFile(bank.Name())); err != nil {
			return nil, fmt.Errorf("bench payments --via alias: %s's one-time codes: %w", bank.Name(), err)
		}
	}
	p.set(func() string {
		return fmt.Sprintf("aliases confirmed: %d of %d", confirmed.Load(), len(t.Banks)*o.WalletsPer)
	})
	out := make(map[string]string, len(t.Banks)*o.WalletsPer)
	for b := range wallets {
		for i, w := range wallets[b] {
			out[w] = alias(b, i)
		}
	}
	err = forEach(ctx, t.Banks, o.WalletsPer, o.FundClients, func(ctx context.Context, b, i int) error {
		bank, w, a := t.Banks[b], wallets[b][i], alias(b, i)
		code, ok := codes[b][a+" "+w]
		if !ok {
			return fmt.Errorf("no one-time code for %s on %s in %s", a, w, o.OTPFile(bank.Name()))
		}
		if _, err := bank.(roles.AliasBook).ConfirmAlias(as(ctx, bank.Name()), w, a, code); err != nil {
			return fmt.Errorf("confirm %s on %s at %s: %w", a, w, bank.Name(), err)
		}
		confirmed.Add(1)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("bench payments: %w", err)
	}
	return out, nil
}

// readCodes reads a devnet one-time code file (lines "time alias wallet
// code") into the last code per "alias wallet".
func readCodes(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := parseCodes(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// parseCodes reads one-time code lines ("time alias wallet code"; any
// other line is skipped) into the last code per "alias wallet".
func parseCodes(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if fl := strings.Fields(sc.Text()); len(fl) == 4 {
			out[fl[1]+" "+fl[2]] = fl[3]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// send makes one measured payment from from to to, as o.Via says.
func (l *payLoad) send(ctx context.Context, from, to wallet, key string) error {
	bank := l.t.Banks[from.bank]
	payer := l.as(ctx, bank.Name())
	switch l.o.Via {
	case ViaAlias:
		a := l.aliases[to.id]
		e, err := bank.(roles.AliasBook).LookupAlias(payer, a)
		if err != nil {
			return err
		}
		if e.Wallet != to.id {
			return errcode.New(errcode.Internal, "alias %s reached %s, registered for %s", a, e.Wallet, to.id)
		}
		to.id = e.Wallet
	case ViaRequest:
		payee := l.t.Banks[to.bank]
		rq, err := payee.(roles.Requests).CreateRequest(l.as(ctx, payee.Name()), roles.RequestSpec{
			Payee: to.id, Payer: from.id, Amount: l.o.Amount, Reference: "bench", Expires: time.Now().Add(time.Hour)})
		if err != nil {
			return err
		}
		_, err = bank.(roles.Requests).AcceptRequest(payer, rq.ID, from.id, 0)
		return err
	}
	pay := roles.Payment{From: from.id, To: to.id, Amount: l.o.Amount, IdempotencyKey: key}
	if l.raw != nil {
		return l.raw.pay(ctx, from.bank, pay)
	}
	_, err := bank.Pay(payer, pay)
	return err
}

// AliasLookups is an InProcPayments option that raises every
// intermediary's alias lookup budget to one lookup per every, bursts of
// burst, so `--via alias` measures lookups rather than their refusal;
// the network's configured limit is untouched. An intermediary without
// aliases is left as it is: registering the bench's aliases there fails
// with its reason.
func AliasLookups(every time.Duration, burst int) func(*devnet.Node) {
	return func(n *devnet.Node) {
		for _, b := range n.Banks {
			_ = b.SetAliasLookupLimit(every, burst) // errs only without aliases, see above
		}
	}
}
