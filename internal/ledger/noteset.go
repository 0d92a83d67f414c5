package ledger

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"syscall"
	"unsafe"

	"github.com/specie/specie/money"
)

// noteSet is the in-memory index of the unspent set, one open-addressing
// hash table per shard. Shard snapshots and the log are the durable copy
// (durable.go); this index answers
// "is this note unspent, and for how much?" without touching the LSM tree,
// which is what keeps commit speed flat from a million notes to a hundred
// million.
//
// A slot is 32 bytes: the first 24 bytes of the note ID and its value.
// Note IDs are SHA-256 outputs, so 192 bits keep accidental or engineered
// collisions out of reach (a second preimage on 192 bits), and the value
// must match as well. Tables grow by 1.25x at 90% load, so the index costs
// 36 to 45 bytes per unspent note. The slot arrays are mapped outside the Go
// heap so the garbage collector neither scans them nor lets garbage grow in
// proportion to them.
type noteSet struct {
	shards []setShard
}

type setShard struct {
	mu    sync.RWMutex
	slots []slot // len is a capacity; empty slots have value 0
	mem   []byte // the mapping behind slots
	count int
	seed  maphash.Seed
	// cow, while a snapshot of this shard is being copied, gets each slice
	// of slots before its first change (see durable.go).
	cow *cowCopy
}

type slot struct {
	key   [24]byte
	value uint64 // 0 marks an empty slot: notes never hold zero
}

const (
	minSlots = 1 << 10
	// Tables grow past 9/10 full (integer arithmetic: no floats here).
	maxLoadNum = 9
	maxLoadDen = 10
)

func newNoteSet(shards int) (*noteSet, error) {
	s := &noteSet{shards: make([]setShard, shards)}
	for i := range s.shards {
		s.shards[i].seed = maphash.MakeSeed()
		if err := s.shards[i].alloc(minSlots); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *noteSet) close() {
	for i := range s.shards {
		sh := &s.shards[i]
		if sh.mem != nil {
			syscall.Munmap(sh.mem)
			sh.mem, sh.slots = nil, nil
		}
	}
}

func (sh *setShard) alloc(n int) error {
	mem, err := mapBytes(n * slotSize)
	if err != nil {
		return fmt.Errorf("note index: %d slots: %w", n, err)
	}
	sh.mem = mem
	sh.slots = unsafe.Slice((*slot)(unsafe.Pointer(&mem[0])), n)
	return nil
}

// home is the slot a key would like: a hash of it keyed by a seed chosen
// at random for each process, scaled onto the table without division. Note
// IDs are SHA-256 outputs, but anyone can grind transactions until their
// note IDs share leading bytes; with a secret seed they cannot aim at one
// probe run and turn lookups into linear scans (hash flooding).
func (sh *setShard) home(k *[24]byte, n int) int {
	hi, _ := bits.Mul64(maphash.Bytes(sh.seed, k[:]), uint64(n))
	return int(hi)
}

func key24(id *money.NoteID) (k [24]byte) {
	copy(k[:], id[:24])
	return k
}

// get returns the value of an unspent note, or 0.
func (s *noteSet) get(shard int, id *money.NoteID) uint64 {
	sh := &s.shards[shard]
	sh.mu.RLock()
	v := sh.getLocked(id)
	sh.mu.RUnlock()
	return v
}

func (sh *setShard) getLocked(id *money.NoteID) uint64 {
	return sh.getKey(key24(id))
}

func (sh *setShard) getKey(k [24]byte) uint64 {
	n := len(sh.slots)
	for i := sh.home(&k, n); ; i++ {
		if i == n {
			i = 0
		}
		sl := &sh.slots[i]
		if sl.value == 0 {
			return 0
		}
		if sl.key == k {
			return sl.value
		}
	}
}

// put adds an unspent note. The caller holds the shard's write lock.
func (sh *setShard) put(id *money.NoteID, v uint64) error {
	return sh.putKey(key24(id), v)
}

func (sh *setShard) putKey(k [24]byte, v uint64) error {
	if (sh.count+1)*maxLoadDen > maxLoadNum*len(sh.slots) {
		if err := sh.grow(); err != nil {
			return err
		}
	}
	sh.insert(k, sh.home(&k, len(sh.slots)), v)
	sh.count++
	return nil
}

func (sh *setShard) insert(k [24]byte, i int, v uint64) {
	n := len(sh.slots)
	for ; ; i++ {
		if i == n {
			i = 0
		}
		if sh.slots[i].value == 0 {
			sh.touch(i)
			sh.slots[i] = slot{key: k, value: v}
			return
		}
	}
}

func (sh *setShard) grow() error {
	if c := sh.cow; c != nil {
		// The snapshot image has the old table's shape: finish it first.
		for k := range c.done {
			if !c.done[k] {
				sh.copyChunk(k)
			}
		}
		sh.cow = nil
	}
	old, oldMem := sh.slots, sh.mem
	if err := sh.alloc(len(old) + len(old)/4); err != nil {
		return err
	}
	for i := range old {
		if old[i].value != 0 {
			sh.insert(old[i].key, sh.home(&old[i].key, len(sh.slots)), old[i].value)
		}
	}
	return syscall.Munmap(oldMem)
}

// del removes a note, shifting later entries of its probe run back so no
// tombstones are needed. It reports whether the note was there.
func (sh *setShard) del(id *money.NoteID) bool {
	k := key24(id)
	n := len(sh.slots)
	i := sh.home(&k, n)
	for ; ; i = (i + 1) % n {
		if sh.slots[i].value == 0 {
			return false
		}
		if sh.slots[i].key == k {
			break
		}
	}
	// Backward-shift deletion for linear probing.
	j := i
	for {
		j = (j + 1) % n
		sl := sh.slots[j]
		if sl.value == 0 {
			break
		}
		h := sh.home(&sl.key, n)
		// Move sl into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			sh.touch(i)
			sh.slots[i] = sl
			i = j
		}
	}
	sh.touch(i)
	sh.slots[i] = slot{}
	sh.count--
	return true
}

