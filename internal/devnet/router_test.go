package devnet_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
)

// TestPartOnFollowerNamesTheLeader: a replicated group's follower answers
// POST /v1/parts with not_leader and the leader's URL, as it answers a
// transaction; the router's client follows it and the part commits once,
// in the group's log on every replica.
func TestPartOnFollowerNamesTheLeader(t *testing.T) {
	n, _, err := devnet.UpReplicated(t.TempDir(), "127.0.0.1:0", 3, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cfg := n.Config
	tok, ok := cfg.Token(devnet.RouterName)
	if !ok || tok == "" {
		t.Fatal("a new network has no router credential")
	}
	// A begin step: the whole (mint) transaction, logged under its own
	// txid, spending and creating nothing.
	net := cfg.Network
	mint := &money.Tx{Kind: money.Mint, Nonce: 7, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock(mustOfficer(t, cfg, 0).Public())}}}
	id := net.TxID(mint)
	for i := range cfg.MintQuorum {
		k := mustOfficer(t, cfg, i)
		mint.Auth = append(mint.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, net.ID, id)})
	}
	slices.SortFunc(mint.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
	// A follower's answer names another replica. (An election between
	// choosing the follower and asking it makes it the leader, which then
	// commits; the next part is asked of a follower again.)
	var part ledger.Part
	var wire []byte
	var follower string
	for try := 0; ; try++ {
		part = ledger.Part{Tx: mint, ID: sha256.Sum256([]byte(fmt.Sprint("begin ", try)))}
		if wire, err = part.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		follower = ""
		for _, r := range n.Replicas {
			if st := r.Replica.Status(); st.Leader != 0 && st.Leader != r.ID {
				follower = r.URL
			}
		}
		if follower == "" {
			t.Fatal("no replica follows an elected leader")
		}
		r := httpPostRaw(t, follower+"/v1/parts", tok, `{"part":"`+base64.StdEncoding.EncodeToString(wire)+`"}`)
		if r.status == http.StatusOK && try < 5 {
			continue
		}
		if r.status != http.StatusMisdirectedRequest || !strings.Contains(string(r.body), string(errcode.NotLeader)) {
			t.Fatalf("follower answered %d %s; want 421 not_leader", r.status, r.body)
		}
		named := strings.TrimRight(r.header.Get(errcode.LeaderHeader), "/")
		if named == follower || !slices.ContainsFunc(n.Replicas, func(r *devnet.Replica) bool { return r.URL == named }) {
			t.Fatalf("follower %s names %q as leader; want another replica", follower, named)
		}
		break
	}
	ctx := context.Background()
	rc, err := client.New(follower, tok).SubmitPart(ctx, part.ID, wire)
	if err != nil {
		t.Fatalf("through the follower: %v", err)
	}
	for _, rep := range n.Replicas {
		waitFor(t, "the part on replica "+rep.URL, 30*time.Second, func() error {
			info, err := client.New(rep.URL, "").Ledger().Tx(ctx, part.ID)
			if err == nil && info.Header.Seq != rc.Batch {
				t.Fatalf("replica %s has the part in batch %d, receipt says %d", rep.URL, info.Header.Seq, rc.Batch)
			}
			return err
		})
	}
	if _, err := client.New(follower, tok).SubmitPart(ctx, part.ID, wire); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("the part again: %v, want double_spend", err)
	}
}

