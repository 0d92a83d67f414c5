package issuer_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

var salt = []byte("salt the intermediaries share")

func person(name string) string { return roles.Pseudonym(salt, name) }

// regState is every bank's view of the registry.
func (e *env) regState() string {
	e.t.Helper()
	var b strings.Builder
	for _, name := range []string{"bank-a", "bank-b"} {
		rs, err := e.is.Registry().Reservations(bankCtx(name))
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %+v\n", name, rs)
	}
	return b.String()
}

func (e *env) hold(bank, who, wallet string, share, limit uint64) (roles.Reservation, error) {
	return e.is.Registry().Reserve(bankCtx(bank), roles.Reservation{Person: person(who), Wallet: wallet, Share: share, Limit: limit})
}

func TestRegistryReservesAcrossIntermediaries(t *testing.T) {
	e := newEnv(t)
	const limit = 500_00
	steps := []struct {
		bank, wallet string
		share        uint64
		want         errcode.Code
		used         uint64
	}{
		{"bank-a", "bank-a.w1", 300_00, "", 300_00},
		{"bank-b", "bank-b.w1", 200_00, "", 500_00},
		{"bank-b", "bank-b.w1", 200_01, errcode.LimitExceeded, 0}, // one cent over
		{"bank-a", "bank-a.w2", 1, errcode.LimitExceeded, 0},
		{"bank-a", "bank-a.w1", 100_00, "", 300_00}, // lowering gives room back
		{"bank-b", "bank-b.w2", 200_00, "", 500_00},
		{"bank-b", "bank-b.w2", 200_00, "", 500_00}, // the same again: a replacement
	}
	for i, s := range steps {
		before := e.regState()
		got, err := e.hold(s.bank, "alice", s.wallet, s.share, limit)
		if s.want != "" {
			wantCode(t, err, s.want)
			if after := e.regState(); after != before {
				t.Fatalf("step %d: a refusal changed the registry:\n%s\n%s", i, before, after)
			}
			continue
		}
		if err != nil || got.Used != s.used || got.Share != s.share {
			t.Fatalf("step %d: %+v %v, want used %d", i, got, err, s.used)
		}
	}
	// The refusal says which limit, what is used and what is left.
	_, err := e.hold("bank-a", "alice", "bank-a.w3", 50_00, limit)
	if err == nil || !strings.Contains(err.Error(), "holding limit 500.00 would be exceeded: 500.00 used across intermediaries, 0.00 left; cannot reserve 50.00") {
		t.Fatalf("message: %v", err)
	}
	// A larger limit among the person's reservations (an upgraded wallet)
	// raises the ceiling for all of them.
	if got, err := e.hold("bank-a", "alice", "bank-a.w3", 2_000_00, 3_000_00); err != nil || got.Used != 2_500_00 {
		t.Fatalf("upgrade: %+v %v", got, err)
	}
	// Another person is counted apart.
	if _, err := e.hold("bank-a", "bob", "bank-a.w9", limit, limit); err != nil {
		t.Fatal(err)
	}

	a, err := e.is.Registry().Reservations(bankCtx("bank-a"))
	if err != nil || len(a) != 3 {
		t.Fatalf("bank-a sees %+v %v", a, err)
	}
	for _, r := range a {
		if roles.IntermediaryOf(r.Wallet) != "bank-a" {
			t.Fatalf("bank-a sees %s", r.Wallet)
		}
	}

	// Restart: every share is still there.
	before := e.regState()
	e.reopen()
	if after := e.regState(); after != before {
		t.Fatalf("restart changed the registry:\n%s\n%s", before, after)
	}

	// Release is idempotent and frees the share.
	for range 2 {
		if err := e.is.Registry().Release(bankCtx("bank-b"), person("alice"), "bank-b.w2"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := e.hold("bank-b", "alice", "bank-b.w3", 700_00, 3_000_00); err != nil || got.Used != 3_000_00 {
		t.Fatalf("after release: %+v %v", got, err)
	}
}

func TestRegistryNoLimit(t *testing.T) {
	e := newEnv(t)
	// Limit 0 is no holding limit (as in the policy: a merchant tier).
	if _, err := e.hold("bank-a", "shop", "bank-a.m1", 1<<40, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := e.hold("bank-b", "shop", "bank-b.w1", 500_00, 500_00); err != nil || got.Used != 1<<40+500_00 {
		t.Fatalf("%+v %v", got, err)
	}
	_, err := e.hold("bank-b", "shop", "bank-b.w2", ^uint64(0), 0)
	wantCode(t, err, errcode.Malformed) // the sum would overflow
}

func TestRegistryRefusesWhatIsNotTheCallers(t *testing.T) {
	e := newEnv(t)
	if _, err := e.hold("bank-a", "alice", "bank-a.w1", 100, 500_00); err != nil {
		t.Fatal(err)
	}
	reg := e.is.Registry()
	alice := person("alice")
	res := func(p, w string) roles.Reservation {
		return roles.Reservation{Person: p, Wallet: w, Share: 1, Limit: 500_00}
	}
	cases := []struct {
		name string
		call func() error
		want errcode.Code
	}{
		{"reserve for another intermediary's wallet", func() error { _, err := reg.Reserve(bankCtx("bank-b"), res(alice, "bank-a.w1")); return err }, errcode.Unauthorized},
		{"release another intermediary's reservation", func() error { return reg.Release(bankCtx("bank-b"), alice, "bank-a.w1") }, errcode.Unauthorized},
		{"reserve as the issuer", func() error { _, err := reg.Reserve(officerCtx, res(alice, "bank-a.w1")); return err }, errcode.Unauthorized},
		{"reserve with no caller", func() error { _, err := reg.Reserve(bg, res(alice, "bank-a.w1")); return err }, errcode.Unauthorized},
		{"list as the issuer", func() error { _, err := reg.Reservations(officerCtx); return err }, errcode.Unauthorized},
		{"person in upper case", func() error {
			_, err := reg.Reserve(bankCtx("bank-a"), res(strings.ToUpper(alice), "bank-a.w1"))
			return err
		}, errcode.Malformed},
		{"person too short", func() error { _, err := reg.Reserve(bankCtx("bank-a"), res(alice[:62], "bank-a.w1")); return err }, errcode.Malformed},
		{"person a name", func() error { _, err := reg.Reserve(bankCtx("bank-a"), res("Alice Smith", "bank-a.w1")); return err }, errcode.Malformed},
		{"wallet without intermediary", func() error { _, err := reg.Reserve(bankCtx("bank-a"), res(alice, "w1")); return err }, errcode.Malformed},
		{"wallet with a slash", func() error { _, err := reg.Reserve(bankCtx("bank-a"), res(alice, "bank-a.w/1")); return err }, errcode.Malformed},
		{"wallet too long", func() error {
			_, err := reg.Reserve(bankCtx("bank-a"), res(alice, "bank-a."+strings.Repeat("x", 130)))
			return err
		}, errcode.Malformed},
		{"release malformed", func() error { return reg.Release(bankCtx("bank-a"), "x", "bank-a.w1") }, errcode.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.regState()
			wantCode(t, c.call(), c.want)
			if after := e.regState(); after != before {
				t.Fatalf("registry changed:\n%s\n%s", before, after)
			}
		})
	}
}

// TestRegistryRaceNeverExceedsTheLimit: two intermediaries reserve for
// the same person from many goroutines at once; exactly as many shares as
// fit are granted, whoever wins.
func TestRegistryRaceNeverExceedsTheLimit(t *testing.T) {
	e := newEnv(t)
	const share, limit, per = 100, 1_000, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for _, bank := range []string{"bank-a", "bank-b"} {
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.hold(bank, "carol", fmt.Sprintf("%s.w%d", bank, i), share, limit)
				switch {
				case err == nil:
					mu.Lock()
					granted++
					mu.Unlock()
				case !errcode.Is(err, errcode.LimitExceeded):
					t.Errorf("reserve: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	if granted != limit/share {
		t.Fatalf("%d reservations granted, want %d", granted, limit/share)
	}
	var sum uint64
	for _, bank := range []string{"bank-a", "bank-b"} {
		rs, err := e.is.Registry().Reservations(bankCtx(bank))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			sum += r.Share
		}
	}
	if sum != limit {
		t.Fatalf("shares add up to %d, want %d", sum, limit)
	}
}

func TestRegistryAfterCloseIsUnavailable(t *testing.T) {
	e := newEnv(t)
	reg := e.is.Registry()
	if err := e.is.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := reg.Reserve(bankCtx("bank-a"), roles.Reservation{Person: person("x"), Wallet: "bank-a.w1", Share: 1, Limit: 2})
	wantCode(t, err, errcode.Unavailable)
	e.open()
}

// TestRegistryStoresNoIdentity: after reservations for people known by
// their pseudonyms, no byte of the desk's data directory holds an
// identity or the salt the pseudonyms were made with.
func TestRegistryStoresNoIdentity(t *testing.T) {
	e := newEnv(t)
	ids := []string{"passport:X1234567", "phone:+15551234567"}
	for i, id := range ids {
		w := fmt.Sprintf("bank-a.w%d", i)
		if _, err := e.is.Registry().Reserve(bankCtx("bank-a"), roles.Reservation{Person: roles.Pseudonym(salt, id), Wallet: w, Share: 100, Limit: 500}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.is.Close(); err != nil {
		t.Fatal(err)
	}
	e.is = nil
	secrets := append([]string{string(salt)}, ids...)
	for _, id := range ids {
		secrets = append(secrets, strings.SplitN(id, ":", 2)[1])
	}
	sawPseudonym := false // the scan reads what the registry wrote
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sawPseudonym = sawPseudonym || bytes.Contains(b, []byte(roles.Pseudonym(salt, ids[0])))
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawPseudonym {
		t.Fatal("no file holds the pseudonym: the scan did not read the registry's data")
	}
	e.open()
}
