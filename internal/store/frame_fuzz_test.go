package store

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeFrame checks the log's record framing both ways: a frame that
// decodes re-encodes to the same bytes, and appendFrame writes what
// decodeFrame reads back and what the layout drawn in log.go says
// (encodeRecord in log_test.go writes it field by field by hand).
func FuzzDecodeFrame(f *testing.F) {
	good := appendFrame(nil, 7, []byte("payload"))
	f.Add(good, uint64(7), []byte("payload"))
	f.Add(good[:len(good)-1], uint64(1), []byte{})
	f.Add(append(good, good...), uint64(0), []byte(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint64(1<<63), []byte{0})
	f.Fuzz(func(t *testing.T, b []byte, seq uint64, payload []byte) {
		if s, p, n, err := decodeFrame(b); err == nil {
			if n > len(b) || n != recordHeader+len(p) {
				t.Fatalf("frame of %d bytes with a %d-byte payload in %d bytes", n, len(p), len(b))
			}
			if again := appendFrame(nil, s, p); !bytes.Equal(again, b[:n]) {
				t.Fatalf("frame re-encodes to %x, decoded from %x", again, b[:n])
			}
		} else if !errors.Is(err, errTorn) && !errors.Is(err, errChecksum) && !errors.Is(err, errTooLarge) {
			t.Fatalf("decodeFrame: unexpected error %v", err)
		}
		enc := appendFrame([]byte("prefix"), seq, payload)[len("prefix"):]
		if !bytes.Equal(enc, encodeRecord(seq, payload)) {
			t.Fatalf("appendFrame wrote %x, the layout says %x", enc, encodeRecord(seq, payload))
		}
		s, p, n, err := decodeFrame(enc)
		if err != nil || s != seq || !bytes.Equal(p, payload) || n != len(enc) {
			t.Fatalf("frame decodes to %d %x (%d bytes), %v; encoded from %d %x", s, p, n, err, seq, payload)
		}
		if len(enc) > recordHeader {
			enc[len(enc)-1] ^= 1
			if _, _, _, err := decodeFrame(enc); !errors.Is(err, errChecksum) {
				t.Fatalf("a frame with its last byte flipped: %v, want a checksum mismatch", err)
			}
		}
	})
}
