package replica_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/money"
)

// FuzzDecodeSnapData: a snapshot's Data comes from the leader over the
// network. Decoding never panics, and what decodes is canonical: encoding
// it again gives the same bytes.
func FuzzDecodeSnapData(f *testing.F) {
	var head money.Hash
	head[3] = 9
	f.Add(replica.EncodeSnapData(42, head, map[uint64]string{1: "http://127.0.0.1:7001", 2: "http://127.0.0.1:7002"}))
	f.Add(replica.EncodeSnapData(0, money.Hash{}, nil))
	f.Add([]byte{})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, h, peers, err := replica.DecodeSnapData(b)
		if err != nil {
			return
		}
		if again := replica.EncodeSnapData(seq, h, peers); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, encodes to %x", b, again)
		}
	})
}

// FuzzDecodeEntryFrames: an EntriesPath answer comes from a peer.
// Splitting it never panics, and the frames it yields rebuild it exactly.
func FuzzDecodeEntryFrames(f *testing.F) {
	frame := func(seq uint64, e []byte) []byte {
		b := binary.BigEndian.AppendUint64(nil, seq)
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		return append(b, e...)
	}
	f.Add(append(frame(1, []byte("abc")), frame(2, nil)...))
	f.Add(frame(7, []byte{0x80, 0, 0, 0, 1, 0}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var again []byte
		err := replica.DecodeEntryFrames(b, func(seq uint64, e []byte) error {
			again = append(again, frame(seq, e)...)
			return nil
		})
		if err == nil && !bytes.Equal(again, b) {
			t.Fatalf("frames of %x rebuild %x", b, again)
		}
	})
}
