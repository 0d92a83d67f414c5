package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/roles"
)

// auditCmd is `specie audit`: the independent auditor. It reads the API
// only (GET routes, no credential), trusts nothing but the issuer's keys,
// and writes report.json, report.html and checkpoint.json. It exits
// non-zero when it found anything, so a cron job or CI notices.
func auditCmd(g *globals) *cobra.Command {
	var (
		stateDir, outDir, cpFile string
		logKey, witnessKey       string
		mintKeys, redeemKeys     []string
		quorum                   int
	)
	cmd := &cobra.Command{
		Use:   "audit --api URL [--from-checkpoint FILE] [--state DIR]",
		Short: "Independently re-verify the whole log: chain, Merkle roots, signatures, quorums, spends and supply",
		Long: `audit fetches every batch in full (GET /v1/log/batches/{seq}) and re-verifies it
trusting only the issuer's keys: each header's hash chain and Merkle root, every
transaction's signatures and sums, every mint's officer quorum and every redeem's
issuer acknowledgement, that every input was created before and is spent once (in
its own unspent set), and that the supply replayed from the transactions equals
every header's totals and the published supply (GET /v1/supply).

With --state DIR it keeps its state there, so the next run replays only new batches
and checks that the batches it verified before still hash the same. The issuer's
keys come from --mint-keys, --mint-quorum and --redeem-keys (and the log's
checkpoint key from --log-key); without them, the keys
pinned in the state are used, and a first run pins what GET /v1/info publishes
(trust on first use: compare them with the central bank's own publication).

When the ledger signs checkpoints (GET /v1/log/checkpoint), each run checks the
signature, that the signed RFC 9162 tree is the one over the served headers, and that
it extends the checkpoint of the last run and the one given with --from-checkpoint
(a consistency proof, GET /v1/log/consistency): a rewritten history or a split view
fails it.

On a sharded network (GET /v1/info lists its groups) it audits every group's log
and the coordinator's decision log where /v1/info says they are served, each as
above and with the cross-group rules (each step of a cross-group transaction
replayed as the step it is logged as, every commit or abort in a group decided in
the coordinator's log, the network's supply the groups' less the value moved
between them), with --state keeping one state per log; one report, its findings
located by log ("group 1", "coordinator"), batch and transaction. Each log's
signed checkpoint is checked as above under its own log key and written to
signed-checkpoint-group-N.txt / -coordinator.txt; as a witness it writes
cosigned-checkpoint-group-N.txt / -coordinator.txt.

With --witness-key FILE it runs as a witness: after a run that found nothing it
cosigns the log's checkpoint (cosigned-checkpoint.txt), which readers can require
(specie log verify --checkpoint ... --witness-keys ... --witnesses N).

It writes report.json, report.html, checkpoint.json and signed-checkpoint.txt to
--out (default: the state directory, else the current one) and exits non-zero when
it found anything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o := audit.Options{API: g.api, StateDir: stateDir, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
			c, err := g.anon()
			if err != nil {
				return err
			}
			o.Ledger = c.Ledger()
			o.Batches = c.Ledger().(roles.BatchSource)
			o.Checkpoints = c.Ledger().(roles.CheckpointSource)
			if len(mintKeys) > 0 || len(redeemKeys) > 0 || quorum > 0 {
				info, err := o.Ledger.Info(ctx)
				if err != nil {
					return err
				}
				tr := audit.Trust{Network: info.Network, MintQuorum: quorum}
				if tr.MintKeys, err = parseKeys("--mint-keys", mintKeys); err != nil {
					return err
				}
				if tr.RedeemKeys, err = parseKeys("--redeem-keys", redeemKeys); err != nil {
					return err
				}
				if err := tr.Validate(); err != nil {
					return errcode.New(errcode.Malformed, "--mint-keys, --mint-quorum, --redeem-keys: %v", err)
				}
				tr.LogKey = logKey
				o.Trust = &tr
			} else if logKey != "" {
				return errcode.New(errcode.Malformed, "--log-key goes with --mint-keys, --mint-quorum and --redeem-keys")
			}
			if cpFile != "" {
				b, err := os.ReadFile(cpFile)
				if err != nil {
					return fmt.Errorf("--from-checkpoint: %w", err)
				}
				// Either this auditor's checkpoint.json, or the log's own
				// signed checkpoint (a signed note, as a witness keeps it).
				t := bytes.TrimSpace(b)
				if len(t) == 0 {
					return errcode.New(errcode.Malformed, "--from-checkpoint %s: empty", cpFile)
				}
				if t[0] == '{' {
					if o.Checkpoint, err = audit.DecodeCheckpoint(b); err != nil {
						return errcode.New(errcode.Malformed, "--from-checkpoint %s: %v", cpFile, err)
					}
				} else {
					o.SignedCheckpoint = b
				}
			}
			if witnessKey != "" {
				if stateDir == "" {
					// A witness without a memory would cosign whatever
					// history it is shown.
					return errcode.New(errcode.Malformed, "--witness-key needs --state: a witness cosigns only what extends the checkpoint it saw last")
				}
				w, err := crypto.LoadOrCreateKey(witnessKey)
				if err != nil {
					return fmt.Errorf("--witness-key: %w", err)
				}
				if o.Witness, err = logtree.NewSigner("witness-"+strings.TrimSuffix(filepath.Base(witnessKey), filepath.Ext(witnessKey)), w); err != nil {
					return fmt.Errorf("--witness-key: %w", err)
				}
			}
			if stateDir != "" {
				if err := os.MkdirAll(stateDir, 0o700); err != nil {
					return fmt.Errorf("--state: %w", err)
				}
			}
			var rep *audit.Report
			if info, err := o.Ledger.Info(ctx); err == nil && len(info.Groups) > 0 {
				// A sharded network: every group's log and the
				// coordinator's, where /v1/info says they are served.
				if o.Checkpoint != nil || o.SignedCheckpoint != nil {
					return errcode.New(errcode.Malformed, "--from-checkpoint: not supported on a sharded network yet (each of its logs has its own checkpoint; see docs/scale-out.md)")
				}
				if logKey != "" {
					return errcode.New(errcode.Malformed, "--log-key: a sharded network's logs each sign with a key of their own, pinned from each log's GET /v1/info")
				}
				rep, err = audit.RunSharded(ctx, audit.ShardedOptions{Ledger: o.Ledger, Open: g.ledgerAt, API: g.api, StateDir: stateDir, Trust: o.Trust, Witness: o.Witness, Logger: o.Logger})
				if err != nil {
					return err
				}
			} else if rep, err = audit.Run(ctx, o); err != nil {
				return err
			}
			if outDir == "" {
				outDir = stateDir
			}
			if outDir == "" {
				outDir = "."
			}
			if err := writeReports(outDir, rep); err != nil {
				return err
			}
			verified := fmt.Sprintf("batches 1 to %d verified (%d replayed now from batch %d", rep.ToBatch, rep.Batches, rep.FromBatch)
			if len(rep.Logs) > 0 {
				var logs []string
				for _, l := range rep.Logs {
					logs = append(logs, fmt.Sprintf("%s batches 1 to %d", l.Log, l.ToBatch))
				}
				verified = fmt.Sprintf("%s verified (%d batches replayed now", strings.Join(logs, ", "), rep.Batches)
			}
			text := fmt.Sprintf("audited %s: %s: %d transactions, %d signatures, %.0f batches/s, %.0f tx/s)\nsupply: minted %s, redeemed %s, outstanding %s in %d unspent notes\nreports: %s, %s",
				rep.Network.ID, verified, rep.Transactions, rep.Signatures, rep.BatchesPerSec, rep.TxPerSec,
				rep.Format(rep.Minted), rep.Format(rep.Redeemed), rep.Format(rep.Outstanding), rep.UnspentNotes,
				filepath.Join(outDir, "report.json"), filepath.Join(outDir, "report.html"))
			for _, f := range rep.Findings {
				text += fmt.Sprintf("\nFINDING %s [%s]: %s", f.Location(), f.Check, f.Message)
			}
			if err := g.print(rep, text); err != nil {
				return err
			}
			if !rep.Clean {
				return fmt.Errorf("the audit found %d problem(s); see %s", len(rep.Findings), filepath.Join(outDir, "report.html"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state", "", "directory keeping the auditor's own state between runs (default: none, replay from genesis)")
	f.StringVar(&outDir, "out", "", "directory for report.json, report.html and checkpoint.json (default: --state, else .)")
	f.StringVar(&cpFile, "from-checkpoint", "", "checkpoint.json of an earlier audit, or a signed checkpoint (signed-checkpoint.txt, GET /v1/log/checkpoint): the log must pass through it")
	f.StringSliceVar(&mintKeys, "mint-keys", nil, "the issuer's officer keys (hex, comma-separated); default: pinned in --state")
	f.IntVar(&quorum, "mint-quorum", 0, "officer approvals a mint needs")
	f.StringSliceVar(&redeemKeys, "redeem-keys", nil, "the issuer's redeem keys (hex, comma-separated)")
	f.StringVar(&witnessKey, "witness-key", "", "run as a witness: cosign the log's checkpoint with this key file (created if missing) after a run that found nothing")
	f.StringVar(&logKey, "log-key", "", "the key that verifies the log's signed checkpoints (signed note format name+hash+key); default: pinned in --state")
	return cmd
}

func parseKeys(flag string, ss []string) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for _, s := range ss {
		k, err := crypto.ParsePublicKey(strings.TrimSpace(s))
		if err != nil {
			return nil, errcode.New(errcode.Malformed, "%s: %v", flag, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// writeReports writes the three files of a run, each whole or not at all
// (written aside and renamed), so a reader never sees half a report.
func writeReports(dir string, rep *audit.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	put := func(name string, write func(f *os.File) error) error {
		tmp, err := os.CreateTemp(dir, name+".*")
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		defer os.Remove(tmp.Name())
		if err := write(tmp); err != nil {
			tmp.Close()
			return fmt.Errorf("reports: %s: %w", name, err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("reports: %s: %w", name, err)
		}
		return os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	jsonOf := func(v any) func(f *os.File) error {
		return func(f *os.File) error {
			return jsonEncoder(f).Encode(v)
		}
	}
	if err := put("report.json", jsonOf(rep)); err != nil {
		return err
	}
	if err := put("report.html", func(f *os.File) error { return rep.WriteHTML(f) }); err != nil {
		return err
	}
	if rep.SignedCheckpoint != "" && rep.Clean {
		if err := put("signed-checkpoint.txt", func(f *os.File) error {
			_, err := io.WriteString(f, rep.SignedCheckpoint)
			return err
		}); err != nil {
			return err
		}
	}
	if rep.CosignedCheckpoint != "" {
		if err := put("cosigned-checkpoint.txt", func(f *os.File) error {
			_, err := io.WriteString(f, rep.CosignedCheckpoint)
			return err
		}); err != nil {
			return err
		}
	}
	// A sharded network's logs: each one's checkpoint, named by the log.
	for _, l := range rep.Logs {
		name := strings.ReplaceAll(l.Log, " ", "-")
		for file, text := range map[string]string{"signed-checkpoint-" + name + ".txt": l.SignedCheckpoint, "cosigned-checkpoint-" + name + ".txt": l.CosignedCheckpoint} {
			if text == "" || l.Findings > 0 {
				continue
			}
			if err := put(file, func(f *os.File) error {
				_, err := io.WriteString(f, text)
				return err
			}); err != nil {
				return err
			}
		}
	}
	// Only a clean run vouches for its head.
	if rep.Checkpoint != nil && rep.Clean {
		return put("checkpoint.json", jsonOf(rep.Checkpoint))
	}
	return nil
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}
