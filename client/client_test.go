package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
)

// TestNonAPIErrors: an error response that is not the API's error JSON
// (a proxy's page) still becomes an *errcode.Error with a code from the
// status, and a 2xx body that is not the expected JSON is internal.
func TestNonAPIErrors(t *testing.T) {
	status, body := 0, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization %q", got)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	c := client.New(srv.URL+"/", "tok") // a trailing slash is fine
	for _, tc := range []struct {
		status int
		body   string
		code   errcode.Code
	}{
		{502, "<html>Bad Gateway</html>", errcode.Unavailable},
		{503, "", errcode.Unavailable},
		{504, "timeout", errcode.Unavailable},
		{400, "bad", errcode.Malformed},
		{401, "", errcode.Unauthorized},
		{403, "", errcode.Unauthorized},
		{404, "404 page not found", errcode.NotFound},
		{409, "", errcode.Conflict},
		{500, "oops", errcode.Internal},
		{418, "teapot", errcode.Internal},
		{422, `{"error":{"code":"limit_exceeded","message":"daily cap"}}`, errcode.LimitExceeded},
		{200, "not json", errcode.Internal},
		{200, `{"minted":"1.5","redeemed":"0","outstanding":"0"}`, errcode.Internal},
	} {
		status, body = tc.status, tc.body
		_, err := c.Ledger().Supply(context.Background())
		var ce *errcode.Error
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%d %q: got %v, want code %s", tc.status, tc.body, err, tc.code)
			continue
		}
		if tc.status != 200 && ce.Status != tc.status {
			t.Errorf("%d: Status %d", tc.status, ce.Status)
		}
	}
}

func TestTransportFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
	}))
	defer srv.Close()
	c := client.New(srv.URL, "", client.WithTimeout(50*time.Millisecond))
	err := c.Health(context.Background())
	if !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("timeout: %v, want unavailable", err)
	}
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout cause not kept: %v", err)
	}

	_, err = client.New("http://127.0.0.1:1", "").Ledger().Info(context.Background())
	if !errcode.Is(err, errcode.Unavailable) || errcode.HTTPStatus(err) != 503 {
		t.Fatalf("refused: %v", err)
	}

	_, err = client.New("::not a url", "").Ledger().Info(context.Background())
	if err == nil {
		t.Fatal("bad base URL accepted")
	}
}

// TestFollowsTheLeader: a replica that does not lead answers not_leader
// with the leader's URL; the client sends the request there, and its later
// requests too.
func TestFollowsTheLeader(t *testing.T) {
	var leaderHits, followerHits atomic.Int32
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"minted":"7","redeemed":"0","outstanding":"7","unspent":1,"batches":1}`))
	}))
	defer leader.Close()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followerHits.Add(1)
		w.Header().Set(errcode.LeaderHeader, leader.URL)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMisdirectedRequest)
		w.Write([]byte(`{"error":{"code":"not_leader","message":"replica 2 does not lead"}}`))
	}))
	defer follower.Close()
	l := client.New(follower.URL, "").Ledger()
	for i := 0; i < 2; i++ {
		if _, err := l.Supply(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if followerHits.Load() != 1 || leaderHits.Load() != 2 {
		t.Fatalf("follower asked %d times, leader %d; want 1 and 2", followerHits.Load(), leaderHits.Load())
	}
}

// TestNotLeaderWithoutLeader: with no leader named, not_leader reaches the
// caller as is.
func TestNotLeaderWithoutLeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMisdirectedRequest)
		w.Write([]byte(`{"error":{"code":"not_leader","message":"no leader"}}`))
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, "").Ledger().Supply(context.Background())
	if !errcode.Is(err, errcode.NotLeader) || errcode.HTTPStatus(err) != http.StatusMisdirectedRequest {
		t.Fatalf("got %v, want not_leader", err)
	}
}
