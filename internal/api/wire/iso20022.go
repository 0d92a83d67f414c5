package wire

import "time"

// ISOMessage is one ISO 20022 message the gateway produced (a return, a
// pay-out, a redemption, a notification), with its XML as a string.
type ISOMessage struct {
	MsgID   string    `json:"msg_id"`
	Kind    string    `json:"kind"` // the message name, e.g. "pacs.004.001.10"
	Created time.Time `json:"created"`
	XML     string    `json:"xml"`
}

// ISOMessages answers GET /v1/iso20022/{role}/messages and .../notifications.
type ISOMessages struct {
	Messages []ISOMessage `json:"messages"`
}

// ISODecision is the payer's answer to a request to pay.
type ISODecision struct {
	Accept *bool `json:"accept"`
}
