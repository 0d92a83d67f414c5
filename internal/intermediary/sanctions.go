package intermediary

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The sanctions list: wallets and owners no payment may go to or come
// from (or, with the policy's Listed action "alert", that compliance staff
// must look at). The intermediary loads it from Config.SanctionsFile, a
// text file with one entry per line:
//
//	# comment lines start with '#'; blank lines are ignored
//	bank-b.q3x7k2m9pa      <- a wallet ID, here or at any intermediary
//	Mallory Example        <- an owner, as the wallet was opened for
//
// An entry matches a wallet whose ID or owner equals it, after trimming
// spaces. The file is read again when its modification time or size
// changes (the background loop looks) or on ReloadSanctions (the serve
// command calls it on SIGHUP). A file that does not parse leaves the list
// in force unchanged: a typo in the list must not open the door to every
// sanctioned party.

// MaxSanctionsFile bounds the sanctions file; a larger one is refused.
const MaxSanctionsFile = 64 << 20

// sanctions is one loaded list; it is never changed, only replaced.
type sanctions struct {
	entries map[string]struct{}
	mtime   time.Time
	size    int64
}

func (s *sanctions) has(name string) bool {
	if s == nil || name == "" {
		return false
	}
	_, ok := s.entries[name]
	return ok
}

// parseSanctions reads the list's format above. It rejects, naming the
// line, what cannot be a wallet ID or owner: invalid UTF-8, control
// characters, or an entry longer than MaxOwnerLen.
func parseSanctions(b []byte) (map[string]struct{}, error) {
	if len(b) > MaxSanctionsFile {
		return nil, fmt.Errorf("sanctions list of %d bytes; at most %d", len(b), MaxSanctionsFile)
	}
	out := map[string]struct{}{}
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !utf8.Valid(line) {
			return nil, fmt.Errorf("line %d: not UTF-8", n)
		}
		e := strings.TrimSpace(string(line))
		if e == "" || e[0] == '#' {
			continue
		}
		if len(e) > MaxOwnerLen {
			return nil, fmt.Errorf("line %d: entry of %d bytes; at most %d", n, len(e), MaxOwnerLen)
		}
		if i := strings.IndexFunc(e, unicode.IsControl); i >= 0 {
			return nil, fmt.Errorf("line %d: control character %q", n, e[i:i+1])
		}
		out[e] = struct{}{}
	}
	return out, nil
}

// ReloadSanctions reads Config.SanctionsFile again now and puts it in
// force. On error the list in force stays and the error says why.
func (in *Intermediary) ReloadSanctions() error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	return in.loadSanctions(true)
}

// loadSanctions reads the sanctions file if it changed since it was last
// loaded (or always, with force) and puts it in force. A failure keeps
// the list in force, logs why and returns it. Loads run one at a time.
func (in *Intermediary) loadSanctions(force bool) error {
	path := in.cfg.SanctionsFile
	if path == "" {
		return nil
	}
	in.scr.sanctionsMu.Lock()
	defer in.scr.sanctionsMu.Unlock()
	cur := in.scr.sanctions.Load()
	fail := func(err error) error {
		err = fmt.Errorf("sanctions file %s: %w", path, err)
		n := 0
		if cur != nil {
			n = len(cur.entries)
		}
		in.log.Error("sanctions list not reloaded; the list in force stays", "err", err, "entries_in_force", n)
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	if !force && cur != nil && fi.ModTime().Equal(cur.mtime) && fi.Size() == cur.size {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	entries, err := parseSanctions(b)
	if err != nil {
		if cur != nil {
			// Remember the bad version, so the loop reports it once, not
			// every tick; a fix changes the time or size again.
			in.scr.sanctions.Store(&sanctions{entries: cur.entries, mtime: fi.ModTime(), size: fi.Size()})
		}
		return fail(err)
	}
	in.scr.sanctions.Store(&sanctions{entries: entries, mtime: fi.ModTime(), size: fi.Size()})
	in.log.Info("sanctions list loaded", "file", path, "entries", len(entries))
	return nil
}
