package media

// RequestKeyframes asks the publisher of every track this participant receives for a
// keyframe (rate-limited like any request): after its signaling connection came back, the
// subscriber's decoders may have lost their reference frames.
func (p *Participant) RequestKeyframes() {
	for _, dt := range p.downtrackList() {
		dt.keyframeWanted()
	}
}
