package media

import "time"

// RequestKeyframes asks the publisher of every track this participant receives for a
// keyframe (rate-limited like any request): after its signaling connection came back, the
// subscriber's decoders may have lost their reference frames.
func (p *Participant) RequestKeyframes() {
	for _, dt := range p.downtrackList() {
		dt.keyframeWanted()
	}
}

// Reconnected runs when the participant's signaling session came back after its
// connection dropped. If the network went down with it, the bandwidth estimate fell to
// the floor on the outage's loss and video to this subscriber paused, and it would climb
// back only as slowly as GCC ramps up (or never, with no other traffic to measure): a
// path that came back is a new path, so the estimate starts again from the initial rate,
// as for a new participant. A signaling blip with media flowing on (feedback heard in the
// last second) leaves the estimate alone: starting it over would pause video that was
// fine. Every publisher is asked for a keyframe.
func (p *Participant) Reconnected() {
	if e := p.bwe.Load(); e != nil && e.silentSince(p.sfu.nanos(), int64(time.Second)) {
		p.resetEstimate()
	}
	p.RequestKeyframes()
}

// resetEstimate starts the subscriber's bandwidth estimate again from the initial rate,
// counting only packets sent from now on: the loss of an outage (packets sent into a
// path that was gone, reported lost once feedback flows again) says nothing of the
// path that replaced it. It runs on a resume and when ICE selects a new pair.
func (p *Participant) resetEstimate() {
	if p.bwe.Load() != nil {
		cfg := p.sfu.cfg
		p.bwe.Store(newSendSideBWE(p.twcc, cfg.InitialBitrate, cfg.MinBitrate, cfg.MaxBitrate, p.sfu.nanos()))
	}
}
