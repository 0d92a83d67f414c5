// Package crashtest kills a process at a random moment of its work, for
// tests of durability: a test binary re-runs one of its own tests as a child
// that reports each durable step on stdout, and the parent SIGKILLs it.
package crashtest

import (
	"bufio"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// RunAndKill runs the current test binary again, limited to test, with env
// added. Every line the child prints goes to report, which says whether it
// was a step the child claims is durable; after killAt such steps the child
// is killed with SIGKILL. It waits for the child to exit and returns how
// many steps were reported, failing t if killAt steps do not come within a
// minute.
func RunAndKill(t testing.TB, test string, env []string, killAt int, report func(line string) bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	got := 0
	deadline := time.After(time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				return got
			}
			if report(line) {
				if got++; got == killAt {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
		case <-deadline:
			cmd.Process.Signal(syscall.SIGKILL)
			for range lines {
			}
			cmd.Wait()
			t.Fatalf("child reported only %d of %d steps in a minute", got, killAt)
		}
	}
}
