package replica_test

import (
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// link is a fault-injecting TCP proxy for one direction of the traffic
// between two replicas: replica A's raft messages to replica B go through
// link A->B (requests and their answers on the same connections), and B's
// to A through link B->A, so cutting one is a one-way partition.
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	delay time.Duration
	drop  float64 // chance that a connection is reset at each chunk
	rng   *mrand.Rand
	conns map[net.Conn]struct{}
}

func newLink(t *testing.T, target string, seed uint64) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, target: target, rng: mrand.New(mrand.NewPCG(seed, 7)), conns: map[net.Conn]struct{}{}}
	go l.accept()
	t.Cleanup(func() { ln.Close(); l.setCut(true) })
	return l
}

func (l *link) url() string { return "http://" + l.ln.Addr().String() }

func (l *link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		cut := l.cut
		if !cut {
			l.conns[c] = struct{}{}
		}
		l.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		go l.serve(c)
	}
}

func (l *link) serve(c net.Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				l.mu.Lock()
				cut, delay, drop := l.cut, l.delay, l.drop > 0 && l.rng.Float64() < l.drop
				l.mu.Unlock()
				if cut || drop {
					return
				}
				if delay > 0 {
					time.Sleep(delay)
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					return
				}
				return
			}
		}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
}

// setCut cuts the link (closing what is open) or heals it.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

func (l *link) set(delay time.Duration, drop float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delay, l.drop = delay, drop
}
