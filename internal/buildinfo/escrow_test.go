package buildinfo_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/internal/buildinfo"
)

// repoRoot is the git checkout these tests run in, or a skip: a source
// tarball has no commit to bundle.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): an escrow bundle is of a commit", err)
	}
	return strings.TrimSpace(string(out))
}

// TestEscrowRebuildsOfflineElsewhere is the promise of the bundle: copied to
// another directory, with an empty module cache and the proxy off, its
// build.sh reproduces the recorded digest byte for byte, and the binary
// says which commit it is. A changed byte of vendored source is caught.
func TestEscrowRebuildsOfflineElsewhere(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds the whole binary three times; runs in the plain `go test ./...`")
	}
	root := repoRoot(t)
	ctx := context.Background()
	a := filepath.Join(t.TempDir(), "bundle")
	m, err := buildinfo.WriteEscrow(ctx, a, buildinfo.EscrowOptions{Repo: root})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if m.Commit != strings.TrimSpace(string(head)) || !strings.HasPrefix(m.Digest, "sha256:") {
		t.Fatalf("manifest %+v: want commit %s and a sha256 digest", m, head)
	}
	if _, err := os.Stat(filepath.Join(a, "src", "vendor", "modules.txt")); err != nil {
		t.Fatalf("bundle has no vendored modules: %v", err)
	}
	if got, err := buildinfo.ReadManifest(a); err != nil || got.Digest != m.Digest {
		t.Fatalf("manifest on disk %+v, %v: want digest %s", got, err, m.Digest)
	}

	// Elsewhere, offline, from the bundle alone.
	b := filepath.Join(t.TempDir(), "elsewhere")
	copyTree(t, a, b, buildinfo.BinaryName)
	if out, err := offline(t, b).CombinedOutput(); err != nil {
		t.Fatalf("build.sh in a copy of the bundle: %v\n%s", err, out)
	}
	got, err := buildinfo.FileDigest(filepath.Join(b, buildinfo.BinaryName))
	if err != nil || got != m.Digest {
		t.Fatalf("rebuilt elsewhere: %s, %v; the bundle says %s", got, err, m.Digest)
	}
	out, err := exec.Command(filepath.Join(b, buildinfo.BinaryName), "version", "--json").Output()
	if err != nil {
		t.Fatalf("specie version: %v", err)
	}
	var info buildinfo.Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("specie version --json: %v\n%s", err, out)
	}
	if info.Revision != m.Commit || info.Digest != m.Digest || info.GoVersion != m.GoVersion || len(info.Modules) == 0 {
		t.Fatalf("the rebuilt binary says revision %q digest %q go %q with %d modules; want %s %s %s",
			info.Revision, info.Digest, info.GoVersion, len(info.Modules), m.Commit, m.Digest, m.GoVersion)
	}

	// One byte of a vendored module changed: the check must fail.
	c := filepath.Join(t.TempDir(), "tampered")
	copyTree(t, a, c, buildinfo.BinaryName)
	victim := filepath.Join(c, "src", "vendor", "github.com", "spf13", "cobra", "cobra.go")
	src, err := os.ReadFile(victim)
	if err != nil {
		t.Fatalf("read a vendored file to tamper with: %v", err)
	}
	if err := os.WriteFile(victim, append(src, []byte("\nfunc init() { println(\"tampered\") }\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := offline(t, c).CombinedOutput(); err == nil || !strings.Contains(string(out), "FAILED") {
		t.Fatalf("a bundle with a changed vendored file rebuilt and passed its check: %v\n%s", err, out)
	}
}

func TestEscrowRefuses(t *testing.T) {
	root := repoRoot(t)
	ctx := context.Background()
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildinfo.WriteEscrow(ctx, full, buildinfo.EscrowOptions{Repo: root}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("escrow into a non-empty directory: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "b")
	if _, err := buildinfo.WriteEscrow(ctx, empty, buildinfo.EscrowOptions{Repo: root, Commit: "no-such-commit"}); err == nil || !strings.Contains(err.Error(), "not a commit") {
		t.Fatalf("escrow of a commit that does not exist: %v", err)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Fatalf("a refused escrow left %s behind", empty)
	}
	if _, err := buildinfo.WriteEscrow(ctx, empty, buildinfo.EscrowOptions{Repo: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a commit") {
		t.Fatalf("escrow outside a git checkout: %v", err)
	}
}

// offline runs a bundle's build.sh with the proxy off and an empty module
// cache, so only the bundle can supply source.
func offline(t *testing.T, dir string) *exec.Cmd {
	cmd := exec.Command("sh", filepath.Join(dir, "build.sh"))
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOMODCACHE="+t.TempDir(), "GONOSUMDB=*", "GOFLAGS=")
	return cmd
}

func copyTree(t *testing.T, from, to, skip string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if rel == skip {
			return nil
		}
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, dst)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}
