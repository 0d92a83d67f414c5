package intermediary_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// aliasLink is the central bank's alias directory as the intermediaries
// reach it: the issuer's real one behind a link a test can cut (every
// call unavailable, reaching nothing), count lookups through, or hook
// after a bind is stored (to crash an intermediary there).
type aliasLink struct {
	real      roles.AliasDirectory
	down      atomic.Bool
	refuse    atomic.Pointer[errcode.Error] // every call refused with it, reaching nothing
	lookups   atomic.Int64
	mu        sync.Mutex
	afterBind func(roles.AliasBinding)
}

func (l *aliasLink) cut() error {
	if l.down.Load() {
		return errcode.New(errcode.Unavailable, "the alias directory cannot be reached")
	}
	if e := l.refuse.Load(); e != nil {
		return e
	}
	return nil
}

func (l *aliasLink) BindAlias(ctx context.Context, b roles.AliasBinding, move bool) (roles.AliasBinding, error) {
	if err := l.cut(); err != nil {
		return roles.AliasBinding{}, err
	}
	out, err := l.real.BindAlias(ctx, b, move)
	l.mu.Lock()
	hook := l.afterBind
	l.mu.Unlock()
	if err == nil && hook != nil {
		hook(out)
	}
	return out, err
}

func (l *aliasLink) LookupAlias(ctx context.Context, hash string) (roles.AliasBinding, error) {
	if err := l.cut(); err != nil {
		return roles.AliasBinding{}, err
	}
	l.lookups.Add(1)
	return l.real.LookupAlias(ctx, hash)
}

func (l *aliasLink) UnbindAlias(ctx context.Context, hash, wallet string) error {
	if err := l.cut(); err != nil {
		return err
	}
	return l.real.UnbindAlias(ctx, hash, wallet)
}

func (l *aliasLink) setAfterBind(f func(roles.AliasBinding)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.afterBind = f
}

var aliasSalt = []byte("salt the intermediaries share")

// aliasEnv is bank-a and bank-b offering aliases through the issuer's
// real directory, on a clock the test moves.
type aliasEnv struct {
	*env
	dir   *aliasLink
	clock *fakeClock
}

const (
	testLookupEvery = time.Minute
	testLookupBurst = 3
)

func newAliasEnv(t *testing.T) *aliasEnv {
	e := newEnv(t)
	ae := &aliasEnv{env: e, dir: &aliasLink{real: e.issuer.Aliases()}, clock: &fakeClock{now: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}}
	e.now = ae.clock.Now
	for _, name := range []string{"bank-a", "bank-b"} {
		e.openWith(ae.config(name))
	}
	return ae
}

func (ae *aliasEnv) config(name string) intermediary.Config {
	cfg := ae.env.config(name)
	cfg.Aliases, cfg.PseudonymSalt = ae.dir, aliasSalt
	cfg.OTPFile = ae.otpFile(name)
	cfg.AliasLookupEvery, cfg.AliasLookupBurst = testLookupEvery, testLookupBurst
	return cfg
}

func (ae *aliasEnv) otpFile(bank string) string { return filepath.Join(ae.root, bank+"-otp.log") }

