package media

// RateLimit bounds what one participant's transport may send to the SFU.
// Packets over the limit are dropped before SRTP decryption, so a flooding
// publisher costs the SFU one header read per packet and cannot starve the
// others' forwarding.
type RateLimit struct {
	PacketsPerSecond float64 // sustained packet rate
	BurstPackets     float64 // bucket depth in packets
	BitsPerSecond    float64 // sustained bit rate (0: unlimited)
	BurstBits        float64 // bucket depth in bits
}

// DefaultRateLimit carries three simulcast layers of 2.5 Mbit/s camera
// video plus audio with room for retransmissions and keyframe bursts.
func DefaultRateLimit() RateLimit {
	return RateLimit{
		PacketsPerSecond: 1500, BurstPackets: 600,
		BitsPerSecond: 12e6, BurstBits: 4e6,
	}
}

// tokenBucket is a two-dimensional token bucket (packets and bits). It is
// driven by one goroutine (the socket reader) and needs no lock.
type tokenBucket struct {
	cfg       RateLimit
	packets   float64
	bits      float64
	lastNanos int64
}

func newTokenBucket(cfg RateLimit, nanos int64) tokenBucket {
	return tokenBucket{cfg: cfg, packets: cfg.BurstPackets, bits: cfg.BurstBits, lastNanos: nanos}
}

// allow takes one packet of size bytes from the bucket.
func (b *tokenBucket) allow(size int, nanos int64) bool {
	if b.cfg.PacketsPerSecond <= 0 {
		return true
	}
	if dt := nanos - b.lastNanos; dt > 0 {
		sec := float64(dt) / 1e9
		b.packets = min(b.cfg.BurstPackets, b.packets+sec*b.cfg.PacketsPerSecond)
		if b.cfg.BitsPerSecond > 0 {
			b.bits = min(b.cfg.BurstBits, b.bits+sec*b.cfg.BitsPerSecond)
		}
		b.lastNanos = nanos
	}
	need := float64(size * 8)
	if b.packets < 1 || (b.cfg.BitsPerSecond > 0 && b.bits < need) {
		return false
	}
	b.packets--
	if b.cfg.BitsPerSecond > 0 {
		b.bits -= need
	}
	return true
}
