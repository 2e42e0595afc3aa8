package media

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// upstream is the RTCP a publisher gets about what it sends, computed from
// the packets as they are forwarded: transport-wide congestion control
// feedback for the publisher's own bandwidth estimate
// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1, built by pion's
// recorder), Generic NACKs for lost packets (RFC 4585 §6.2.1) and receiver
// reports (RFC 3550 §6.4.2).
//
// pion's read-side interceptors do the same but need every packet read
// through them, and each allocates an attribute map and a parsed header per
// packet; here the SFU's one header parse serves all three, on the
// goroutine that decrypted the packet. One ticker per publisher sends what
// is due; pion ran three.
type upstream struct {
	p          *Participant
	senderSSRC uint32 // of the RTCP the SFU sends this publisher

	mu       sync.Mutex
	feedback *twcc.Recorder
	lastTWCC int64 // nanos of the last packet recorded for feedback
	streams  map[uint32]*recvStream
	missing  []uint16 // scratch for NACK lists
	lastRR   int64
}

// Intervals as pion's interceptors have them.
const (
	feedbackInterval = 100 * time.Millisecond // TWCC feedback and NACKs
	twccOutage       = int64(time.Second)     // a silence this long is an outage, not loss
	rrInterval       = int64(time.Second)     // receiver reports
)

func newUpstream(p *Participant) *upstream {
	ssrc := rand.Uint32()
	return &upstream{p: p, senderSSRC: ssrc, feedback: twcc.NewRecorder(ssrc),
		streams: map[uint32]*recvStream{}, missing: make([]uint16, 0, nackLogSize)}
}

// record accounts one packet of layer l (header h) arrived at nanos.
func (u *upstream) record(l *layer, h *rtp.Header, nanos int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if l.twccID != 0 {
		if ext := h.GetExtension(l.twccID); len(ext) >= 2 {
			if u.lastTWCC != 0 && nanos-u.lastTWCC > twccOutage {
				// The path was down (a network cut): what the publisher sent into
				// it is not reported lost. pion's recorder would list every such
				// sequence number as not received in the next feedback, and the
				// publisher's loss-based estimate would collapse to its floor and
				// climb back for many seconds once the path is back (libwebrtc's own
				// receiver reports only the last 500 ms). Feedback starts again at
				// the first packet after the outage.
				u.feedback = twcc.NewRecorder(u.senderSSRC)
			}
			u.lastTWCC = nanos
			u.feedback.Record(h.SSRC, binary.BigEndian.Uint16(ext), nanos/1e3)
		}
	}
	st := u.streams[h.SSRC]
	if st == nil {
		st = newRecvStream(l.pub.codecCap.ClockRate, l.pub.codec.isVideo())
		u.streams[h.SSRC] = st
	}
	if st.nackable {
		st.nack.add(h.SequenceNumber)
	}
	st.stats.add(h.SequenceNumber, h.Timestamp, nanos)
}

// senderReport notes a sender report of the publisher (RFC 3550 §6.4.1)
// for the LSR and DLSR fields of the next receiver report.
func (u *upstream) senderReport(ssrc uint32, ntp uint64, nanos int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if st := u.streams[ssrc]; st != nil {
		st.stats.lastSR, st.stats.lastSRNanos = uint32(ntp>>16), nanos
	}
}

// upstreamRTCP takes the RTCP a publisher sends about one of its own
// streams (pion's SRTCP session opens a read stream per incoming SSRC, and
// the SFU reads none of them): sender reports are noted for the receiver
// reports, the rest is dropped. It never holds a packet.
type upstreamRTCP struct {
	u    *upstream
	once sync.Once
	done chan struct{}
}

