package media

// rewriter maps the sequence numbers and timestamps of whichever upstream
// stream currently feeds a subscriber onto one continuous outgoing stream.
//
// RFC 3550 §5.1: the sequence number increments by one per packet and the
// timestamp advances with the sampling clock; a receiver treats a jump as
// loss or a new talkspurt. When the SFU switches source (simulcast layer
// change, resume after a pause) it re-anchors the offsets so the subscriber
// sees neither a gap nor a reuse. Within one source the mapping is a fixed
// offset, so reordered and retransmitted packets keep their relative order.
//
// rewriter is not safe for concurrent use; the downtrack lock guards it.
type rewriter struct {
	anchored   bool
	seqOffset  uint16
	tsOffset   uint32
	anchorSeq  uint16 // first upstream seq of the current source
	lastOutSeq uint16 // highest sequence number sent
	lastOutTS  uint32 // timestamp of the packet carrying lastOutSeq
	lastNanos  int64  // when lastOutSeq was sent
	clockRate  uint32
	sent       bool
}

func newRewriter(initialSeq uint16, initialTS uint32, clockRate uint32) rewriter {
	if clockRate == 0 {
		clockRate = 90000
	}
	return rewriter{lastOutSeq: initialSeq - 1, lastOutTS: initialTS, clockRate: clockRate}
}

// anchor makes the upstream packet (seq, ts), seen at nanos, the next packet
// of the outgoing stream. The timestamp advances by the wall-clock time
// since the last packet sent (at least one tick) so that a decoder's jitter
// buffer does not see time run backwards across a switch.
func (r *rewriter) anchor(seq uint16, ts uint32, nanos int64) {
	outSeq := r.lastOutSeq + 1
	outTS := r.lastOutTS
	if r.sent {
		elapsed := nanos - r.lastNanos
		ticks := uint32(1)
		if elapsed > 0 {
			if t := uint64(elapsed) * uint64(r.clockRate) / 1e9; t > 1 {
				ticks = uint32(t)
			}
		}
		outTS += ticks
	}
	r.seqOffset = outSeq - seq
	r.tsOffset = outTS - ts
	r.anchorSeq = seq
	r.anchored = true
}

// rewrite maps an upstream packet of the anchored source. ok is false for a
// packet older than the anchor: its outgoing number would collide with one
// already used by the previous source.
func (r *rewriter) rewrite(seq uint16, ts uint32, nanos int64) (outSeq uint16, outTS uint32, ok bool) {
	if !r.anchored || int16(seq-r.anchorSeq) < 0 {
		return 0, 0, false
	}
	outSeq = seq + r.seqOffset
	outTS = ts + r.tsOffset
	if !r.sent || int16(outSeq-r.lastOutSeq) > 0 {
		r.lastOutSeq = outSeq
		r.lastOutTS = outTS
		r.lastNanos = nanos
		r.sent = true
	}
	return outSeq, outTS, true
}

// unanchor stops forwarding until the next anchor (pause, layer loss).
func (r *rewriter) unanchor() { r.anchored = false }
