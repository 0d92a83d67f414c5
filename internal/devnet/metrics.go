package devnet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/specie/specie/internal/ledger"
)

// ledgerCollector exports the ledger's counters on /metrics.
type ledgerCollector struct {
	l                                                    *ledger.Ledger
	batches, committed, rejected, queued, last, verified *prometheus.Desc
}

func newLedgerCollector(l *ledger.Ledger) *ledgerCollector {
	return &ledgerCollector{
		l:         l,
		batches:   prometheus.NewDesc("specie_ledger_batches_total", "Batches committed since start (one fsync each).", nil, nil),
		committed: prometheus.NewDesc("specie_ledger_committed_total", "Transactions committed since start.", nil, nil),
		rejected:  prometheus.NewDesc("specie_ledger_rejected_total", "Transactions rejected since start, by error code.", []string{"code"}, nil),
		queued:    prometheus.NewDesc("specie_ledger_queued", "Validated transactions waiting for the commit loop.", nil, nil),
		last:      prometheus.NewDesc("specie_ledger_last_batch_size", "Transactions in the last committed batch.", nil, nil),
		verified:  prometheus.NewDesc("specie_ledger_signatures_verified_total", "Signatures verified since start (inputs locked to one key share one).", nil, nil),
	}
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.committed, c.rejected, c.queued, c.last, c.verified} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(s.Batches))
	ch <- prometheus.MustNewConstMetric(c.committed, prometheus.CounterValue, float64(s.Committed))
	for code, n := range s.Rejected {
		ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(n), code)
	}
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(s.LastBatch))
	ch <- prometheus.MustNewConstMetric(c.verified, prometheus.CounterValue, float64(s.Verified))
}
