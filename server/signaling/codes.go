package signaling

// Error codes, in Error.Code (docs/protocol.md lists what each means to a client).
const (
	// Any message.
	CodeBadMessage         = "bad_message"         // malformed JSON, base64 or MLS encoding, or a missing field
	CodeUnsupportedVersion = "unsupported_version" // the envelope's v is not Version
	CodeUnknownType        = "unknown_type"        // no such message type
	CodeUnauthorized       = "unauthorized"        // the token (or a refresh's) is not valid for this grant
	CodeForbidden          = "forbidden"           // the role does not allow the action
	CodeRateLimited        = "rate_limited"        // too many messages; slow down
	CodeInternal           = "internal"            // the server failed; nothing changed
	CodeConsentRequired    = "consent_required"    // accept the room's notice first
	CodeTooLarge           = "too_large"           // a payload above its limit (chat, batch)
	CodeUnavailable        = "unavailable"         // the service cannot take the join now (database or cluster briefly down): retry

	// The Delivery Service.
	CodeInvalidKeyPackage = "invalid_keypackage" // signature, suite, lifetime or structure
	CodeIdentityMismatch  = "identity_mismatch"  // credential identity differs from the token subject
	CodeKeyPackageReused  = "keypackage_reused"  // the KeyPackage was uploaded before
	CodeKeyPackageQuota   = "keypackage_quota"   // too many unused KeyPackages for the identity
	CodeGroupExists       = "group_exists"       // group_init lost to another creator
	CodeNoGroup           = "no_group"           // the room has no group yet
	CodeNotMember         = "not_member"         // the sender's leaf is not this connection's
	CodeStaleEpoch        = "stale_epoch"        // the message is for an epoch already closed: rebase
	CodeFutureEpoch       = "future_epoch"       // the message is for an epoch not reached yet
	CodeReplayedCommit    = "replayed_commit"    // exactly the commit already accepted
	CodeInvalidSignature  = "invalid_signature"  // a signature did not verify
	CodeInvalidCommit     = "invalid_commit"     // the commit breaks RFC 9420 against the public view
	CodeMissingProposals  = "missing_proposals"  // the commit omits a pending server proposal
	CodeForbiddenAdd      = "forbidden_add"      // an Add of an identity without a grant for the room
	CodeForbiddenCommit   = "forbidden_commit"   // the commit breaks the room's group policy (keyservice/policy)
	CodeInvalidGroupInfo  = "invalid_group_info" // the GroupInfo does not match the new public state
	CodeBarred            = "barred"             // a host removed the subject from the room; only a host's readmit lets it back

	// Media.
	CodeBadSDP           = "bad_sdp"           // the session description was refused
	CodeStaleAnswer      = "stale_answer"      // an answer to an offer that was abandoned
	CodeUnexpectedAnswer = "unexpected_answer" // no offer is waiting for an answer
	CodeBadCandidate     = "bad_candidate"     // the ICE candidate was refused
	CodeMediaClosed      = "media_closed"      // no media session, or it has ended
)

// WebSocket close codes (RFC 6455 §7.4.2 leaves 4000-4999 to applications). Untyped,
// so they convert to whichever WebSocket library's status type.
const (
	CloseProtocol     = 4400 // the first message was not a valid auth
	CloseUnauthorized = 4401 // bad token, or the token expired or was revoked
	CloseRemoved      = 4403 // a host removed the participant
	CloseAuthTimeout  = 4408 // no auth message in time
	CloseReplaced     = 4409 // the same identity joined elsewhere
	CloseIdle         = 4410 // no client message within the idle timeout
	CloseRateLimited  = 4429 // kept flooding after rate_limited errors
	CloseNoResume     = 4412 // the session cannot be resumed (gone, another's, or a stale secret): join anew
	CloseMoved        = 4503 // the room moved to another node (a drain): resume the session at once
)
