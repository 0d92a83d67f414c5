package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/devnet"
)

// routerFlags are `specie serve router`'s: where the groups and the
// coordinator's log are served.
type routerFlags struct {
	groups, coordinator string
}

func (f *routerFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.groups, "groups", "", "router: the ledger groups in order, separated by ';', each as its replicas' ID=URL list (its --cluster, or 1=URL for a single ledger)")
	cmd.Flags().StringVar(&f.coordinator, "coordinator", "", "router: the coordinator's decision log, as its replicas' ID=URL list")
}

// serveRouter runs `specie serve router`: the groups come from flags, not
// from the network config, as a replica's --cluster does, because they are
// the ledger operator's own layout (replicas move with 'specie ledger
// cluster add|remove') that no other role reads; the config holds only
// the router's credential.
func serveRouter(g *globals, cfg *devnet.Config, f routerFlags, addr string, lim api.Limits) error {
	if f.groups == "" || f.coordinator == "" {
		return fmt.Errorf("serve router: --groups and --coordinator are required")
	}
	groups, err := devnet.ParseGroups(f.groups)
	if err != nil {
		return fmt.Errorf("serve router: %w", err)
	}
	coord, err := devnet.ClusterURLs(f.coordinator)
	if err != nil {
		return fmt.Errorf("serve router: coordinator: %w", err)
	}
	if addr == "" {
		if addr, err = devnet.AddrOf(cfg.Ledger.URL); err != nil {
			return fmt.Errorf("serve router: %w", err)
		}
	}
	n, err := devnet.ServeRouter(cfg, groups, coord, addr, logger(), lim)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Specie router serving the ledger API at %s/v1 over %d groups\n", n.URL, len(groups))
	for k, urls := range groups {
		fmt.Fprintf(&b, "  group %d    %s\n", k, strings.Join(urls, " "))
	}
	fmt.Fprintf(&b, "  2pc log    %s\n", strings.Join(coord, " "))
	fmt.Fprint(g.out, b.String())
	return waitForSignal(n)
}
