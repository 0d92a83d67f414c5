// Package codec is the one reader and the one writer of Specie's binary
// formats: the canonical transaction encoding (money, which reads with it),
// the ledger's log records, snapshots and store values, and the log's
// record framing. Every field is fixed-width big-endian or a run of
// raw bytes; the layouts are drawn beside the code that uses them.
//
// A Reader never panics and never allocates: a read past the end of its
// input sets a sticky error and returns zeros, so a decoder reads every
// field in order and checks Err (or End) once. A count read from the input
// is checked against the bytes left (Count) before it sizes anything, so a
// damaged length can never ask for gigabytes. A Writer appends the same
// fields in the same order, so an encoder and its decoder read line by line
// alike.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is a read past the end of the input.
var ErrShort = errors.New("truncated")

// Reader reads fields from the front of a byte slice.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b. The slices Take returns alias b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// take returns the next n bytes, or nil (and sets the error) when fewer are
// left.
func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = ErrShort
		r.b = nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

// U16 reads a big-endian uint16.
func (r *Reader) U16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Copy fills dst (a fixed-size field: a hash, an ID) from the input; on
// short input dst is left as it was.
func (r *Reader) Copy(dst []byte) {
	if v := r.take(len(dst)); v != nil {
		copy(dst, v)
	}
}

// Take returns the next n bytes without copying them, or nil on short
// input. n may come from the input: it is checked, never allocated.
func (r *Reader) Take(n int) []byte { return r.take(n) }

// Count reads nothing: it checks that n items of size bytes each fit in
// what is left, and returns n as an int to size a slice with; otherwise it
// sets the error and returns 0. Every count read from the input goes
// through it before it sizes an allocation.
func (r *Reader) Count(n uint64, size int) int {
	if r.err != nil {
		return 0
	}
	if size <= 0 || n > uint64(len(r.b)/size) {
		r.err = fmt.Errorf("%d items of %d bytes in %d bytes", n, size, len(r.b))
		r.b = nil
		return 0
	}
	return int(n)
}

// Len is how many bytes are left.
func (r *Reader) Len() int { return len(r.b) }

// Err is the first error, if any.
func (r *Reader) Err() error { return r.err }

// End is Err, or an error when bytes are left over: a decoder that reads a
// whole value ends with it, so nothing that would not re-encode to the
// same bytes is accepted.
func (r *Reader) End() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return nil
}

// Writer appends fields to a byte slice, the mirror of Reader. It is a
// value, like the slice append returns: each method returns the writer with
// the field appended (w = w.U64(v), or chained), so that writing into a
// fixed-size array on the stack keeps it there. (With pointer receivers
// the compiler sees the buffer stored through a pointer and moves it to
// the heap: an allocation per txid on the commit path.)
type Writer struct {
	b []byte
}

// NewWriter appends to b (often b[:0] of a reused buffer or an array).
func NewWriter(b []byte) Writer { return Writer{b: b} }

// U8 appends one byte.
func (w Writer) U8(v uint8) Writer { w.b = append(w.b, v); return w }

// U16 appends a big-endian uint16.
func (w Writer) U16(v uint16) Writer { w.b = binary.BigEndian.AppendUint16(w.b, v); return w }

// U32 appends a big-endian uint32.
func (w Writer) U32(v uint32) Writer { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }

// U64 appends a big-endian uint64.
func (w Writer) U64(v uint64) Writer { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }

// Put appends raw bytes (a fixed-size field, or a run whose length was
// written before it).
func (w Writer) Put(p []byte) Writer { w.b = append(w.b, p...); return w }

// Bytes is everything appended, after what NewWriter was given.
func (w Writer) Bytes() []byte { return w.b }

// Len is the length of Bytes.
func (w Writer) Len() int { return len(w.b) }
