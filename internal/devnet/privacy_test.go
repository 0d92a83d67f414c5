package devnet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// secrets are the customers' identifying strings of the privacy scenario:
// owners, references and idempotency keys that only their intermediaries
// may hold.
type secrets []string

// findIn returns the secrets that occur in b.
func (s secrets) findIn(b []byte) []string {
	var found []string
	for _, x := range s {
		if bytes.Contains(b, []byte(x)) {
			found = append(found, x)
		}
	}
	return found
}

// scanDir returns, for every file under dir, the secrets it holds.
func (s secrets) scanDir(t *testing.T, dir string) map[string][]string {
	t.Helper()
	hits := map[string][]string{}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if f := s.findIn(b); len(f) > 0 {
			hits[path] = f
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if files == 0 {
		t.Fatalf("scan %s: no files: the scan would prove nothing", dir)
	}
	return hits
}

// The issuer and the ledger hold no customer's name, phone number,
// identity evidence, reference or key: the whole scenario runs (tier-1
// wallets at both banks opened with a phone and a passport, payments each
// way with references and idempotency keys), then every answer of the
// issuer's and the ledger's API and every byte of their data directories
// is searched for the customers' strings. Intermediary data directories
// are searched too, as a control: they must hold their own customers'
// strings (else the search proves nothing) and not the other bank's.
func TestIssuerAndLedgerLearnNoCustomer(t *testing.T) {
	dir := t.TempDir()
	u := startUp(t, dir)
	ctx := context.Background()
	u.p.mintTo(t, "bank-a", 10_000*major)
	u.p.mintTo(t, "bank-b", 10_000*major)

	own := map[string]secrets{}
	var all secrets
	wallets := map[string][]string{}
	for _, bank := range []string{"bank-a", "bank-b"} {
		for i := range 3 {
			owner := fmt.Sprintf("Zelda Quixote-%s-%d", bank, 7731+i)
			phone := fmt.Sprintf("+1555%03d%04d", len(bank), 4321+i)
			if bank == "bank-b" {
				phone = fmt.Sprintf("+4479%03d%04d", len(bank), 8765+i)
			}
			passport := fmt.Sprintf("PASSPORT-%s-ZQ%d", bank, 55012+i)
			w, err := u.p.bank(bank+".x").OpenWallet(ctx, roles.WalletRequest{Owner: owner, Tier: 1, Evidence: []roles.EvidenceRef{
				{Kind: policy.Phone, Ref: phone}, {Kind: policy.Identity, Ref: passport}}, Reason: "onboarding " + owner})
			if err != nil {
				t.Fatal(err)
			}
			own[bank] = append(own[bank], phone, passport)
			if _, err := u.p.bank(bank+".x").Pay(ctx, roles.Payment{From: bank + ".treasury", To: w.ID, Amount: 500 * major, Reference: "salary " + owner}); err != nil {
				t.Fatal(err)
			}
			own[bank] = append(own[bank], owner)
			wallets[bank] = append(wallets[bank], w.ID)
		}
	}
	var txids []string
	for i := range 3 {
		for _, from := range []string{"bank-a", "bank-b"} {
			to := "bank-b"
			if from == to {
				to = "bank-a"
			}
			ref := fmt.Sprintf("invoice QX-%s-%d", from, 90210+i)
			key := fmt.Sprintf("idem-QX-%s-%d", from, i)
			res, err := u.p.bank(from+".x").Pay(ctx, roles.Payment{From: wallets[from][i], To: wallets[to][i], Amount: (10 + uint64(i)) * major, Reference: ref, IdempotencyKey: key})
			if err != nil {
				t.Fatal(err)
			}
			txids = append(txids, res.TxID.String())
			own[from] = append(own[from], ref, key)
		}
	}
	for _, s := range own {
		all = append(all, s...)
	}

	// Every answer of the issuer's and the ledger's API.
	get := func(path string) []byte {
		t.Helper()
		return getAs(t, u.n.URL+path, u.n.Config.Issuer.Token)
	}
	// The registry, as each bank sees its own reservations: pseudonyms and
	// wallet IDs, one per wallet opened.
	for _, bank := range []string{"bank-a", "bank-b"} {
		tok, _ := u.n.Config.Token(bank)
		b := getAs(t, u.n.URL+"/v1/registry/reservations", tok)
		if f := all.findIn(b); len(f) > 0 {
			t.Errorf("the registry shows %s %q", bank, f)
		}
		for _, w := range wallets[bank] {
			if !bytes.Contains(b, []byte(w)) {
				t.Errorf("the registry holds no reservation of %s's wallet %s: %s", bank, w, b)
			}
		}
	}
	paths := []string{"/v1/info", "/v1/supply", "/v1/log/headers?from=1&limit=1000", "/v1/policy", "/v1/log/checkpoint"}
	for _, id := range txids {
		paths = append(paths, "/v1/transactions/"+id)
	}
	// The full batches an auditor reads (the ledger's archive): their
	// JSON, and each transaction's bytes decoded from its base64.
	var sup struct {
		Batches uint64 `json:"batches"`
	}
	if err := json.Unmarshal(get("/v1/supply"), &sup); err != nil || sup.Batches == 0 {
		t.Fatalf("supply: %v, %d batches", err, sup.Batches)
	}
	for seq := uint64(1); seq <= sup.Batches; seq++ {
		p := fmt.Sprintf("/v1/log/batches/%d", seq)
		paths = append(paths, p)
		var b struct {
			Transactions []string `json:"transactions"`
		}
		if err := json.Unmarshal(get(p), &b); err != nil {
			t.Fatal(err)
		}
		for i, tx := range b.Transactions {
			raw, err := base64.StdEncoding.DecodeString(tx)
			if err != nil {
				t.Fatal(err)
			}
			if f := all.findIn(raw); len(f) > 0 {
				t.Errorf("batch %d transaction %d holds %q", seq, i, f)
			}
		}
	}
	for _, p := range paths {
		if f := all.findIn(get(p)); len(f) > 0 {
			t.Errorf("GET %s shows %q", p, f)
		}
	}

	if err := u.n.Close(); err != nil {
		t.Fatal(err)
	}
	dirs := upDirs(dir, u.n.Config)
	for _, role := range []string{"ledger", "issuer"} {
		for path, f := range all.scanDir(t, dirs[role]) {
			t.Errorf("%s holds %q in %s", role, f, path)
		}
	}
	checkBanksHoldOnlyTheirOwn(t, dirs, own)
}

// getAs GETs url with token and returns the body of a 200 answer.
func getAs(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// checkBanksHoldOnlyTheirOwn is the control of the privacy test.
func checkBanksHoldOnlyTheirOwn(t *testing.T, dirs map[string]string, own map[string]secrets) {
	t.Helper()
	// The control: each bank holds its own customers' strings, and none
	// of the other bank's owners.
	for bank, mine := range own {
		held := map[string]bool{}
		for _, f := range secrets(mine).scanDir(t, dirs[bank]) {
			for _, x := range f {
				held[x] = true
			}
		}
		for _, x := range mine {
			if strings.HasPrefix(x, "Zelda") && !held[x] {
				t.Errorf("%s's data does not hold its own customer %q: the scan cannot find what it looks for", bank, x)
			}
		}
		for other, theirs := range own {
			if other == bank {
				continue
			}
			var owners secrets
			for _, x := range theirs {
				if strings.HasPrefix(x, "Zelda") {
					owners = append(owners, x)
				}
			}
			for path, f := range owners.scanDir(t, dirs[bank]) {
				t.Errorf("%s holds %s's customers %q in %s", bank, other, f, path)
			}
		}
	}
}
