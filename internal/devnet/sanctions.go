package devnet

import (
	"os"
	"path/filepath"
)

// SanctionsFileName is the sanctions list a devnet intermediary screens
// payments against, in its data directory ("specie-data/bank-a/
// sanctions.txt"): one wallet ID or owner a line, # comments. It is read
// at start when present and again whenever it changes (or on SIGHUP to
// 'specie serve'); without it the list is empty.
const SanctionsFileName = "sanctions.txt"

// sanctionsFile is the intermediary's sanctions list in dataDir, or ""
// when there is none.
func sanctionsFile(dataDir string) string {
	p := filepath.Join(dataDir, SanctionsFileName)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
