package crypto

import "testing"

// TestKeyCacheExpandsOnSecondSight checks what the cache holds: a key seen
// once is remembered unexpanded, the second sight expands it, later ones
// take that same expansion; a key off the curve is never expanded.
func TestKeyCacheExpandsOnSecondSight(t *testing.T) {
	c := NewKeyCache(4)
	k, _ := GenerateKey()
	pub := k.Public()
	if x := c.expanded(pub); x != nil || c.cur[pub] != nil {
		t.Fatal("first sight expanded the key")
	}
	x := c.expanded(pub)
	if x == nil || c.cur[pub] != x {
		t.Fatal("second sight did not expand and keep the key")
	}
	if c.expanded(pub) != x {
		t.Fatal("third sight expanded again")
	}
	var notPoint PublicKey
	notPoint[0] = 2
	for range 3 {
		if c.expanded(notPoint) != nil {
			t.Fatal("a key off the curve was expanded")
		}
	}
	// Four other keys turn the generations over once: pub moves to the
	// older one and comes back on its next sight, still expanded.
	for range 4 {
		o, _ := GenerateKey()
		c.expanded(o.Public())
	}
	if _, in := c.cur[pub]; in {
		t.Fatal("no turnover after the newer generation filled")
	}
	if c.expanded(pub) != x || c.cur[pub] != x {
		t.Fatal("a key from the older generation was not moved back")
	}
}
