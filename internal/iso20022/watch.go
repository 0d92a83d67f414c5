package iso20022

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
)

// Watcher is directory mode: every *.xml file put in In is sent once to
// the gateway and its answer written to Out as <answer MsgId>.xml. A file
// is moved to In/done/ only after its answer is durably in Out, so a
// restart mid-directory sends the unfinished files again; the gateway
// answers a message it has seen with its first answer (exactly once by
// MsgId), so the answer file comes out the same and nothing is applied
// twice. A file the gateway cannot take (a credential refused) moves to
// In/failed/ with a .err note; one whose outcome is not known yet
// (unavailable) stays for the next pass.
type Watcher struct {
	In, Out string
	// Send hands one document to the gateway: Gateway.Process in
	// process, or client.ISO20022.Send over HTTP.
	Send func(ctx context.Context, doc []byte) ([]byte, error)
	Log  *slog.Logger // nil: slog.Default()
	// Workers is how many files are in flight at once; 0 or 1 sends them
	// one at a time in name order (a recall after the deposit it recalls,
	// say). Each file is still answered exactly once either way: files
	// are independent messages, each keyed by its own MsgId.
	Workers int
}

// Subdirectories of In.
const (
	DoneDir   = "done"
	FailedDir = "failed"
)

// Pass processes every file waiting in In, oldest name first, and reports
// how many it answered.
func (w *Watcher) Pass(ctx context.Context) (int, error) {
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	for _, d := range []string{w.Out, filepath.Join(w.In, DoneDir), filepath.Join(w.In, FailedDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, fmt.Errorf("watch: %w", err)
		}
	}
	ents, err := os.ReadDir(w.In)
	if err != nil {
		return 0, fmt.Errorf("watch: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		// Senders write a temporary name (or a dotfile) and rename it to
		// *.xml when complete; only complete files are taken.
		if e.Type().IsRegular() && strings.HasSuffix(n, ".xml") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	workers := max(w.Workers, 1)
	var (
		mu    sync.Mutex
		done  int
		first error
		wg    sync.WaitGroup
	)
	next := make(chan string)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if stop {
					continue // an earlier file stopped the pass; this one waits
				}
				ok, err := w.one(ctx, log, n)
				mu.Lock()
				if ok {
					done++
				}
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, n := range names {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		next <- n
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return done, first
}

// one sends file n and records its answer: answered reports whether it
// was answered (and moved to done/); an error stops the pass.
func (w *Watcher) one(ctx context.Context, log *slog.Logger, n string) (answered bool, err error) {
	path := filepath.Join(w.In, n)
	doc, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("watch: %w", err)
	}
	ans, err := w.Send(ctx, doc)
	if errcode.Is(err, errcode.Unavailable) {
		log.Warn("gateway unavailable; the file waits for the next pass", "file", n, "err", err)
		return false, err
	}
	if err != nil {
		log.Error("message refused by the gateway", "file", n, "err", err)
		note := filepath.Join(w.In, FailedDir, n+".err")
		if werr := writeDurable(note, []byte(err.Error()+"\n")); werr != nil {
			return false, werr
		}
		return false, moveDurable(path, filepath.Join(w.In, FailedDir, n))
	}
	id := MsgIDOf(ans)
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return false, fmt.Errorf("watch: answer to %s has no usable MsgId", n)
	}
	if err := writeDurable(filepath.Join(w.Out, id+".xml"), ans); err != nil {
		return false, err
	}
	if err := moveDurable(path, filepath.Join(w.In, DoneDir, n)); err != nil {
		return false, err
	}
	log.Info("message answered", "file", n, "answer", id)
	return true, nil
}

// Run makes a pass every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := w.Pass(ctx); err != nil && !errcode.Is(err, errcode.Unavailable) {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// writeDurable writes b to path through a synced temporary file renamed
// into place, and syncs the directory.
func writeDurable(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("watch: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("watch: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return store.SyncDir(filepath.Dir(path))
}

// moveDurable renames from to to and syncs both directories.
func moveDurable(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if err := store.SyncDir(filepath.Dir(to)); err != nil {
		return err
	}
	return store.SyncDir(filepath.Dir(from))
}
