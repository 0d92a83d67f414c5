package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir, Options{CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func put(t *testing.T, db *DB, kv ...string) {
	t.Helper()
	b := db.NewBatch()
	for i := 0; i < len(kv); i += 2 {
		b.Set([]byte(kv[i]), []byte(kv[i+1]))
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
}

func TestGetViewHas(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	put(t, db, "k", "v1", "empty", "")

	got, err := db.Get([]byte("k"))
	if err != nil || string(got) != "v1" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// Get returns a copy: changing it changes nothing stored.
	got[0] = 'X'
	if again, _ := db.Get([]byte("k")); string(again) != "v1" {
		t.Fatalf("Get after mutating the returned slice = %q", again)
	}
	if v, err := db.Get([]byte("empty")); err != nil || len(v) != 0 {
		t.Fatalf("empty value: %q, %v", v, err)
	}
	if _, err := db.Get([]byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}

	var seen string
	if err := db.View([]byte("k"), func(v []byte) { seen = string(v) }); err != nil || seen != "v1" {
		t.Fatalf("View = %q, %v", seen, err)
	}
	called := false
	if err := db.View([]byte("missing"), func([]byte) { called = true }); !errors.Is(err, ErrNotFound) || called {
		t.Fatalf("View missing: err %v, fn called %v", err, called)
	}

	for _, c := range []struct {
		key  string
		want bool
	}{{"k", true}, {"empty", true}, {"missing", false}, {"", false}, {"k\x00", false}} {
		if ok, err := db.Has([]byte(c.key)); err != nil || ok != c.want {
			t.Errorf("Has(%q) = %v, %v; want %v", c.key, ok, err, c.want)
		}
	}
}

func TestScan(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	put(t, db,
		"a", "0",
		"a\x00", "1",
		"a\x01", "2",
		"a\xff", "3",
		"a\xff\xff", "4",
		"ab", "5",
		"b", "6",
		"b\x00", "7",
		"\xff", "8",
		"\xff\x01", "9",
		"\xff\xff", "10",
		"\xff\xff\x00", "11",
	)
	cases := []struct {
		name          string
		prefix, start string
		nilStart      bool
		stopAfter     int // 0: never
		want          []string
	}{
		{name: "prefix a", prefix: "a", nilStart: true, want: []string{"a", "a\x00", "a\x01", "ab", "a\xff", "a\xff\xff"}},
		{name: "prefix a\\xff", prefix: "a\xff", nilStart: true, want: []string{"a\xff", "a\xff\xff"}},
		{name: "prefix b", prefix: "b", nilStart: true, want: []string{"b", "b\x00"}},
		{name: "prefix \\xff (no upper bound)", prefix: "\xff", nilStart: true, want: []string{"\xff", "\xff\x01", "\xff\xff", "\xff\xff\x00"}},
		{name: "prefix \\xff\\xff", prefix: "\xff\xff", nilStart: true, want: []string{"\xff\xff", "\xff\xff\x00"}},
		{name: "absent prefix", prefix: "c", nilStart: true, want: nil},
		{name: "empty prefix is everything", prefix: "", nilStart: true, want: []string{
			"a", "a\x00", "a\x01", "ab", "a\xff", "a\xff\xff", "b", "b\x00", "\xff", "\xff\x01", "\xff\xff", "\xff\xff\x00"}},
		{name: "start inside prefix", prefix: "a", start: "a\x01", want: []string{"a\x01", "ab", "a\xff", "a\xff\xff"}},
		{name: "start between keys", prefix: "a", start: "ac", want: []string{"a\xff", "a\xff\xff"}},
		{name: "start past every key of the prefix", prefix: "a", start: "a\xff\xff\x00", want: nil},
		{name: "start inside \\xff prefix", prefix: "\xff", start: "\xff\xff", want: []string{"\xff\xff", "\xff\xff\x00"}},
		{name: "stop after 2", prefix: "a", nilStart: true, stopAfter: 2, want: []string{"a", "a\x00"}},
		{name: "stop on first", prefix: "\xff", nilStart: true, stopAfter: 1, want: []string{"\xff"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var start []byte
			if !c.nilStart {
				start = []byte(c.start)
			}
			var got []string
			err := db.Scan([]byte(c.prefix), start, func(k, v []byte) error {
				got = append(got, string(k))
				if c.stopAfter > 0 && len(got) == c.stopAfter {
					return fmt.Errorf("wrapped: %w", ErrStop)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("Scan(%q, %q) = %q, want %q", c.prefix, c.start, got, c.want)
			}
		})
	}
}

// TestScanCallbackError: an error other than ErrStop ends the scan and
// comes back unchanged, so callers can tell their own failures apart.
func TestScanCallbackError(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	put(t, db, "p1", "x", "p2", "y", "p3", "z")
	boom := errors.New("boom")
	n := 0
	err := db.Scan([]byte("p"), nil, func(k, v []byte) error {
		n++
		if n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("err %v after %d calls; want boom after 2", err, n)
	}
}

// TestScanValues: values match their keys, and slices copied inside the
// callback stay correct after it returns.
func TestScanValues(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	b := db.NewBatch()
	for i := 0; i < 500; i++ {
		b.Set(fmt.Appendf(nil, "n%04d", i), fmt.Appendf(nil, "value-%d", i))
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	var keys, vals [][]byte
	err := db.Scan([]byte("n"), nil, func(k, v []byte) error {
		keys = append(keys, bytes.Clone(k))
		vals = append(vals, bytes.Clone(v))
		return nil
	})
	if err != nil || len(keys) != 500 {
		t.Fatalf("scanned %d keys, err %v", len(keys), err)
	}
	for i := range keys {
		if string(keys[i]) != fmt.Sprintf("n%04d", i) || string(vals[i]) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("entry %d: %q=%q", i, keys[i], vals[i])
		}
	}
}

func TestBatchAtomicity(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	put(t, db, "keep", "1", "gone", "2")

	// A discarded batch leaves nothing behind.
	b := db.NewBatch()
	b.Set([]byte("discarded"), []byte("x"))
	b.Delete([]byte("keep"))
	if b.Len() == 0 {
		t.Fatal("batch with writes reports Len 0")
	}
	b.Discard()
	if ok, _ := db.Has([]byte("discarded")); ok {
		t.Fatal("discarded Set is visible")
	}
	if ok, _ := db.Has([]byte("keep")); !ok {
		t.Fatal("discarded Delete took effect")
	}

	// Writes of an uncommitted batch are invisible until Commit.
	b = db.NewBatch()
	b.Set([]byte("new1"), []byte("a"))
	b.Set([]byte("new2"), []byte("b"))
	b.Set([]byte("keep"), []byte("overwritten"))
	b.Delete([]byte("gone"))
	if ok, _ := db.Has([]byte("new1")); ok {
		t.Fatal("write visible before Commit")
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB, when string) {
		t.Helper()
		for k, want := range map[string]string{"new1": "a", "new2": "b", "keep": "overwritten"} {
			if v, err := db.Get([]byte(k)); err != nil || string(v) != want {
				t.Fatalf("%s: %s = %q, %v; want %q", when, k, v, err, want)
			}
		}
		for _, k := range []string{"gone", "discarded"} {
			if ok, _ := db.Has([]byte(k)); ok {
				t.Fatalf("%s: %s present", when, k)
			}
		}
	}
	check(db, "after commit")

	// An unsynced commit is also kept by a clean Close.
	put(t, db, "nosync", "z")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer db.Close()
	check(db, "after reopen")
	if v, err := db.Get([]byte("nosync")); err != nil || string(v) != "z" {
		t.Fatalf("unsynced commit after clean close: %q, %v", v, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	// Pebble locks its directory: a second open of the same store fails
	// instead of corrupting it.
	if db2, err := Open(dir, Options{}); err == nil {
		db2.Close()
		t.Fatal("second Open of a store in use succeeded")
	}
	db.Close()
	if db2, err := Open(dir, Options{}); err != nil {
		t.Fatalf("reopen after close: %v", err)
	} else {
		db2.Close()
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		in, want []byte
	}{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte("a"), []byte("b")},
		{[]byte{0x61, 0xff}, []byte{0x62}},
		{[]byte{0x61, 0xff, 0xff}, []byte{0x62}},
		{[]byte{0x61, 0xfe, 0xff}, []byte{0x61, 0xff}},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff, 0xff}, nil},
		{[]byte{0xfe, 0xff}, []byte{0xff}},
		{[]byte{0x01, 0x00, 0x00}, []byte{0x01, 0x00, 0x01}},
	}
	for _, c := range cases {
		in := bytes.Clone(c.in)
		got := prefixEnd(in)
		if !bytes.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("prefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
		if !bytes.Equal(in, c.in) {
			t.Errorf("prefixEnd modified its argument: %x -> %x", c.in, in)
		}
	}
}
