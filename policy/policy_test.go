package policy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

var usd = money.Currency{Code: "USD", Exponent: 2}

func officers(t testing.TB, n int) ([]*crypto.PrivateKey, []crypto.PublicKey) {
	t.Helper()
	var ks []*crypto.PrivateKey
	var pubs []crypto.PublicKey
	for i := range n {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k, err := crypto.KeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
		pubs = append(pubs, k.Public())
	}
	return ks, pubs
}

func TestDefaultIsValidWithTheDevnetFigures(t *testing.T) {
	p := policy.Default("devnet", usd)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name                     string
		holding, perPayment, day uint64
	}{
		{"phone only", 500_00, 200_00, 500_00},
		{"basic", 3_000_00, 1_000_00, 3_000_00},
		{"full", 10_000_00, 0, 20_000_00},
		{"merchant", 0, 0, 0},
	}
	for i, w := range want {
		tier, ok := p.Tier(i)
		if !ok || tier.Name != w.name || tier.Holding != w.holding || tier.PerPayment != w.perPayment || tier.Daily != w.day {
			t.Errorf("tier %d = %+v, want %+v", i, tier, w)
		}
	}
	if _, ok := p.Tier(4); ok {
		t.Error("tier 4 exists")
	}
	if p.AML.ActionFor(policy.Listed) != policy.Block {
		t.Error("listed parties are not blocked")
	}
}

