package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sealroom/sealroom/server/signaling"
)

var (
	// ErrClosed means the client's connection has ended.
	ErrClosed = errors.New("client: closed")
	// ErrNotJoined means the client is not (yet) a member of the room's group.
	ErrNotJoined = errors.New("client: not a member of the group")
	// ErrRemoved means a commit removed this member from the group.
	ErrRemoved = errors.New("client: removed from the group")
	// ErrSessionLost means the signaling connection dropped and the session could not be
	// resumed in time (or the server no longer had it): Dial anew to rejoin.
	ErrSessionLost = errors.New("client: session lost")
	// ErrReplaced means the same participant joined again elsewhere (another connection
	// with the same identity holds the seat now), while this connection was up or while it
	// was down. Dialling anew would take the seat back from it.
	ErrReplaced = errors.New("client: session replaced by a newer connection")
	// ErrMediaActive means StartMedia was called while a media plane is running.
	ErrMediaActive = errors.New("client: media already started")

	// ErrRecordingCodec means a recording file holds another codec than VP8 (IVF) or
	// single-stream Opus (Ogg).
	ErrRecordingCodec = errors.New("client: recording: unsupported codec")
	// ErrRecordingMalformed means a recording file does not parse as IVF or Ogg Opus.
	ErrRecordingMalformed = errors.New("client: recording: malformed file")
	// ErrRecordingEmpty means a recording file holds no frame.
	ErrRecordingEmpty = errors.New("client: recording: no frame")
	// ErrRecordingNoKeyframe means a VP8 recording does not start with a key frame,
	// so neither its first nor its looped playback would decode.
	ErrRecordingNoKeyframe = errors.New("client: recording: does not start with a VP8 key frame")
	// ErrRecordingTooLarge means a recording file exceeds the 32 MiB LoadRecording reads.
	ErrRecordingTooLarge = errors.New("client: recording: file too large")
)

// RecordingError is LoadRecording's error: the file and what is wrong with it (one
// of the ErrRecording sentinels, or the file system's error).
type RecordingError struct {
	Path string
	Err  error
}

func (e *RecordingError) Error() string {
	return fmt.Sprintf("client: recording %s: %s", e.Path, strings.TrimPrefix(e.Err.Error(), "client: recording: "))
}

func (e *RecordingError) Unwrap() error { return e.Err }

// ServerError is a refusal from the server ("error" message), with its code from
// docs/protocol.md.
type ServerError struct {
	Code    string
	Message string
}

// Retryable reports whether the same request may succeed shortly: the service was briefly
// unable to take it (a database or cluster outage), nothing was refused.
func (e *ServerError) Retryable() bool { return e.Code == signaling.CodeUnavailable }

func (e *ServerError) Error() string {
	return fmt.Sprintf("client: server refused: %s: %s", e.Code, e.Message)
}
