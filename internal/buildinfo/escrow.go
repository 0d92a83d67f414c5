package buildinfo

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// An escrow bundle is what a central bank deposits so that it can rebuild
// the exact binary it runs, years later, with no network: the source at one
// commit, every module it needs (vendored, as go.sum pinned them), the one
// build command, and the digest that command must reproduce. Its layout:
//
//	DIR/src/          the source tree at the commit, with vendor/
//	DIR/build.sh      the build, offline (GOPROXY=off, -mod=vendor)
//	DIR/manifest.json commit, toolchain, settings, command, digest
//	DIR/SHA256SUMS    the expected digest, in sha256sum's format
//
// The digest is of a build from the bundle itself, so it is what any
// rebuild from the bundle yields (checked by `sh DIR/build.sh`, which
// compares and fails on a mismatch).

// MainPackage is the package the bundle builds.
const MainPackage = "./cmd/specie"

// BinaryName is the file build.sh writes, beside src/.
const BinaryName = "specie"

// Manifest records how a bundle's binary is built and what it must be.
type Manifest struct {
	Module    string `json:"module"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"` // `go env GOVERSION` that must build it
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CGO       string `json:"cgo_enabled"`
	// Command is the build run inside src/, with Env set.
	Command []string `json:"command"`
	Env     []string `json:"env"`
	Digest  string   `json:"digest"` // "sha256:<hex>" of the binary
}

// EscrowOptions says where the source comes from.
type EscrowOptions struct {
	Repo   string // a git checkout of Specie
	Commit string // the commit to bundle; "" for HEAD
	// Stderr receives the go tool's output (vendoring, building); nil
	// discards it.
	Stderr io.Writer
}

// WriteEscrow writes a bundle for one commit into dir, which must not
// exist or be empty, builds the binary from the bundle offline to learn
// its digest, and returns the manifest. The working tree's uncommitted
// changes are not in the bundle: it is exactly the commit.
func WriteEscrow(ctx context.Context, dir string, o EscrowOptions) (m Manifest, err error) {
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return m, fmt.Errorf("escrow: %s is not empty", dir)
	}
	commitish := o.Commit
	if commitish == "" {
		commitish = "HEAD"
	}
	commit, err := run(ctx, o.Repo, nil, nil, "git", "rev-parse", "--verify", commitish+"^{commit}")
	if err != nil {
		return m, fmt.Errorf("escrow: %s is not a commit of a git checkout at %s: %w", commitish, o.Repo, err)
	}
	m.Commit = strings.TrimSpace(commit)
	// A bundle is whole or absent: a failure part way leaves nothing a
	// central bank could mistake for a deposit.
	defer func() {
		if err != nil {
			for _, n := range []string{"src", "build.sh", "manifest.json", "SHA256SUMS", BinaryName} {
				os.RemoveAll(filepath.Join(dir, n))
			}
		}
	}()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return m, fmt.Errorf("escrow: %w", err)
	}
	archive, err := runBytes(ctx, o.Repo, nil, o.Stderr, "git", "archive", "--format=tar", m.Commit)
	if err != nil {
		return m, fmt.Errorf("escrow: git archive %s: %w", m.Commit, err)
	}
	if err := untar(bytes.NewReader(archive), src); err != nil {
		return m, fmt.Errorf("escrow: unpack %s: %w", m.Commit, err)
	}
	// Vendoring is the one step that may use the network (or the module
	// cache): everything after it is offline.
	if _, err := run(ctx, src, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, o.Stderr, "go", "mod", "vendor"); err != nil {
		return m, fmt.Errorf("escrow: go mod vendor: %w", err)
	}
	for key, dst := range map[string]*string{"GOVERSION": &m.GoVersion, "GOOS": &m.GOOS, "GOARCH": &m.GOARCH, "CGO_ENABLED": &m.CGO} {
		v, err := run(ctx, src, []string{"GOWORK=off"}, o.Stderr, "go", "env", key)
		if err != nil {
			return m, fmt.Errorf("escrow: go env %s: %w", key, err)
		}
		*dst = strings.TrimSpace(v)
	}
	mod, err := run(ctx, src, []string{"GOWORK=off", "GOFLAGS=-mod=vendor"}, o.Stderr, "go", "list", "-m")
	if err != nil {
		return m, fmt.Errorf("escrow: go list -m: %w", err)
	}
	m.Module = strings.TrimSpace(mod)
	m.Env = []string{"GOFLAGS=-mod=vendor", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOOS=" + m.GOOS, "GOARCH=" + m.GOARCH, "CGO_ENABLED=" + m.CGO}
	m.Command = []string{"go", "build", "-trimpath", "-buildvcs=false",
		// -s -w -buildid=: no DWARF and no build ID. cgo's C debug
		// information records the source directory (vendor/... here, the
		// module cache elsewhere) while Go's build cache does not key on
		// it, so with either a binary's bytes would depend on what the
		// cache held before (the build ID hashes the objects' contents).
		"-ldflags=-s -w -buildid= -X=" + m.Module + "/internal/buildinfo.Revision=" + m.Commit,
		"-o", "../" + BinaryName, MainPackage}
	if err := os.WriteFile(filepath.Join(dir, "build.sh"), []byte(buildScript(m)), 0o755); err != nil {
		return m, fmt.Errorf("escrow: %w", err)
	}
	digest, err := BuildBundle(ctx, dir, m, o.Stderr)
	if err != nil {
		return m, err
	}
	m.Digest = digest
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, fmt.Errorf("escrow: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(js, '\n'), 0o644); err != nil {
		return m, fmt.Errorf("escrow: %w", err)
	}
	sums := strings.TrimPrefix(digest, "sha256:") + "  " + BinaryName + "\n"
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		return m, fmt.Errorf("escrow: %w", err)
	}
	return m, nil
}

