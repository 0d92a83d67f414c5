package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/roles"
)

// payOnlyInter answers every payment at once and records nothing, so
// BenchmarkPayEdge measures the HTTP edge alone.
type payOnlyInter struct {
	fakeInter
	paid atomic.Int64
}

func (f *payOnlyInter) Pay(ctx context.Context, p roles.Payment) (roles.PaymentResult, error) {
	f.paid.Add(1)
	return roles.PaymentResult{TxID: hashOf(5), Receipt: roles.Receipt{TxID: hashOf(5), Batch: 11, Index: 3}, From: p.From, To: p.To, Amount: p.Amount}, nil
}

// BenchmarkPayEdge is the HTTP edge of a customer's payment, both sides in
// this process: the client package's Pay (as the bench generator and
// intermediaries call it) over a keep-alive loopback connection to the API
// server (middleware, auth, body decode, response encode) with an
// intermediary that answers at once. Its CPU per payment is what the edge
// adds to every payment of `specie bench --payments --inproc`; compare
// runs with -benchtime Nx and -cpu, never by wall clock in a test.
func BenchmarkPayEdge(b *testing.B) {
	bank := &payOnlyInter{fakeInter: fakeInter{name: "bank-a"}}
	srv := api.New(api.Config{
		Credentials:    []api.Credential{{Token: bankATok, Principal: bankAP}},
		Logger:         slog.New(slog.DiscardHandler),
		Intermediaries: map[string]roles.Intermediary{"bank-a": bank},
		Currency:       testNet.Currency,
	})
	// Served as every Specie process serves: NewHTTPServer's limits and
	// connection-capping listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := api.NewHTTPServer(srv.Handler(), api.Limits{}, nil)
	go hs.Serve(ln)
	defer hs.Close()
	c := client.New("http://"+ln.Addr().String(), bankATok).Intermediary("bank-a")
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // 8 callers a core, as the bench's 64 on this machine's few cores
	b.ResetTimer()
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			_, err := c.Pay(ctx, roles.Payment{From: "bank-a.payer", To: "bank-b.payee", Amount: 100, IdempotencyKey: fmt.Sprintf("bench-edge-%d", n)})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	if got := bank.paid.Load(); got != int64(b.N) {
		b.Fatalf("intermediary saw %d payments, want %d", got, b.N)
	}
}

// processCPU is the CPU time (user and system) this process has used, in
// ns: under a loaded machine's contention the CPU a payment costs is
// steadier than the wall-clock ns/op.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
