package signaling

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// Auth is the data of auth and refresh. Resume, on auth only, asks to take over a session
// whose connection dropped.
type Auth struct {
	Token  string      `json:"token"`
	Resume *ResumeAuth `json:"resume,omitempty"`
}

// ResumeAuth names the session to resume and proves the right to: the secret the server
// handed out with it (in ready or resumed), which a resume replaces.
type ResumeAuth struct {
	Session string `json:"session"` // the participant id of the session
	Secret  []byte `json:"secret"`
	// LastSeq is the seq of the last message the client received: the server sends
	// again what it wrote after it (a message written just before the cut may be lost).
	LastSeq uint64 `json:"last_seq,omitempty"`
}

// Participant is one connected member of a room as the others see it. ID names the
// connection; Subject is the stable user id from the token.
type Participant struct {
	ID      string `json:"id"`
	Subject string `json:"sub"`
	Name    string `json:"name,omitempty"`
	Role    string `json:"role"`
	// Reconnecting is set while the participant's connection is down and its session
	// waits for it to come back.
	Reconnecting bool      `json:"reconnecting,omitempty"`
	AudioMuted   bool      `json:"audio_muted"`
	VideoMuted   bool      `json:"video_muted"`
	JoinedAt     time.Time `json:"joined_at"`
}

// Ready is the server's answer to auth (and, as resumed, to a resume): you, and everyone
// in the room including you, in joining order. Resume is the secret that lets a new
// connection take over this session if this one drops (ResumeAuth). Moved, on resumed
// only, says the session was taken over by another node of the cluster: its media
// session is new (set up a new PeerConnection) and messages written just before the
// move may be lost. SessionGrace is how long, in milliseconds, the server keeps the
// session after its connection drops (resume within it).
type Ready struct {
	Version      int           `json:"version"`
	Participant  Participant   `json:"participant"`
	Participants []Participant `json:"participants"`
	ExpiresAt    time.Time     `json:"expires_at"`
	ICEServers   []ICEServer   `json:"ice_servers,omitempty"`
	Resume       []byte        `json:"resume,omitempty"`
	Moved        bool          `json:"moved,omitempty"`
	SessionGrace int64         `json:"session_grace_ms,omitempty"`
}

// ICEServer is an RTCIceServer: the embedded TURN relay, with credentials bound to the
// connection's token.
type ICEServer struct {
	URLs       []string  `json:"urls"`
	Username   string    `json:"username"`
	Credential string    `json:"credential"`
	Expires    time.Time `json:"expires"`
}

// ICEServers is the data of ice_servers: the same relays as ready's, with credentials
// minted anew (before the previous ones expire, and after a token refresh, bound to the
// new token). A client applies them to its PeerConnection and, when its media goes
// through a relay, restarts ICE so that a relay allocated with them takes over before
// the old one closes at its credential's expiry.
type ICEServers struct {
	ICEServers []ICEServer `json:"ice_servers"`
}

// Mute is a participant's own mute state.
type Mute struct {
	AudioMuted bool `json:"audio_muted"`
	VideoMuted bool `json:"video_muted"`
}

// Left says who left a room and why (one of the Reason constants).
type Left struct {
	Participant Participant `json:"participant"`
	Reason      string      `json:"reason"`
}

// Error is a refusal; the connection stays open.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Bye is sent just before the server closes the connection.
type Bye struct {
	Reason string `json:"reason"`
}

// ConsentRequired holds a participant at the door of a room that asks for a notice to
// be accepted.
type ConsentRequired struct {
	NoticeVersion string `json:"notice_version"`
	NoticeURL     string `json:"notice_url,omitempty"`
}

// Consent accepts a room's notice in the version named.
type Consent struct {
	NoticeVersion string `json:"notice_version"`
}

// Byte fields of the Delivery Service's messages travel as standard base64
// (encoding/json's []byte form); each MLS value is an MLSMessage or a bare wire struct
// as noted.

// KeyPackages uploads KeyPackages.
type KeyPackages struct {
	KeyPackages [][]byte `json:"keypackages"` // MLSMessage(KeyPackage) each
}

// GroupInit is the first member's epoch-0 GroupInfo.
type GroupInit struct {
	GroupInfo []byte `json:"group_info"` // MLSMessage(GroupInfo) with ratchet_tree
}

