package audit

import (
	"encoding/binary"
	"time"
)

// The writer streams rows to COPY ... FROM STDIN (FORMAT binary) itself instead of going
// through pgx's generic CopyFrom: the encoding is fixed, so it is a few appends per
// column with no boxing and no allocation (PostgreSQL docs, "COPY", Binary Format).
const copyEventsSQL = `COPY audit_events (seq, id, chained_at, occurred_at, actor, actor_role,
	action, target_kind, target_id, room, outcome, request_id, subject, details, personal,
	prev_hash, hash) FROM STDIN (FORMAT binary)`

// copyHeader is the binary COPY signature, flags (0) and header extension length (0).
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// pgEpochMicros is 2000-01-01T00:00:00Z in Unix microseconds: binary timestamptz counts
// microseconds from there.
var pgEpochMicros = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// appendCopyRow appends one tuple of the binary COPY stream.
func appendCopyRow(b []byte, r *row) []byte {
	b = binary.BigEndian.AppendUint16(b, 17)
	b = appendInt8Field(b, r.seq)
	b = appendBytesField(b, r.id[:])
	b = appendInt8Field(b, r.chainedAt-pgEpochMicros)
	b = appendInt8Field(b, r.occurredAt-pgEpochMicros)
	for _, s := range [...]string{r.actor, r.actorRole, r.action, r.targetKind, r.targetID,
		r.room, r.outcome, r.requestID, r.subject, r.details} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = appendBytesField(b, r.personal)
	b = appendBytesField(b, r.prevHash[:])
	return appendBytesField(b, r.hash[:])
}

func appendInt8Field(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendBytesField(b []byte, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}