// sent is every line bank wrote to its one-time code file.
func (ae *aliasEnv) sent(bank string) []string {
	ae.t.Helper()
	b, err := os.ReadFile(ae.otpFile(bank))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		ae.t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// code is the last one-time code bank sent for alias and wallet.
func (ae *aliasEnv) code(bank, alias, wallet string) string {
	ae.t.Helper()
	code := ""
	for _, l := range ae.sent(bank) {
		f := strings.Fields(l) // time alias wallet code
		if len(f) == 4 && f[1] == alias && f[2] == wallet {
			code = f[3]
		}
	}
	if code == "" {
		ae.t.Fatalf("%s sent no code for %s on %s", bank, alias, wallet)
	}
	return code
}

func (ae *aliasEnv) book(bank string) roles.AliasBook { return ae.bank(bank) }

// register binds alias to wallet at bank with the code it sends.
func (ae *aliasEnv) register(bank, wallet, alias string, move bool) roles.AliasEntry {
	ae.t.Helper()
	ch, err := ae.book(bank).RequestAliasCode(as(bank), roles.AliasRequest{Wallet: wallet, Alias: alias, Move: move})
	if err != nil {
		ae.t.Fatal(err)
	}
	got, err := ae.book(bank).ConfirmAlias(as(bank), wallet, alias, ae.code(bank, ch.Alias, wallet))
	if err != nil {
		ae.t.Fatal(err)
	}
	return got
}

// dirState is what the directory holds for aliases (normalised), and how
// many bindings it has in all.
func (ae *aliasEnv) dirState(aliases ...string) string {
	ae.t.Helper()
	key := roles.AliasKey(aliasSalt)
	var b strings.Builder
	for _, a := range aliases {
		got, err := ae.issuer.Aliases().LookupAlias(as("bank-a"), roles.AliasHash(key, a))
		switch {
		case errcode.Is(err, errcode.NotFound):
			fmt.Fprintf(&b, "%s: none\n", a)
		case err != nil:
			ae.t.Fatal(err)
		default:
			fmt.Fprintf(&b, "%s: %s %q\n", a, got.Wallet, got.Display)
		}
	}
	n, err := ae.issuer.Aliases().AliasCount()
	if err != nil {
		ae.t.Fatal(err)
	}
	fmt.Fprintf(&b, "bindings: %d\n", n)
	return b.String()
}

// wrong is a well-formed code other than code.
func wrong(code string) string {
	if code == "999999" {
		return "000000"
	}
	return "999999"
}

// TestAliasRegistration walks a customer's registration through a right,
// a wrong, an expired and a too-often-wrong one-time code: only the right
// code binds, each refusal is answered with its code and status and
// leaves the directory unchanged, and a spent or void request is gone.
func TestAliasRegistration(t *testing.T) {
	ae := newAliasEnv(t)
	a := ae.book("bank-a")
	alice, err := ae.bank("bank-a").OpenWallet(as("bank-a"), unlimited("Alice Smith"))
	if err != nil {
		t.Fatal(err)
	}
	bob := ae.wallet("bank-a", "Bob", 0)
	carol := ae.wallet("bank-b", "Carol", 0)
	const phone, mail = "+15551234567", "alice@example.org"
	request := func(wallet, alias string) (roles.AliasChallenge, error) {
		return a.RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: wallet, Alias: alias})
	}
	type step struct {
		name   string
		do     func() error
		want   errcode.Code
		status int
	}
	var code string
	steps := []step{
		{"malformed alias", func() error { _, err := request(alice.ID, "555-1234567"); return err }, errcode.Malformed, 400},
		{"another bank's wallet", func() error { _, err := request(carol, phone); return err }, errcode.Unauthorized, 403},
		{"no such wallet", func() error { _, err := request("bank-a.nobody", phone); return err }, errcode.NotFound, 404},
		{"another bank's credential", func() error {
			_, err := a.RequestAliasCode(as("bank-b"), roles.AliasRequest{Wallet: alice.ID, Alias: phone})
			return err
		}, errcode.Unauthorized, 403},
		{"confirm with nothing pending", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, phone, "123456"); return err }, errcode.NotFound, 404},
		{"request", func() error {
			ch, err := request(alice.ID, "+1 555 123 4567")
			if err == nil && (ch.Alias != phone || ch.Attempts != intermediary.AliasCodeAttempts || !ch.Expires.Equal(ae.clock.Now().Add(intermediary.AliasCodeTTL))) {
				err = fmt.Errorf("challenge %+v", ch)
			}
			code = ae.code("bank-a", phone, alice.ID)
			return err
		}, "", 0},
		{"malformed code", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, phone, "12345"); return err }, errcode.Malformed, 400},
		{"wrong code", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, phone, wrong(code)); return err }, errcode.Unauthorized, 403},
		{"right code, other wallet", func() error { _, err := a.ConfirmAlias(as("bank-a"), bob, phone, code); return err }, errcode.NotFound, 404},
		{"right code", func() error {
			got, err := a.ConfirmAlias(as("bank-a"), alice.ID, phone, code)
			if err == nil && (got.Wallet != alice.ID || got.Display != "Alice S." || got.Intermediary != "bank-a" || got.Kind != roles.AliasPhone) {
				err = fmt.Errorf("bound %+v", got)
			}
			return err
		}, "", 0},
		{"the spent code again", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, phone, code); return err }, errcode.NotFound, 404},
		{"request for the email", func() error {
			_, err := request(alice.ID, "Alice@Example.org")
			code = ae.code("bank-a", mail, alice.ID)
			return err
		}, "", 0},
		{"expired code", func() error {
			ae.clock.advance(intermediary.AliasCodeTTL)
			_, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, code)
			return err
		}, errcode.Unauthorized, 403},
		{"the expired code again", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, code); return err }, errcode.NotFound, 404},
		{"request again", func() error { _, err := request(alice.ID, mail); code = ae.code("bank-a", mail, alice.ID); return err }, "", 0},
		{"wrong 1", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, wrong(code)); return err }, errcode.Unauthorized, 403},
		{"wrong 2", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, wrong(code)); return err }, errcode.Unauthorized, 403},
		{"wrong 3 voids the request", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, wrong(code)); return err }, errcode.LimitExceeded, 422},
		{"the right code too late", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, code); return err }, errcode.NotFound, 404},
		{"request once more", func() error { _, err := request(alice.ID, mail); code = ae.code("bank-a", mail, alice.ID); return err }, "", 0},
		{"right code", func() error { _, err := a.ConfirmAlias(as("bank-a"), alice.ID, mail, code); return err }, "", 0},
	}
	for _, s := range steps {
		before := ae.dirState(phone, mail)
		err := s.do()
		if s.want == "" {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			continue
		}
		if !errcode.Is(err, s.want) || errcode.HTTPStatus(err) != s.status {
			t.Fatalf("%s: %v (status %d), want %s (%d)", s.name, err, errcode.HTTPStatus(err), s.want, s.status)
		}
		if after := ae.dirState(phone, mail); after != before {
			t.Fatalf("%s: a refusal changed the directory:\n%s\n%s", s.name, before, after)
		}
	}
	want := fmt.Sprintf("%s: %s \"Alice S.\"\n%s: %s \"Alice S.\"\nbindings: 2\n", phone, alice.ID, mail, alice.ID)
	if got := ae.dirState(phone, mail); got != want {
		t.Fatalf("directory:\n%s\nwant\n%s", got, want)
	}
	// A wrong code counts durably: a restart gives a guesser no new tries.
	if _, err := request(bob, "+15550000001"); err != nil {
		t.Fatal(err)
	}
	code = ae.code("bank-a", "+15550000001", bob)
	for range intermediary.AliasCodeAttempts - 1 {
		_, err := a.ConfirmAlias(as("bank-a"), bob, "+15550000001", wrong(code))
		wantCode(t, err, errcode.Unauthorized, 403)
	}
	ae.close("bank-a")
	a = ae.openWith(ae.config("bank-a"))
	_, err = a.ConfirmAlias(as("bank-a"), bob, "+15550000001", wrong(code))
	wantCode(t, err, errcode.LimitExceeded, 422)
}

