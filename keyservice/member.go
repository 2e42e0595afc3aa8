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

// Conn delivers messages to one member's connection. Send must not block; data is
// marshalled to JSON as the message's data field (docs/protocol.md).
type Conn interface {
	Send(typ string, data any)
}

// Error is a refusal the member is told about: Code is one of the signaling error codes
// in docs/protocol.md, Message is written for the client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("keyservice: %s: %s", e.Code, e.Message) }