// Commit is a member's Commit with the next epoch's GroupInfo (and Welcome).
type Commit struct {
	Commit    []byte `json:"commit"`            // MLSMessage(PublicMessage Commit)
	GroupInfo []byte `json:"group_info"`        // MLSMessage(GroupInfo) of the next epoch, with ratchet_tree
	Welcome   []byte `json:"welcome,omitempty"` // MLSMessage(Welcome), when the commit adds members
}

// ChatIn is a chat message as a member sends it.
type ChatIn struct {
	Message []byte `json:"message"` // MLSMessage(PrivateMessage, application)
}

// ChatOut is a relayed chat message as members receive it.
type ChatOut struct {
	From    string `json:"from"` // the sender's subject, as the server authenticated it
	Message []byte `json:"message"`
}

// Kick asks the server to remove a participant and bar its subject from the room
// (hosts only).
type Kick struct {
	Subject string `json:"sub"`
}

// Readmit asks the server to lift the bar a kick put on a subject (hosts only).
type Readmit struct {
	Subject string `json:"sub"`
}

// ExternalSender tells the group's creator which external sender to list
// (RFC 9420 §12.1.8.1).
type ExternalSender struct {
	SignatureKey []byte `json:"signature_key"` // Ed25519 public key
	Identity     string `json:"identity"`      // basic credential identity
}

// GroupCreate asks a member to create the room's group.
type GroupCreate struct {
	GroupID        []byte         `json:"group_id"`
	ExternalSender ExternalSender `json:"external_sender"`
}

// Handshake is a server proposal or an accepted commit.
type Handshake struct {
	Epoch   uint64 `json:"epoch"` // the epoch the message belongs to
	Message []byte `json:"message"`
}

// Welcome admits the connection it is sent to.
type Welcome struct {
	Epoch   uint64 `json:"epoch"` // the epoch the joiner enters
	Welcome []byte `json:"welcome"`
}

// CommitNeeded names the connection it is sent to the room's designated committer.
type CommitNeeded struct {
	Epoch uint64 `json:"epoch"`
}

// Resync offers a newly seated connection whose subject still holds a leaf in the group
// (a reloaded page, another device) to replace that leaf itself by an external commit
// (RFC 9420 §12.4.3.2) with this GroupInfo, sent as a commit message, before the server
// falls back to removing the leaf and adding the connection.
type Resync struct {
	Epoch     uint64 `json:"epoch"`
	GroupInfo []byte `json:"group_info"` // MLSMessage(GroupInfo) with ratchet_tree and external_pub
}

// Removed tells a participant a host removed it.
type Removed struct {
	By string `json:"by"`
}

// Media is one message between a client and the SFU, in a media envelope.
type Media struct {
	Type string `json:"type"` // one of the Media constants
	// ID numbers the SFU's offers; the client echoes it in its answer.
	ID  uint64 `json:"id,omitempty"`
	SDP string `json:"sdp,omitempty"`
	// Candidate is the W3C RTCIceCandidateInit, whose Go form pion declares.
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	// EstimateBps is the subscriber's bandwidth estimate, on video_paused and
	// video_resumed.
	EstimateBps int `json:"estimate_bps,omitempty"`
	// Codecs are the client's decodable video codecs (mimeTypes), on codecs.
	Codecs []string `json:"codecs,omitempty"`
	// Codec is the room's video codec (a mimeType), on codec.
	Codec string `json:"codec,omitempty"`
	// Participant is a participant id: on active_speaker ("" or absent: nobody), and the
	// publisher a view or layer message is about.
	Participant string `json:"participant,omitempty"`
	// Layers are a publisher's simulcast layers, on layers.
	Layers []Layer `json:"layers,omitempty"`
	// RID is the layer's rid (RFC 8851), on layer.
	RID string `json:"rid,omitempty"`
	// Height is in pixels: the height a subscriber shows a publisher's video at, on
	// view; the layer's declared height, on layer.
	Height int `json:"height,omitempty"`
}

// Layer is one simulcast encoding a publisher sends: its rid and the height of its
// frames in pixels.
type Layer struct {
	RID    string `json:"rid"`
	Height int    `json:"height"`
}