// TestAliasUniqueAcrossIntermediaries: an alias bound at bank-a is refused
// at bank-b (and again at bank-a for the same wallet) with conflict before
// any code is sent, leaving the directory as it was.
func TestAliasUniqueAcrossIntermediaries(t *testing.T) {
	ae := newAliasEnv(t)
	alice := ae.wallet("bank-a", "Alice Smith", 0)
	mallory := ae.wallet("bank-b", "Mallory", 0)
	const phone = "+15551234567"
	ae.register("bank-a", alice, phone, false)
	before, sentB, sentA := ae.dirState(phone), len(ae.sent("bank-b")), len(ae.sent("bank-a"))
	_, err := ae.book("bank-b").RequestAliasCode(as("bank-b"), roles.AliasRequest{Wallet: mallory, Alias: "+1-555-123-4567"})
	wantCode(t, err, errcode.Conflict, 409)
	_, err = ae.book("bank-a").RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: alice, Alias: phone})
	wantCode(t, err, errcode.Conflict, 409)
	if after := ae.dirState(phone); after != before {
		t.Fatalf("the directory changed:\n%s\n%s", before, after)
	}
	if len(ae.sent("bank-b")) != sentB || len(ae.sent("bank-a")) != sentA {
		t.Fatal("a refused request sent a code")
	}
}

