// Package policy holds the central bank's rules for retail money: who may
// hold how much, how much a wallet may pay, and what the intermediaries'
// fraud and AML screening looks for. The issuer publishes one Policy at a
// time, versioned and signed by an m-of-n quorum of its officers like a
// mint; every intermediary verifies the signatures (Signed.Verify) before
// it applies a version, so all of them enforce the same rules and none can
// be told to apply rules the central bank did not approve.
//
// It is public because intermediaries built outside Specie must verify and
// apply the same document. Amounts are minor units of the network's
// currency; a limit of 0 means no limit.
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
)

// Evidence is a kind of identity evidence an intermediary checked. Only the
// kind and a reference are recorded, never the document itself.
type Evidence string

// Kinds of evidence a tier can ask for.
const (
	Phone    Evidence = "phone"    // a verified phone number
	Identity Evidence = "identity" // an identity document
	Address  Evidence = "address"  // a proof of address
	Business Evidence = "business" // a business registration (merchants)
)

// Known reports whether e is one of the kinds above.
func (e Evidence) Known() bool {
	switch e {
	case Phone, Identity, Address, Business:
		return true
	}
	return false
}

// Tier is one level of wallet, opened by its evidence. Limits are minor
// units; 0 means no limit.
type Tier struct {
	Level      int        `json:"level"`       // 0, 1, 2, ...: the index in Policy.Tiers
	Name       string     `json:"name"`        // "phone only", "basic", "full", "merchant"
	Evidence   []Evidence `json:"evidence"`    // every kind listed is needed to open the tier
	Holding    uint64     `json:"holding"`     // most a person may hold at this tier, across intermediaries
	PerPayment uint64     `json:"per_payment"` // largest single outgoing payment
	Daily      uint64     `json:"daily"`       // outgoing per calendar day, in the intermediary's time zone
	Monthly    uint64     `json:"monthly"`     // outgoing per calendar month, likewise
	// SweepAbove, when not 0, is the balance a wallet of this tier keeps:
	// once a day the excess is swept to its linked deposit account
	// (merchants hold no limit but do not accumulate digital currency).
	SweepAbove uint64 `json:"sweep_above"`
}

// Action is what a screening rule does when it trips.
type Action string

// Actions.
const (
	Block Action = "block" // the payment is rejected with errcode.Blocked; nothing moves
	Alert Action = "alert" // the payment goes through and an alert opens for compliance staff
)

// Rule names a fraud or AML screening rule.
type Rule string

// Screening rules.
const (
	Velocity    Rule = "velocity"    // more than VelocityCount payments, or more than VelocityAmount, in Window
	Structuring Rule = "structuring" // StructuringCount payments just under ReportingThreshold in Window
	LargeValue  Rule = "large_value" // one payment at or above ReportingThreshold
	Listed      Rule = "listed"      // a party is on the intermediary's sanctions list, or frozen
)

// Rules lists every rule, in the order screening checks them.
var Rules = []Rule{Listed, LargeValue, Structuring, Velocity}

// AML holds the screening thresholds every intermediary applies, on the
// paying and on the receiving side.
type AML struct {
	WindowSeconds      int64  `json:"window_seconds"`      // the window of Velocity and Structuring
	VelocityCount      int    `json:"velocity_count"`      // more payments than this in the window trips Velocity; 0: no count rule
	VelocityAmount     uint64 `json:"velocity_amount"`     // more than this in the window trips Velocity; 0: no amount rule
	ReportingThreshold uint64 `json:"reporting_threshold"` // large-value reporting threshold; 0: none
	// StructuringMargin: a payment in [ReportingThreshold-StructuringMargin,
	// ReportingThreshold) is "just under" the threshold.
	StructuringMargin uint64 `json:"structuring_margin"`
	StructuringCount  int    `json:"structuring_count"` // this many just-under payments in the window trips Structuring; 0: off
	// Actions says what each rule does; a rule not listed alerts.
	Actions []RuleAction `json:"actions"`
}

// RuleAction configures one rule.
type RuleAction struct {
	Rule   Rule   `json:"rule"`
	Action Action `json:"action"`
}

// ActionFor returns what rule r does (Alert when not configured).
func (a *AML) ActionFor(r Rule) Action {
	for _, ra := range a.Actions {
		if ra.Rule == r {
			return ra.Action
		}
	}
	return Alert
}

