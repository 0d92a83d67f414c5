package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// TestRegistryRaceOverHTTP: two intermediaries reserve shares of one
// person's holding limit at once, each from many goroutines through its
// own client over loopback. Exactly as many shares as fit are granted,
// every refusal is limit_exceeded, and the shares add up to the limit.
func TestRegistryRaceOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	person := roles.Pseudonym([]byte("shared salt"), "dora")
	const share, limit, per = 25_00, 500_00, 24
	regs := map[string]roles.Registry{"bank-a": e.bankC.Registry(), "bank-b": e.bankBC.Registry()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := map[string]int{}
	for bank, reg := range regs {
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := reg.Reserve(ctx, roles.Reservation{Person: person, Wallet: fmt.Sprintf("%s.w%d", bank, i), Share: share, Limit: limit})
				switch {
				case err == nil:
					mu.Lock()
					granted[bank]++
					mu.Unlock()
				case !errcode.Is(err, errcode.LimitExceeded):
					t.Errorf("%s reserve: %v", bank, err)
				}
			}()
		}
	}
	wg.Wait()
	if n := granted["bank-a"] + granted["bank-b"]; n != limit/share {
		t.Fatalf("%d shares granted (%v), want %d", n, granted, limit/share)
	}
	var sum uint64
	for bank, reg := range regs {
		rs, err := reg.Reservations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != granted[bank] {
			t.Errorf("%s lists %d reservations, was granted %d", bank, len(rs), granted[bank])
		}
		for _, r := range rs {
			if roles.IntermediaryOf(r.Wallet) != bank {
				t.Errorf("%s sees %s", bank, r.Wallet)
			}
			sum += r.Share
		}
	}
	if sum != limit {
		t.Fatalf("shares add up to %d, want %d", sum, limit)
	}

	// Through the client: the answer's Used, a refusal's message, and
	// release by the owner only.
	rs, _ := regs["bank-a"].Reservations(ctx)
	if len(rs) > 0 {
		w := rs[0].Wallet
		if err := regs["bank-b"].Release(ctx, person, w); !errcode.Is(err, errcode.Unauthorized) {
			t.Fatalf("bank-b released bank-a's reservation: %v", err)
		}
		if err := regs["bank-a"].Release(ctx, person, w); err != nil {
			t.Fatal(err)
		}
		got, err := regs["bank-b"].Reserve(ctx, roles.Reservation{Person: person, Wallet: "bank-b.late", Share: share, Limit: limit})
		if err != nil || got.Used != limit || got.Share != share || got.Limit != limit {
			t.Fatalf("reserve after release: %+v %v", got, err)
		}
	}
	_, err := regs["bank-b"].Reserve(ctx, roles.Reservation{Person: person, Wallet: "bank-b.more", Share: 1, Limit: limit})
	if !errcode.Is(err, errcode.LimitExceeded) {
		t.Fatalf("over the limit: %v", err)
	}
}
