package signaling

// Message types (docs/protocol.md). The comment says which way each travels and
// which data struct it carries.
const (
	// Connection and presence.
	TypeAuth            = "auth"                // client: Auth; the first message
	TypeReady           = "ready"               // server: Ready
	TypeResumed         = "resumed"             // server: Ready; the session resumed, missed messages follow
	TypePing            = "ping"                // client: none
	TypeResumeAck       = "resume_ack"          // client: none; it holds resumed's new secret
	TypePong            = "pong"                // server: none
	TypeAck             = "ack"                 // server: none; answers a request with an id
	TypeError           = "error"               // server: Error
	TypeBye             = "bye"                 // server: Bye; the server is closing
	TypeMute            = "mute"                // client: Mute
	TypeRefresh         = "refresh"             // client: Auth (a new token for the same grant)
	TypeLeave           = "leave"               // client: none
	TypeJoined          = "participant_joined"  // server: Participant
	TypeUpdated         = "participant_updated" // server: Participant
	TypeLeft            = "participant_left"    // server: Left
	TypeConsentRequired = "consent_required"    // server: ConsentRequired
	TypeConsent         = "consent"             // client: Consent
	TypeMedia           = "media"               // both: Media
	TypeICEServers      = "ice_servers"         // server: ICEServers; fresh TURN credentials before the old expire

	// The MLS Delivery Service.
	TypeKeyPackages   = "keypackages"       // client: KeyPackages
	TypeGroupInit     = "group_init"        // client: GroupInit; the first member's epoch-0 GroupInfo
	TypeCommit        = "commit"            // client: Commit
	TypeChat          = "chat"              // client: ChatIn; server: ChatOut
	TypeKick          = "kick"              // client: Kick; a host removes a participant and bars its subject
	TypeReadmit       = "readmit"           // client: Readmit; a host lifts a subject's bar
	TypeGroupCreate   = "group_create"      // server: GroupCreate; create the room's group
	TypeHandshake     = "mls"               // server: Handshake; a server proposal or an accepted commit
	TypeWelcome       = "welcome"           // server: Welcome
	TypeCommitNeeded  = "commit_needed"     // server: CommitNeeded; you are the designated committer
	TypeKeyPackageLow = "keypackage_needed" // server: none; upload KeyPackages, none are left for you
	TypeRemoved       = "removed"           // server: Removed; a host removed you
	TypeResync        = "resync"            // server: Resync; replace your earlier leaf by an external commit
)

// Media message types, in Media.Type (docs/protocol.md, "Media negotiation").
const (
	// MediaOffer carries an SDP offer, from the client (to publish or change its
	// tracks) or from the SFU (tracks to receive came or went).
	MediaOffer = "offer"
	// MediaAnswer carries the SDP answer to the other side's offer.
	MediaAnswer = "answer"
	// MediaCandidate carries one trickled ICE candidate, from the client, or from the
	// SFU when its first offer went out before it had gathered.
	MediaCandidate = "candidate"
	// MediaVideoPaused tells a subscriber its bandwidth estimate no longer carries the
	// lowest video layer: video stops, audio continues.
	MediaVideoPaused = "video_paused"
	// MediaVideoResumed tells a subscriber video forwarding has resumed.
	MediaVideoResumed = "video_resumed"
	// MediaCodecs, from the client, lists the video codecs (mimeTypes) it can decode
	// under SFrame, in Media.Codecs; sent once, before it publishes.
	MediaCodecs = "codecs"
	// MediaCodec, from the SFU, names the room's video codec in Media.Codec: the first of
	// H.264, VP9 and VP8 every participant can decode. Sent in answer to codecs and to
	// every participant whenever the choice changes; a publisher then publishes its
	// video in that codec.
	MediaCodec = "codec"
	// MediaActiveSpeaker, from the SFU, names in Media.Participant the participant a
	// subscriber hears speak loudest, from the audio level each microphone reports in the
	// clear (RFC 6464); "" when nobody speaks. Sent when it changes.
	MediaActiveSpeaker = "active_speaker"
	// MediaLayers, from a publisher that sends simulcast, lists its video layers in
	// Media.Layers: each encoding's rid and the height it is sent at, so the SFU can
	// match a layer to the size a subscriber shows it at (view). Sent again when the
	// source changes size (a screen share in the camera's place).
	MediaLayers = "layers"
	// MediaView, from a subscriber, gives in Media.Height the height in device pixels
	// at which it shows Media.Participant's video (0: not shown). The SFU forwards no
	// layer taller than needed: the lowest whose height reaches it.
	MediaView = "view"
	// MediaLayer, from the SFU, tells a subscriber which of Media.Participant's video
	// layers it now receives (Media.RID, and Media.Height when the publisher declared
	// it): sent each time the SFU switches it to another layer, on a keyframe.
	MediaLayer = "layer"
)

// Reasons, in Left.Reason and Bye.Reason.
const (
	ReasonLeft         = "left"            // the participant said goodbye
	ReasonDisconnected = "disconnected"    // the connection dropped
	ReasonReplaced     = "replaced"        // the same identity joined again elsewhere
	ReasonExpired      = "token_expired"   // automatic logoff at token expiry
	ReasonIdle         = "idle"            // automatic logoff after inactivity
	ReasonRevoked      = "revoked"         // an administrator revoked the token
	ReasonRemoved      = "removed"         // a host removed the participant
	ReasonLost         = "connection_lost" // the connection dropped and did not come back in time
)