// Policy is one version of the central bank's rules.
type Policy struct {
	Network string `json:"network"` // the network it binds to (money.Network.ID)
	Version uint64 `json:"version"` // starts at 1; each new version is the previous plus one
	Tiers   []Tier `json:"tiers"`   // Tiers[i].Level == i
	AML     AML    `json:"aml"`
}

// Errors from Validate and Verify. Both wrap them with the details.
var (
	ErrInvalid  = errors.New("invalid policy")
	ErrUnsigned = errors.New("policy not signed by the officers' quorum")
)

// Validate checks the policy is well formed: tiers numbered from 0 in order
// with names and known evidence, limits that fit each other (a payment
// limit no larger than the daily one, the daily no larger than the
// monthly, when both are set), screening thresholds that make sense and
// known rules and actions.
func (p *Policy) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if p.Network == "" || len(p.Network) > money.MaxNetworkID {
		return bad("network must be 1 to %d bytes", money.MaxNetworkID)
	}
	if p.Version == 0 {
		return bad("version must be at least 1")
	}
	if len(p.Tiers) == 0 || len(p.Tiers) > 16 {
		return bad("%d tiers; want 1 to 16", len(p.Tiers))
	}
	for i, t := range p.Tiers {
		if t.Level != i {
			return bad("tier %d has level %d; tiers are numbered from 0 in order", i, t.Level)
		}
		if t.Name == "" || len(t.Name) > 64 {
			return bad("tier %d: name must be 1 to 64 bytes", i)
		}
		if len(t.Evidence) == 0 {
			return bad("tier %d (%s): no evidence opens it", i, t.Name)
		}
		for j, e := range t.Evidence {
			if !e.Known() {
				return bad("tier %d (%s): unknown evidence %q", i, t.Name, e)
			}
			if slices.Contains(t.Evidence[:j], e) {
				return bad("tier %d (%s): evidence %q listed twice", i, t.Name, e)
			}
		}
		if t.PerPayment != 0 && t.Daily != 0 && t.PerPayment > t.Daily {
			return bad("tier %d (%s): per-payment limit above the daily limit", i, t.Name)
		}
		if t.Daily != 0 && t.Monthly != 0 && t.Daily > t.Monthly {
			return bad("tier %d (%s): daily limit above the monthly limit", i, t.Name)
		}
		if t.SweepAbove != 0 && t.Holding != 0 {
			return bad("tier %d (%s): a swept tier has no holding limit", i, t.Name)
		}
	}
	a := &p.AML
	if a.WindowSeconds < 0 || a.VelocityCount < 0 || a.StructuringCount < 0 {
		return bad("aml: negative window or count")
	}
	if (a.VelocityCount > 0 || a.VelocityAmount > 0 || a.StructuringCount > 0) && a.WindowSeconds == 0 {
		return bad("aml: velocity and structuring rules need a window")
	}
	if a.StructuringCount > 0 && (a.ReportingThreshold == 0 || a.StructuringMargin == 0 || a.StructuringMargin > a.ReportingThreshold) {
		return bad("aml: structuring needs a reporting threshold and a margin no larger than it")
	}
	for i, ra := range a.Actions {
		if !slices.Contains(Rules, ra.Rule) {
			return bad("aml: unknown rule %q", ra.Rule)
		}
		if ra.Action != Block && ra.Action != Alert {
			return bad("aml: rule %s: action %q; want block or alert", ra.Rule, ra.Action)
		}
		for _, prev := range a.Actions[:i] {
			if prev.Rule == ra.Rule {
				return bad("aml: rule %s configured twice", ra.Rule)
			}
		}
	}
	return nil
}

// Tier returns the tier at level, if the policy has it.
func (p *Policy) Tier(level int) (Tier, bool) {
	if level < 0 || level >= len(p.Tiers) {
		return Tier{}, false
	}
	return p.Tiers[level], true
}

// Canonical returns the bytes officers sign: the policy's JSON with fields
// in declaration order, no insignificant space and no maps, so the same
// policy always yields the same bytes in any implementation that follows
// the field order above.
func (p *Policy) Canonical() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		// A Policy holds only strings, integers, booleans and slices of
		// them: encoding cannot fail.
		panic(fmt.Sprintf("encode policy: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Hash is what an officer's approval signs (domain crypto.Policy, bound to
// the network).
func (p *Policy) Hash() [32]byte { return sha256.Sum256(p.Canonical()) }

// Approval is one officer's signature over a policy's Hash.
type Approval struct {
	Key crypto.PublicKey `json:"key"`
	Sig Signature        `json:"sig"`
}

// Signature is an Ed25519 signature, hex in JSON.
type Signature [64]byte

// MarshalText encodes s as hex.
func (s Signature) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, s[:]), nil
}