// TestAliasMoveBetweenIntermediaries: Alice moves her number from bank-a
// to bank-b. Until the code is confirmed it reaches her bank-a wallet;
// from then on her bank-b wallet, and payments by it go there; there is
// one binding all along; bank-a can no longer remove it; bank-b can.
func TestAliasMoveBetweenIntermediaries(t *testing.T) {
	ae := newAliasEnv(t)
	const phone = "+15551234567"
	old := ae.wallet("bank-a", "Alice Smith", 0)
	payer := ae.wallet("bank-a", "Carol", 50_00)
	ae.register("bank-a", old, phone, false)
	moved, err := ae.bank("bank-b").OpenWallet(as("bank-b"), unlimited("Alice Smith"))
	if err != nil {
		t.Fatal(err)
	}
	pay := func() string {
		t.Helper()
		to, err := ae.book("bank-a").LookupAlias(as("bank-a"), phone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ae.bank("bank-a").Pay(as("bank-a"), roles.Payment{From: payer, To: to.Wallet, Amount: 5_00}); err != nil {
			t.Fatal(err)
		}
		return to.Wallet
	}
	if got := pay(); got != old {
		t.Fatalf("before the move the alias paid %s", got)
	}
	ch, err := ae.book("bank-b").RequestAliasCode(as("bank-b"), roles.AliasRequest{Wallet: moved.ID, Alias: phone, Move: true})
	if err != nil || !ch.Move {
		t.Fatalf("move request: %+v, %v", ch, err)
	}
	if want := fmt.Sprintf("%s: %s \"Alice S.\"\nbindings: 1\n", phone, old); ae.dirState(phone) != want {
		t.Fatalf("a pending move changed the directory: %s", ae.dirState(phone))
	}
	var during string
	ae.dir.setAfterBind(func(roles.AliasBinding) { during = ae.dirState(phone) })
	got, err := ae.book("bank-b").ConfirmAlias(as("bank-b"), moved.ID, phone, ae.code("bank-b", phone, moved.ID))
	ae.dir.setAfterBind(nil)
	if err != nil || got.Wallet != moved.ID || got.Intermediary != "bank-b" {
		t.Fatalf("move: %+v, %v", got, err)
	}
	if want := fmt.Sprintf("%s: %s \"Alice S.\"\nbindings: 1\n", phone, moved.ID); during != want {
		t.Fatalf("the moment the move was stored the directory held:\n%s\nwant\n%s", during, want)
	}
	if got := pay(); got != moved.ID {
		t.Fatalf("after the move the alias paid %s", got)
	}
	if ae.balance(old) != 5_00 || ae.balance(moved.ID) != 5_00 {
		t.Fatalf("old wallet %d, new wallet %d: want 5.00 each", ae.balance(old), ae.balance(moved.ID))
	}
	before := ae.dirState(phone)
	err = ae.book("bank-a").RemoveAlias(as("bank-a"), old, phone)
	wantCode(t, err, errcode.NotFound, 404)
	err = ae.book("bank-a").RemoveAlias(as("bank-a"), moved.ID, phone)
	wantCode(t, err, errcode.Unauthorized, 403)
	if after := ae.dirState(phone); after != before {
		t.Fatalf("a refused removal changed the directory:\n%s\n%s", before, after)
	}
	if err := ae.book("bank-b").RemoveAlias(as("bank-b"), moved.ID, phone); err != nil {
		t.Fatal(err)
	}
	_, err = ae.book("bank-a").LookupAlias(as("bank-a"), phone)
	wantCode(t, err, errcode.NotFound, 404)
	err = ae.book("bank-b").RemoveAlias(as("bank-b"), moved.ID, phone)
	wantCode(t, err, errcode.NotFound, 404)
	ae.checkConservation(payer, old, moved.ID, ae.bank("bank-a").Treasury())
}

// TestAliasLookupRateLimit: each caller may look up testLookupBurst
// aliases at once and one more per testLookupEvery; a lookup over the
// budget is rate_limited (429) and never reaches the directory, whatever
// it asks; another caller keeps its own budget; the budget refills with
// time, up to the burst and no further.
func TestAliasLookupRateLimit(t *testing.T) {
	ae := newAliasEnv(t)
	alice := ae.wallet("bank-b", "Alice Smith", 0)
	ae.register("bank-b", alice, "alice@example.org", false)
	a := ae.book("bank-a")
	lookup := func(caller, alias string) error {
		_, err := a.LookupAlias(as(caller), alias)
		return err
	}
	reached := func() int64 { return ae.dir.lookups.Load() }
	// Known, unknown and malformed lookups each cost a token.
	wantOK := []struct {
		alias string
		code  errcode.Code
	}{{"alice@example.org", ""}, {"+15550000000", errcode.NotFound}, {"nobody", errcode.Malformed}}
	for _, l := range wantOK {
		if err := lookup("bank-a", l.alias); errcode.Of(err) != l.code {
			t.Fatalf("lookup of %s within the budget: %v", l.alias, err)
		}
	}
	spent := func(caller string) {
		t.Helper()
		n := reached()
		for _, alias := range []string{"alice@example.org", "+15550000000", "nobody"} {
			wantCode(t, lookup(caller, alias), errcode.RateLimited, 429)
		}
		if reached() != n {
			t.Fatal("a rate-limited lookup reached the directory")
		}
	}
	spent("bank-a")
	if err := lookup("bank-b", "alice@example.org"); err != nil {
		t.Fatalf("another caller: %v", err)
	}
	ae.clock.advance(testLookupEvery - time.Second)
	spent("bank-a")
	ae.clock.advance(time.Second)
	if err := lookup("bank-a", "alice@example.org"); err != nil {
		t.Fatalf("after one interval: %v", err)
	}
	spent("bank-a")
	ae.clock.advance(100 * testLookupEvery)
	for i := range testLookupBurst {
		if err := lookup("bank-a", "alice@example.org"); err != nil {
			t.Fatalf("refilled lookup %d: %v", i, err)
		}
	}
	spent("bank-a")
	// No credential, no lookup.
	_, err := a.LookupAlias(context.Background(), "alice@example.org")
	wantCode(t, err, errcode.Unauthorized, 401)
}

// TestAliasConfirmCrashAfterBind crashes bank-b between the directory's
// write of a move and the deletion of the spent code: after the restart
// the directory holds the new binding alone, and confirming the code again
// answers that binding instead of failing or binding twice. With the
// directory unreachable, a confirmation is unavailable, binds nothing and
// spends no try.
func TestAliasConfirmCrashAfterBind(t *testing.T) {
	ae := newAliasEnv(t)
	const phone = "+15551234567"
	old := ae.wallet("bank-a", "Alice Smith", 0)
	ae.register("bank-a", old, phone, false)
	mem := vfs.NewCrashableMem()
	ae.close("bank-b")
	cfg := ae.config("bank-b")
	cfg.FS = mem
	b := ae.openWith(cfg)
	moved, err := b.OpenWallet(as("bank-b"), unlimited("Alice Smith"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RequestAliasCode(as("bank-b"), roles.AliasRequest{Wallet: moved.ID, Alias: phone, Move: true}); err != nil {
		t.Fatal(err)
	}
	code := ae.code("bank-b", phone, moved.ID)

	ae.dir.down.Store(true)
	before := ae.dirState(phone)
	for range intermediary.AliasCodeAttempts + 1 {
		_, err = b.ConfirmAlias(as("bank-b"), moved.ID, phone, code)
		wantCode(t, err, errcode.Unavailable, 503)
	}
	if after := ae.dirState(phone); after != before {
		t.Fatalf("an unreachable directory changed:\n%s\n%s", before, after)
	}
	ae.dir.down.Store(false)

	var crashed vfs.FS
	ae.dir.setAfterBind(func(roles.AliasBinding) { crashed = mem.CrashClone(vfs.CrashCloneCfg{}) })
	if _, err := b.ConfirmAlias(as("bank-b"), moved.ID, phone, code); err != nil {
		t.Fatal(err)
	}
	ae.dir.setAfterBind(nil)
	ae.close("bank-b")
	cfg.FS = crashed
	b = ae.openWith(cfg)
	want := fmt.Sprintf("%s: %s \"Alice S.\"\nbindings: 1\n", phone, moved.ID)
	if got := ae.dirState(phone); got != want {
		t.Fatalf("after the crash:\n%s\nwant\n%s", got, want)
	}
	got, err := b.ConfirmAlias(as("bank-b"), moved.ID, phone, code)
	if err != nil || got.Wallet != moved.ID {
		t.Fatalf("confirming again after the crash: %+v, %v", got, err)
	}
	_, err = b.ConfirmAlias(as("bank-b"), moved.ID, phone, code)
	wantCode(t, err, errcode.NotFound, 404)
	if got := ae.dirState(phone); got != want {
		t.Fatalf("after confirming again:\n%s\nwant\n%s", got, want)
	}
}

// TestAliasDirectoryLearnsNoAlias: after phone numbers and email addresses
// are bound, moved and looked up, no file of the central bank's store
// holds one of them, in any spelling; the intermediaries' code files do.
func TestAliasDirectoryLearnsNoAlias(t *testing.T) {
	ae := newAliasEnv(t)
	alice := ae.wallet("bank-a", "Alice Smith", 0)
	bob := ae.wallet("bank-b", "Bob Jones", 0)
	ae.register("bank-a", alice, "+1 555 123 4567", false)
	ae.register("bank-a", alice, "Alice@Example.org", false)
	ae.register("bank-b", bob, "+15557654321", false)
	ae.register("bank-b", bob, "alice@example.org", true)
	if _, err := ae.book("bank-a").LookupAlias(as("bank-a"), "+15557654321"); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"5551234567", "5557654321", "alice@example.org", "Alice@Example.org", "example.org"}
	n := 0
	err := filepath.WalkDir(filepath.Join(ae.root, "issuer"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", path, s)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walked %d files: %v", n, err)
	}
	if !strings.Contains(strings.Join(ae.sent("bank-a"), "\n"), "+15551234567") {
		t.Fatal("bank-a's code file does not name the number it sent a code to")
	}
}

// TestAliasesNeedADirectoryAndAKey: an intermediary without a directory
// offers no aliases (not_found), and one with a directory but no shared
// secret to key the hashes does not open.
func TestAliasesNeedADirectoryAndAKey(t *testing.T) {
	e := newEnv(t, "bank-a")
	w := e.wallet("bank-a", "Alice", 0)
	_, err := e.bank("bank-a").RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: w, Alias: "+15551234567"})
	wantCode(t, err, errcode.NotFound, 404)
	_, err = e.bank("bank-a").LookupAlias(as("bank-a"), "+15551234567")
	wantCode(t, err, errcode.NotFound, 404)
	cfg := e.config("bank-b")
	cfg.Aliases = e.issuer.Aliases()
	if _, err := intermediary.Open(filepath.Join(e.root, "bank-b"), cfg, e.link, e.issuer, e.directory); err == nil {
		t.Fatal("opened with a directory and no salt")
	}
}

