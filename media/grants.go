package media

// Grants are what a participant's token allows it to do with media. The
// signaling layer derives them from the verified token; the SFU enforces
// them: a participant without CanPublish has every RTP packet it sends
// dropped at the socket, one without CanSubscribe is offered no tracks.
type Grants struct {
	CanPublish   bool
	CanSubscribe bool
}
