package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/replica"
)

// ledgerCmd groups the operator's commands for a replicated ledger. They
// talk to a replica's /raft/ routes at --api; a membership change sent to
// a follower follows its not_leader answer to the leader.
func ledgerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Operate a replicated ledger"}
	cl := &cobra.Command{Use: "cluster", Short: "Show and change the replicas of a replicated ledger (--api names any replica)"}
	cl.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show a replica's view: leader, term, applied index, members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st replica.StatusInfo
			if err := raftCall(cmd.Context(), g.api, nil, http.MethodGet, "/raft/status", nil, &st); err != nil {
				return err
			}
			return g.print(st, fmt.Sprintf("replica %d: leader %d %s, term %d, applied index %d, batch %d, members %v",
				st.ID, st.Leader, st.LeaderURL, st.Term, st.Applied, st.Batches, st.Members))
		},
	}, &cobra.Command{
		Use:   "add ID=URL",
		Short: "Add a replica (one at a time); then start it with 'specie serve ledger --join'",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			peers, err := devnet.ParseCluster(args[0])
			if err != nil || len(peers) != 1 {
				return errcode.New(errcode.Malformed, "add: want one ID=URL, got %q", args[0])
			}
			var m replica.Member
			for id, u := range peers {
				m = replica.Member{ID: id, URL: u}
			}
			var st replica.StatusInfo
			key, err := g.raftKey()
			if err != nil {
				return err
			}
			if err := raftCall(cmd.Context(), g.api, key, http.MethodPost, "/raft/members", m, &st); err != nil {
				return err
			}
			return g.print(st, fmt.Sprintf("replica %d added at %s; members %v", m.ID, m.URL, st.Members))
		},
	}, &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a replica (one at a time)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return errcode.New(errcode.Malformed, "remove: replica ID %q", args[0])
			}
			var st replica.StatusInfo
			key, err := g.raftKey()
			if err != nil {
				return err
			}
			if err := raftCall(cmd.Context(), g.api, key, http.MethodDelete, "/raft/members/"+args[0], nil, &st); err != nil {
				return err
			}
			return g.print(st, fmt.Sprintf("replica %d removed; members %v", id, st.Members))
		},
	})
	cmd.AddCommand(cl)
	return cmd
}

// raftKey is the replicas' group key from the devnet config's folder:
// membership changes must carry its MAC.
func (g *globals) raftKey() ([]byte, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, fmt.Errorf("a membership change needs the group key from the devnet config: %w", err)
	}
	return cfg.RaftKey()
}

// raftCall makes one request to a replica's /raft/ routes, following a
// not_leader answer to the leader it names (a few hops at most).
// A change (key not nil) carries the group's MAC (replica.MACHeader).
func raftCall(ctx context.Context, base string, key []byte, method, path string, in, out any) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return errcode.New(errcode.Malformed, "encode: %v", err)
		}
	}
	hc := &http.Client{Timeout: 40 * time.Second}
	base = strings.TrimRight(base, "/")
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			return errcode.New(errcode.Malformed, "%s %s: %v", method, path, err)
		}
		req.Header.Set("Content-Type", "application/json")
		if key != nil {
			req.Header.Set(replica.MACHeader, hex.EncodeToString(replica.MAC(key, method, path, body)))
		}
		resp, err := hc.Do(req)
		if err != nil {
			return errcode.New(errcode.Unavailable, "%s %s: %v", method, base+path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return errcode.New(errcode.Unavailable, "%s %s: read response: %v", method, path, err)
		}
		if resp.StatusCode/100 == 2 {
			if err := json.Unmarshal(data, out); err != nil {
				return errcode.New(errcode.Internal, "%s %s: decode response: %v", method, path, err)
			}
			return nil
		}
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return errcode.New(errcode.Internal, "%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
		}
		if l := resp.Header.Get(errcode.LeaderHeader); eb.Error.Code == errcode.NotLeader && l != "" && hop < 3 {
			base = strings.TrimRight(l, "/")
			continue
		}
		return &errcode.Error{Code: eb.Error.Code, Message: eb.Error.Message}
	}
}
