package main

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/hsm"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// keysCmd is `specie issuer keys`: the issuer's authority keys on the
// devnet's HSM (list, generate) and officer key rotation, a quorum
// decision of the officers in force (rotate, approve).
func keysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Officer and redeem keys on the HSM: list, generate, rotate an officer key (a quorum decision), approve a rotation",
		Long: `The issuer's keys on the devnet's PKCS#11 token (a network made with
'specie up --hsm'): the private keys are generated inside the token and
never leave it; every signature is made by the token.

Rotating an officer key is proposing the next officer key set, with the
officer's key replaced by a new one generated on the token, and having the
quorum of the officers in force approve it, as for a policy version.`,
		Example: `  specie issuer keys list
  specie issuer keys generate officer-1b
  specie issuer keys rotate --officer 1 --to officer-1b
  specie issuer keys approve KEYSET-ID --officer 2
  specie issuer keys approve KEYSET-ID --officer 3`,
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys on the devnet's HSM token, with their role and protection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			defer g.closeHSM()
			cfg, tok, err := g.hsmToken()
			if err != nil {
				return err
			}
			keys, err := tok.Keys()
			if err != nil {
				return err
			}
			// The officer keys in force, from the issuer when it answers,
			// else as the devnet was created.
			inForce := policy.KeySet{Version: 1, Keys: cfg.MintKeys, Quorum: cfg.MintQuorum}
			if ks, err := client.New(g.api, "").Keys().KeySet(cmd.Context()); err == nil {
				inForce = ks.KeySet
			}
			var out []keyRow
			var b strings.Builder
			row := func(k hsm.KeyInfo, role, token string) {
				out = append(out, keyRow{KeyInfo: k, Role: role, Token: token})
				prot := "sensitive, never extractable"
				if !k.Sensitive || k.Extractable || !k.NeverExtractable {
					prot = fmt.Sprintf("sensitive=%v extractable=%v never_extractable=%v", k.Sensitive, k.Extractable, k.NeverExtractable)
				}
				fmt.Fprintf(&b, "  %-16s %s  %-22s %s\n", k.Label, k.Public, role, prot)
			}
			fmt.Fprintf(&b, "token %q (%s); officer key set version %d, quorum %d of %d\n", tok.Label(), cfg.HSM.Module, inForce.Version, inForce.Quorum, len(inForce.Keys))
			for _, k := range keys {
				row(k, keyRole(cfg, inForce, k), tok.Label())
			}
			// Each intermediary's token, with its treasury key.
			for _, name := range slices.Sorted(maps.Keys(cfg.HSM.TreasuryTokens)) {
				tt, err := cfg.TreasuryToken(name)
				if err != nil {
					return err
				}
				tkeys, err := tt.Keys()
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "token %q: intermediary %s\n", tt.Label(), name)
				for _, k := range tkeys {
					role := "spare"
					if k.Label == cfg.HSM.Treasuries[name] {
						role = "treasury of " + name
					}
					row(k, role, tt.Label())
				}
			}
			return g.print(out, strings.TrimSuffix(b.String(), "\n"))
		},
	}

	generate := &cobra.Command{
		Use:   "generate LABEL",
		Short: "Generate a new Ed25519 key pair on the devnet's HSM token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer g.closeHSM()
			_, tok, err := g.hsmToken()
			if err != nil {
				return err
			}
			k, err := tok.Generate(args[0])
			if err != nil {
				if errors.Is(err, hsm.ErrKeyExists) {
					return errcode.New(errcode.Conflict, "%v", err)
				}
				return err
			}
			return g.print(hsm.KeyInfo{Label: k.Label(), Public: k.Public(), Sensitive: true, NeverExtractable: true},
				fmt.Sprintf("generated %s on token %q: public key %s (the private key stays in the token)", k.Label(), tok.Label(), k.Public()))
		},
	}

	var officer int
	var to string
	rotate := &cobra.Command{
		Use:   "rotate --officer N --to LABEL",
		Short: "Propose the next officer key set, with officer N's key replaced by the token's key LABEL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			defer g.closeHSM()
			ctx := cmd.Context()
			cfg, tok, err := g.hsmToken()
			if err != nil {
				return err
			}
			if officer < 1 || officer > cfg.Officers() {
				return errcode.New(errcode.Malformed, "--officer %d: the devnet has %d officers", officer, cfg.Officers())
			}
			old, err := cfg.OfficerSigner(officer)
			if err != nil {
				return err
			}
			nk, err := tok.Key(to)
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			cur, err := c.Keys().KeySet(ctx)
			if err != nil {
				return err
			}
			next := cur.KeySet
			next.Version++
			next.Keys = slices.Clone(cur.KeySet.Keys)
			i := slices.Index(next.Keys, old.Public())
			if i < 0 {
				return errcode.New(errcode.Conflict, "officer %d's key %s is not in the key set in force (version %d)", officer, old.Public(), cur.KeySet.Version)
			}
			next.Keys[i] = nk.Public()
			p, err := c.Keys().ProposeKeySet(ctx, next)
			if err != nil {
				return err
			}
			return g.print(wire.FromKeySetProposal(p), fmt.Sprintf("key set version %d proposed (%s): officer %d's key %s replaced by %s (%s); needs %d approvals of the officers in force\napprove with: specie issuer keys approve %s --officer N",
				next.Version, p.ID, officer, old.Public(), nk.Public(), to, p.Quorum, p.ID))
		},
	}
	rotate.Flags().IntVar(&officer, "officer", 0, "devnet officer whose key is replaced")
	rotate.Flags().StringVar(&to, "to", "", "label of the new key on the token ('specie issuer keys generate LABEL')")
	rotate.MarkFlagRequired("officer")
	rotate.MarkFlagRequired("to")

	var keyFile string
	var approver int
	approve := &cobra.Command{
		Use:   "approve KEYSET-ID (--key FILE | --officer N)",
		Short: "Sign a proposed officer key set with an officer key in force; it is in force at the quorum",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer g.closeHSM()
			ctx := cmd.Context()
			id, err := hashArg("key set ID", args[0])
			if err != nil {
				return err
			}
			key, err := g.officerKey(keyFile, approver)
			if err != nil {
				return err
			}
			c, err := g.client("issuer")
			if err != nil {
				return err
			}
			// Sign what the proposal says, checked here: its ID must be
			// the hash of the key set it shows.
			p, err := c.Keys().GetKeySetProposal(ctx, id)
			if err != nil {
				return err
			}
			if p.KeySet.Hash() != id {
				return errcode.New(errcode.BadSignature, "proposal %s shows a key set whose hash is %x: refusing to sign", id, p.KeySet.Hash())
			}
			a, err := policy.SignKeySet(&p.KeySet, key)
			if err != nil {
				return err
			}
			if p, err = c.Keys().ApproveKeySet(ctx, id, a.Key, a.Sig); err != nil {
				return err
			}
			text := fmt.Sprintf("key set %s (version %d): %d of %d approvals, %s", p.ID, p.KeySet.Version, len(p.Approvals), p.Quorum, p.Status)
			if p.Status == roles.PolicyInForce && keyFile == "" {
				if err := g.followRotation(p.KeySet); err != nil {
					return err
				}
				text += "; the devnet's --officer N now signs with the new set's keys"
			}
			return g.print(wire.FromKeySetProposal(p), text)
		},
	}
	approve.Flags().StringVar(&keyFile, "key", "", "officer key file")
	approve.Flags().IntVar(&approver, "officer", 0, "use devnet officer N's key (on the HSM, or its key file)")

	cmd.AddCommand(list, generate, rotate, approve)
	return cmd
}

