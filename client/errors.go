package client

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed means the client's connection has ended.
	ErrClosed = errors.New("client: closed")
	// ErrNotJoined means the client is not (yet) a member of the room's group.
	ErrNotJoined = errors.New("client: not a member of the group")
	// ErrRemoved means a commit removed this member from the group.
	ErrRemoved = errors.New("client: removed from the group")
	// ErrMediaActive means StartMedia was called while a media plane is running.
	ErrMediaActive = errors.New("client: media already started")
)

// ServerError is a refusal from the server ("error" message), with its code from
// docs/protocol.md.
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("client: server refused: %s: %s", e.Code, e.Message)
}
