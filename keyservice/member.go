package keyservice

import (
	"fmt"
	"time"
)

// Member is an authenticated participant connection as the Delivery Service sees it:
// who (from the verified token), in which room, with which grant.
type Member struct {
	ConnID       string // the signaling connection (Participant.ID)
	Subject      string // stable user id (token sub)
	Name         string
	Room         string
	Role         string // host, clinician, participant, observer
	CanPublish   bool
	CanSubscribe bool
	ExpiresAt    time.Time // token expiry
	RequestID    string    // of the signaling connection, for audit events
	RemoteIP     string
}

// Conn is one member's signaling connection as the Delivery Service drives it. Neither
// method may block: the fan-out of a whole room runs through them.
type Conn interface {
	// Send delivers one Delivery Service message: a signaling message type and its
	// data (a signaling struct, or its JSON as a json.RawMessage).
	Send(typ string, data any)
	// Removed tells the connection that a host (by, a subject) removed its member. The
	// Delivery Service has proposed the Remove already; ending the connection, and
	// keeping the member out, is signaling's part.
	Removed(by string)
}

// Error is a refusal the member is told about: Code is one of the signaling error codes
// in docs/protocol.md, Message is written for the client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("keyservice: %s: %s", e.Code, e.Message) }
