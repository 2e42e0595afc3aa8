package media

import "github.com/pion/webrtc/v4"

// MessageType names a signaling message. docs/protocol.md ("Media negotiation") documents each one.
type MessageType string

const (
	// MsgOffer carries an SDP offer, from the client (to publish or change
	// its tracks) or from the SFU (tracks to receive came or went).
	MsgOffer MessageType = "offer"
	// MsgAnswer carries the SDP answer to the other side's offer.
	MsgAnswer MessageType = "answer"
	// MsgCandidate carries one trickled ICE candidate, from the client, or
	// from the SFU when its first offer went out before it had gathered.
	MsgCandidate MessageType = "candidate"
	// MsgVideoPaused tells a subscriber its bandwidth estimate no longer
	// carries the lowest video layer: video stops, audio continues.
	MsgVideoPaused MessageType = "video_paused"
	// MsgVideoResumed tells a subscriber video forwarding has resumed.
	MsgVideoResumed MessageType = "video_resumed"
)

// Message is one signaling message between a client and the SFU, carried
// as JSON by the signaling WebSocket.
type Message struct {
	Type MessageType `json:"type"`
	// ID numbers the SFU's offers; the client echoes it in its answer.
	ID        uint64                   `json:"id,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	// EstimateBps is the subscriber's bandwidth estimate, on
	// video_paused / video_resumed.
	EstimateBps int `json:"estimate_bps,omitempty"`
}
