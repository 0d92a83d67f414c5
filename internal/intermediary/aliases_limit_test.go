package intermediary_test

import (
	"testing"
	"time"

	"github.com/specie/specie/errcode"
)

// TestSetAliasLookupLimit raises a spent lookup budget as the payments
// bench does: lookups refused with rate_limited under the configured
// budget pass after it, for every caller, while a bad limit is refused
// and changes nothing, and another intermediary keeps its own budget.
func TestSetAliasLookupLimit(t *testing.T) {
	ae := newAliasEnv(t)
	alice := ae.wallet("bank-b", "Alice Smith", 0)
	ae.register("bank-b", alice, "+15551230000", false)
	a := ae.bank("bank-a")
	lookup := func(caller string) error {
		_, err := a.LookupAlias(as(caller), "+15551230000")
		return err
	}
	for range testLookupBurst {
		if err := lookup("bank-a"); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, lookup("bank-a"), errcode.RateLimited, 429)

	for _, bad := range []struct {
		every time.Duration
		burst int
	}{{0, 10}, {time.Second, 0}, {-time.Second, -1}} {
		if err := a.SetAliasLookupLimit(bad.every, bad.burst); err == nil {
			t.Errorf("limit %s/%d accepted", bad.every, bad.burst)
		}
		wantCode(t, lookup("bank-a"), errcode.RateLimited, 429)
	}

	if err := a.SetAliasLookupLimit(time.Nanosecond, 1_000_000); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		for _, caller := range []string{"bank-a", "bank-b"} {
			if err := lookup(caller); err != nil {
				t.Fatalf("lookup %d by %s under the raised limit: %v", i, caller, err)
			}
		}
	}
	// bank-b's budget is its own: raising bank-a's left it as configured.
	b := ae.bank("bank-b")
	for range testLookupBurst {
		if _, err := b.LookupAlias(as("bank-a"), "+15551230000"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.LookupAlias(as("bank-a"), "+15551230000")
	wantCode(t, err, errcode.RateLimited, 429)
}
