package wire

// PartRequest is POST /v1/parts: one step of a cross-group transaction
// (ledger.Part's wire form, internal/ledger/partcodec.go), base64.
type PartRequest struct {
	Part string `json:"part"`
}
