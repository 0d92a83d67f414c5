package iso20022_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/specie/specie/errcode"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// xsdDir holds the official schemas, beside the repository.
const xsdDir = "../../../shared/iso20022-xsd"

// conforms validates doc against msg's official XSD with the pure-Go
// validator and with xmllint (Debian's libxml2-utils); the xmllint part
// skips when xmllint or ../shared's schemas are missing.
func conforms(t testing.TB, msg string, doc []byte) {
	t.Helper()
	// The gateway's own validator first (it runs everywhere), then xmllint.
	s, err := schemas.Schema(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("%s does not validate (internal/xsd): %v\n%s", msg, err, doc)
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Log("xmllint not installed (apt-get install libxml2-utils): its cross-check skipped")
		return
	}
	xsd := filepath.Join(xsdDir, msg+".xsd")
	if _, err := os.Stat(xsd); err != nil {
		t.Logf("schema %s: %v: the xmllint cross-check skipped", xsd, err)
		return
	}
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", xsd, f).CombinedOutput()
	if err != nil {
		t.Fatalf("%s does not validate: %v\n%s\n%s", msg, err, out, doc)
	}
}

// net is a whole devnet (`specie up`) in a temporary directory, with its
// gateway.
type net struct {
	t        testing.TB
	dir      string
	n        *devnet.Node
	officers []*crypto.PrivateKey
}

func up(t *testing.T) *net {
	t.Helper()
	e := &net{t: t, dir: t.TempDir()}
	e.start()
	t.Cleanup(func() {
		if e.n != nil {
			e.n.Close()
		}
	})
	for _, f := range e.n.Config.OfficerKeyFiles {
		k, err := loadKey(e.dir, f)
		if err != nil {
			t.Fatal(err)
		}
		e.officers = append(e.officers, k)
	}
	return e
}

// loadKey reads an officer key named in the devnet config under dir.
func loadKey(dir, f string) (*crypto.PrivateKey, error) {
	if !filepath.IsAbs(f) {
		f = filepath.Join(dir, f)
	}
	return crypto.LoadKey(f)
}

func (e *net) start() {
	e.t.Helper()
	n, _, err := devnet.Up(e.dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		e.t.Fatal(err)
	}
	e.n = n
}

// restart stops every role and starts them again on the same directory.
func (e *net) restart() {
	e.t.Helper()
	if err := e.n.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.n = nil
	e.start()
}

func (e *net) gw() *iso20022.Gateway { return e.n.Gateway }

// as is a context carrying role's credential.
func as(role string) context.Context {
	if role == iso20022.RoleIssuer {
		return roles.WithCaller(context.Background(), roles.Principal{Name: "issuer", Role: roles.RoleIssuer})
	}
	return roles.WithCaller(context.Background(), roles.Principal{Name: role, Role: roles.RoleIntermediary})
}

// send processes doc for role, checks the answer conforms, and returns it.
func (e *net) send(role string, doc []byte) iso20022.Answer {
	e.t.Helper()
	a, err := e.gw().Process(as(role), role, doc)
	if err != nil {
		e.t.Fatalf("process for %s: %v", role, err)
	}
	conforms(e.t, a.Kind, a.XML)
	return a
}

func (e *net) reserve(name string) uint64 {
	e.t.Helper()
	b, ok := e.n.Issuer.Reserve(name)
	if !ok {
		e.t.Fatalf("no reserve %s", name)
	}
	return b
}

func (e *net) balance(id string) uint64 {
	e.t.Helper()
	b := e.n.Banks[roles.IntermediaryOf(id)]
	w, err := b.Wallet(as(roles.IntermediaryOf(id)), id)
	if err != nil {
		e.t.Fatalf("wallet %s: %v", id, err)
	}
	return w.Balance
}

