package replica

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Peer transport: raft messages over HTTP. A replica POSTs to a peer's
// base URL + MessagePath a body of messages, each framed as
//
//	[length u32 BE][raftpb.Message, protobuf]
//
// Raft tolerates lost, repeated and reordered messages, so the transport
// promises nothing: a peer that cannot be reached has its messages dropped
// (and raft told, so it probes instead of streaming), and a full queue drops
// the newest. Each request carries an HMAC-SHA256 of its body under the
// group's shared key (Config.Key) in the MACHeader; a replica steps no
// message from a request without a valid one, so only a holder of the key
// can speak raft to it (a forged vote or append would otherwise rewrite
// the ledger's history). Replicas should still talk over a private
// network: the MAC authenticates, it does not hide the batches.

// MessagePath is where a replica takes raft messages from its peers.
const MessagePath = "/raft/messages"

// MACHeader carries MAC's result, hex-encoded, on every request that
// changes a replica: raft messages and membership changes.
const MACHeader = "Specie-Raft-Mac"

// MinKeyLen is the shortest group key Start accepts.
const MinKeyLen = 32

// MAC authenticates one request to a replica under the group's key: its
// method, path and body, so a captured request cannot be replayed against
// another route.
func MAC(key []byte, method, path string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(body)
	return h.Sum(nil)
}

// checkMAC says whether req carries a valid MACHeader for body.
func (r *Replica) checkMAC(req *http.Request, body []byte) bool {
	got, err := hex.DecodeString(req.Header.Get(MACHeader))
	return err == nil && hmac.Equal(got, MAC(r.key, req.Method, req.URL.Path, body))
}

// maxMessagesBody bounds one request's body: many messages of up to
// maxSizePerMsg each.
const maxMessagesBody = 64 << 20

// peerQueue is how many messages wait for one peer before new ones are
// dropped.
const peerQueue = 4096

// sender delivers messages to one peer, in order, batching whatever is
// queued into one request.
type sender struct {
	r   *Replica
	id  uint64
	url string
	q   chan *pb.Message
	// gone is closed when the peer leaves the group.
	gone chan struct{}
}

func (s *sender) run() {
	defer s.r.wg.Done()
	var buf []byte
	for {
		var m *pb.Message
		select {
		case m = <-s.q:
		case <-s.r.stop:
			return
		case <-s.gone:
			return
		}
		buf = buf[:0]
		n := 0
		var snaps []*pb.Message
		for {
			if m.GetType() == pb.MessageType_MsgSnap {
				snaps = append(snaps, m)
			}
			b, err := proto.Marshal(m)
			if err != nil {
				s.r.log.Error("raft message not encoded", "to", s.id, "err", err)
			} else {
				buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
				buf = append(buf, b...)
				n++
			}
			if len(buf) >= 4<<20 {
				break
			}
			select {
			case m = <-s.q:
				continue
			default:
			}
			break
		}
		if n == 0 {
			continue
		}
		err := s.post(buf)
		if err != nil {
			s.r.log.Debug("raft messages not delivered", "to", s.id, "messages", n, "err", err)
			s.r.node.ReportUnreachable(s.id)
		}
		for _, m := range snaps {
			s.r.reportSnapshot(m, err)
		}
	}
}

func (s *sender) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-s.r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+MessagePath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(MACHeader, hex.EncodeToString(MAC(s.r.key, http.MethodPost, MessagePath, body)))
	resp, err := s.r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("peer answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// send queues rd's messages for their peers.
func (r *Replica) send(msgs []*pb.Message) {
	r.peersMu.RLock()
	defer r.peersMu.RUnlock()
	for _, m := range msgs {
		s, ok := r.senders[m.GetTo()]
		if !ok {
			continue
		}
		select {
		case s.q <- m:
		default:
			r.log.Debug("raft message dropped: queue full", "to", m.GetTo(), "type", m.GetType())
		}
	}
}

// ServeHTTP takes raft messages from a peer (POST MessagePath).
func (r *Replica) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxMessagesBody+1))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxMessagesBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !r.checkMAC(req, body) {
		r.log.Warn("raft messages refused: missing or bad MAC", "remote", req.RemoteAddr)
		http.Error(w, "missing or bad "+MACHeader, http.StatusUnauthorized)
		return
	}
	for len(body) > 0 {
		if len(body) < 4 || uint64(len(body)-4) < uint64(binary.BigEndian.Uint32(body)) {
			http.Error(w, "truncated message frame", http.StatusBadRequest)
			return
		}
		n := binary.BigEndian.Uint32(body)
		m := &pb.Message{}
		if err := proto.Unmarshal(body[4:4+n], m); err != nil {
			http.Error(w, "bad message: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = body[4+n:]
		if m.GetTo() != r.id {
			continue
		}
		if m.GetType() == pb.MessageType_MsgSnap && r.prefetch(m.GetSnapshot()) {
			// The ledger is being brought to the snapshot's state outside
			// the Ready loop (snapshot.go); the leader sends it again.
			continue
		}
		if err := r.node.Step(req.Context(), m); err != nil {
			// Stopped, or the request ended: the message is lost, which
			// raft tolerates.
			r.log.Debug("raft message not stepped", "from", m.GetFrom(), "err", err)
			break
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
