package keyservice

import "errors"

// Signaling error codes of the Delivery Service (docs/protocol.md, "MLS Delivery Service messages"). Each refusal reaches the
// client as {"type":"error","data":{"code","message"}} and changes nothing stored.
const (
	CodeBadMessage        = "bad_message"        // malformed JSON, base64 or MLS encoding
	CodeForbidden         = "forbidden"          // the role does not allow the action
	CodeTooLarge          = "too_large"          // a payload above its limit (chat, batch)
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
	CodeInvalidGroupInfo  = "invalid_group_info" // the GroupInfo does not match the new public state
	CodeUnknownType       = "unknown_type"       // no such message type
)

// errInternal marks faults of the service itself (database, encoding); signaling turns
// any error that is not an *Error into the "internal" code.
var errInternal = errors.New("keyservice: internal")

func refuse(code, msg string) *Error { return &Error{Code: code, Message: msg} }
