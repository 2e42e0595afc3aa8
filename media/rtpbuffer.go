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
// packet through the interceptor chain (each interceptor allocating) and
// forwards it. Here, once the SFU has a layer for the SSRC (attach), the
// writer forwards the packet itself, on the session's goroutine, and the
// SFU does what the read-side interceptors did from the same header parse
// (upstream.go): no goroutine hand-off and no allocation between
// decryption and forwarding. Until then, while pion reads the first packets
// itself to learn the payload type, mid and rid, it is an ordinary blocking
// queue; what is still queued at attach is forwarded first. (What pion read
// to announce the track is not forwarded: a subscriber starts on a keyframe
// the SFU asks for anyway.)
type rtpBuffer struct {
	mu       sync.Mutex
	slots    [rtpBufferPackets][]byte
	head     int
	n        int
	closed   bool
	attached bool
	wake     chan struct{}
	done     chan struct{}

	sinkMu  sync.Mutex // orders forwarding: one packet at a time, in order
	sink    func(pkt []byte)
	scratch []byte
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

// Write forwards one packet once attached, or queues it.
func (b *rtpBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	if b.attached {
		b.mu.Unlock()
		b.sinkMu.Lock()
		if b.sink != nil {
			b.sink(p)
		}
		b.sinkMu.Unlock()
		return len(p), nil
	}
	if b.n == len(b.slots) {
		b.mu.Unlock()
		return 0, packetio.ErrFull
	}
	s := &b.slots[(b.head+b.n)%len(b.slots)]
	*s = append((*s)[:0], p...)
	b.n++
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Read returns the oldest queued packet, waiting for one; io.EOF once
// closed and empty. Only pion reads, and only before attach.
func (b *rtpBuffer) Read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if b.n > 0 {
			n, err := b.pop(p)
			b.mu.Unlock()
			return n, err
		}
		if b.closed {
			b.mu.Unlock()
			return 0, io.EOF
		}
		b.mu.Unlock()
		<-b.wake
	}
}

// pop copies out the oldest packet; b.mu is held and b.n > 0.
func (b *rtpBuffer) pop(p []byte) (int, error) {
	s := b.slots[b.head]
	if len(s) > len(p) {
		return 0, io.ErrShortBuffer
	}
	n := copy(p, s)
	b.head = (b.head + 1) % len(b.slots)
	b.n--
	return n, nil
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

// attach makes sink the buffer's reader: what is queued is forwarded now,
// every later write at once on the writing goroutine.
func (b *rtpBuffer) attach(sink func(pkt []byte)) {
	b.sinkMu.Lock()
	defer b.sinkMu.Unlock()
	b.sink = sink
	if b.scratch == nil {
		b.scratch = make([]byte, maxRTPSize)
	}
	for {
		b.mu.Lock()
		if b.n == 0 || b.closed {
			b.attached = true
			b.mu.Unlock()
			return
		}
		n, err := b.pop(b.scratch)
		b.mu.Unlock()
		if err == nil {
			sink(b.scratch[:n])
		}
	}
}

// detach closes the buffer and waits for a packet being forwarded:
// afterwards nothing more is forwarded from it.
func (b *rtpBuffer) detach() {
	_ = b.Close()
	b.sinkMu.Lock()
	b.sink = nil
	b.sinkMu.Unlock()
}
