package devnet_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
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
	rc, err := client.New(follower, tok).SubmitPart(ctx, wire)
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
	if _, err := client.New(follower, tok).SubmitPart(ctx, wire); !errcode.Is(err, errcode.DoubleSpend) {
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