func TestValidateRefuses(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *policy.Policy)
		want   string
	}{
		{"no network", func(p *policy.Policy) { p.Network = "" }, "network"},
		{"version 0", func(p *policy.Policy) { p.Version = 0 }, "version"},
		{"no tiers", func(p *policy.Policy) { p.Tiers = nil }, "0 tiers"},
		{"levels out of order", func(p *policy.Policy) { p.Tiers[1].Level = 2 }, "numbered from 0"},
		{"unnamed tier", func(p *policy.Policy) { p.Tiers[0].Name = "" }, "name"},
		{"no evidence", func(p *policy.Policy) { p.Tiers[0].Evidence = nil }, "no evidence"},
		{"unknown evidence", func(p *policy.Policy) { p.Tiers[0].Evidence = []policy.Evidence{"dna"} }, "unknown evidence"},
		{"evidence twice", func(p *policy.Policy) { p.Tiers[0].Evidence = []policy.Evidence{policy.Phone, policy.Phone} }, "twice"},
		{"payment above daily", func(p *policy.Policy) { p.Tiers[0].PerPayment = p.Tiers[0].Daily + 1 }, "per-payment"},
		{"daily above monthly", func(p *policy.Policy) { p.Tiers[0].Daily = p.Tiers[0].Monthly + 1 }, "daily limit above"},
		{"swept tier with a holding limit", func(p *policy.Policy) { p.Tiers[3].Holding = 1 }, "swept"},
		{"negative window", func(p *policy.Policy) { p.AML.WindowSeconds = -1 }, "negative"},
		{"velocity without window", func(p *policy.Policy) { p.AML.WindowSeconds = 0 }, "window"},
		{"margin above threshold", func(p *policy.Policy) { p.AML.StructuringMargin = p.AML.ReportingThreshold + 1 }, "margin"},
		{"unknown rule", func(p *policy.Policy) { p.AML.Actions[0].Rule = "vibes" }, "unknown rule"},
		{"unknown action", func(p *policy.Policy) { p.AML.Actions[0].Action = "shrug" }, "action"},
		{"rule twice", func(p *policy.Policy) { p.AML.Actions[1].Rule = p.AML.Actions[0].Rule }, "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policy.Default("devnet", usd)
			c.change(&p)
			err := p.Validate()
			if !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v; want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}

func TestCanonicalIsStableAndCoversEveryField(t *testing.T) {
	p := policy.Default("devnet", usd)
	a := p.Canonical()
	var back policy.Policy
	if err := json.Unmarshal(a, &back); err != nil {
		t.Fatal(err)
	}
	if string(back.Canonical()) != string(a) {
		t.Fatalf("round trip changed the canonical bytes:\n%s\n%s", a, back.Canonical())
	}
	back.Tiers[0].Daily--
	if back.Hash() == p.Hash() {
		t.Fatal("changing a limit did not change the hash")
	}
}

func TestVerify(t *testing.T) {
	keys, pubs := officers(t, 3)
	_, strangers := officers(t, 5) // keys 4 and 5 are nobody's officers
	p := policy.Default("devnet", usd)
	sign := func(ks ...*crypto.PrivateKey) policy.Signed {
		s := policy.Signed{Policy: p}
		for _, k := range ks {
			s.Approvals = append(s.Approvals, policy.Sign(&p, k))
		}
		return s
	}
	cases := []struct {
		name string
		s    func() policy.Signed
		want error
	}{
		{"quorum", func() policy.Signed { return sign(keys[0], keys[2]) }, nil},
		{"all three", func() policy.Signed { return sign(keys...) }, nil},
		{"one approval", func() policy.Signed { return sign(keys[1]) }, policy.ErrUnsigned},
		{"none", func() policy.Signed { return sign() }, policy.ErrUnsigned},
		{"same officer twice", func() policy.Signed { return sign(keys[0], keys[0]) }, policy.ErrUnsigned},
		{"not an officer", func() policy.Signed {
			s := sign(keys[0], keys[1])
			s.Approvals[1].Key = strangers[4]
			return s
		}, policy.ErrUnsigned},
		{"policy changed after signing", func() policy.Signed {
			s := sign(keys[0], keys[1])
			s.Policy.Tiers = append([]policy.Tier(nil), s.Policy.Tiers...)
			s.Policy.Tiers[0].Holding *= 10
			return s
		}, policy.ErrUnsigned},
		{"signature flipped", func() policy.Signed {
			s := sign(keys[0], keys[1])
			s.Approvals[0].Sig[5] ^= 1
			return s
		}, policy.ErrUnsigned},
		{"other network", func() policy.Signed {
			s := sign(keys[0], keys[1])
			s.Policy.Network = "elsewhere"
			return s
		}, policy.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.s()
			err := s.Verify("devnet", pubs, 2)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSignatureText(t *testing.T) {
	var s policy.Signature
	for _, bad := range []string{"", "00", strings.Repeat("zz", 64), strings.Repeat("0", 127)} {
		s[0] = 7
		if err := s.UnmarshalText([]byte(bad)); err == nil || s[0] != 7 {
			t.Errorf("UnmarshalText(%q) = %v, signature now %x", bad, err, s[:2])
		}
	}
	in := policy.Signature{1, 2, 3}
	txt, _ := in.MarshalText()
	var out policy.Signature
	if err := out.UnmarshalText(txt); err != nil || out != in {
		t.Fatalf("round trip: %v %x", err, out[:3])
	}
}

// FuzzSigned feeds GET /v1/policy-shaped bytes to the decoder and Verify:
// neither may panic, and whatever verifies re-encodes to bytes that verify.
func FuzzSigned(f *testing.F) {
	keys, pubs := officers(f, 3)
	p := policy.Default("devnet", usd)
	good, _ := json.Marshal(policy.Signed{Policy: p, Approvals: []policy.Approval{policy.Sign(&p, keys[0]), policy.Sign(&p, keys[1])}})
	f.Add(good)
	f.Add([]byte(`{"policy":{"network":"devnet","version":1,"tiers":[]},"approvals":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s policy.Signed
		if json.Unmarshal(b, &s) != nil {
			return
		}
		if s.Verify("devnet", pubs, 2) != nil {
			return
		}
		again, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var s2 policy.Signed
		if err := json.Unmarshal(again, &s2); err != nil {
			t.Fatal(err)
		}
		if err := s2.Verify("devnet", pubs, 2); err != nil {
			t.Fatalf("re-encoded policy no longer verifies: %v", err)
		}
	})
}