func (r *upstreamRTCP) Write(b []byte) (int, error) {
	now := r.u.p.sfu.nanos()
	// RFC 3550 §6.1: a compound packet is a sequence of packets, each
	// with its length in 32-bit words minus one; §6.4.1: a sender report
	// (PT 200) carries its sender's SSRC, then the NTP timestamp.
	for p := b; len(p) >= 4; {
		n := (int(binary.BigEndian.Uint16(p[2:])) + 1) * 4
		if n > len(p) || p[0]>>6 != 2 {
			break
		}
		if p[1] == 200 && n >= 28 {
			r.u.senderReport(binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint64(p[8:]), now)
		}
		p = p[n:]
	}
	return len(b), nil
}

// Read has nothing to give: it waits for Close.
func (r *upstreamRTCP) Read([]byte) (int, error) {
	<-r.done
	return 0, io.EOF
}

func (r *upstreamRTCP) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// run sends what is due every feedbackInterval until the participant
// leaves.
func (u *upstream) run(stop <-chan struct{}) {
	t := time.NewTicker(feedbackInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if pkts := u.due(u.p.sfu.nanos()); len(pkts) > 0 {
				_ = u.p.pc.WriteRTCP(pkts)
			}
		}
	}
}

// due builds the RTCP to send now: feedback, NACKs, and every rrInterval
// receiver reports.
func (u *upstream) due(nanos int64) []rtcp.Packet {
	u.mu.Lock()
	defer u.mu.Unlock()
	pkts := u.feedback.BuildFeedbackPacket()
	for ssrc, st := range u.streams {
		if !st.nackable {
			continue
		}
		if missing := st.nack.missingSeqNumbers(u.missing); len(missing) > 0 {
			pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: u.senderSSRC, MediaSSRC: ssrc,
				Nacks: rtcp.NackPairsFromSequenceNumbers(missing)})
		}
	}
	if nanos-u.lastRR >= rrInterval && len(u.streams) > 0 {
		u.lastRR = nanos
		rr := &rtcp.ReceiverReport{SSRC: u.senderSSRC}
		for ssrc, st := range u.streams {
			rr.Reports = append(rr.Reports, st.stats.report(ssrc, nanos))
			if len(rr.Reports) == 31 { // RFC 3550 §6.4.2: RC is 5 bits
				pkts = append(pkts, rr)
				rr = &rtcp.ReceiverReport{SSRC: u.senderSSRC}
			}
		}
		if len(rr.Reports) > 0 {
			pkts = append(pkts, rr)
		}
	}
	return pkts
}

// recvStream is one incoming SSRC's receive state. Only video negotiates
// NACK (registerCodecs), so only video is NACKed, as pion's generator does.
type recvStream struct {
	nackable bool
	nack     nackLog
	stats    recvStats
}

func newRecvStream(clockRate uint32, nackable bool) *recvStream {
	if clockRate == 0 {
		clockRate = 90000
	}
	return &recvStream{nackable: nackable, stats: recvStats{clockRate: float64(clockRate)}}
}

// nackLog remembers which of the last nackLogSize sequence numbers arrived
// and lists the gaps after the last run of consecutive arrivals, as pion's
// NACK generator does (its receive log, same size; every gap is NACKed
// every interval until it is filled or falls out of the log).
type nackLog struct {
	bits            [nackLogSize / 64]uint64
	end             uint16
	lastConsecutive uint16
	started         bool
}

const nackLogSize = 512

func (s *nackLog) set(seq uint16)      { s.bits[seq%nackLogSize/64] |= 1 << (seq % 64) }
func (s *nackLog) del(seq uint16)      { s.bits[seq%nackLogSize/64] &^= 1 << (seq % 64) }
func (s *nackLog) has(seq uint16) bool { return s.bits[seq%nackLogSize/64]&(1<<(seq%64)) != 0 }

