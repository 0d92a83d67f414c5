package intermediary_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// BenchmarkPay is concurrent payments of 0.01 between random wallets of two
// intermediaries in one process, half of them across banks, on the real
// ledger with Pebble underneath: the payment path the issue 8 bench drives
// over HTTP, without HTTP. Run with -cpu and -benchtime as needed; the
// figure is payments/s ("pay/s"). 64 callers by default (SetParallelism), PAY_CALLERS in the environment for more;
// PAY_SCREENING=off turns fraud and AML screening off.
func BenchmarkPay(b *testing.B) {
	const perBank = 500
	e := newEnv(b, "bank-a", "bank-b")
	var wallets []string
	for _, bank := range []string{"bank-a", "bank-b"} {
		in := e.bank(bank)
		e.issue(bank, perBank*100_00)
		for i := 0; i < perBank; i++ {
			w, err := in.OpenWallet(as(bank), unlimited(fmt.Sprintf("w%d", i)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := in.Pay(as(bank), roles.Payment{From: in.Treasury(), To: w.ID, Amount: 100_00}); err != nil {
				b.Fatal(err)
			}
			wallets = append(wallets, w.ID)
		}
	}
	if os.Getenv("PAY_SCREENING") == "off" { // to measure what screening costs
		e.bank("bank-a").SetScreening(false)
		e.bank("bank-b").SetScreening(false)
	}
	var seed atomic.Uint64
	var failed atomic.Int64
	callers := 64
	if v, err := strconv.Atoi(os.Getenv("PAY_CALLERS")); err == nil && v > 0 {
		callers = v // e.g. PAY_CALLERS=1024
	}
	b.SetParallelism(max(1, callers/max(1, testingCPU())))
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seed.Add(1), 7))
		for pb.Next() {
			from := wallets[r.IntN(len(wallets))]
			to := wallets[r.IntN(len(wallets))]
			if from == to {
				to = e.bank(roles.IntermediaryOf(from)).Treasury()
			}
			bank := roles.IntermediaryOf(from)
			if _, err := e.bank(bank).Pay(as(bank), roles.Payment{From: from, To: to, Amount: 1}); err != nil {
				if !errcode.Is(err, errcode.InsufficientFunds) {
					b.Error(err)
				}
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pay/s")
	// CPU of the whole process (both banks, the ledger, the callers) per
	// payment: steadier than pay/s on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/pay")
	if n := failed.Load(); n > 0 {
		b.Logf("%d of %d payments failed", n, b.N)
	}
}

func testingCPU() int { return runtime.GOMAXPROCS(0) }

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
