package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/internal/devnet"
)

func certsCmd(g *globals) *cobra.Command {
	var validFor time.Duration
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create the network CA and a certificate per role, and switch `specie serve` to mutual TLS",
		Long: `certs creates a certificate authority for the network in --data (after
'specie devnet init'), issues a certificate to the ledger, the issuer, each
intermediary and the operator (the command line's anonymous reads), writes
them under DATA/tls, and rewrites devnet.json: the roles' URLs become https.
From then on each 'specie serve' role listens on TLS 1.3, requires a client
certificate from the CA on every connection (an unknown, expired or
not-yet-valid one fails the handshake), and refuses a bearer token whose
principal is not the one the certificate names. The command line presents
the certificate of the role it acts as (--as), the operator's otherwise.
'specie up' is unaffected: it stays on plain loopback HTTP.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := devnet.MakeCerts(g.data, devnet.CertsOptions{ValidFor: validFor})
			if err != nil {
				return err
			}
			return g.print(c.TLS, fmt.Sprintf("network CA and %d certificates written under %s, valid for %s; roles now at %s (ledger), %s (issuer), ...",
				len(c.TLS.Certs), filepath.Join(g.data, "tls"), validFor, c.Ledger.URL, c.Issuer.URL))
		},
	}
	cmd.Flags().DurationVar(&validFor, "valid-for", 365*24*time.Hour, "lifetime of the CA and of each certificate")
	return cmd
}
