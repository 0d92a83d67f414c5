package issuer_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/roles"
)

var aliasKey = roles.AliasKey(salt)

func aliasHash(alias string) string { return roles.AliasHash(aliasKey, alias) }

// aliasState is the directory as the banks see it: the binding of each of
// hashes, and how many there are.
func (e *env) aliasState(hashes ...string) string {
	e.t.Helper()
	var b strings.Builder
	for _, h := range hashes {
		got, err := e.is.Aliases().LookupAlias(bankCtx("bank-b"), h)
		switch {
		case errcode.Is(err, errcode.NotFound):
			fmt.Fprintf(&b, "%s: none\n", h[:8])
		case err != nil:
			e.t.Fatal(err)
		default:
			fmt.Fprintf(&b, "%s: %s %q %s\n", h[:8], got.Wallet, got.Display, got.Since)
		}
	}
	n, err := e.is.Aliases().AliasCount()
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&b, "count %d\n", n)
	return b.String()
}

// TestAliasDirectoryBindings walks the directory through binds, moves and
// unbinds by two banks: one binding per hash, a rival bind without move a
// conflict, a move ending the old binding as it starts the new, and every
// refusal changing nothing.
func TestAliasDirectoryBindings(t *testing.T) {
	e := newEnv(t)
	d := e.is.Aliases()
	alice, bob := aliasHash("+15551234567"), aliasHash("bob@example.org")
	type op int
	const (
		bind op = iota
		move
		unbind
		lookup
	)
	steps := []struct {
		op      op
		bank    string
		hash    string
		wallet  string
		display string
		want    errcode.Code
		status  int
		bound   string // the wallet alice's alias reaches after the step ("" none)
	}{
		{lookup, "bank-a", alice, "", "", errcode.NotFound, 404, ""},
		{bind, "bank-a", alice, "bank-a.w1", "Alice S.", "", 0, "bank-a.w1"},
		{bind, "bank-a", alice, "bank-a.w1", "Alice S.", "", 0, "bank-a.w1"},                 // a retry
		{bind, "bank-a", alice, "bank-a.w1", "Alice Sm.", "", 0, "bank-a.w1"},                // a new display name
		{bind, "bank-b", alice, "bank-b.w9", "Alice S.", errcode.Conflict, 409, "bank-a.w1"}, // held elsewhere
		{bind, "bank-a", alice, "bank-a.w2", "Alice S.", errcode.Conflict, 409, "bank-a.w1"}, // another wallet of the same bank
		{bind, "bank-b", alice, "bank-a.w3", "Alice S.", errcode.Unauthorized, 403, "bank-a.w1"},
		{bind, "bank-a", "+15551234567", "bank-a.w1", "Alice S.", errcode.Malformed, 400, "bank-a.w1"},
		{bind, "bank-a", strings.ToUpper(alice), "bank-a.w1", "Alice S.", errcode.Malformed, 400, "bank-a.w1"},
		{bind, "bank-a", bob, "bank-a.w1", "", errcode.Malformed, 400, "bank-a.w1"},
		{bind, "bank-a", bob, "bank-a.w1", "Bob\x00", errcode.Malformed, 400, "bank-a.w1"},
		{bind, "bank-a", bob, "bank-a.w1", strings.Repeat("x", 65), errcode.Malformed, 400, "bank-a.w1"},
		{bind, "bank-a", bob, "bank-a", "Bob B.", errcode.Malformed, 400, "bank-a.w1"},
		{bind, "bank-a", bob, "bank-a.w/1", "Bob B.", errcode.Malformed, 400, "bank-a.w1"},
		{move, "bank-b", alice, "bank-b.w9", "Alice S.", "", 0, "bank-b.w9"},
		{unbind, "bank-a", alice, "bank-a.w1", "", errcode.NotFound, 404, "bank-b.w9"}, // moved away
		{unbind, "bank-a", alice, "bank-b.w9", "", errcode.Unauthorized, 403, "bank-b.w9"},
		{lookup, "bank-a", alice, "", "", "", 0, "bank-b.w9"},
		{unbind, "bank-b", alice, "bank-b.w9", "", "", 0, ""},
		{unbind, "bank-b", alice, "bank-b.w9", "", errcode.NotFound, 404, ""},
		{bind, "bank-b", alice, "bank-b.w9", "Alice S.", "", 0, "bank-b.w9"}, // free again
	}
	for i, s := range steps {
		before := e.aliasState(alice, bob)
		ctx := bankCtx(s.bank)
		var err error
		switch s.op {
		case bind, move:
			var got roles.AliasBinding
			got, err = d.BindAlias(ctx, roles.AliasBinding{Hash: s.hash, Wallet: s.wallet, Display: s.display}, s.op == move)
			if err == nil && (got.Wallet != s.wallet || got.Display != s.display || got.Since.IsZero()) {
				t.Fatalf("step %d: bound %+v", i, got)
			}
		case unbind:
			err = d.UnbindAlias(ctx, s.hash, s.wallet)
		case lookup:
			_, err = d.LookupAlias(ctx, s.hash)
		}
		if s.want != "" {
			if !errcode.Is(err, s.want) || errcode.HTTPStatus(err) != s.status {
				t.Fatalf("step %d: %v (status %d), want %s (%d)", i, err, errcode.HTTPStatus(err), s.want, s.status)
			}
			if after := e.aliasState(alice, bob); after != before {
				t.Fatalf("step %d: a refusal changed the directory:\n%s\n%s", i, before, after)
			}
		} else if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := d.LookupAlias(bankCtx("bank-a"), alice)
		if s.bound == "" && !errcode.Is(err, errcode.NotFound) || s.bound != "" && (err != nil || got.Wallet != s.bound) {
			t.Fatalf("step %d: alice's alias reaches %+v, %v; want %q", i, got, err, s.bound)
		}
	}
	// Only intermediaries reach the directory.
	_, err := d.LookupAlias(officerCtx, alice)
	if !errcode.Is(err, errcode.Unauthorized) || errcode.HTTPStatus(err) != 403 {
		t.Fatalf("the issuer's own staff looked an alias up: %v", err)
	}
	_, err = d.LookupAlias(bg, alice)
	if !errcode.Is(err, errcode.Unauthorized) || errcode.HTTPStatus(err) != 401 {
		t.Fatalf("no credential looked an alias up: %v", err)
	}
	// A binding survives a restart.
	before := e.aliasState(alice, bob)
	e.reopen()
	if after := e.aliasState(alice, bob); after != before {
		t.Fatalf("restart changed the directory:\n%s\n%s", before, after)
	}
	e.is.Close()
	_, err = e.is.Aliases().LookupAlias(bankCtx("bank-a"), alice)
	wantCode(t, err, errcode.Unavailable)
	e.is = nil
}