func (s *nackLog) add(seq uint16) {
	if !s.started {
		s.set(seq)
		s.end, s.lastConsecutive, s.started = seq, seq, true
		return
	}
	switch diff := seq - s.end; {
	case diff == 0:
		return
	case diff < 1<<15: // newer than end
		for i := s.end + 1; i != seq; i++ {
			s.del(i)
		}
		s.end = seq
		if s.lastConsecutive+1 == seq {
			s.lastConsecutive = seq
		} else if seq-s.lastConsecutive > nackLogSize {
			s.lastConsecutive = seq - nackLogSize
			s.fixLastConsecutive()
		}
	case s.lastConsecutive+1 == seq: // an older gap filled
		s.lastConsecutive = seq
		s.fixLastConsecutive()
	}
	s.set(seq)
}

func (s *nackLog) fixLastConsecutive() {
	i := s.lastConsecutive + 1
	for i != s.end+1 && s.has(i) {
		i++
	}
	s.lastConsecutive = i - 1
}

func (s *nackLog) missingSeqNumbers(dst []uint16) []uint16 {
	if !s.started || s.end-s.lastConsecutive >= 1<<15 {
		return nil
	}
	dst = dst[:0]
	for i := s.lastConsecutive + 1; i != s.end+1; i++ {
		if !s.has(i) {
			dst = append(dst, i)
		}
	}
	return dst
}

// recvStats are the receiver statistics of RFC 3550 §6.4.1 and A.3 (loss),
// A.8 (interarrival jitter), computed as pion's report interceptor does.
type recvStats struct {
	clockRate   float64
	started     bool
	received    [recvStatsSize / 64]uint64
	cycles      uint16
	lastSeq     uint16
	lastReport  uint16 // lastSeq at the previous report
	lastTS      uint32
	lastNanos   int64
	jitter      float64
	totalLost   uint32
	lastSR      uint32 // middle 32 bits of the last SR's NTP timestamp
	lastSRNanos int64
}

const recvStatsSize = 8192

func (s *recvStats) set(seq uint16)      { s.received[seq%recvStatsSize/64] |= 1 << (seq % 64) }
func (s *recvStats) del(seq uint16)      { s.received[seq%recvStatsSize/64] &^= 1 << (seq % 64) }
func (s *recvStats) has(seq uint16) bool { return s.received[seq%recvStatsSize/64]&(1<<(seq%64)) != 0 }

func (s *recvStats) add(seq uint16, ts uint32, nanos int64) {
	if !s.started {
		s.started = true
		s.set(seq)
		s.lastSeq, s.lastReport, s.lastTS, s.lastNanos = seq, seq-1, ts, nanos
		return
	}
	s.set(seq)
	if diff := seq - s.lastSeq; diff > 0 && diff < 1<<15 {
		if seq < s.lastSeq {
			s.cycles++
		}
		for i := s.lastSeq + 1; i != seq; i++ {
			s.del(i)
		}
		s.lastSeq = seq
	}
	// A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si) in timestamp units.
	d := float64(nanos-s.lastNanos)/1e9*s.clockRate - (float64(ts) - float64(s.lastTS))
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) / 16
	s.lastTS, s.lastNanos = ts, nanos
}

func (s *recvStats) report(ssrc uint32, nanos int64) rtcp.ReceptionReport {
	var lost uint32
	for i := s.lastReport + 1; s.lastReport != s.lastSeq && i != s.lastSeq; i++ {
		if !s.has(i) {
			lost++
		}
	}
	expected := s.lastSeq - s.lastReport
	s.totalLost = min(s.totalLost+lost, 0xffffff)
	var fraction uint8
	if expected != 0 {
		fraction = uint8(min(float64(lost*256)/float64(expected), 255))
	}
	var dlsr uint32
	if s.lastSRNanos != 0 {
		dlsr = uint32(float64(nanos-s.lastSRNanos) / 1e9 * 65536) // 1/65536 s
	}
	s.lastReport = s.lastSeq
	return rtcp.ReceptionReport{SSRC: ssrc, FractionLost: fraction, TotalLost: s.totalLost,
		LastSequenceNumber: uint32(s.cycles)<<16 | uint32(s.lastSeq), Jitter: uint32(s.jitter),
		LastSenderReport: s.lastSR, Delay: dlsr}
}
