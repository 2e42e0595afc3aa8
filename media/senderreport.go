package media

import (
	"time"

	"github.com/pion/rtcp"
)

// Sender reports (RFC 3550 §6.4.1) for what the SFU sends each subscriber.
// The SFU is the sender of every outgoing stream (RFC 3550 §8.2, see
// downtrack), so it reports them: a receiver needs the NTP/RTP timestamp
// pair of each stream to play audio and video in sync (RFC 3550 §6.4.1,
// "NTP timestamp" and "RTP timestamp"). The RTP timestamp is extrapolated
// from the last packet sent to the report's time at the stream's clock
// rate, as pion's report interceptor does.

// senderReportInterval is RFC 3550 §6.2's minimum interval, and pion's.
const senderReportInterval = int64(time.Second)

// maxReportsPerPacket keeps a compound packet (28 bytes per report) below
// a 1200-byte MTU with SRTCP's overhead.
const maxReportsPerPacket = 32

// ntpTime is t as a 64-bit NTP timestamp (RFC 3550 §4: seconds since
// 1 January 1900 in the high 32 bits, the fraction in the low 32).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	s := uint64(t.Unix()) + unixToNTP
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return s<<32 | frac
}

// senderReport describes what dt sent, at nanos (SFU clock) = wall; ok is
// false before the first packet.
func (dt *downtrack) senderReport(nanos int64, wall time.Time) (*rtcp.SenderReport, bool) {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	if dt.writer == nil || !dt.rw.sent {
		return nil, false
	}
	elapsed := max(nanos-dt.rw.lastNanos, 0)
	ts := dt.rw.lastOutTS + uint32(uint64(elapsed)*uint64(dt.rw.clockRate)/1e9)
	return &rtcp.SenderReport{SSRC: dt.ssrc, NTPTime: ntpTime(wall), RTPTime: ts,
		PacketCount: dt.srPackets, OctetCount: dt.srOctets}, true
}

// sendSenderReports sends a report for each downtrack that has sent
// something, at most once per senderReportInterval. Called from the
// control loop.
func (p *Participant) sendSenderReports(nanos int64) {
	if nanos-p.lastReport < senderReportInterval {
		return
	}
	p.lastReport = nanos
	wall := p.sfu.epoch.Add(time.Duration(nanos))
	var pkts []rtcp.Packet
	flush := func() {
		if len(pkts) > 0 {
			_ = p.pc.WriteRTCP(pkts)
			pkts = pkts[:0]
		}
	}
	for _, dt := range p.downtrackList() {
		if sr, ok := dt.senderReport(nanos, wall); ok {
			pkts = append(pkts, sr)
		}
		if len(pkts) == maxReportsPerPacket {
			flush()
		}
	}
	flush()
}
