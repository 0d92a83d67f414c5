package devnet

import (
	"path/filepath"

	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// withAliases lets an intermediary offer aliases through the central
// bank's directory d, with its one-time codes "sent" to otp.log in its
// data directory dataDir (a devnet has no SMS or mail gateway). Aliases
// are hashed under a key derived from the intermediaries' pseudonym salt,
// so without one (an old devnet config) there are no aliases.
func withAliases(ic *intermediary.Config, d roles.AliasDirectory, dataDir string) {
	if len(ic.PseudonymSalt) < intermediary.MinPseudonymSalt {
		return
	}
	ic.Aliases = d
	ic.OTPFile = filepath.Join(dataDir, OTPFileName)
}

// OTPFileName is the file in an intermediary's data directory where the
// devnet writes one-time codes, one line each: time, alias, wallet, code.
const OTPFileName = "otp.log"