// UnmarshalText decodes 128 hex digits.
func (s *Signature) UnmarshalText(b []byte) error {
	if len(b) != 2*len(s) {
		return fmt.Errorf("signature: %d hex digits, want %d", len(b), 2*len(s))
	}
	var out Signature
	if _, err := hex.Decode(out[:], b); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	*s = out
	return nil
}

// Sign returns the approval of p by officer key k.
func Sign(p *Policy, k *crypto.PrivateKey) Approval {
	return Approval{Key: k.Public(), Sig: k.Sign(crypto.Policy, p.Network, p.Hash())}
}

// SignWith is Sign through any crypto.Signer, such as an officer key held
// in an HSM, which may fail to sign.
func SignWith(p *Policy, s crypto.Signer) (Approval, error) {
	sig, err := s.TrySign(crypto.Policy, p.Network, p.Hash())
	if err != nil {
		return Approval{}, fmt.Errorf("sign policy version %d: %w", p.Version, err)
	}
	return Approval{Key: s.Public(), Sig: sig}, nil
}

// Signed is a policy with its officers' approvals: what GET /v1/policy
// returns and what an intermediary verifies before applying it.
type Signed struct {
	Policy    Policy     `json:"policy"`
	Approvals []Approval `json:"approvals"`
}

// Verify checks that s is a valid policy for network approved by at least
// quorum distinct keys among officers, each signature over the policy's
// Hash. It wraps ErrInvalid or ErrUnsigned.
func (s *Signed) Verify(network string, officers []crypto.PublicKey, quorum int) error {
	if err := s.Policy.Validate(); err != nil {
		return err
	}
	if s.Policy.Network != network {
		return fmt.Errorf("%w: policy is for network %q, not %q", ErrInvalid, s.Policy.Network, network)
	}
	if quorum < 1 {
		return fmt.Errorf("%w: quorum %d", ErrUnsigned, quorum)
	}
	h := s.Policy.Hash()
	var good []crypto.PublicKey
	for _, a := range s.Approvals {
		if !slices.Contains(officers, a.Key) {
			return fmt.Errorf("%w: key %s is not an officer key", ErrUnsigned, a.Key)
		}
		if slices.Contains(good, a.Key) {
			return fmt.Errorf("%w: key %s approved twice", ErrUnsigned, a.Key)
		}
		if !crypto.Verify(a.Key, crypto.Policy, network, h, a.Sig) {
			return fmt.Errorf("%w: bad signature by %s", ErrUnsigned, a.Key)
		}
		good = append(good, a.Key)
	}
	if len(good) < quorum {
		return fmt.Errorf("%w: %d of %d approvals", ErrUnsigned, len(good), quorum)
	}
	return nil
}

// Default is the devnet's policy, version 1, in minor units of cur: the
// tiers and limits modelled on the published figures of the digital euro
// and e-CNY designs.
func Default(network string, cur money.Currency) Policy {
	unit := uint64(1)
	for range cur.Exponent {
		unit *= 10
	}
	u := func(major uint64) uint64 { return major * unit }
	return Policy{
		Network: network,
		Version: 1,
		Tiers: []Tier{
			{Level: 0, Name: "phone only", Evidence: []Evidence{Phone},
				Holding: u(500), PerPayment: u(200), Daily: u(500), Monthly: u(2_000)},
			{Level: 1, Name: "basic", Evidence: []Evidence{Phone, Identity},
				Holding: u(3_000), PerPayment: u(1_000), Daily: u(3_000), Monthly: u(10_000)},
			{Level: 2, Name: "full", Evidence: []Evidence{Phone, Identity, Address},
				Holding: u(10_000), Daily: u(20_000), Monthly: u(100_000)},
			{Level: 3, Name: "merchant", Evidence: []Evidence{Identity, Address, Business},
				SweepAbove: u(10_000)},
		},
		AML: AML{
			WindowSeconds:      24 * 3600,
			VelocityCount:      50,
			VelocityAmount:     u(20_000),
			ReportingThreshold: u(10_000),
			StructuringMargin:  u(1_000),
			StructuringCount:   3,
			Actions: []RuleAction{
				{Rule: Listed, Action: Block},
				{Rule: LargeValue, Action: Alert},
				{Rule: Structuring, Action: Alert},
				{Rule: Velocity, Action: Alert},
			},
		},
	}
}
