package replica_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/specie/specie/internal/replica"
)

// testKey is the group key of the test clusters.
var testKey = bytes.Repeat([]byte{0x5e}, replica.MinKeyLen)

// TestRaftRoutesNeedTheGroupKey: raft messages and membership changes
// without the group's MAC, or with a MAC under another key or for another
// route, are refused (401) and change nothing: a forged vote at a huge
// term does not depose the leader, a forged member is not added.
func TestRaftRoutesNeedTheGroupKey(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader()
	base := c.peers[l.id]
	term := l.rep.Status().Term
	members := l.rep.Members()

	// A vote request from member 2 (or 1) at a term far ahead: stepped,
	// it would make the leader step down.
	from := uint64(1)
	if l.id == 1 {
		from = 2
	}
	vote := &pb.Message{Type: pb.MsgVote.Enum(), To: proto.Uint64(l.id), From: proto.Uint64(from), Term: proto.Uint64(term + 1000)}
	b, err := proto.Marshal(vote)
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	frame = append(frame, b...)
	member, _ := json.Marshal(replica.Member{ID: 99, URL: "http://127.0.0.1:1"})
	otherKey := bytes.Repeat([]byte{0x11}, replica.MinKeyLen)
	mac := func(key []byte, method, path string, body []byte) string {
		return hex.EncodeToString(replica.MAC(key, method, path, body))
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		mac                string
	}{
		{"message without a MAC", http.MethodPost, replica.MessagePath, frame, ""},
		{"message under another key", http.MethodPost, replica.MessagePath, frame, mac(otherKey, http.MethodPost, replica.MessagePath, frame)},
		{"message with a MAC of another body", http.MethodPost, replica.MessagePath, frame, mac(testKey, http.MethodPost, replica.MessagePath, frame[:len(frame)-1])},
		{"message with a MAC that is not hex", http.MethodPost, replica.MessagePath, frame, "zz"},
		{"member added without a MAC", http.MethodPost, "/raft/members", member, ""},
		{"member added under another key", http.MethodPost, "/raft/members", member, mac(otherKey, http.MethodPost, "/raft/members", member)},
		{"member added with a message's MAC", http.MethodPost, "/raft/members", member, mac(testKey, http.MethodPost, replica.MessagePath, member)},
		{"member removed without a MAC", http.MethodDelete, "/raft/members/" + itoa(from), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.mac != "" {
				req.Header.Set(replica.MACHeader, tc.mac)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401", resp.StatusCode)
			}
		})
	}
	if st := l.rep.Status(); st.Term != term || l.rep.Lead() != nil {
		t.Fatalf("after forged messages the leader is at term %d (was %d), leads: %v", st.Term, term, l.rep.Lead() == nil)
	}
	if got := l.rep.Members(); !slices.Equal(got, members) {
		t.Fatalf("members %v after forged changes, want %v", got, members)
	}

	// With the group key, the same change goes through.
	req, _ := http.NewRequest(http.MethodPost, base+"/raft/members", bytes.NewReader(member))
	req.Header.Set(replica.MACHeader, mac(testKey, http.MethodPost, "/raft/members", member))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("an authenticated member change: HTTP %d", resp.StatusCode)
	}
	if !slices.Contains(l.rep.Members(), 99) {
		t.Fatalf("members %v: 99 not added", l.rep.Members())
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
