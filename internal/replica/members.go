package replica

import (
	"context"
	"slices"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/specie/specie/errcode"
)

// Membership. A replica is added or removed one at a time (raft's simple
// conf changes: a majority of the old group is a majority-overlapping
// quorum of the new one). The change is an entry of the log like a batch;
// every replica applies it in order, and an added replica's base URL
// travels in the entry, so replaying the log rebuilds the peer table.

// addPeer records a member's URL and, for another replica, starts its
// sender. Caller is the Ready loop (or Start).
func (r *Replica) addPeer(id uint64, url string) {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	r.peers[id] = url
	if id == r.id {
		return
	}
	if s, ok := r.senders[id]; ok {
		if s.url == url {
			return
		}
		close(s.gone)
	}
	s := &sender{r: r, id: id, url: url, q: make(chan *pb.Message, peerQueue), gone: make(chan struct{})}
	r.senders[id] = s
	r.wg.Add(1)
	go s.run()
}

// removePeer forgets a member that left.
func (r *Replica) removePeer(id uint64) {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	delete(r.peers, id)
	if s, ok := r.senders[id]; ok {
		close(s.gone)
		delete(r.senders, id)
	}
}

func (r *Replica) peerURL(id uint64) string {
	r.peersMu.RLock()
	defer r.peersMu.RUnlock()
	return r.peers[id]
}

// changed updates the peer table after a conf change was applied.
func (r *Replica) changed(cc *pb.ConfChange, cs *pb.ConfState) {
	switch cc.GetType() {
	case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode:
		// The URL this replica was started with wins over the one in the
		// log: the log holds what the proposer knew, this replica's
		// configuration where it reaches that peer from here.
		if len(cc.GetContext()) > 0 && r.peerURL(cc.GetNodeId()) == "" {
			r.addPeer(cc.GetNodeId(), string(cc.GetContext()))
		}
	case pb.ConfChangeRemoveNode:
		if cc.GetNodeId() == r.id {
			r.log.Warn("this replica was removed from the group; it takes no further part")
			// The group sends it nothing more: a proposal still waiting
			// here would wait for ever.
			r.failWaiters(func(*waiter) bool { return true }, errcode.New(errcode.Unavailable,
				"replica %d was removed from the group; the batch's outcome is not known here: look its transactions up", r.id))
		}
		r.removePeer(cc.GetNodeId())
	}
	r.setMembers(cs)
}

func (r *Replica) setMembers(cs *pb.ConfState) {
	m := map[uint64]struct{}{}
	for _, id := range cs.GetVoters() {
		m[id] = struct{}{}
	}
	r.members.Store(&m)
}

// Members lists the voting members as this replica last applied them.
func (r *Replica) Members() []uint64 {
	p := r.members.Load()
	if p == nil {
		return nil
	}
	ids := make([]uint64, 0, len(*p))
	for id := range *p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// AddMember adds replica id, reachable at url, to the group and waits
// until this replica has applied the change. Only the leader takes it.
// Then start the new replica with Join.
func (r *Replica) AddMember(ctx context.Context, id uint64, url string) error {
	if id == 0 || url == "" {
		return errcode.New(errcode.Malformed, "add member: need an ID (not 0) and a URL")
	}
	if err := r.Lead(); err != nil {
		return err // before the check: a follower's members may lag the leader's
	}
	if slices.Contains(r.Members(), id) {
		return errcode.New(errcode.Conflict, "add member: replica %d is already a member", id)
	}
	return r.change(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: &id, Context: []byte(url)}, func(m []uint64) bool { return slices.Contains(m, id) })
}

// RemoveMember removes replica id from the group and waits until this
// replica has applied the change. Only the leader takes it.
func (r *Replica) RemoveMember(ctx context.Context, id uint64) error {
	if err := r.Lead(); err != nil {
		return err // before the check: a follower's members may lag the leader's
	}
	if !slices.Contains(r.Members(), id) {
		return errcode.New(errcode.NotFound, "remove member: replica %d is not a member", id)
	}
	return r.change(ctx, &pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: &id}, func(m []uint64) bool { return !slices.Contains(m, id) })
}

func (r *Replica) change(ctx context.Context, cc *pb.ConfChange, done func([]uint64) bool) error {
	if err := r.Lead(); err != nil {
		return err
	}
	if err := r.node.ProposeConfChange(ctx, cc); err != nil {
		return errcode.New(errcode.Unavailable, "membership change not proposed: %v", err)
	}
	for !done(r.Members()) {
		select {
		case <-ctx.Done():
			return errcode.New(errcode.Unavailable, "membership change proposed, not yet applied here: %v", ctx.Err())
		case <-r.stop:
			return errcode.New(errcode.Unavailable, "replica %d is stopping", r.id)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