// TestAliasMoveSurvivesEveryDiskFault fails, and separately crashes the
// disk at, each disk operation a move does: after the restart the alias
// reaches the old wallet or the new one, never none and never both; a
// move reported done reaches the new one; and the move made again
// completes.
func TestAliasMoveSurvivesEveryDiskFault(t *testing.T) {
	h := aliasHash("+15551234567")
	setup := func(disk *crashtest.Disk) *env {
		e := newEnvOn(t, disk.FS, 0)
		if _, err := e.is.Aliases().BindAlias(bankCtx("bank-a"), roles.AliasBinding{Hash: h, Wallet: "bank-a.w1", Display: "Alice S."}, false); err != nil {
			t.Fatal(err)
		}
		return e
	}
	doMove := func(e *env) error {
		_, err := e.is.Aliases().BindAlias(bankCtx("bank-b"), roles.AliasBinding{Hash: h, Wallet: "bank-b.w2", Display: "Alice S."}, true)
		return err
	}
	count := crashtest.NewDisk(t)
	e := setup(count)
	count.Count()
	if err := doMove(e); err != nil {
		t.Fatal(err)
	}
	n := count.Ops()
	if n == 0 {
		t.Fatal("a move did no disk operation")
	}
	t.Logf("a move does %d disk operations: %v", n, count.Seen())
	for i := range n {
		for _, crash := range []bool{false, true} {
			disk := crashtest.NewDisk(t)
			e := setup(disk)
			if crash {
				disk.Arm(-1, nil, i, nil)
			} else {
				disk.Arm(i, errorfs.ErrInjected, -1, nil)
			}
			err := doMove(e)
			if err != nil && !crash && !errcode.Is(err, errcode.Internal) {
				t.Fatalf("operation %d failing: %v, want internal", i, err)
			}
			e.restartOn(disk.Restart().FS)
			got, lerr := e.is.Aliases().LookupAlias(bankCtx("bank-a"), h)
			if lerr != nil || got.Wallet != "bank-a.w1" && got.Wallet != "bank-b.w2" {
				t.Fatalf("operation %d (crash %t): after the restart the alias reaches %+v, %v", i, crash, got, lerr)
			}
			if err == nil && got.Wallet != "bank-b.w2" {
				t.Fatalf("operation %d (crash %t): a move reported done is lost: %+v", i, crash, got)
			}
			if n, err := e.is.Aliases().AliasCount(); err != nil || n != 1 {
				t.Fatalf("operation %d: %d bindings, %v", i, n, err)
			}
			if err := doMove(e); err != nil {
				t.Fatalf("operation %d: the move made again: %v", i, err)
			}
			if got, err := e.is.Aliases().LookupAlias(bankCtx("bank-a"), h); err != nil || got.Wallet != "bank-b.w2" {
				t.Fatalf("operation %d: after the move made again: %+v, %v", i, got, err)
			}
			e.is.Close()
			e.is = nil
		}
	}
}