// TestMaskName pins how a payee is shown to a payer who looks them up.
func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{
		"Alice Smith":            "Alice S.",
		"  alice   smith ":       "alice S.",
		"Alice":                  "Alice",
		"José María de la Cruz":  "José C.",
		"":                       "?",
		"\x00\x07":               "?",
		"Ada\nLovelace":          "Ada L.",
		strings.Repeat("x", 100): strings.Repeat("x", 32),
	} {
		if got := intermediary.MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExpiredAliasCodesAreSwept: codes requested and never confirmed are
// deleted once expired, and only those.
func TestExpiredAliasCodesAreSwept(t *testing.T) {
	ae := newAliasEnv(t)
	a := ae.bank("bank-a")
	w := ae.wallet("bank-a", "Alice", 0)
	for _, alias := range []string{"+15550000001", "+15550000002"} {
		if _, err := a.RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: w, Alias: alias}); err != nil {
			t.Fatal(err)
		}
	}
	ae.clock.advance(intermediary.AliasCodeTTL / 2)
	if _, err := a.RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: w, Alias: "+15550000003"}); err != nil {
		t.Fatal(err)
	}
	if n, err := intermediary.ExpireAliasCodes(a); err != nil || n != 0 || intermediary.AliasCodeRecords(a) != 3 {
		t.Fatalf("sweep before any expiry: %d, %v; %d left", n, err, intermediary.AliasCodeRecords(a))
	}
	ae.clock.advance(intermediary.AliasCodeTTL / 2)
	if n, err := intermediary.ExpireAliasCodes(a); err != nil || n != 2 || intermediary.AliasCodeRecords(a) != 1 {
		t.Fatalf("sweep: %d, %v; %d left, want 2 swept and 1 left", n, err, intermediary.AliasCodeRecords(a))
	}
	code := ae.code("bank-a", "+15550000003", w)
	if _, err := a.ConfirmAlias(as("bank-a"), w, "+15550000003", code); err != nil {
		t.Fatalf("the code left: %v", err)
	}
}

