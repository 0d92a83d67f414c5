package iso20022_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/iso20022"
)

// pacs008Docs makes n one-payment pacs.008s crediting wallet.
func pacs008Docs(b *testing.B, n int, prefix, wallet string) [][]byte {
	docs := make([][]byte, n)
	for i := range docs {
		d := deposits{MsgID: fmt.Sprintf("%s-%07d", prefix, i), Agent: "BNKAUS33", Txs: []deposit{
			{E2E: fmt.Sprintf("%s-E-%07d", prefix, i), Ccy: "USD", Amount: "1.00", Wallet: wallet, Name: "Alice"}}}
		docs[i] = fill(b, "pacs008-deposits.xml", d)
	}
	return docs
}

func benchNet(b *testing.B) (*net, string) {
	e := &net{t: b, dir: b.TempDir()}
	e.start()
	b.Cleanup(func() { e.n.Close() })
	for _, f := range e.n.Config.OfficerKeyFiles {
		k, err := loadKey(e.dir, f)
		if err != nil {
			b.Fatal(err)
		}
		e.officers = append(e.officers, k)
	}
	e.mint("bank-a", 1_000_000_00)
	return e, e.open("bank-a", "alice")
}

// BenchmarkPacs008HTTP posts one-payment pacs.008s to bank-a's gateway
// over HTTP, one at a time, each answered ACSC after the wallet is
// credited (messages per second = 1e9 / ns/op).
//
//	go test ./internal/iso20022 -run '^$' -bench 'Pacs008(HTTP|Directory)' -benchtime 2000x -count 5
func BenchmarkPacs008HTTP(b *testing.B) {
	e, alice := benchNet(b)
	tok, _ := e.n.Config.Token("bank-a")
	gw := client.New(e.n.URL, tok).ISO20022("bank-a")
	docs := pacs008Docs(b, b.N, "HTTP", alice)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := gw.Send(ctx, docs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := e.balance(alice); got != uint64(b.N)*100 {
		b.Fatalf("alice %d after %d deposits", got, b.N)
	}
}

// benchWorkers is the directory mode's files in flight, and the HTTP
// benchmark's concurrent senders in BenchmarkPacs008HTTPParallel.
const benchWorkers = 16

// BenchmarkPacs008HTTPParallel is BenchmarkPacs008HTTP with benchWorkers
// senders at once (different messages, as several bank cores would send).
func BenchmarkPacs008HTTPParallel(b *testing.B) {
	e, alice := benchNet(b)
	tok, _ := e.n.Config.Token("bank-a")
	gw := client.New(e.n.URL, tok).ISO20022("bank-a")
	docs := pacs008Docs(b, b.N, "PAR", alice)
	next := make(chan []byte, len(docs))
	for _, d := range docs {
		next <- d
	}
	close(next)
	ctx := context.Background()
	b.SetParallelism(benchWorkers / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := gw.Send(ctx, <-next); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if got := e.balance(alice); got != uint64(b.N)*100 {
		b.Fatalf("alice %d after %d deposits", got, b.N)
	}
}

// BenchmarkPacs008Directory is directory mode: b.N one-payment pacs.008
// files in a directory, one Watcher pass over HTTP with benchWorkers
// files in flight.
func BenchmarkPacs008Directory(b *testing.B) {
	e, alice := benchNet(b)
	tok, _ := e.n.Config.Token("bank-a")
	in, out := filepath.Join(b.TempDir(), "in"), filepath.Join(b.TempDir(), "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		b.Fatal(err)
	}
	for i, d := range pacs008Docs(b, b.N, "DIR", alice) {
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("m%07d.xml", i)), d, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	w := &iso20022.Watcher{In: in, Out: out, Send: client.New(e.n.URL, tok).ISO20022("bank-a").Send, Log: slog.New(slog.DiscardHandler), Workers: benchWorkers}
	b.ResetTimer()
	n, err := w.Pass(context.Background())
	b.StopTimer()
	if err != nil || n != b.N {
		b.Fatalf("pass: %d %v", n, err)
	}
	if got := e.balance(alice); got != uint64(b.N)*100 {
		b.Fatalf("alice %d after %d deposits", got, b.N)
	}
}
