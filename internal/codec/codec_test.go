package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter([]byte("x")).U8(1).U16(0x0203).U32(0x04050607)
	w = w.U64(0x08090a0b0c0d0e0f)
	w = w.Put([]byte{0x10, 0x11})
	want := []byte{'x', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x10, 0x11}
	if !bytes.Equal(w.Bytes(), want) || w.Len() != len(want) {
		t.Fatalf("wrote %x", w.Bytes())
	}
	r := NewReader(want[1:])
	var two [2]byte
	if r.U8() != 1 || r.U16() != 0x0203 || r.U32() != 0x04050607 || r.U64() != 0x08090a0b0c0d0e0f {
		t.Fatal("read back other values")
	}
	if r.Copy(two[:]); two != [2]byte{0x10, 0x11} || r.End() != nil {
		t.Fatalf("read %x, end %v", two, r.End())
	}
}

// Short input: zeros, a sticky error, no panic; later reads stay zero
// even where bytes would be left.
func TestShortInput(t *testing.T) {
	r := NewReader([]byte{1, 2, 3})
	if r.U32() != 0 || !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("U32 of 3 bytes: err %v", r.Err())
	}
	dst := [2]byte{9, 9}
	if r.U8() != 0 || r.Take(1) != nil || r.Take(-1) != nil {
		t.Fatal("read after the error returned data")
	}
	if r.Copy(dst[:]); dst != [2]byte{9, 9} {
		t.Fatal("Copy after the error wrote")
	}
	if r.End() == nil {
		t.Fatal("End after a short read")
	}
}

func TestCountAndEnd(t *testing.T) {
	r := NewReader(make([]byte, 10))
	if n := r.Count(3, 3); n != 3 || r.Err() != nil {
		t.Fatalf("3 items of 3 in 10 bytes: %d, %v", n, r.Err())
	}
	if n := r.Count(1<<62, 40); n != 0 || r.Err() == nil {
		t.Fatalf("2^62 items of 40 in 10 bytes: %d, %v", n, r.Err())
	}
	r = NewReader(make([]byte, 2))
	r.U8()
	if r.End() == nil {
		t.Fatal("End with a byte left")
	}
	if r.Take(-5) != nil || r.Err() == nil {
		t.Fatal("a negative length read")
	}
}

// A writer into an array on the stack keeps it there: no allocation.
func TestWriterIntoArrayDoesNotAllocate(t *testing.T) {
	var sink [15]byte
	allocs := testing.AllocsPerRun(100, func() {
		var v [15]byte
		NewWriter(v[:0]).U64(1).U32(2).U8(3).U16(4)
		sink = v
	})
	if allocs != 0 || sink[14] != 4 {
		t.Fatalf("%v allocations writing into an array", allocs)
	}
}
