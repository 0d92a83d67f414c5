package devnet

import (
	"crypto/sha256"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/roles"
)

// ISO20022 is the devnet's identity in ISO 20022 messages: the BICs by
// which the settlement system and banks know the central bank and each
// intermediary, and each intermediary's settlement account at the RTGS.
type ISO20022 struct {
	BIC                string            `json:"bic"`  // the central bank's
	BICs               map[string]string `json:"bics"` // by intermediary name
	SettlementAccounts map[string]string `json:"settlement_accounts,omitempty"`
}

// CentralBankBIC is the devnet central bank's BIC.
const CentralBankBIC = "SPCBUS33"

// BICOf is the BIC the devnet gives intermediary name: "bank-a" is
// BNKAUS33, "bank-b" BNKBUS33; any other name gets four letters derived
// from it.
func BICOf(name string) string {
	if rest, ok := strings.CutPrefix(name, "bank-"); ok && len(rest) == 1 && rest[0] >= 'a' && rest[0] <= 'z' {
		return "BNK" + strings.ToUpper(rest) + "US33"
	}
	h := sha256.Sum256([]byte(name))
	code := make([]byte, 4)
	for i := range code {
		code[i] = 'A' + h[i]%26
	}
	return string(code) + "US33"
}

// ISO returns the config's ISO 20022 identities, derived with BICOf for a
// config written before they existed (or for an intermediary it omits).
func (c *Config) ISO() ISO20022 {
	out := ISO20022{BIC: CentralBankBIC, BICs: map[string]string{}, SettlementAccounts: map[string]string{}}
	if c.ISO20022 != nil {
		if c.ISO20022.BIC != "" {
			out.BIC = c.ISO20022.BIC
		}
		for k, v := range c.ISO20022.BICs {
			out.BICs[k] = v
		}
		for k, v := range c.ISO20022.SettlementAccounts {
			out.SettlementAccounts[k] = v
		}
	}
	for _, e := range c.Intermediaries {
		if out.BICs[e.Name] == "" {
			out.BICs[e.Name] = BICOf(e.Name)
		}
	}
	return out
}

// openGateway opens the ISO 20022 gateway of `specie up` under dir,
// serving the issuer and every intermediary of this process.
func (n *Node) openGateway(dir string, banks map[string]roles.Intermediary, log *slog.Logger) error {
	return n.openGatewayAt(filepath.Join(dir, "iso20022"), banks, log)
}

// openGatewayAt opens the gateway with its store in gwDir.
func (n *Node) openGatewayAt(gwDir string, banks map[string]roles.Intermediary, log *slog.Logger) error {
	iso := n.Config.ISO()
	gcfg := iso20022.Config{
		Currency:           n.Config.Network.Currency,
		BIC:                iso.BIC,
		BICs:               iso.BICs,
		SettlementAccounts: iso.SettlementAccounts,
		Intermediaries:     banks,
		Logger:             log,
	}
	if n.Issuer != nil {
		gcfg.Issuer = n.Issuer
	}
	g, err := iso20022.Open(gwDir, gcfg)
	if err != nil {
		return err
	}
	n.Gateway = g
	return nil
}
