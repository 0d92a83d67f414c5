package devnet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/hsm"
	"github.com/specie/specie/internal/hsm/hsmtest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// hsmMint proposes a mint of amount to bank-a and approves it with devnet
// officers' keys, signing through whatever holds them.
func hsmMint(t *testing.T, n *devnet.Node, amount uint64, officers ...int) (roles.Mint, error) {
	t.Helper()
	ctx := context.Background()
	tok, _ := n.Config.Token("issuer")
	is := client.New(n.URL, tok).Issuer()
	m, err := is.ProposeMint(ctx, "bank-a", amount)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range officers {
		k, err := n.Config.OfficerSigner(o)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.TrySign(crypto.Mint, n.Config.Network.ID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m, err = is.ApproveMint(ctx, m.ID, k.Public(), sig); err != nil {
			return m, err
		}
	}
	return m, nil
}

// TestUpWithHSM: a devnet made with --hsm keeps its officer keys, the
// issuer's redeem key and the intermediaries' treasury keys on a SoftHSM2
// token in its data directory, never in a file; a mint approved by two
// officers signing on the token and a redeem signed by bank-a's treasury
// key and acknowledged by the redeem key, both on the token, commit, also after a
// restart; a wrong PIN or a missing token stops the start with a clear
// error and changes nothing.
func TestUpWithHSM(t *testing.T) {
	module := hsmtest.Module(t)
	dir := t.TempDir()
	ctx := context.Background()
	created, err := devnet.PrepareHSM(dir, "127.0.0.1:0", module)
	if err != nil || !created {
		t.Fatalf("prepare: %v, created %v", err, created)
	}
	n, _, err := devnet.Up(dir, "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	c := n.Config
	if c.HSM == nil || len(c.OfficerKeyFiles) != 0 || c.RedeemKeyFile != "" || len(c.MintKeys) != 3 {
		t.Fatalf("config: hsm %+v, officer files %v, redeem file %q", c.HSM, c.OfficerKeyFiles, c.RedeemKeyFile)
	}
	// No key file anywhere under keys/: only the PIN and the salt.
	ents, err := os.ReadDir(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch e.Name() {
		case "hsm.pin", "hsm-bank-a.pin", "hsm-bank-b.pin", "intermediaries-pseudonym.salt":
		default:
			t.Errorf("unexpected file keys/%s", e.Name())
		}
	}
	tok, err := c.HSMToken()
	if err != nil {
		t.Fatal(err)
	}
	infos, err := tok.Keys()
	if err != nil || len(infos) != 4 { // 3 officers, the redeem key
		t.Fatalf("issuer token keys %+v, %v", infos, err)
	}
	// Each intermediary's treasury key is on a token of its own, with a
	// PIN of its own: not on the issuer's token, nor on the other bank's.
	for _, name := range []string{"bank-a", "bank-b"} {
		tt, err := c.TreasuryToken(name)
		if err != nil {
			t.Fatal(err)
		}
		own, err := tt.Keys()
		if err != nil || len(own) != 1 || own[0].Label != name+"-treasury" || tt.Label() == tok.Label() {
			t.Fatalf("%s's token %q: keys %+v, %v", name, tt.Label(), own, err)
		}
		infos = append(infos, own...)
		if pa, pb := c.HSM.TreasuryTokens[name].PINFile, c.HSM.PINFile; pa == pb {
			t.Fatalf("%s's token shares the issuer's PIN file %s", name, pa)
		}
	}
	if _, err := tok.Key("bank-a-treasury"); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("bank-a's treasury key on the issuer's token: %v", err)
	}
	for _, k := range infos {
		if !k.Sensitive || k.Extractable || !k.NeverExtractable {
			t.Errorf("key %s can leave the token: %+v", k.Label, k)
		}
	}

	m, err := hsmMint(t, n, 1234_00, 1, 3)
	if err != nil || m.Status != roles.MintCommitted {
		t.Fatalf("mint with HSM officer keys: %+v, %v", m, err)
	}
	bank := client.New(n.URL, c.Intermediaries[0].Token).Intermediary("bank-a")
	// bank-a's treasury is locked to its key on the token, so the
	// redeem below is signed there too.
	bankTok, err := c.TreasuryToken("bank-a")
	if err != nil {
		t.Fatal(err)
	}
	tk, err := bankTok.Key("bank-a-treasury")
	if err != nil {
		t.Fatal(err)
	}
	if w, err := bank.Wallet(ctx, "bank-a.treasury"); err != nil || w.Lock != money.KeyLock(tk.Public()) {
		t.Fatalf("treasury %+v, %v; want locked to %s", w, err, tk.Public())
	}
	red, err := bank.Redeem(ctx, roles.RedeemRequest{Amount: 34_00})
	if err != nil || red.Receipt.Batch == 0 {
		t.Fatalf("redeem acknowledged by the HSM redeem key: %+v, %v", red, err)
	}
	sup, err := n.Supply(ctx)
	if err != nil || sup.Outstanding != 1200_00 {
		t.Fatalf("supply %+v, %v; want 1200.00 outstanding", sup, err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// A wrong PIN and a missing token: the start fails saying so, and
	// the network is as it was when the start works again.
	pinFile := filepath.Join(dir, "keys", "hsm.pin")
	pin, _ := os.ReadFile(pinFile)
	tokens := filepath.Join(dir, "hsm", "tokens")
	for _, c := range []struct {
		name          string
		breakIt, mend func() error
		want          error
		wantInMessage string
	}{
		{"wrong PIN", func() error { return os.WriteFile(pinFile, []byte("0000\n"), 0o600) }, func() error { return os.WriteFile(pinFile, pin, 0o600) }, hsm.ErrBadPIN, "wrong PIN"},
		{"token deleted", func() error {
			if err := os.Rename(tokens, tokens+".away"); err != nil {
				return err
			}
			return os.Mkdir(tokens, 0o700)
		}, func() error {
			if err := os.Remove(tokens); err != nil {
				return err
			}
			return os.Rename(tokens+".away", tokens)
		}, hsm.ErrNoToken, `no initialised token labelled "specie-issuer"`},
		{"token directory gone", func() error { return os.Rename(tokens, tokens+".away") }, func() error { return os.Rename(tokens+".away", tokens) }, hsm.ErrUnavailable, "check the configuration SOFTHSM2_CONF="},
	} {
		if err := c.breakIt(); err != nil {
			t.Fatal(err)
		}
		n, _, err := devnet.Up(dir, "127.0.0.1:0", quietLog())
		if err == nil {
			n.Close()
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.wantInMessage) {
			t.Errorf("%s: start: %v, want %v", c.name, err, c.want)
		}
		if err := c.mend(); err != nil {
			t.Fatal(err)
		}
	}

	// Restart: the same keys, and minting still works.
	n, _, err = devnet.Up(dir, "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if sup, err := n.Supply(ctx); err != nil || sup.Outstanding != 1200_00 {
		t.Fatalf("after restart supply %+v, %v", sup, err)
	}
	if m, err := hsmMint(t, n, 1_00, 2, 3); err != nil || m.Status != roles.MintCommitted {
		t.Fatalf("mint after restart: %+v, %v", m, err)
	}
	// One officer is not a quorum, and a key outside the set is refused.
	if m, err := hsmMint(t, n, 1_00, 2); err != nil || m.Status != roles.MintPending {
		t.Fatalf("one approval: %+v, %v", m, err)
	}
	if _, err := devnet.PrepareHSM(t.TempDir(), "127.0.0.1:0", "/nonexistent/libsofthsm2.so"); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("missing module: %v", err)
	}
}
