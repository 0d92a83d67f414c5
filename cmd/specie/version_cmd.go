package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/internal/buildinfo"
)

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go toolchain, every module with its hash, and this binary's digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Read()
			return g.print(info, versionText(info))
		},
	}
}

func versionText(info buildinfo.Info) string {
	var b strings.Builder
	rev := info.Revision
	if rev == "" {
		rev = "unknown"
	}
	if info.Modified {
		rev += " (modified: built from a tree with uncommitted changes)"
	}
	fmt.Fprintf(&b, "specie %s\n", info.Version)
	fmt.Fprintf(&b, "revision  %s\n", rev)
	fmt.Fprintf(&b, "go        %s\n", info.GoVersion)
	digest := info.Digest
	if digest == "" {
		digest = "unknown (the executable could not be read)"
	}
	fmt.Fprintf(&b, "digest    %s\n", digest)
	for _, k := range []string{"-trimpath", "CGO_ENABLED", "GOOS", "GOARCH", "-ldflags"} {
		if v, ok := info.Settings[k]; ok {
			fmt.Fprintf(&b, "build     %s=%s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "modules   %d\n", len(info.Modules))
	for _, m := range info.Modules {
		line := fmt.Sprintf("  %s %s %s", m.Path, m.Version, m.Sum)
		if m.Replace != nil {
			line += fmt.Sprintf(" => %s %s %s", m.Replace.Path, m.Replace.Version, m.Replace.Sum)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
