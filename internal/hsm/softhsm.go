package hsm

import (
	"fmt"
	"os"
	"path/filepath"
)

// SoftHSMConfFile is the name WriteSoftHSMConf gives its file.
const SoftHSMConfFile = "softhsm2.conf"

// WriteSoftHSMConf makes dir a SoftHSM2 home of its own: a tokens
// directory and a softhsm2.conf pointing at it, whose path it returns (for
// Config.SoftHSMConf). A devnet keeps its token under its data directory
// this way, and each test gets a token store nothing else touches.
func WriteSoftHSMConf(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("hsm: softhsm2 home %s: %w", dir, err)
	}
	tokens := filepath.Join(abs, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", fmt.Errorf("hsm: softhsm2 home: %w", err)
	}
	path := filepath.Join(abs, SoftHSMConfFile)
	conf := "# Written by specie: a SoftHSM2 token store of its own.\n" +
		"directories.tokendir = " + tokens + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", fmt.Errorf("hsm: softhsm2 home: %w", err)
	}
	return path, nil
}