// TestAliasCodesPerAliasAreLimited: one alias is sent at most
// AliasCodesPerTTL codes at once, then one per AliasCodeTTL, so nobody
// floods a phone through the bank; another alias is not held up; a refused
// request sends nothing and leaves the pending code as it was.
func TestAliasCodesPerAliasAreLimited(t *testing.T) {
	ae := newAliasEnv(t)
	a := ae.bank("bank-a")
	w := ae.wallet("bank-a", "Alice", 0)
	request := func(alias string) error {
		_, err := a.RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: w, Alias: alias})
		return err
	}
	for i := range intermediary.AliasCodesPerTTL {
		if err := request("+15551234567"); err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
	}
	code, sent := ae.code("bank-a", "+15551234567", w), len(ae.sent("bank-a"))
	wantCode(t, request("+1 555 123 4567"), errcode.RateLimited, 429)
	if len(ae.sent("bank-a")) != sent {
		t.Fatal("a rate-limited request sent a code")
	}
	if err := request("+15557654321"); err != nil {
		t.Fatalf("another alias: %v", err)
	}
	ae.clock.advance(intermediary.AliasCodeTTL - time.Second)
	wantCode(t, request("+15551234567"), errcode.RateLimited, 429)
	if _, err := a.ConfirmAlias(as("bank-a"), w, "+15551234567", wrong(code)); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("the pending code was not the last one sent: %v", err)
	}
	ae.clock.advance(time.Second)
	if err := request("+15551234567"); err != nil {
		t.Fatalf("after one interval: %v", err)
	}
	wantCode(t, request("+15551234567"), errcode.RateLimited, 429)
	if _, err := a.ConfirmAlias(as("bank-a"), w, "+15551234567", ae.code("bank-a", "+15551234567", w)); err != nil {
		t.Fatalf("the code sent after the interval: %v", err)
	}
}

