package audit

import (
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/specie/specie/money"
)

// Report is what one run of the auditor checked and found: the JSON report
// as written, and the data of the HTML one.
type Report struct {
	API         string        `json:"api"`
	Network     money.Network `json:"network"`
	Trust       Trust         `json:"trust"`
	TrustSource string        `json:"trust_source"`
	StartedAt   time.Time     `json:"started_at"`
	FinishedAt  time.Time     `json:"finished_at"`
	// FromBatch is the first batch this run replayed (earlier ones were
	// verified by earlier runs and only compared); ToBatch the last one
	// verified, by this run or before.
	FromBatch uint64 `json:"from_batch"`
	ToBatch   uint64 `json:"to_batch"`
	// Head is the hash of header ToBatch.
	Head money.Hash `json:"head"`
	// Batches, Transactions and Signatures were re-verified by this run.
	Batches      uint64 `json:"batches"`
	Transactions uint64 `json:"transactions"`
	Signatures   uint64 `json:"signatures"`
	// GenesisTxs counts the unsigned genesis mints of batch 1 (the supply
	// the network started from), accepted in batch 1 only.
	GenesisTxs uint64 `json:"genesis_txs"`
	// Seconds is how long the replay took; the rates are over it.
	Seconds       float64   `json:"seconds"`
	BatchesPerSec float64   `json:"batches_per_second"`
	TxPerSec      float64   `json:"transactions_per_second"`
	Minted        uint64    `json:"minted,string"`
	Redeemed      uint64    `json:"redeemed,string"`
	Outstanding   uint64    `json:"outstanding,string"`
	UnspentNotes  uint64    `json:"unspent_notes"`
	Checks        []string  `json:"checks"`
	Findings      []Finding `json:"findings"`
	// EarlierFindings counts what earlier runs on the same state found.
	EarlierFindings uint64 `json:"earlier_findings"`
	// Clean is true when this run found nothing.
	Clean bool `json:"clean"`
	// Checkpoint is the verified head, to hand to a later run or another
	// auditor (--from-checkpoint).
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// SignedCheckpoint is the log's signed checkpoint this run verified
	// (signed note text), when the ledger signs them.
	SignedCheckpoint string `json:"signed_checkpoint,omitempty"`
	// CosignedCheckpoint is SignedCheckpoint with this auditor's witness
	// cosignature, when it runs as a witness and found nothing.
	CosignedCheckpoint string `json:"cosigned_checkpoint,omitempty"`
	WitnessKey         string `json:"witness_key,omitempty"`
	// Logs, on a sharded network (RunSharded), are each group's log and
	// the coordinator's as audited; the totals above are the network's.
	Logs []LogReport `json:"logs,omitempty"`
}

// Checks lists what every run checks, for the reports.
var Checks = []string{
	"each header follows the one before it: sequence number and previous-header hash (hash chain)",
	"the header served with a batch is the one the header route lists",
	"each batch's transactions decode canonically, and their txids rebuild the header's Merkle root and count",
	"every transaction's rules: counts, non-zero values, sums by kind (transfer in = out, redeem in > out)",
	"every input's owner signature (Ed25519, ZIP-215, over the txid, network and purpose)",
	"every mint's quorum of valid signatures by trusted officer keys; only batch 1 may hold unsigned genesis mints",
	"every officer key rotation is read from the log itself (a rotation batch, whose Merkle leaf is the rotation record's ID) and carries the quorum of the set before it, from the trusted founding keys on; each mint is checked against the set in force at its batch; the rotations GET /v1/info key_sets serves are the log's",
	"every redeem's acknowledgement by a trusted issuer redeem key",
	"every input was created by an earlier committed transaction and is spent at most once (the auditor's own unspent set)",
	"no output re-creates a note that already exists (a replayed transaction)",
	"minted and redeemed replayed from the transactions equal each header's totals; unspent notes hold minted - redeemed",
	"the published supply (GET /v1/supply) equals the replay at its batch: minted, redeemed, outstanding, unspent notes",
	"batches verified by earlier runs still hash the same (saved state), and the log passes through --from-checkpoint",
	"the log's signed checkpoint: signed by the log key, its RFC 9162 tree equals the one over the served headers, and a consistency proof shows it extends the checkpoint of the last run (or one given)",
}

