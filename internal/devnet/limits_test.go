package devnet_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/devnet"
)

// TestUpServesWithLimits: `specie up` serves through api.NewHTTPServer with
// the limits it is given: an idle kept-alive connection is closed, and
// headers over the cap are answered with the JSON error.
func TestUpServesWithLimits(t *testing.T) {
	n, _, err := devnet.Up(t.TempDir(), "127.0.0.1:0", quietLog(), api.Limits{IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr := strings.TrimPrefix(n.URL, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("idle kept-alive connection still open")
	}

	big, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	_ = big.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		_, _ = io.WriteString(big, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2*api.DefaultMaxHeaderBytes)+"\r\n\r\n")
	}()
	resp, err = http.ReadResponse(bufio.NewReader(big), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 431 || resp.Header.Get("Content-Type") != "application/json" ||
		strings.TrimSpace(string(b)) != `{"error":{"code":"malformed","message":"request headers too large"}}` {
		t.Fatalf("oversize headers: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}
