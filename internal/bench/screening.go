package bench

import "github.com/specie/specie/internal/devnet"

// NoScreening is an InProcPayments option that turns the intermediaries'
// fraud and AML screening off, to measure what screening costs by
// comparing runs with and without it (docs/performance.md, "Screening").
func NoScreening(n *devnet.Node) {
	for _, b := range n.Banks {
		b.SetScreening(false)
	}
}