// mint issues amount to bank, approved by two officers.
func (e *net) mint(bank string, amount uint64) {
	e.t.Helper()
	ctx := as(iso20022.RoleIssuer)
	m, err := e.n.Issuer.ProposeMint(ctx, bank, amount)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range e.officers[:2] {
		if m, err = e.n.Issuer.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, e.n.Config.Network.ID, m.ID)); err != nil {
			e.t.Fatal(err)
		}
	}
	if m.Status != roles.MintCommitted {
		e.t.Fatalf("mint %+v", m)
	}
}

// open opens a wallet without limits (the merchant tier) at bank.
func (e *net) open(bank, owner string) string {
	e.t.Helper()
	w, err := e.n.Banks[bank].OpenWallet(as(bank), roles.WalletRequest{Owner: owner, Tier: 3, Evidence: []roles.EvidenceRef{
		{Kind: policy.Identity, Ref: "ID-" + owner}, {Kind: policy.Address, Ref: "addr-" + owner}, {Kind: policy.Business, Ref: "REG-" + owner}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return w.ID
}

// fill renders testdata/name with data.
func fill(t testing.TB, name string, data any) []byte {
	t.Helper()
	tm, err := template.ParseFiles(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// funding is the data of testdata/pacs009-funding.xml.
type funding struct {
	MsgID, E2E, UETR, Ccy, Amount, Debtor, Creditor string
}

func newFunding(msgID, amount string) funding {
	return funding{MsgID: msgID, E2E: "E2E-" + msgID, UETR: uuidFor(msgID), Ccy: "USD", Amount: amount, Debtor: "BNKAUS33", Creditor: "SPCBUS33"}
}

// uuidFor is a fixed version-4 UUID made from s.
func uuidFor(s string) string {
	h := fmt.Sprintf("%x", []byte(strings.Repeat(s, 8)))
	for len(h) < 32 {
		h += "0"
	}
	h = strings.ToLower(h)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// deposits is the data of testdata/pacs008-deposits.xml.
type deposits struct {
	MsgID, Agent string
	Txs          []deposit
}

type deposit struct {
	E2E, UETR, Ccy, Amount, Wallet, Alias, Name string
}

// status reads a pacs.002: the group status and each payment's status and
// reason, by EndToEndId.
func status(t *testing.T, a iso20022.Answer) (grp, grpReason string, txs map[string]string) {
	t.Helper()
	var r iso20022.Pacs002Doc
	if err := iso20022.Decode(a.XML, iso20022.Pacs002, &r); err != nil {
		t.Fatalf("answer: %v\n%s", err, a.XML)
	}
	g := r.Msg.OrgnlGrpInfAndSts
	grp = g.GrpSts
	if len(g.StsRsnInf) > 0 && g.StsRsnInf[0].Rsn != nil {
		grpReason = g.StsRsnInf[0].Rsn.Cd
	}
	txs = map[string]string{}
	for _, tx := range r.Msg.TxInfAndSts {
		s := tx.TxSts
		if len(tx.StsRsnInf) > 0 && tx.StsRsnInf[0].Rsn != nil {
			s += "/" + tx.StsRsnInf[0].Rsn.Cd
		}
		txs[tx.OrgnlEndToEndID] = s
	}
	return grp, grpReason, txs
}

func today() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

func isCode(err error, code string) bool { return string(errcode.Of(err)) == code }

var usd = money.Currency{Code: "USD", Exponent: 2}

// bindAlias binds alias to wallet at bank with the one-time code the
// devnet "sent" to bank's otp.log.
func (e *net) bindAlias(bank, wallet, alias string) {
	e.t.Helper()
	b := e.n.Banks[bank]
	if _, err := b.RequestAliasCode(as(bank), roles.AliasRequest{Wallet: wallet, Alias: alias}); err != nil {
		e.t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(e.dir, bank, devnet.OTPFileName))
	if err != nil {
		e.t.Fatal(err)
	}
	code := ""
	for _, l := range strings.Split(string(log), "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[1] == alias && f[2] == wallet {
			code = f[3]
		}
	}
	if _, err := b.ConfirmAlias(as(bank), wallet, alias, code); err != nil {
		e.t.Fatalf("confirm alias %s with code %q: %v", alias, code, err)
	}
}