// mapBytes maps n bytes of zeroed memory outside the Go heap: the index's
// tables and the snapshot staging buffer, which the garbage collector
// should neither scan nor count.
func mapBytes(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes: %w", n, err)
	}
	return b, nil
}

// cowCopy is a snapshot of one shard being copied: a slot-for-slot image of
// the table as it was after one batch. The commit loop fills it a few
// chunks after each batch, and any chunk about to change is copied first,
// so the image is exact without ever copying the whole shard in one pause.
type cowCopy struct {
	img  []byte // len(slots) slots, raw
	done []bool // per chunk of cowChunk slots
	left int    // chunks not yet copied
	next int    // where the commit loop's copying goes on
}

const (
	cowChunk = 512 // slots: 16 KiB
	slotSize = int(unsafe.Sizeof(slot{}))
)

// startCopy begins a snapshot image of the shard in buf (which must hold
// len(slots) slots).
func (sh *setShard) startCopy(buf []byte) *cowCopy {
	n := (len(sh.slots) + cowChunk - 1) / cowChunk
	c := &cowCopy{img: buf[:len(sh.slots)*slotSize], done: make([]bool, n), left: n}
	sh.cow = c
	return c
}

// touch keeps slot i's chunk in the snapshot image before it changes. It
// is on every index write, so it stays small enough to inline.
func (sh *setShard) touch(i int) {
	if sh.cow != nil {
		sh.touchCopying(i)
	}
}

//go:noinline
func (sh *setShard) touchCopying(i int) {
	if !sh.cow.done[i/cowChunk] {
		sh.copyChunk(i / cowChunk)
	}
}

func (sh *setShard) copyChunk(k int) {
	c := sh.cow
	lo, hi := k*cowChunk*slotSize, min((k+1)*cowChunk, len(sh.slots))*slotSize
	copy(c.img[lo:hi], sh.mem[lo:hi])
	c.done[k] = true
	c.left--
	if c.left == 0 {
		sh.cow = nil
	}
}

// copySome copies up to budget bytes of the chunks not yet copied and
// reports whether the image is complete.
func (sh *setShard) copySome(c *cowCopy, budget int) bool {
	for ; c.left > 0 && c.next < len(c.done) && budget > 0; c.next++ {
		if !c.done[c.next] {
			sh.copyChunk(c.next)
			budget -= cowChunk * slotSize
		}
	}
	return c.left == 0
}

// imageSlots views a snapshot image as slots.
func imageSlots(img []byte) []slot {
	if len(img) == 0 {
		return nil
	}
	return unsafe.Slice((*slot)(unsafe.Pointer(&img[0])), len(img)/slotSize)
}
