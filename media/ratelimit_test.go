package media

import "testing"

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(RateLimit{PacketsPerSecond: 100, BurstPackets: 10, BitsPerSecond: 1e6, BurstBits: 1e6}, 0)
	n := 0
	for range 1000 {
		if b.allow(100, 0) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("burst: %d allowed, want 10", n)
	}
	// 50 ms later five more packets are allowed.
	n = 0
	for range 1000 {
		if b.allow(100, 50e6) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("refill: %d allowed, want 5", n)
	}
	// The bit budget binds for big packets.
	b = newTokenBucket(RateLimit{PacketsPerSecond: 1e6, BurstPackets: 1e6, BitsPerSecond: 8000, BurstBits: 8000}, 0)
	if !b.allow(1000, 0) || b.allow(1, 0) {
		t.Fatal("bit budget not enforced")
	}
	var unlimited tokenBucket
	if !unlimited.allow(1500, 0) {
		t.Fatal("zero config must not limit")
	}
}
