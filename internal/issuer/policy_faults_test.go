package issuer_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/roles"
)

// registryAndPolicyFaults are the writes of policy governance and of the
// registry, each set up on a fresh desk: what comes before it, and the
// request whose disk operations fail.
func registryAndPolicyFaults() []struct {
	name  string
	setup func(e *env) func() error
	// after checks the desk after a restart, given whether the request
	// was reported done, and makes it again.
	after func(t *testing.T, e *env, done bool)
} {
	return []struct {
		name  string
		setup func(e *env) func() error
		after func(t *testing.T, e *env, done bool)
	}{
		{"policy approval reaching the quorum", func(e *env) func() error {
			p := e.proposePolicy(e.policy(1))
			if _, err := e.approvePolicy(0, p.ID); err != nil {
				e.t.Fatal(err)
			}
			return func() error { _, err := e.approvePolicy(1, p.ID); return err }
		}, func(t *testing.T, e *env, done bool) {
			ps, err := e.is.ListPolicyProposals(officerCtx)
			if err != nil || len(ps) != 1 {
				t.Fatalf("proposals %+v %v", ps, err)
			}
			_, perr := e.is.Policy(bg)
			switch p := ps[0]; {
			case p.Status == roles.PolicyInForce && len(p.Approvals) == 2 && perr == nil:
				e.verifyInForce(1)
			case p.Status == roles.PolicyPending && len(p.Approvals) == 1 && errcode.Is(perr, errcode.NotFound) && !done:
				if _, err := e.approvePolicy(1, p.ID); err != nil {
					t.Fatalf("approval again: %v", err)
				}
				e.verifyInForce(1)
			default:
				t.Fatalf("after a restart: proposal %s with %d approvals, policy in force: %v (reported done: %v)", p.Status, len(p.Approvals), perr, done)
			}
		}},
		{"reservation", func(e *env) func() error {
			if _, err := e.hold("bank-b", "erin", "bank-b.w1", 100, 500); err != nil {
				e.t.Fatal(err)
			}
			return func() error { _, err := e.hold("bank-a", "erin", "bank-a.w1", 400, 500); return err }
		}, func(t *testing.T, e *env, done bool) {
			rs, err := e.is.Registry().Reservations(bankCtx("bank-a"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case len(rs) == 1 && rs[0].Share == 400:
			case len(rs) == 0 && !done:
			default:
				t.Fatalf("after a restart bank-a has %+v (reported done: %v)", rs, done)
			}
			got, err := e.hold("bank-a", "erin", "bank-a.w1", 400, 500)
			if err != nil || got.Used != 500 {
				t.Fatalf("reserve again: %+v %v", got, err)
			}
		}},
	}
}

// TestPolicyAndRegistryWritesMayFail: every disk operation of the approval
// that puts a policy in force, and of a reservation, fails in turn (an I/O
// error, a full disk). The request succeeds or is refused with internal
// (unavailable when the disk is full); after a restart the desk holds
// either all of it or none of it (never a proposal in force without the
// pointer to it, or a share without its index), whatever was reported done
// is there, and the request made again completes.
func TestPolicyAndRegistryWritesMayFail(t *testing.T) {
	for _, c := range registryAndPolicyFaults() {
		t.Run(c.name, func(t *testing.T) {
			disk := crashtest.NewDisk(t)
			e := newEnvOn(t, disk.FS, 0)
			do := c.setup(e)
			disk.Count()
			if err := do(); err != nil {
				t.Fatal(err)
			}
			n := disk.Ops()
			if n == 0 {
				t.Fatal("the request did no disk operation")
			}
			for i := range n {
				for f, fault := range []error{errorfs.ErrInjected, syscall.ENOSPC, errorfs.ErrInjected} {
					disk := crashtest.NewDisk(t)
					e := newEnvOn(t, disk.FS, 0)
					do := c.setup(e)
					disk.Arm(i, fault, -1, nil)
					err := do()
					want := errcode.Internal
					if errors.Is(fault, syscall.ENOSPC) {
						want = errcode.Unavailable
					}
					if err != nil && errcode.Of(err) != want {
						t.Fatalf("operation %d failing with %v: %v, want %s", i, fault, err, want)
					}
					if f == 2 {
						disk = disk.RestartKeepingAll()
					} else {
						disk = disk.Restart()
					}
					e.restartOn(disk.FS)
					c.after(t, e, err == nil)
					e.is.Close()
					e.is = nil
				}
			}
		})
	}
}
