package audit

import (
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
)

// Spool records (README "spool file format"):
//
//	record  = length (4, big-endian) || crc32c(payload) (4, big-endian) || payload
//	payload = 0x01 || id (16) || occurred µs (8, big-endian) || 14 length-prefixed strings:
//	          actor, actor_role, action, target_kind, target_id, room, outcome, request_id,
//	          subject, details, source_ip, user_agent, name, text
const (
	spoolPayloadVersion = 1
	spoolRecordHeader   = 8
	maxSpoolPayload     = 64 << 10
)

func (e *entry) strings() [14]*string {
	return [14]*string{&e.actor, &e.actorRole, &e.action, &e.targetKind, &e.targetID,
		&e.room, &e.outcome, &e.requestID, &e.subject, &e.details,
		&e.ip, &e.userAgent, &e.name, &e.text}
}

// appendSpoolPayload appends e's spool payload to b.
func appendSpoolPayload(b []byte, e *entry) []byte {
	b = append(b, spoolPayloadVersion)
	b = append(b, e.id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.occurred))
	for _, s := range e.strings() {
		b = appendLP(b, *s)
	}
	return b
}

// decodeSpoolPayload parses and validates one payload. Every failure wraps
// ErrBadSpoolRecord.
func decodeSpoolPayload(p []byte) (entry, error) {
	var e entry
	if len(p) < 1+16+8 || p[0] != spoolPayloadVersion {
		return e, fmt.Errorf("%w: bad header", ErrBadSpoolRecord)
	}
	copy(e.id[:], p[1:17])
	e.givenID = true // a spooled event may already be chained: always look it up
	if e.id == uuid.Nil {
		return entry{}, fmt.Errorf("%w: nil id", ErrBadSpoolRecord)
	}
	e.occurred = int64(binary.BigEndian.Uint64(p[17:25]))
	rest := p[25:]
	for _, s := range e.strings() {
		if len(rest) < 4 {
			return entry{}, fmt.Errorf("%w: truncated", ErrBadSpoolRecord)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return entry{}, fmt.Errorf("%w: field overruns record", ErrBadSpoolRecord)
		}
		*s = string(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return entry{}, fmt.Errorf("%w: trailing bytes", ErrBadSpoolRecord)
	}
	if err := e.validate(); err != nil {
		return entry{}, fmt.Errorf("%w: %w", ErrBadSpoolRecord, err)
	}
	return e, nil
}
