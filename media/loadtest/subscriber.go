package loadtest

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"
)

// subscriber is the receive side of a load subscriber. Of what a browser
// does per packet, the SFU sees only the transport-wide feedback
// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1, every 100 ms,
// built by pion's recorder as pion's interceptor does), which drives its
// bandwidth estimate; so that is what a load subscriber sends. It sends no
// receiver reports (the SFU does not use them) and no NACKs: loss is
// counted, not repaired. Every packet is measured (sink) on the goroutine
// that decrypted it, through a BufferFactory, as the SFU itself reads:
// the parent process shares the machine with the SFU, and pion's full
// receive path (a goroutine hand-off and four interceptors per packet)
// would take the CPU the SFU is measured on.
type subscriber struct {
	sk     *sink
	twccID atomic.Uint32 // negotiated transport-cc extension ID, from the SFU's offer
	mux    ice.UDPMux    // the subscriber's socket; closed with the peer

	mu  sync.Mutex
	rec *twcc.Recorder
}

func newSubscriber(sk *sink) *subscriber {
	return &subscriber{sk: sk, rec: twcc.NewRecorder(rand.Uint32())}
}

// api builds the subscriber's pion API: default codecs, transport-cc
// negotiated, no interceptor, its own buffers.
func (s *subscriber) api() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, err
		}
	}
	se := loopbackSettings()
	se.BufferFactory = s.newBuffer
	// The subscriber's own socket, with the receive buffer the bare
	// forwarder's subscribers get: pion's default (the system's, 208 kB
	// here) holds 30 ms of a 12-publisher room, and a client descheduled
	// that long would count as the SFU's loss.
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	s.mux = webrtc.NewICEUDPMux(nil, conn)
	se.SetICEUDPMux(s.mux)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}

var extmapTWCC = regexp.MustCompile(`a=extmap:(\d+)(?:/\w+)? ` + regexp.QuoteMeta(sdp.TransportCCURI))

// learn takes the transport-cc extension ID from the SFU's offer (the SFU
// uses one ID for all its media sections).
func (s *subscriber) learn(offer string) {
	if m := extmapTWCC.FindStringSubmatch(offer); m != nil {
		if id, err := strconv.Atoi(m[1]); err == nil && id > 0 && id < 15 {
			s.twccID.Store(uint32(id))
		}
	}
}

// feedback sends transport-wide feedback every 100 ms until done.
func (s *subscriber) feedback(pc *webrtc.PeerConnection, done <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			s.mu.Lock()
			pkts := s.rec.BuildFeedbackPacket()
			s.mu.Unlock()
			if len(pkts) > 0 {
				_ = pc.WriteRTCP(pkts)
			}
		}
	}
}

func (s *subscriber) newBuffer(kind packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
	if kind != packetio.RTPBufferPacket {
		return &discard{done: make(chan struct{})}
	}
	return &subBuffer{s: s, wake: make(chan struct{}, 1)}
}

// opusPT is Opus's payload type in pion's default codecs and the SFU's.
const opusPT = 111

// subBuffer measures every packet of one incoming SSRC as it is written,
// and keeps the first one for pion, which reads it to announce the track.
type subBuffer struct {
	s *subscriber
	t *track
	h rtp.Header

	mu     sync.Mutex
	first  []byte
	given  bool
	closed bool
	wake   chan struct{}
}

func (b *subBuffer) Write(p []byte) (int, error) {
	now := b.s.sk.clk.now()
	if len(p) < rtpHeaderLen {
		return len(p), nil
	}
	if b.t == nil {
		b.t = newTrack(p[1]&0x7f != opusPT)
	}
	if id := uint8(b.s.twccID.Load()); id != 0 {
		if _, err := b.h.Unmarshal(p); err == nil {
			if ext := b.h.GetExtension(id); len(ext) == 2 {
				b.s.mu.Lock()
				b.s.rec.Record(b.h.SSRC, binary.BigEndian.Uint16(ext), now/1e3)
				b.s.mu.Unlock()
			}
		}
	}
	b.s.sk.record(b.t, p, now)
	b.mu.Lock()
	if !b.given && b.first == nil {
		b.first = append([]byte(nil), p...)
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	return len(p), nil
}

// Read gives pion the first packet; later reads wait for Close.
func (b *subBuffer) Read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if b.first != nil {
			n := copy(p, b.first)
			b.first, b.given = nil, true
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

func (b *subBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// discard takes the RTCP nobody in a load subscriber reads.
type discard struct {
	once sync.Once
	done chan struct{}
}

func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) Read([]byte) (int, error)    { <-d.done; return 0, io.EOF }
func (d *discard) Close() error                { d.once.Do(func() { close(d.done) }); return nil }