func (r *Report) finish(m savedMeta) {
	r.FinishedAt = time.Now().UTC()
	r.Checks = Checks
	r.EarlierFindings = m.Findings - uint64(len(r.Findings))
	r.Clean = len(r.Findings) == 0
	if r.Seconds > 0 {
		r.BatchesPerSec = float64(r.Batches) / r.Seconds
		r.TxPerSec = float64(r.Transactions) / r.Seconds
	}
	r.Minted, r.Redeemed = m.Totals.Minted, m.Totals.Redeemed
	r.Outstanding, r.UnspentNotes = m.Totals.Minted-m.Totals.Redeemed, m.Totals.Unspent
	if m.Head != nil {
		r.ToBatch = m.Head.Seq
		r.Head = r.Network.HeaderHash(m.Head)
		r.Checkpoint = &Checkpoint{Network: r.Network.ID, Batch: m.Head.Seq, Head: r.Head, Minted: m.Head.Minted, Redeemed: m.Head.Redeemed}
	}
}

// Format renders an amount in the network currency, for people.
func (r *Report) Format(v uint64) string {
	return fmt.Sprintf("%s %s", r.Network.Currency.Format(v), r.Network.Currency.Code)
}

// WriteHTML writes the readable report: a self-contained page (no script,
// no outside resources) an auditor can archive and print.
func (r *Report) WriteHTML(w io.Writer) error {
	return reportPage.Execute(w, r)
}

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Specie audit of {{.Network.ID}}: batches {{.FromBatch}} to {{.ToBatch}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.ok{color:#176317;font-weight:bold}.bad{color:#a11;font-weight:bold}code{font-size:.9em;word-break:break-all}
</style></head><body>
<h1>Specie independent audit: network <code>{{.Network.ID}}</code></h1>
{{if .Clean}}<p class="ok">Clean: nothing wrong found in batches {{.FromBatch}} to {{.ToBatch}}.</p>
{{else}}<p class="bad">{{len .Findings}} finding(s): see below.</p>{{end}}
{{if .EarlierFindings}}<p class="bad">Earlier runs on this state reported {{.EarlierFindings}} finding(s).</p>{{end}}
<table>
<tr><th>API</th><td><code>{{.API}}</code></td></tr>
<tr><th>Run</th><td>{{.StartedAt.Format "2006-01-02 15:04:05 UTC"}} to {{.FinishedAt.Format "2006-01-02 15:04:05 UTC"}}</td></tr>
<tr><th>Verified</th><td>batches 1 to {{.ToBatch}}; this run replayed {{.Batches}} batch(es) from {{.FromBatch}}: {{.Transactions}} transactions, {{.Signatures}} signatures ({{printf "%.0f" .BatchesPerSec}} batches/s, {{printf "%.0f" .TxPerSec}} tx/s)</td></tr>
{{if .Logs}}<tr><th>Logs</th><td>{{range .Logs}}{{.Log}} at <code>{{.API}}</code>: batches 1 to {{.ToBatch}} (this run from {{.FromBatch}}), head <code>{{.Head}}</code>, {{.Findings}} finding(s)<br>{{end}}</td></tr>
{{else}}<tr><th>Head</th><td>batch {{.ToBatch}}, header hash <code>{{.Head}}</code></td></tr>{{end}}
<tr><th>Supply (replayed)</th><td>minted {{.Format .Minted}}, redeemed {{.Format .Redeemed}}, outstanding {{.Format .Outstanding}} in {{.UnspentNotes}} unspent notes{{if .GenesisTxs}}; the genesis batch holds {{.GenesisTxs}} unsigned genesis mints{{end}}</td></tr>
{{if .SignedCheckpoint}}<tr><th>Signed checkpoint</th><td><pre>{{.SignedCheckpoint}}</pre></td></tr>{{end}}
<tr><th>Trusted keys</th><td>{{.TrustSource}}<br>mint quorum {{.Trust.MintQuorum}} of: {{range .Trust.MintKeys}}<code>{{.}}</code> {{end}}<br>redeem: {{range .Trust.RedeemKeys}}<code>{{.}}</code> {{end}}</td></tr>
</table>
<h2>Findings</h2>
{{if .Findings}}<table><tr>{{if .Logs}}<th>Log</th>{{end}}<th>Batch</th><th>Tx</th><th>Input</th><th>Field</th><th>Check</th><th>What</th></tr>
{{range .Findings}}<tr>{{if $.Logs}}<td>{{.Log}}</td>{{end}}<td>{{.Batch}}</td><td>{{if ge .Tx 0}}{{.Tx}}{{end}}</td><td>{{if ge .Input 0}}{{.Input}}{{end}}</td><td><code>{{.Field}}</code></td><td>{{.Check}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>What was checked</h2>
<ul>{{range .Checks}}<li>{{.}}</li>{{end}}</ul>
</body></html>
`))
