// Package buildinfo says exactly what a specie binary is: its version, the
// commit it was built from, the Go toolchain, every module it contains with
// its hash, and the digest of the binary file itself. A central bank's
// auditors compare these against the escrow bundle it deposited (see
// `specie escrow` and docs/architecture.md, "Verifiable builds"), so a
// binary in production can be traced to the source it claims to be.
package buildinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Version is the release name, set at build time with
// -ldflags=-X=github.com/specie/specie/internal/buildinfo.Version=v1.2.3;
// "dev" for a developer's build.
var Version = "dev"

// Revision is the commit, set at build time with -X like Version by builds
// that carry no VCS stamp (a build from an escrow bundle has no .git to
// read it from). Empty means: take it from the Go toolchain's VCS stamp.
var Revision = ""

// Module is one module compiled into the binary.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	// Sum is the go.sum hash ("h1:..."); empty in a vendored build, whose
	// modules were checked against go.sum when they were vendored.
	Sum     string  `json:"sum,omitempty"`
	Replace *Module `json:"replace,omitempty"`
}

// Info describes one binary.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"` // built from a tree with uncommitted changes
	GoVersion string `json:"go_version"`
	Path      string `json:"path"` // the main package
	// Settings are the build settings the toolchain recorded (-trimpath,
	// CGO_ENABLED, GOARCH, GOOS, -ldflags, vcs.*): what a rebuild must match.
	Settings map[string]string `json:"settings"`
	Modules  []Module          `json:"modules"`
	// Digest is "sha256:<hex>" of the executable file, or empty if it
	// could not be read.
	Digest string `json:"digest,omitempty"`
}

// Read describes the running binary. The digest is of the file the
// process was started from (os.Executable).
func Read() Info {
	info := Info{Version: Version, Revision: Revision, Settings: map[string]string{}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.GoVersion = bi.GoVersion
		info.Path = bi.Path
		for _, s := range bi.Settings {
			info.Settings[s.Key] = s.Value
		}
		if info.Revision == "" {
			info.Revision = info.Settings["vcs.revision"]
		}
		info.Modified = info.Settings["vcs.modified"] == "true"
		for _, d := range bi.Deps {
			info.Modules = append(info.Modules, module(d))
		}
	}
	if exe, err := os.Executable(); err == nil {
		if d, err := FileDigest(exe); err == nil {
			info.Digest = d
		}
	}
	return info
}

func module(d *debug.Module) Module {
	m := Module{Path: d.Path, Version: d.Version, Sum: d.Sum}
	if d.Replace != nil {
		r := module(d.Replace)
		m.Replace = &r
	}
	return m
}

// FileDigest is "sha256:<hex>" of a file's bytes: the form `specie version`
// prints and the escrow bundle records.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("digest %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("digest %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
