package replica

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/specie/specie/errcode"
)

// Catch-up by state. A raft snapshot names the ledger's batch and head
// hash at its index (snapshot.go); a follower behind it first asks a peer
// for the batches it lacks (EntriesPath), which works while the peers' raft
// logs still hold them. When they do not (the follower is new, wiped, or
// was down while the group compacted far past it), it fetches the peer's
// whole ledger state instead (POST StatePath, ledger.WriteState): streamed
// to a file beside the raft log while a MAC over it under the group key is
// computed (sent as an HTTP trailer, since it is known only at the end),
// then checked, then loaded by ledger.LoadState, which checks the state
// holds the snapshot's batch and head hash before it replaces anything.
// So a replica catches up however far the peers have compacted.

// StatePath is where a replica streams its ledger's whole state to a peer
// catching up by snapshot: POST, body StateRequest, MAC'd like EntriesPath.
const StatePath = "/raft/state"

// StateRequest is the body of POST StatePath: the state must reach at
// least batch At.
type StateRequest struct {
	At uint64 `json:"at"`
}

// stateTimeout bounds one state transfer.
const stateTimeout = 10 * time.Minute

// serveState is POST StatePath (behind authed).
func (r *Replica) serveState(w http.ResponseWriter, req *http.Request) {
	var q StateRequest
	if err := json.Unmarshal(reqBody(req), &q); err != nil {
		writeError(w, errcode.New(errcode.Malformed, "state: %v", err))
		return
	}
	if seq, _ := r.led.Head(); seq < q.At {
		writeError(w, errcode.New(errcode.Unavailable, "state: this replica holds batch %d, not yet %d", seq, q.At))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Trailer", MACHeader)
	mac := stateMAC(r.key, reqBody(req))
	w.WriteHeader(http.StatusOK)
	if _, err := r.led.WriteState(io.MultiWriter(w, mac)); err != nil {
		// The client sees no valid trailer and refuses what it got.
		r.log.Warn("state transfer to a peer failed", "err", err)
		return
	}
	w.Header().Set(MACHeader, hex.EncodeToString(mac.Sum(nil)))
}

// stateMAC authenticates a StatePath answer under the group's key, bound
// to the request it answers.
func stateMAC(key, req []byte) hash.Hash {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("STATE\n" + StatePath + "\n"))
	m.Write(req)
	m.Write([]byte{'\n'})
	return m
}

// fetchState fetches the whole state from the first of sources that
// serves one whose MAC checks, and loads it into the ledger.
func (r *Replica) fetchState(d *snapData, sources []string) error {
	var errs []error
	for _, u := range sources {
		err := r.fetchStateFrom(u, d)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("state from %s: %w", u, err))
		select {
		case <-r.stop:
			return errors.Join(append(errs, errors.New("stopping"))...)
		default:
		}
	}
	return errors.Join(append(errs, fmt.Errorf("no peer served a state at batch %d", d.seq))...)
}

func (r *Replica) fetchStateFrom(base string, d *snapData) error {
	body, _ := json.Marshal(StateRequest{At: d.seq})
	resp, cancel, err := r.raftPost(base, StatePath, body, stateTimeout)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	f, err := os.CreateTemp(r.dir, "state-*.tmp")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	mac := stateMAC(r.key, body)
	n, err := io.Copy(io.MultiWriter(f, mac), resp.Body)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	got, err := hex.DecodeString(resp.Trailer.Get(MACHeader))
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("state of %d bytes without a valid %s: not from a holder of the group key, cut short, or damaged on the way", n, MACHeader)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := r.led.LoadState(f, d.seq, d.head); err != nil {
		return err
	}
	seq, _ := r.led.Head()
	r.log.Info("caught up by a state transfer", "from", base, "bytes", n, "batch", seq)
	return nil
}
