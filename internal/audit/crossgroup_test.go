package audit

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// logged is one entry of a batch as a sharded network serves it: the
// transaction and the ID it was logged under.
type logged struct {
	tx   *money.Tx
	leaf money.Hash
}

// replayLog replays batches as log g (-1: the coordinator's) of a 2-group
// network whose steps needing the coordinator are collected in needs, with
// honest headers (root over the leaves, totals as the ledger counts them),
// and returns the findings.
func replayLog(t *testing.T, tr *Trust, g int, needs *[]need, ns *memNotes, minted []uint64, batches ...[]logged) []Finding {
	t.Helper()
	sh := &shardCtx{group: g, groups: 2, name: logName(g), needs: needs}
	var prev *money.BatchHeader
	var tot Totals
	var out []Finding
	for k, b := range batches {
		bc := roles.BatchContents{}
		var leaves []money.Hash
		for _, e := range b {
			raw, err := e.tx.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			bc.Txs = append(bc.Txs, raw)
			bc.IDs = append(bc.IDs, e.leaf)
			leaves = append(leaves, e.leaf)
		}
		h := money.BatchHeader{Seq: uint64(k + 1), TxRoot: money.MerkleRoot(leaves), TxCount: uint32(len(leaves)), Minted: minted[k]}
		if prev != nil {
			h.Prev = tr.Network.HeaderHash(prev)
		}
		bc.Header = h
		fs, next, _, err := step(tr, keySet(tr.MintKeys), keySet(tr.RedeemKeys), prev, tot, h, bc, ns, sh)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			f.Log = sh.name
			out = append(out, f)
		}
		prev, tot = &h, next
	}
	return out
}

// crossCase is group 1's batches and the coordinator's, with the headers'
// minted totals of group 1, and the findings wanted (Log, Batch, Tx and
// Check compared).
type crossCase struct {
	name        string
	group1      [][]logged
	minted1     []uint64
	coordinator [][]logged
	want        []Finding
}

// TestCrossGroupRules: the replay of a group's log and the coordinator's
// with honest headers (every root and total right), where only the
// cross-group rules can find the fault: a commit in a group the
// coordinator's log never decided, a transaction all of whose notes
// belong to another group logged as its own, two decisions for one
// transaction, a prepare and abort that give the inputs back.
func TestCrossGroupRules(t *testing.T) {
	n := ledgertest.New()
	net := n.Network
	tr := &Trust{Network: net, MintQuorum: 2, RedeemKeys: []crypto.PublicKey{n.RedeemKey.Public()}}
	for _, k := range n.Officers {
		tr.MintKeys = append(tr.MintKeys, k.Public())
	}
	owner := ledgertest.MustKey()
	// mint is a mint of 5 and 7 whose notes fall in the groups given.
	mint := func(groups ...int) *money.Tx {
		for {
			var outs []money.Output
			for range groups {
				outs = append(outs, ledgertest.To(owner, uint64(5+2*len(outs))))
			}
			tx := n.Mint([]int{0, 1}, outs...)
			ok := true
			for i, o := range n.Notes(tx) {
				ok = ok && shard.GroupOf(net.NoteID(&o), 2) == groups[i]
			}
			if ok {
				return tx
			}
		}
	}
	across := mint(0, 1)
	t1 := net.TxID(across)
	st := shard.StepsOf(net, t1)
	commitIn1 := []logged{{across, t1}}
	begin := []logged{{across, st.Begin}}
	commit := []logged{{across, st.DecideCommit}}
	abort := []logged{{across, st.DecideAbort}}
	other := mint(0)

	cases := []crossCase{
		{"a decided commit", [][]logged{commitIn1}, []uint64{7}, [][]logged{begin, commit}, nil},
		{"a commit never decided", [][]logged{commitIn1}, []uint64{7}, [][]logged{begin},
			[]Finding{{Log: "group 1", Batch: 1, Tx: 0, Check: CheckCrossGroup}}},
		{"a commit decided abort", [][]logged{commitIn1}, []uint64{7}, [][]logged{begin, abort},
			[]Finding{{Log: "group 1", Batch: 1, Tx: 0, Check: CheckCrossGroup}}},
		{"both decisions", [][]logged{commitIn1}, []uint64{7}, [][]logged{begin, commit, abort},
			[]Finding{{Log: "coordinator", Batch: 3, Tx: 0, Check: CheckCrossGroup}}},
		{"a decision never begun", [][]logged{commitIn1}, []uint64{7}, [][]logged{commit},
			[]Finding{{Log: "coordinator", Batch: 1, Tx: 0, Check: CheckCrossGroup}}},
		{"group 0's transaction in group 1", [][]logged{{{other, net.TxID(other)}}}, []uint64{5}, nil,
			[]Finding{{Log: "group 1", Batch: 1, Tx: 0, Check: CheckCrossGroup}}},
		{"a step of nothing", [][]logged{{{other, st.Prepare}}}, []uint64{5}, nil,
			[]Finding{{Log: "group 1", Batch: 1, Tx: 0, Check: CheckCrossGroup}}},
	}
	// A note of group 1, a payment of it to group 0 prepared there and
	// aborted (its input given back under its own ID), then the same note
	// spent within group 1: honest, and the input must be unspent again.
	own := mint(1)
	note := n.Notes(own)[0]
	var away, stay *money.Tx
	for nonce := uint64(1); away == nil || stay == nil; nonce++ {
		tx := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{owner}, ledgertest.To(owner, 5))
		tx.Nonce = nonce
		ledgertest.SignSpend(net, tx, []*crypto.PrivateKey{owner})
		o := n.Notes(tx)[0]
		switch g := shard.GroupOf(net.NoteID(&o), 2); {
		case g == 0 && away == nil:
			away = tx
		case g == 1 && stay == nil:
			stay = tx
		}
	}
	sa := shard.StepsOf(net, net.TxID(away))
	cases = append(cases, crossCase{"a prepare aborted gives the input back", [][]logged{{{own, net.TxID(own)}}, {{away, sa.Prepare}}, {{away, sa.Abort}}, {{stay, net.TxID(stay)}}},
		[]uint64{5, 5, 5, 5}, [][]logged{{{away, sa.Begin}}, {{away, sa.DecideAbort}}}, nil})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var needs []need
			got := replayLog(t, tr, 1, &needs, newMemNotes(), c.minted1, c.group1...)
			coord := newMemNotes()
			got = append(got, replayLog(t, tr, -1, &needs, coord, make([]uint64, len(c.coordinator)), c.coordinator...)...)
			if err := checkNeeds(needs, coord, func(f Finding) { got = append(got, f) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("findings %+v, want %+v", got, c.want)
			}
			for i, w := range c.want {
				g := got[i]
				if g.Log != w.Log || g.Batch != w.Batch || g.Tx != w.Tx || g.Check != w.Check {
					t.Fatalf("finding %d: %s [%s] %s; want %s, batch %d, tx %d [%s]", i, g.Location(), g.Check, g.Message, w.Log, w.Batch, w.Tx, w.Check)
				}
			}
		})
	}
}
