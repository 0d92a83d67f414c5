package api_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/internal/api"
)

var keys atomic.Int64

// keepAliveClient is a well-behaved client with its own pool: keep-alives,
// as many idle connections as it has callers.
func keepAliveClient(callers int) *http.Client {
	return &http.Client{Timeout: safety, Transport: &http.Transport{
		MaxIdleConns: callers, MaxIdleConnsPerHost: callers, IdleConnTimeout: time.Minute,
	}}
}

// post is a POST as the client package sends a payment: with an
// Idempotency-Key header, so Go's transport may send it again when the
// server closed the kept-alive connection it went out on before answering
// (as it may for any idle connection, at IdleTimeout or at the cap).
func post(c *http.Client, addr string) error {
	req, err := http.NewRequest("POST", "http://"+addr+"/work", strings.NewReader(`{}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprint(keys.Add(1)))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestIdleConnsDoNotStarveNewOnes: connections kept alive and idle by one
// client must not hold every slot of the cap while another client's new
// connection waits unaccepted (until the 120 s idle timeout). At the cap,
// the server closes the longest idle connection for the new one.
func TestIdleConnsDoNotStarveNewOnes(t *testing.T) {
	const maxConns = 8
	// The first maxConns requests are held until all have arrived, so a
	// opens maxConns connections.
	var arrived sync.WaitGroup
	arrived.Add(maxConns)
	var n atomic.Int64
	addr := serveEdge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1) <= maxConns {
			arrived.Done()
			arrived.Wait()
		}
		w.Write([]byte("{}"))
	}), api.Limits{MaxConns: maxConns})

	// a fills the cap with connections it keeps alive, then goes quiet.
	a := keepAliveClient(maxConns)
	var wg sync.WaitGroup
	for range maxConns {
		wg.Go(func() {
			if err := post(a, addr); err != nil {
				t.Errorf("a: %v", err)
			}
		})
	}
	wg.Wait()

	b := keepAliveClient(1)
	done := make(chan error, 1)
	go func() { done <- post(b, addr) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("b behind a's idle connections: %v", err)
		}
	case <-time.After(safety):
		t.Fatal("b's new connection was not served while a's idle connections held the cap")
	}
	// a's evicted connections are reopened or retried transparently.
	for i := range 2 * maxConns {
		if err := post(a, addr); err != nil {
			t.Fatalf("a again, %d: %v", i, err)
		}
	}
}

// TestManyCallersBehindCap is `specie bench --payments` in small: more
// closed-loop callers than the cap, each paying through whichever of two
// clients (two banks, each with its own pool) its payment needs, so the
// two pools together hold more connections than the server admits. Every
// request must complete; none may wait for a connection the server never
// accepts.
func TestManyCallersBehindCap(t *testing.T) {
	const maxConns, callers, each = 64, 128, 20
	addr := serveEdge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(time.Millisecond)
		w.Write([]byte("{}"))
	}), api.Limits{MaxConns: maxConns})
	banks := []*http.Client{keepAliveClient(callers), keepAliveClient(callers)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	for c := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, uint64(c)))
			for range each {
				if err := post(banks[rng.IntN(len(banks))], addr); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", len(failed), callers*each, failed[0])
	}
}
