package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// InProc is a ledger in this process, pre-funded through genesis: the
// first `count` genesis notes belong to the bench's keys, the rest (up to
// `total`) are other people's money that only makes the unspent set large.
func InProc(l *ledger.Ledger) Target {
	return Target{
		Mode:   "inproc",
		Ledger: l,
		Disk:   l.DiskBytes,
		Fund: func(total uint64, owners []*crypto.PrivateKey, count int, value uint64) ([]money.Note, []int, error) {
			other := ledgertest.MustKey()
			notes := make([]money.Note, 0, count)
			owner := make([]int, 0, count)
			out := func(i uint64) money.Output {
				if i < uint64(count) {
					return money.Output{Value: value, Lock: money.KeyLock(owners[i%uint64(len(owners))].Public())}
				}
				return money.Output{Value: value, Lock: money.KeyLock(other.Public())}
			}
			err := l.Genesis(total, out, func(tx *money.Tx, id money.TxID) {
				for j := range tx.Outputs {
					if len(notes) == count {
						return
					}
					notes = append(notes, money.Note{TxID: id, Index: uint32(j), Output: tx.Outputs[j]})
					owner = append(owner, len(owner)%len(owners))
				}
			})
			return notes, owner, err
		},
	}
}

// Remote is a running network's ledger over HTTP. Notes are funded with
// real mints signed by the officer keys (which the devnet keeps in its data
// directory), submitted in batches; CPU is read from the ledger's /metrics.
func Remote(url string, l roles.Ledger, officers []*crypto.PrivateKey, net money.Network) Target {
	return Target{
		Mode:   "http",
		Ledger: l,
		CPUSeconds: func() (float64, error) {
			return scrape(url, "process_cpu_seconds_total")
		},
		RSS: func() uint64 {
			v, _ := scrape(url, "process_resident_memory_bytes")
			return uint64(v)
		},
		Fund: func(total uint64, owners []*crypto.PrivateKey, count int, value uint64) ([]money.Note, []int, error) {
			ctx := context.Background()
			info, err := l.Info(ctx)
			if err != nil {
				return nil, nil, err
			}
			tn := &ledgertest.Net{Network: net, Officers: officers}
			approvers := make([]int, info.MintQuorum)
			for i := range approvers {
				approvers[i] = i
			}
			if len(officers) < info.MintQuorum {
				return nil, nil, fmt.Errorf("need %d officer keys to mint, have %d", info.MintQuorum, len(officers))
			}
			notes := make([]money.Note, 0, count)
			owner := make([]int, 0, count)
			var batch []*money.Tx
			flush := func() error {
				rs, err := l.SubmitBatch(ctx, batch)
				if err != nil {
					return err
				}
				for i, r := range rs {
					if r.Err != nil {
						return fmt.Errorf("funding mint: %w", r.Err)
					}
					for _, n := range tn.Notes(batch[i]) {
						if len(notes) < count {
							notes = append(notes, n)
							owner = append(owner, len(owner)%len(owners))
						}
					}
				}
				batch = batch[:0]
				return nil
			}
			other := ledgertest.MustKey()
			all := max(uint64(count), total)
			for made := uint64(0); made < all; {
				outs := make([]money.Output, 0, money.MaxOutputs)
				for ; made < all && len(outs) < money.MaxOutputs; made++ {
					lock := money.KeyLock(other.Public())
					if made < uint64(count) {
						lock = money.KeyLock(owners[made%uint64(len(owners))].Public())
					}
					outs = append(outs, money.Output{Value: value, Lock: lock})
				}
				batch = append(batch, tn.Mint(approvers, outs...))
				if len(batch) == 256 {
					if err := flush(); err != nil {
						return nil, nil, err
					}
				}
			}
			if len(batch) > 0 {
				if err := flush(); err != nil {
					return nil, nil, err
				}
			}
			return notes, owner, nil
		},
	}
}

// scrape reads one unlabelled metric from a Prometheus endpoint.
func scrape(url, metric string) (float64, error) {
	resp, err := http.Get(strings.TrimRight(url, "/") + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", metric, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, metric+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("scrape: no %s at %s/metrics", metric, url)
}
