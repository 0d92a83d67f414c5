package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/specie/specie/internal/buildinfo"
)

func escrowCmd(g *globals) *cobra.Command {
	var repo, commit string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "escrow DIR",
		Short: "Write the escrow bundle of a commit (source, vendored modules, build command, expected digest) and check it rebuilds offline",
		Long: `escrow writes into DIR everything needed to rebuild this commit's specie
binary with no network: src/ (the source at the commit, with vendor/),
build.sh (the one build command; it checks the result against SHA256SUMS),
manifest.json (commit, Go toolchain, settings, command, digest). It runs in a
git checkout of Specie and needs the module cache or the module proxy once,
to vendor. See docs/architecture.md, "Verifiable builds".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := buildinfo.EscrowOptions{Repo: repo, Commit: commit}
			if verbose {
				o.Stderr = os.Stderr
			}
			m, err := buildinfo.WriteEscrow(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			return g.print(m, fmt.Sprintf("escrow bundle of %s at %s written to %s\nbuilt offline with %s: %s\nrebuild and check with: sh %s/build.sh",
				m.Module, m.Commit, args[0], m.GoVersion, m.Digest, args[0]))
		},
	}
	cmd.Flags().StringVar(&repo, "repo", ".", "the git checkout of Specie to bundle")
	cmd.Flags().StringVar(&commit, "commit", "", "the commit to bundle (default HEAD); uncommitted changes are never bundled")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the go tool's output")
	return cmd
}