// ReadManifest reads a bundle's manifest.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return m, fmt.Errorf("escrow manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("escrow manifest %s: %w", dir, err)
	}
	return m, nil
}

// BuildBundle builds the binary of the bundle in dir exactly as build.sh
// does, offline, and returns its digest. It refuses a toolchain other than
// the manifest's: another Go version yields other bytes.
func BuildBundle(ctx context.Context, dir string, m Manifest, stderr io.Writer) (string, error) {
	if stderr == nil {
		stderr = io.Discard
	}
	src := filepath.Join(dir, "src")
	v, err := run(ctx, src, m.Env, stderr, "go", "env", "GOVERSION")
	if err != nil {
		return "", fmt.Errorf("escrow build: %w", err)
	}
	if got := strings.TrimSpace(v); got != m.GoVersion {
		return "", fmt.Errorf("escrow build: the bundle needs %s, this toolchain is %s", m.GoVersion, got)
	}
	if _, err := run(ctx, src, m.Env, stderr, m.Command[0], m.Command[1:]...); err != nil {
		return "", fmt.Errorf("escrow build: %w", err)
	}
	return FileDigest(filepath.Join(dir, BinaryName))
}

// buildScript is build.sh: the manifest's command, for people and for
// machines with nothing but the bundle and the Go toolchain named in it.
func buildScript(m Manifest) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# Rebuilds specie %s (commit %s) from this bundle alone, with no network,\n", m.Module, m.Commit)
	fmt.Fprintf(&b, "# and checks the binary against SHA256SUMS. Needs %s", m.GoVersion)
	if m.CGO == "1" {
		b.WriteString(" and a C compiler")
	}
	b.WriteString(".\nset -eu\ncd \"$(dirname \"$0\")/src\"\n")
	fmt.Fprintf(&b, "test \"$(go env GOVERSION)\" = %s || { echo \"needs %s, have $(go env GOVERSION)\" >&2; exit 1; }\n", m.GoVersion, m.GoVersion)
	b.WriteString("export")
	for _, e := range m.Env {
		b.WriteString(" " + e)
	}
	b.WriteString("\n")
	for i, a := range m.Command {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(shellQuote(a))
	}
	b.WriteString("\n")
	b.WriteString("cd ..\nsha256sum -c SHA256SUMS\n")
	return b.String()
}

// shellQuote quotes an argument for sh when it needs it.
func shellQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~") {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// untar unpacks a git archive into dir, refusing any entry that would land
// outside it.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			continue // pax_global_header and anything unsafe
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		}
	}
}

func run(ctx context.Context, dir string, env []string, stderr io.Writer, name string, args ...string) (string, error) {
	b, err := runBytes(ctx, dir, env, stderr, name, args...)
	return string(b), err
}

func runBytes(ctx context.Context, dir string, env []string, stderr io.Writer, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var errb bytes.Buffer
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, &errb)
	} else {
		cmd.Stderr = &errb
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(lastLines(errb.String(), 5)))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
