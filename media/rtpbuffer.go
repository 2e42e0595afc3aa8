package media

import (
	"io"
	"sync"

	"github.com/pion/transport/v5/packetio"
)

// rtpBuffer is where pion's SRTP session puts the decrypted RTP of one
// incoming SSRC (SettingEngine.BufferFactory; the srtp.ReadStreamSRTP of
// that SSRC reads it).
//
// pion's own buffer hands every packet to another goroutine: the session's
// read loop decrypts and writes, the track's reader wakes up, reads the
// packet through the interceptor chain and forwards it. Here, once the SFU
// has a layer for the SSRC (attach), the writer itself reads the packet
// back at once through pion (the TrackRemote, the interceptors that must
// see it: NACK generator, receiver reports, transport-wide feedback; and
// the read stream) and forwards it, on the session's goroutine: one
// goroutine hand-off and wake-up less per incoming packet, and nothing
// queued between decryption and forwarding. Until then, while pion reads
// the first packets itself to learn the payload type, mid and rid, it is an
// ordinary blocking queue.
//
// Reads and writes never block each other for longer than a copy. The pump
// runs under pumpMu only, so pion's reader is never entered twice; it runs
// only while a packet is queued, so the read it makes never waits (pion's
// read stream counts a packet as pending before writing it here).
type rtpBuffer struct {
	mu     sync.Mutex
	slots  [rtpBufferPackets][]byte
	head   int
	n      int
	closed bool
	pump   func() bool // reads one packet through pion and forwards it; false once the track ended
	wake   chan struct{}
	done   chan struct{}

	pumpMu sync.Mutex
}

// rtpBufferPackets bounds what waits before the SFU attaches (pion reads
// one packet, or a few for rid-based simulcast, before the track is
// announced) and a keyframe burst arriving meanwhile. Beyond it packets are
// dropped, as pion's buffer drops beyond its size limit; NACKs recover them.
const rtpBufferPackets = 64

var _ io.ReadWriteCloser = (*rtpBuffer)(nil)

func newRTPBuffer() *rtpBuffer {
	return &rtpBuffer{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Write queues one packet and, once attached, forwards what is queued.
func (b *rtpBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	if b.n == len(b.slots) {
		b.mu.Unlock()
		return 0, packetio.ErrFull
	}
	s := &b.slots[(b.head+b.n)%len(b.slots)]
	*s = append((*s)[:0], p...)
	b.n++
	attached := b.pump != nil
	b.mu.Unlock()
	if !attached {
		select {
		case b.wake <- struct{}{}:
		default:
		}
		return len(p), nil
	}
	b.drain()
	return len(p), nil
}

// drain pumps until nothing is queued. A read that returns a packet pion
// peeked earlier leaves the queue as it was; the loop then reads on.
func (b *rtpBuffer) drain() {
	b.pumpMu.Lock()
	defer b.pumpMu.Unlock()
	for {
		b.mu.Lock()
		pump, more := b.pump, b.n > 0 && !b.closed
		b.mu.Unlock()
		if !more || pump == nil || !pump() {
			return
		}
	}
}

// Read returns the oldest queued packet, waiting for one; io.EOF once
// closed and empty.
func (b *rtpBuffer) Read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if b.n > 0 {
			s := b.slots[b.head]
			if len(s) > len(p) {
				b.mu.Unlock()
				return 0, io.ErrShortBuffer
			}
			n := copy(p, s)
			b.head = (b.head + 1) % len(b.slots)
			b.n--
			b.mu.Unlock()
			return n, nil
		}
		if b.closed {
			b.mu.Unlock()
			return 0, io.EOF
		}
		b.mu.Unlock()
		<-b.wake
	}
}

// Close is called by pion when the read stream closes (the track ends or
// the PeerConnection closes).
func (b *rtpBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// attach makes pump the buffer's reader: from now on every write is read
// back and forwarded on the writing goroutine.
func (b *rtpBuffer) attach(pump func() bool) {
	b.mu.Lock()
	b.pump = pump
	b.mu.Unlock()
	b.drain()
}

// detach closes the buffer and waits for a pump under way to return:
// afterwards nothing more is forwarded from it.
func (b *rtpBuffer) detach() {
	_ = b.Close()
	b.pumpMu.Lock()
	b.mu.Lock()
	b.pump = nil
	b.mu.Unlock()
	b.pumpMu.Unlock()
}

// rtcpBuffer is pion's default RTCP buffer (srtp's stream_srtcp.go) behind
// the io.ReadWriteCloser a BufferFactory returns.
type rtcpBuffer struct{ b *packetio.Buffer }

func newRTCPBuffer() rtcpBuffer {
	b := packetio.NewBuffer()
	b.SetLimitSize(100 * 1000)
	return rtcpBuffer{b}
}

func (r rtcpBuffer) Read(p []byte) (int, error) {
	n, _, err := r.b.Read(p, nil)
	return n, err
}

func (r rtcpBuffer) Write(p []byte) (int, error) { return r.b.Write(p, nil) }
func (r rtcpBuffer) Close() error                { return r.b.Close() }
