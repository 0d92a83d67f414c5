package shard_test

import (
	"net"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

const routerToken = "tok-router"

// overHTTP serves each group's ledger and the log's with the API (the
// parts route included), as `specie serve ledger` processes would, and
// returns their URLs; coordinators made by remoteCoordinator reach them
// only over HTTP, with the router's credential.
func (s *sharded) overHTTP() (groups []string, log string) {
	s.t.Helper()
	serve := func(w *swappable) string {
		srv := httptest.NewServer(api.New(api.Config{Ledger: w, Credentials: []api.Credential{
			{Token: routerToken, Principal: roles.Principal{Name: "router", Role: roles.RoleRouter}},
		}}).Handler())
		s.t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, w := range s.groups {
		groups = append(groups, serve(w))
	}
	return groups, serve(s.log)
}

// remoteCoordinator is a router process's coordinator over the groups and
// the log at these URLs (a restarted router, when called again), routing
// through it.
func (s *sharded) remoteCoordinator(groups []string, log string) {
	s.t.Helper()
	remote := func(u string) *shard.Remote {
		r, err := shard.NewRemote([]string{u}, routerToken)
		if err != nil {
			s.t.Fatal(err)
		}
		return r
	}
	gs := make([]shard.Group, len(groups))
	for g, u := range groups {
		gs[g] = remote(u)
	}
	c, err := shard.NewCoordinator(shard.Config{
		Network: s.n.Network, Log: remote(log), Groups: gs, Retry: 200 * time.Millisecond,
		Crash: func(p shard.Phase, g int) error {
			if s.crash == nil {
				return nil
			}
			return s.crash(p, g)
		},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.coord, s.router = c, shard.NewRouter(c)
}

// TestCrossGroupOverHTTP: with every group and the log reached over HTTP,
// single-group and cross-group transactions commit as in process, each
// group's log holds the cross-group one under its txid, the decision is
// in the log, a resent transaction is a double spend and the totals add
// up.
func TestCrossGroupOverHTTP(t *testing.T) {
	s := newSharded(t, 2)
	s.remoteCoordinator(s.overHTTP())
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	a0, a1 := s.mintIn(0, alice, 100_00), s.mintIn(1, alice, 50_00)
	tx := s.pay([]money.Note{a0, a1}, []*crypto.PrivateKey{alice, alice},
		[]money.Output{ledgertest.To(bob, 120_00), ledgertest.To(alice, 30_00)}, []int{1, 0})
	if _, err := s.router.Submit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if s.outcome(tx) != applied {
		t.Fatal("not applied")
	}
	id := s.n.Network.TxID(tx)
	for g, w := range s.groups {
		if _, err := w.Tx(ctx, id); err != nil {
			t.Fatalf("group %d: %v", g, err)
		}
	}
	yes, _ := shard.DecisionIDs(s.n.Network, id)
	if _, err := s.log.Tx(ctx, yes); err != nil {
		t.Fatalf("decision: %v", err)
	}
	single := s.pay([]money.Note{s.n.Notes(tx)[0]}, []*crypto.PrivateKey{bob}, []money.Output{ledgertest.To(alice, 120_00)}, []int{1})
	if _, err := s.router.Submit(ctx, single); err != nil {
		t.Fatal(err)
	}
	before := s.supplies()
	if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("resent: %v, want double_spend", err)
	}
	if after := s.supplies(); !equalSupplies(before, after) {
		t.Fatalf("a refused resend changed the groups: %+v -> %+v", before, after)
	}
	s.check()
}

// TestRemoteCoordinatorRecoversEveryPhase: a router over HTTP stopped at
// each phase of a cross-group transaction leaves it in doubt; a new
// router's recovery, reading the log's batches over HTTP, drives it to its
// logged decision or aborts it, in every group alike, and no lock note is
// left.
func TestRemoteCoordinatorRecoversEveryPhase(t *testing.T) {
	for _, c := range phaseCases {
		t.Run(c.name, func(t *testing.T) {
			s := newSharded(t, 2)
			groups, log := s.overHTTP()
			s.remoteCoordinator(groups, log)
			tx := crossTx(t, s, c.refuse)
			s.crash = func(p shard.Phase, g int) error {
				if c.at(p, g) {
					return errCrash
				}
				return nil
			}
			if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, errcode.Unavailable) {
				t.Fatalf("submit, stopping %s: %v", c.name, err)
			}
			s.crash = nil
			s.remoteCoordinator(groups, log)
			n, err := s.coord.Recover(ctx)
			if err != nil || n != 1 {
				t.Fatalf("recovered %d transactions (%v), want 1", n, err)
			}
			if got := s.outcome(tx); got != c.want {
				t.Fatalf("after recovery: %v, want %v", got, c.want)
			}
			s.check()
		})
	}
}

// TestRemoteMovesPastUnreachableReplica: a group listed with a replica
// that is down is still read and written through the one that is up; a
// group with none up answers unavailable, which the coordinator retries.
func TestRemoteMovesPastUnreachableReplica(t *testing.T) {
	s := newSharded(t, 2)
	groups, log := s.overHTTP()
	dead := deadURL(t)
	remote := func(urls ...string) *shard.Remote {
		r, err := shard.NewRemote(urls, routerToken)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	gs := []shard.Group{remote(dead, groups[0]), remote(groups[1], dead)}
	c, err := shard.NewCoordinator(shard.Config{Network: s.n.Network, Log: remote(dead, log), Groups: gs, Retry: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.coord, s.router = c, shard.NewRouter(c)
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	a0, a1 := s.mintIn(0, alice, 60_00), s.mintIn(1, alice, 40_00)
	tx := s.pay([]money.Note{a0, a1}, []*crypto.PrivateKey{alice, alice}, []money.Output{ledgertest.To(bob, 100_00)}, []int{0})
	if _, err := s.router.Submit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if s.outcome(tx) != applied {
		t.Fatal("not applied")
	}
	s.check()
	none := remote(dead)
	if _, err := none.Supply(ctx); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("a group with no replica up: %v, want unavailable", err)
	}
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func equalSupplies(a, b []roles.LedgerSupply) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTwoRoutersShareTheLog: two routers (two coordinators over HTTP)
// share the groups and the log; cross-group transactions sent through
// either at once all commit, each once, and a transaction committed
// through one is refused as a double spend through the other.
func TestTwoRoutersShareTheLog(t *testing.T) {
	s := newSharded(t, 2)
	groups, log := s.overHTTP()
	s.remoteCoordinator(groups, log)
	first := s.router
	s.remoteCoordinator(groups, log)
	second := s.router
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	var txs []*money.Tx
	for range 6 {
		a0, a1 := s.mintIn(0, alice, 60_00), s.mintIn(1, alice, 40_00)
		txs = append(txs, s.pay([]money.Note{a0, a1}, []*crypto.PrivateKey{alice, alice}, []money.Output{ledgertest.To(bob, 100_00)}, []int{0}))
	}
	errs := make(chan error, len(txs))
	for i, tx := range txs {
		r := first
		if i%2 == 1 {
			r = second
		}
		go func() {
			_, err := r.Submit(ctx, tx)
			errs <- err
		}()
	}
	for range txs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, tx := range txs {
		if s.outcome(tx) != applied {
			t.Fatal("not applied")
		}
	}
	s.check()
	if _, err := second.Submit(ctx, txs[0]); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("committed through one router, resent through the other: %v, want double_spend", err)
	}
	s.check()
}

// TestRotationOverHTTP: a router process (every log reached over HTTP with
// the router's credential) applies an officer key rotation in the
// coordinator's log and every group; a router started after one that
// stopped part way completes it (CompleteRotations, as `specie serve
// router` runs at start); and then a mint under the rotated-out key is
// refused unauthorized in every group, changing nothing, while one under
// the new set commits.
func TestRotationOverHTTP(t *testing.T) {
	for _, how := range []string{"rotate", "complete"} {
		t.Run(how, func(t *testing.T) {
			s := newSharded(t, 2)
			groups, log := s.overHTTP()
			s.remoteCoordinator(groups, log)
			owner := ledgertest.MustKey()
			old := slices.Clone(s.n.Officers)
			fresh := ledgertest.MustKey()
			ks := nextKeySet(t, s, fresh)
			switch how {
			case "rotate":
				if _, err := s.router.RotateMintKeys(ctx, ks); err != nil {
					t.Fatalf("rotate over HTTP: %v", err)
				}
			case "complete":
				// The previous router stopped after the coordinator's log.
				if _, err := s.log.RotateMintKeys(ctx, ks); err != nil {
					t.Fatal(err)
				}
				s.remoteCoordinator(groups, log)
				if k, err := s.router.CompleteRotations(ctx); err != nil || k == 0 {
					t.Fatalf("complete over HTTP: %d, %v; want the lagging groups rotated", k, err)
				}
			}
			for g := range s.groups {
				if v := keyVersion(t, s.groups[g]); v != 2 {
					t.Fatalf("group %d applies key set version %d, want 2", g, v)
				}
			}
			if v := keyVersion(t, s.router); v != 2 {
				t.Fatalf("the router's Info reports version %d, want 2", v)
			}
			for g := range s.groups {
				before := s.supplies()
				if _, err := s.router.Submit(ctx, mintTo(s, g, false, old[:2], owner, 7)); !errcode.Is(err, errcode.Unauthorized) {
					t.Fatalf("old-key mint in group %d: %v, want unauthorized", g, err)
				}
				if after := s.supplies(); !slices.Equal(before, after) {
					t.Fatalf("a refused mint changed the groups: %+v -> %+v", before, after)
				}
				if _, err := s.router.Submit(ctx, mintTo(s, g, false, []*crypto.PrivateKey{fresh, old[1]}, owner, 5)); err != nil {
					t.Fatalf("new-key mint in group %d: %v", g, err)
				}
				s.minted += 5
			}
			s.check()
		})
	}
}