// TestAliasDirectoryRefusalsMeanWhatTheySay: when the alias directory
// cannot be reached every alias call is unavailable (retry), and when it
// refuses the bank's own call for a reason the bank did not expect (its
// credential no longer accepted) the customer is told internal, never
// unauthorized or not_found as if the customer were at fault or the alias
// unknown; either way nothing changes at the directory and no code is
// sent.
func TestAliasDirectoryRefusalsMeanWhatTheySay(t *testing.T) {
	ae := newAliasEnv(t)
	const phone, other = "+15551234567", "+15557654321"
	alice := ae.wallet("bank-a", "Alice Smith", 0)
	ae.register("bank-a", alice, phone, false)
	bob := ae.wallet("bank-a", "Bob Jones", 0)
	for _, tc := range []struct {
		name   string
		set    func()
		code   errcode.Code
		status int
	}{
		{"directory down", func() { ae.dir.down.Store(true) }, errcode.Unavailable, 503},
		{"directory refuses the bank", func() {
			ae.dir.refuse.Store(errcode.New(errcode.Unauthorized, "credential not accepted"))
		}, errcode.Internal, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, sent := ae.dirState(phone, other), len(ae.sent("bank-a"))
			tc.set()
			defer func() { ae.dir.down.Store(false); ae.dir.refuse.Store(nil) }()
			_, err := ae.book("bank-a").LookupAlias(as("bank-a"), phone)
			wantCode(t, err, tc.code, tc.status)
			_, err = ae.bank("bank-a").RequestAliasCode(as("bank-a"), roles.AliasRequest{Wallet: bob, Alias: other})
			wantCode(t, err, tc.code, tc.status)
			err = ae.bank("bank-a").RemoveAlias(as("bank-a"), alice, phone)
			wantCode(t, err, tc.code, tc.status)
			if after := ae.dirState(phone, other); after != before {
				t.Fatalf("a refused call changed the directory:\n%s\n%s", before, after)
			}
			if n := len(ae.sent("bank-a")); n != sent {
				t.Fatalf("%d codes sent while the directory refused", n-sent)
			}
		})
	}
	// Back: the same calls go through.
	if e, err := ae.book("bank-a").LookupAlias(as("bank-a"), phone); err != nil || e.Wallet != alice {
		t.Fatalf("lookup after the directory is back: %+v, %v", e, err)
	}
}
