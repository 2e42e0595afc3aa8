package media

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the media package. Callers test them with
// errors.Is; the signaling layer maps them to client-visible error codes and
// must not echo the wrapped detail to clients.
var (
	// ErrClosed is returned by any call on a closed SFU or Participant.
	ErrClosed = errors.New("media: closed")
	// ErrDuplicateParticipant is returned by Join when the participant ID is
	// already in the room.
	ErrDuplicateParticipant = errors.New("media: participant already joined")
	// ErrInvalidID is returned by Join for an empty or oversized room or
	// participant ID.
	ErrInvalidID = errors.New("media: invalid room or participant id")
	// ErrNilSignal is returned by Join when no signal callback is given.
	ErrNilSignal = errors.New("media: nil signal callback")
	// ErrUnknownMessage is returned by HandleMessage for a message type the
	// client may not send.
	ErrUnknownMessage = errors.New("media: unknown message type")
	// ErrBadSDP is returned when an offer or answer cannot be parsed or
	// applied.
	ErrBadSDP = errors.New("media: bad session description")
	// ErrUnexpectedAnswer is returned by HandleAnswer when the SFU has no
	// offer outstanding.
	ErrUnexpectedAnswer = errors.New("media: answer without an outstanding offer")
	// ErrStaleAnswer is returned by HandleAnswer for an answer to an SFU
	// offer that was abandoned because the client's own offer crossed it.
	ErrStaleAnswer = errors.New("media: answer to an abandoned offer")
	// ErrBadCandidate is returned by AddICECandidate for a candidate pion
	// refuses.
	ErrBadCandidate = errors.New("media: bad ICE candidate")
	// ErrPayloadTooShort is returned by the codec parsers when the clear
	// prefix is shorter than its own descriptor says.
	ErrPayloadTooShort = errors.New("media: payload too short for codec descriptor")
	// ErrUnsupportedCodec is returned when a subscriber cannot receive the
	// codec a publisher sends.
	ErrUnsupportedCodec = errors.New("media: codec not negotiated with subscriber")
	// ErrBadView is returned by HandleMessage for a layers or view message
	// out of bounds (view.go); it changes nothing.
	ErrBadView = errors.New("media: bad layers or view")
	// ErrCodecsDeclared is returned by HandleMessage for a codecs message
	// that changes what the participant declared earlier in its session.
	ErrCodecsDeclared = errors.New("media: video codecs already declared")
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("media: invalid config")
)

// SDPError says which step of applying a session description failed.
type SDPError struct {
	Op  string // "set remote offer", "create answer", ...
	Err error
}

func (e *SDPError) Error() string { return fmt.Sprintf("media: %s: %v", e.Op, e.Err) }

// Unwrap lets errors.Is match ErrBadSDP and the pion cause.
func (e *SDPError) Unwrap() []error { return []error{ErrBadSDP, e.Err} }
