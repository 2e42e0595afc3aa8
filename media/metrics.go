package media

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the SFU's counters and its current load to Prometheus.
// Everything is read when scraped, from the atomics forwarding already
// keeps: the per-packet path does no extra work for metrics.
func (s *SFU) Collector() prometheus.Collector { return &sfuCollector{sfu: s} }

var (
	descRooms        = prometheus.NewDesc("sealroom_sfu_rooms", "Rooms with at least one participant on this SFU.", nil, nil)
	descParticipants = prometheus.NewDesc("sealroom_sfu_participants", "Participants joined to this SFU.", nil, nil)
	descTracks       = prometheus.NewDesc("sealroom_sfu_tracks", "Tracks published on this SFU (a simulcast track counts once).", nil, nil)
	descFwdPackets   = prometheus.NewDesc("sealroom_sfu_forwarded_packets_total", "RTP packets written to subscribers.", nil, nil)
	descFwdBytes     = prometheus.NewDesc("sealroom_sfu_forwarded_bytes_total", "Payload bytes of the RTP packets written to subscribers.", nil, nil)
	descDropped      = prometheus.NewDesc("sealroom_sfu_dropped_packets_total",
		"Incoming RTP packets dropped before SRTP, by reason: unannounced_ssrc, unbound_transport, rate_limited, malformed.", []string{"reason"}, nil)
	descSendFailed = prometheus.NewDesc("sealroom_sfu_send_failed_packets_total", "Outgoing datagrams the media socket refused.", nil, nil)
	descNACK       = prometheus.NewDesc("sealroom_sfu_nack_packets_total",
		"Packets subscribers asked for again by NACK, by result: retransmitted from the cache, or missed (not cached, or over the limit).", []string{"result"}, nil)
	descKeyframeReqs = prometheus.NewDesc("sealroom_sfu_keyframe_requests_total",
		"Keyframe requests (PLI) towards publishers, by result: forwarded, or coalesced by the rate limiter.", []string{"result"}, nil)
	descLayerSwitches = prometheus.NewDesc("sealroom_sfu_layer_switches_total", "Simulcast layer switches, each done on a keyframe.", nil, nil)
	descVideoPauses   = prometheus.NewDesc("sealroom_sfu_video_pauses_total", "Subscribers dropped to audio only for lack of bandwidth.", nil, nil)
	descVideoResumes  = prometheus.NewDesc("sealroom_sfu_video_resumes_total", "Subscribers given video again after an audio-only pause.", nil, nil)
)

type sfuCollector struct {
	sfu *SFU

	// A leaving participant's counters are out of the room before they are added to
	// the retired sum, so a scrape in between sees totals dip. Prometheus reads a
	// dip as a counter reset; reporting the highest total seen hides it, and it is
	// never more than the true total.
	mu   sync.Mutex
	high Counters
}

func (c *sfuCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRooms, descParticipants, descTracks, descFwdPackets, descFwdBytes, descDropped,
		descSendFailed, descNACK, descKeyframeReqs, descLayerSwitches, descVideoPauses, descVideoResumes} {
		ch <- d
	}
}

func (c *sfuCollector) Collect(ch chan<- prometheus.Metric) {
	rooms, participants, tracks := c.sfu.load()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descRooms, rooms)
	gauge(descParticipants, participants)
	gauge(descTracks, tracks)

	n := c.monotonic(c.sfu.Counters())
	counter := func(d *prometheus.Desc, v uint64, label ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label...)
	}
	counter(descFwdPackets, n.ForwardedPackets)
	counter(descFwdBytes, n.ForwardedBytes)
	counter(descDropped, n.DroppedUnannouncedSSRC, "unannounced_ssrc")
	counter(descDropped, n.DroppedUnboundTransport, "unbound_transport")
	counter(descDropped, n.DroppedRateLimited, "rate_limited")
	counter(descDropped, n.DroppedMalformed, "malformed")
	counter(descSendFailed, n.SendFailed)
	counter(descNACK, n.Retransmitted, "retransmitted")
	counter(descNACK, n.NACKMisses, "missed")
	counter(descKeyframeReqs, n.PLIForwarded, "forwarded")
	counter(descKeyframeReqs, n.PLIRateLimited, "coalesced")
	counter(descLayerSwitches, n.LayerSwitches)
	counter(descVideoPauses, n.VideoPauses)
	counter(descVideoResumes, n.VideoResumes)
}

func (c *sfuCollector) monotonic(now Counters) Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.high.raise(now)
	return c.high
}

// load counts rooms, participants and published tracks.
func (s *SFU) load() (rooms, participants, tracks int) {
	s.mu.Lock()
	rs := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		if len(r.participants) > 0 {
			rooms++
		}
		participants += len(r.participants)
		tracks += len(r.pubs)
		r.mu.Unlock()
	}
	return rooms, participants, tracks
}
