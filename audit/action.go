package audit

// Action is one entry of the closed audit vocabulary. Append rejects any other value, so
// an auditor can rely on this list being complete.
type Action string

const (
	// ActionTokenMinted: a room token was issued (sealroom token, or the token endpoint).
	// Target: the user the token is for; Room: the granted room.
	ActionTokenMinted Action = "auth.token_minted"
	// ActionAuthSucceeded: a presented token (local or OIDC) verified and a session began.
	ActionAuthSucceeded Action = "auth.succeeded"
	// ActionAuthDenied: a token or request was refused (bad signature, expired, wrong
	// audience, missing grant). Outcome is always denied.
	ActionAuthDenied Action = "auth.denied"
	// ActionSessionExpired: automatic logoff (HIPAA §164.312(a)(2)(iii)): a session ended
	// because its token expired or it was idle too long.
	ActionSessionExpired Action = "auth.session_expired"
	// ActionSessionResumed: a signaling connection resumed a session whose connection had
	// dropped (same seat, same MLS leaf), or was refused that (outcome denied).
	ActionSessionResumed Action = "auth.session_resumed"
	// ActionRoomJoin: a participant joined a room (the server issued its MLS Add).
	ActionRoomJoin Action = "room.join"
	// ActionRoomLeave: a participant left a room (the server issued its MLS Remove).
	ActionRoomLeave Action = "room.leave"
	// ActionRoomKick: a host removed a participant. Actor: the host; Target: the user.
	ActionRoomKick Action = "room.kick"
	// ActionRoomReadmit: a host lifted the bar a kick put on a subject. Actor: the host;
	// Target: the user.
	ActionRoomReadmit Action = "room.readmit"
	// ActionKeyPackageUpload: an MLS KeyPackage was uploaded (accepted or rejected).
	ActionKeyPackageUpload Action = "keypackage.upload"
	// ActionCommitAccepted: the Delivery Service accepted an MLS commit for an epoch.
	ActionCommitAccepted Action = "mls.commit_accepted"
	// ActionCommitRejected: an MLS commit lost the epoch race or failed validation.
	ActionCommitRejected Action = "mls.commit_rejected"
	// ActionGDPRExport: everything about a subject was exported (GDPR Art. 15/20).
	ActionGDPRExport Action = "gdpr.export"
	// ActionGDPRErasure: a subject was erased (GDPR Art. 17): its key was shredded.
	ActionGDPRErasure Action = "gdpr.erasure"
	// ActionBreakGlassGranted: emergency access was granted (HIPAA §164.312(a)(2)(ii)).
	ActionBreakGlassGranted Action = "breakglass.granted"
	// ActionBreakGlassEnded: emergency access ended or was revoked.
	ActionBreakGlassEnded Action = "breakglass.ended"
	// ActionConfigChanged: a security-relevant setting changed (including audit retention).
	ActionConfigChanged Action = "config.changed"
	// ActionAuditQuery: someone queried the audit log; Details hold the filter.
	ActionAuditQuery Action = "audit.query"
	// ActionAuditVerify: the chain was verified (sealroom audit verify); Details hold the result.
	ActionAuditVerify Action = "audit.verify"
	// ActionAuditCheckpoint: a checkpoint was signed on request (Log.Checkpoint), for
	// example before the head is published in the compliance report.
	ActionAuditCheckpoint Action = "audit.checkpoint"
	// ActionAuditExpired: retention dropped expired partitions; Details hold the count.
	ActionAuditExpired Action = "audit.expired"
	// ActionLegalHoldPlaced: a legal hold now protects a time range from expiry.
	ActionLegalHoldPlaced Action = "audit.legal_hold_placed"
	// ActionLegalHoldReleased: a legal hold was released.
	ActionLegalHoldReleased Action = "audit.legal_hold_released"
	// ActionTokenRevoked: an administrator revoked a token (by id) or every token of a
	// subject issued before now. Target: the token or the user.
	ActionTokenRevoked Action = "auth.token_revoked"
	// ActionConsentRecorded: a participant accepted a room's notice before joining.
	// Room: the room; Details: the notice version.
	ActionConsentRecorded Action = "consent.recorded"
	// ActionRetentionPurged: scheduled retention deleted expired rows of one table
	// (GDPR Art. 5(1)(e)); Details hold the table, the period and the count.
	ActionRetentionPurged Action = "retention.purged"
)

// Actions returns the whole vocabulary, in a fixed order.
func Actions() []Action {
	return []Action{
		ActionTokenMinted, ActionAuthSucceeded, ActionAuthDenied, ActionSessionExpired, ActionSessionResumed,
		ActionRoomJoin, ActionRoomLeave, ActionRoomKick, ActionRoomReadmit, ActionKeyPackageUpload,
		ActionCommitAccepted, ActionCommitRejected, ActionGDPRExport, ActionGDPRErasure,
		ActionBreakGlassGranted, ActionBreakGlassEnded, ActionConfigChanged,
		ActionAuditQuery, ActionAuditVerify, ActionAuditCheckpoint, ActionAuditExpired,
		ActionLegalHoldPlaced, ActionLegalHoldReleased, ActionRetentionPurged, ActionTokenRevoked, ActionConsentRecorded,
	}
}

// Valid reports whether a is in the vocabulary.
func (a Action) Valid() bool {
	switch a {
	case ActionTokenMinted, ActionAuthSucceeded, ActionAuthDenied, ActionSessionExpired, ActionSessionResumed,
		ActionRoomJoin, ActionRoomLeave, ActionRoomKick, ActionRoomReadmit, ActionKeyPackageUpload,
		ActionCommitAccepted, ActionCommitRejected, ActionGDPRExport, ActionGDPRErasure,
		ActionBreakGlassGranted, ActionBreakGlassEnded, ActionConfigChanged,
		ActionAuditQuery, ActionAuditVerify, ActionAuditCheckpoint, ActionAuditExpired,
		ActionLegalHoldPlaced, ActionLegalHoldReleased, ActionRetentionPurged, ActionTokenRevoked, ActionConsentRecorded:
		return true
	}
	return false
}

// FailOpen reports whether the action may go ahead when its audit event cannot be
// recorded. The allow-list is short on purpose and every entry says why:
//
//   - room.leave: refusing to let someone leave a meeting protects nothing and harms them.
//   - auth.session_expired: the logoff removes access; blocking it would keep access open.
//   - auth.denied, mls.commit_rejected: the request is refused either way.
//
// Everything else fails closed: Record returns the error and the caller must not act.
func (a Action) FailOpen() bool {
	switch a {
	case ActionRoomLeave, ActionSessionExpired, ActionAuthDenied, ActionCommitRejected:
		return true
	}
	return false
}
