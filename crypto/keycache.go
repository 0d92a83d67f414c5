package crypto

import (
	"sync"

	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// KeyCache keeps the expanded form of public keys that sign again and
// again (a wallet's key signs every payment from that wallet), so a batch
// skips decompressing the key and building its table: about 11 µs of the
// 36 µs a signature costs in a small batch, and 1.5 KB of garbage. A key is
// expanded into the cache the second time it is seen, so keys that sign
// once (a fresh key per note) cost a map entry, not an expansion. Safe for
// concurrent use by several batches.
//
// It keeps at least the size keys most recently seen, in two generations
// of up to size each: a key found in the older moves to the newer, and
// when the newer is full the older is dropped, so keys in use stay and the
// rest age out without a list to maintain.
type KeyCache struct {
	mu       sync.Mutex
	cur, old map[PublicKey]*ed25519.ExpandedPublicKey // nil: seen once, not expanded
	size     int
}

// NewKeyCache makes a cache that keeps the size keys most recently seen
// (it holds up to twice that, about 1.5 KB a key signing again).
func NewKeyCache(size int) *KeyCache {
	size = max(size, 1)
	return &KeyCache{cur: make(map[PublicKey]*ed25519.ExpandedPublicKey, size), size: size}
}

// expanded returns pub's expanded form, or nil when it is not cached yet
// (the first time pub is seen) or pub is not a point on the curve: the
// batch then adds it unexpanded, and refuses it as it would uncached.
func (c *KeyCache) expanded(pub PublicKey) *ed25519.ExpandedPublicKey {
	c.mu.Lock()
	x, seen := c.cur[pub]
	if !seen {
		if x, seen = c.old[pub]; seen {
			c.put(pub, x)
		}
	}
	if !seen {
		c.put(pub, nil)
	}
	c.mu.Unlock()
	if x != nil || !seen {
		return x
	}
	x, err := ed25519.NewExpandedPublicKey(pub[:]) // outside the lock: it is the slow part
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.put(pub, x)
	c.mu.Unlock()
	return x
}

// put sets pub's entry in the newer generation, turning the generations
// over first when it is full. c.mu is held.
func (c *KeyCache) put(pub PublicKey, x *ed25519.ExpandedPublicKey) {
	if _, in := c.cur[pub]; !in && len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[PublicKey]*ed25519.ExpandedPublicKey, c.size)
	}
	c.cur[pub] = x
}

// Len is how many keys the cache holds, expanded or seen once.
func (c *KeyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
