package media

import "sync/atomic"

// Counters is a snapshot of what the SFU forwarded and refused. Drops are
// counted per reason so an operator can tell an attack from a bad network.
type Counters struct {
	ForwardedPackets uint64 // RTP packets written to subscribers
	ForwardedBytes   uint64 // their payload bytes

	DroppedUnannouncedSSRC  uint64 // RTP for an SSRC the transport never announced
	DroppedUnboundTransport uint64 // RTP from an address bound to no transport
	DroppedRateLimited      uint64 // over the transport's RateLimit
	DroppedMalformed        uint64 // not parseable as RTP
	SendFailed              uint64 // batched datagrams the socket refused

	PLIForwarded   uint64 // keyframe requests sent to publishers
	PLIRateLimited uint64 // keyframe requests coalesced by the limiter
	Retransmitted  uint64 // NACKed packets resent from the SFU's cache
	NACKMisses     uint64 // NACKed packets not in the cache (or over limit)
	LayerSwitches  uint64 // simulcast switches done on a keyframe
	VideoPauses    uint64 // subscribers dropped to audio only
	VideoResumes   uint64 // ... and back
	VideoRetries   uint64 // paused video tried again at what its lowest layers need
}

func (c *Counters) add(o Counters) {
	c.ForwardedPackets += o.ForwardedPackets
	c.ForwardedBytes += o.ForwardedBytes
	c.DroppedUnannouncedSSRC += o.DroppedUnannouncedSSRC
	c.DroppedUnboundTransport += o.DroppedUnboundTransport
	c.DroppedRateLimited += o.DroppedRateLimited
	c.DroppedMalformed += o.DroppedMalformed
	c.SendFailed += o.SendFailed
	c.PLIForwarded += o.PLIForwarded
	c.PLIRateLimited += o.PLIRateLimited
	c.Retransmitted += o.Retransmitted
	c.NACKMisses += o.NACKMisses
	c.LayerSwitches += o.LayerSwitches
	c.VideoPauses += o.VideoPauses
	c.VideoResumes += o.VideoResumes
	c.VideoRetries += o.VideoRetries
}

// raise sets each counter of c to the larger of its value and o's.
func (c *Counters) raise(o Counters) {
	c.ForwardedPackets = max(c.ForwardedPackets, o.ForwardedPackets)
	c.ForwardedBytes = max(c.ForwardedBytes, o.ForwardedBytes)
	c.DroppedUnannouncedSSRC = max(c.DroppedUnannouncedSSRC, o.DroppedUnannouncedSSRC)
	c.DroppedUnboundTransport = max(c.DroppedUnboundTransport, o.DroppedUnboundTransport)
	c.DroppedRateLimited = max(c.DroppedRateLimited, o.DroppedRateLimited)
	c.DroppedMalformed = max(c.DroppedMalformed, o.DroppedMalformed)
	c.SendFailed = max(c.SendFailed, o.SendFailed)
	c.PLIForwarded = max(c.PLIForwarded, o.PLIForwarded)
	c.PLIRateLimited = max(c.PLIRateLimited, o.PLIRateLimited)
	c.Retransmitted = max(c.Retransmitted, o.Retransmitted)
	c.NACKMisses = max(c.NACKMisses, o.NACKMisses)
	c.LayerSwitches = max(c.LayerSwitches, o.LayerSwitches)
	c.VideoPauses = max(c.VideoPauses, o.VideoPauses)
	c.VideoResumes = max(c.VideoResumes, o.VideoResumes)
}

// counters is the live, concurrently updated form of Counters.
type counters struct {
	forwardedPackets, forwardedBytes             atomic.Uint64
	unannounced, unbound, rateLimited, malformed atomic.Uint64
	pliForwarded, pliRateLimited, layerSwitches  atomic.Uint64
	videoPauses, videoResumes, videoRetries      atomic.Uint64
	retransmitted, nackMisses                    atomic.Uint64
	sendFailed                                   atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		ForwardedPackets:        c.forwardedPackets.Load(),
		ForwardedBytes:          c.forwardedBytes.Load(),
		DroppedUnannouncedSSRC:  c.unannounced.Load(),
		DroppedUnboundTransport: c.unbound.Load(),
		DroppedRateLimited:      c.rateLimited.Load(),
		DroppedMalformed:        c.malformed.Load(),
		SendFailed:              c.sendFailed.Load(),
		PLIForwarded:            c.pliForwarded.Load(),
		PLIRateLimited:          c.pliRateLimited.Load(),
		Retransmitted:           c.retransmitted.Load(),
		NACKMisses:              c.nackMisses.Load(),
		LayerSwitches:           c.layerSwitches.Load(),
		VideoPauses:             c.videoPauses.Load(),
		VideoResumes:            c.videoResumes.Load(),
		VideoRetries:            c.videoRetries.Load(),
	}
}