// keyRow is one line of `specie issuer keys list --json`.
type keyRow struct {
	hsm.KeyInfo
	Role  string `json:"role"`
	Token string `json:"token"` // the token's label
}

// keyRole says what a token key is to the network.
func keyRole(cfg *devnet.Config, inForce policy.KeySet, k hsm.KeyInfo) string {
	if i := slices.Index(inForce.Keys, k.Public); i >= 0 {
		return fmt.Sprintf("officer %d (in force)", i+1)
	}
	if slices.Contains(cfg.RedeemKeys, k.Public) {
		return "redeem key"
	}
	if slices.Contains(cfg.MintKeys, k.Public) {
		return "officer (rotated out)"
	}
	return "spare"
}

// hsmToken opens the devnet's token.
func (g *globals) hsmToken() (*devnet.Config, *hsm.Token, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, nil, err
	}
	tok, err := cfg.HSMToken()
	if err != nil {
		return nil, nil, err
	}
	return cfg, tok, nil
}

// followRotation points the devnet's officers at the keys of the set now
// in force: officer N is the token key at position N of the set.
func (g *globals) followRotation(ks policy.KeySet) error {
	cfg, err := g.config()
	if err != nil || cfg.HSM == nil {
		return err // file keys: officers give --key FILE
	}
	tok, err := cfg.HSMToken()
	if err != nil {
		return err
	}
	keys, err := tok.Keys()
	if err != nil {
		return err
	}
	labels := make([]string, len(ks.Keys))
	for i, pub := range ks.Keys {
		j := slices.IndexFunc(keys, func(k hsm.KeyInfo) bool { return k.Public == pub })
		if j < 0 {
			return fmt.Errorf("officer key %d of the new set (%s) is not on token %q", i+1, pub, tok.Label())
		}
		labels[i] = keys[j].Label
	}
	return devnet.SetOfficerLabels(filepath.Join(g.data, devnet.ConfigFile), labels)
}

// closeHSM closes the devnet's token if this command opened it, so that a
// command run in process (tests) leaves no session or login behind.
func (g *globals) closeHSM() {
	if g.cfg != nil {
		g.cfg.CloseHSM()
	}
}
