package media

import "sync"

// rtxCache keeps the last packets of one upstream video layer so a
// subscriber's Generic NACK (RFC 4585 §6.2.1) is answered by the SFU, not
// by another round trip to the publisher. It holds one copy per upstream
// packet, shared by every subscriber of the layer: each subscriber maps
// its own sequence numbers back to the upstream ones (downtrack.segments).
// It stores SFrame ciphertext as received, never anything decrypted.
type rtxCache struct {
	mu    sync.Mutex
	slots []rtxSlot
}

const rtxSlots = 512 // about 2 s of 2.5 Mbit/s video; power of two

type rtxSlot struct {
	valid  bool
	seq    uint16
	ts     uint32
	marker bool
	n      int
	buf    [maxRTPSize]byte
}

func newRTXCache() *rtxCache { return &rtxCache{slots: make([]rtxSlot, rtxSlots)} }

func (c *rtxCache) put(seq uint16, ts uint32, marker bool, payload []byte) {
	if len(payload) > maxRTPSize {
		return
	}
	c.mu.Lock()
	s := &c.slots[int(seq)&(rtxSlots-1)]
	s.valid, s.seq, s.ts, s.marker = true, seq, ts, marker
	s.n = copy(s.buf[:], payload)
	c.mu.Unlock()
}

// get copies the payload of upstream packet seq into dst.
func (c *rtxCache) get(seq uint16, dst []byte) (ts uint32, marker bool, n int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[int(seq)&(rtxSlots-1)]
	if !s.valid || s.seq != seq {
		return 0, false, 0, false
	}
	return s.ts, s.marker, copy(dst, s.buf[:s.n]), true
}