func mustOfficer(t *testing.T, cfg *devnet.Config, i int) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.LoadKey(cfg.OfficerKeyFiles[i])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// httpPostRaw posts body with a bearer token and returns the answer as it
// came, without a client's following of not_leader.
func httpPostRaw(t *testing.T, url, token, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestRouterOverMutualTLS: after `specie devnet certs` a sharded network
// whose two groups and coordinator log are `specie serve ledger` nodes
// runs the foundation scenario through a router over mutual TLS: the
// router calls the groups with its own certificate and serves the ledger
// API with the ledger's. A group refuses a part from a bank's certificate
// and token, and the router's token presented with a bank's certificate.
func TestRouterOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	_, addrs, _ := servedNet(t, dir)
	cfg, err := devnet.MakeCerts(dir, devnet.CertsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	log := quietLog()
	var groups [][]string
	for _, name := range []string{"g0", "g1", "coordinator"} {
		n, err := devnet.Serve(cfg, "ledger", "", filepath.Join(dir, "data-"+name), freeAddr(t), log)
		if err != nil {
			t.Fatalf("serve %s: %v", name, err)
		}
		t.Cleanup(func() { n.Close() })
		groups = append(groups, []string{n.URL})
	}
	rn, err := devnet.ServeRouter(cfg, groups[:2], groups[2], addrs["ledger"], log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Close() })
	for _, r := range []struct{ role, name, key string }{
		{"issuer", "", "issuer"}, {"intermediary", "bank-a", "bank-a"}, {"intermediary", "bank-b", "bank-b"},
	} {
		n, err := devnet.Serve(cfg, r.role, r.name, filepath.Join(dir, "data-"+r.key), addrs[r.key], log)
		if err != nil {
			t.Fatalf("serve %s: %v", r.key, err)
		}
		t.Cleanup(func() { n.Close() })
	}
	opts := func(who string) []client.Option {
		o, err := cfg.ClientOptions(who)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	p := newPartiesWith(t, cfg, cfg.Ledger.URL, cfg.Issuer.URL, cfg.Intermediaries[0].URL, cfg.Intermediaries[1].URL, opts)
	for _, urls := range groups[:2] {
		p.logs = append(p.logs, client.New(urls[0], "", opts(devnet.OperatorCert)...).Ledger())
	}
	runScenario(t, p)

	ctx := context.Background()
	if cs, err := client.New(groups[2][0], "", opts(devnet.OperatorCert)...).Ledger().Supply(ctx); err != nil || cs.Batches == 0 {
		t.Fatalf("no transaction spanned the groups: the coordinator's log has %+v (%v)", cs, err)
	}
	part := ledger.Part{Tx: &money.Tx{Kind: money.Mint, Nonce: 1, Outputs: []money.Output{{Value: 1, Lock: money.KeyLock(p.officer[0].Public())}}}, ID: sha256.Sum256([]byte("begin"))}
	wire, err := part.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	before, err := p.logs[0].Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aTok, _ := cfg.Token("bank-a")
	rTok, _ := cfg.Token(devnet.RouterName)
	for _, c := range []struct {
		what       string
		token, crt string
		status     int
	}{
		{"bank-a's token and certificate", aTok, "bank-a", http.StatusForbidden},
		{"the router's token with bank-a's certificate", rTok, "bank-a", http.StatusUnauthorized},
	} {
		_, err := client.New(groups[0][0], c.token, opts(c.crt)...).SubmitPart(ctx, part.ID, wire)
		if !errcode.Is(err, errcode.Unauthorized) || errcode.HTTPStatus(err) != c.status {
			t.Fatalf("a part with %s: %v, want unauthorized (%d)", c.what, err, c.status)
		}
	}
	if after, err := p.logs[0].Supply(ctx); err != nil || after != before {
		t.Fatalf("refused parts changed the group: %+v -> %+v (%v)", before, after, err)
	}
}

// TestParseGroups: `specie serve router --groups` reads the groups in
// order, each a --cluster list in ID order, and refuses anything else.
func TestParseGroups(t *testing.T) {
	got, err := devnet.ParseGroups("2=http://b:2,1=http://a:1;1=http://c:3/")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"http://a:1", "http://b:2"}, {"http://c:3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{
		"",
		"1=http://a:1",                  // one group
		"1=http://a:1;;1=http://b:2",    // an empty group
		"1=http://a:1;x=http://b:2",     // not ID=URL
		"1=http://a:1;1=http://b:2,1=c", // an ID twice
		"1=http://a:1;0=http://b:2",     // ID 0
		"1=http://a:1;1=nohost",         // no URL
	} {
		if _, err := devnet.ParseGroups(bad); err == nil {
			t.Errorf("ParseGroups(%q) accepted", bad)
		}
	}
}

// TestServeRouterRefuses: a router does not start over a config written
// before routers (no credential; the config still loads), or over a
// group of another network.
func TestServeRouterRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg, err := devnet.Init(dir, devnet.DefaultInit("http://"+freeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	log := quietLog()
	var urls [][]string
	for _, name := range []string{"g0", "g1", "c"} {
		n, err := devnet.Serve(cfg, "ledger", "", filepath.Join(dir, name), freeAddr(t), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		urls = append(urls, []string{n.URL})
	}
	// Another network's ledger listed as group 1: with another router
	// token, refused at once (unauthorized); with this router's token,
	// for its network.
	other := t.TempDir()
	o := devnet.DefaultInit("http://" + freeAddr(t))
	o.NetworkID = "another-net"
	if _, err := devnet.Init(other, o); err != nil {
		t.Fatal(err)
	}
	for _, same := range []bool{false, true} {
		ocfg := editConfig(t, other, func(raw map[string]any) {
			if same {
				raw["router"] = map[string]any{"name": "router", "token": cfg.Router.Token}
			}
		})
		on, err := devnet.Serve(ocfg, "ledger", "", filepath.Join(other, "ledger"), freeAddr(t), log)
		if err != nil {
			t.Fatal(err)
		}
		_, err = devnet.ServeRouter(cfg, [][]string{urls[0], {on.URL}}, urls[2], freeAddr(t), log)
		on.Close()
		switch {
		case !same && (!errcode.Is(err, errcode.Unauthorized) || !strings.Contains(err.Error(), "group 1 at "+on.URL)):
			t.Fatalf("a group of another network: %v", err)
		case same && (err == nil || !strings.Contains(err.Error(), "group 1 at "+on.URL+" serves network another-net")):
			t.Fatalf("a group of another network, same token: %v", err)
		}
	}
	// The config as written before routers: it loads, without one.
	old := editConfig(t, dir, func(raw map[string]any) { delete(raw, "router") })
	if _, ok := old.Token(devnet.RouterName); ok || old.Router != nil {
		t.Fatalf("an old config has a router: %+v", old.Router)
	}
	if _, err := devnet.ServeRouter(old, urls[:2], urls[2], freeAddr(t), log); err == nil || !strings.Contains(err.Error(), "no router credential") {
		t.Fatalf("a config without a router credential: %v", err)
	}
}

// editConfig rewrites the devnet.json in dir with edit, as an operator
// would, and loads it.
func editConfig(t *testing.T, dir string, edit func(raw map[string]any)) *devnet.Config {
	t.Helper()
	path := filepath.Join(dir, devnet.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	edit(raw)
	if b, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := devnet.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
