package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// rowVersion is the first byte of every canonical encoding. A new encoding gets a new
// version; Verify dispatches on it.
const rowVersion = 1

// row is an audit_events row exactly as stored. Its canonical encoding and hash are
// computed from these bytes only, so anyone with read access can recompute the chain.
type row struct {
	seq        int64
	id         [16]byte
	chainedAt  int64 // unix microseconds (timestamptz precision)
	occurredAt int64 // unix microseconds
	actor      string
	actorRole  string
	action     string
	targetKind string
	targetID   string
	room       string
	outcome    string
	requestID  string
	subject    string
	details    string
	personal   []byte // sealed blob as stored (README "per-subject encryption")
	prevHash   [32]byte
	hash       [32]byte
}

// appendCanonical appends the row's canonical encoding (README "canonical row encoding"):
// version, then fixed-width integers big-endian, then every variable field as a 4-byte
// big-endian length and its bytes, in column order. The length prefixes make the encoding
// injective: no two different rows encode to the same bytes.
func (r *row) appendCanonical(b []byte) []byte {
	b = append(b, rowVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.seq))
	b = append(b, r.id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.chainedAt))
	b = binary.BigEndian.AppendUint64(b, uint64(r.occurredAt))
	for _, s := range [...]string{r.actor, r.actorRole, r.action, r.targetKind, r.targetID,
		r.room, r.outcome, r.requestID, r.subject, r.details} {
		b = appendLP(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.personal)))
	return append(b, r.personal...)
}

func appendLP(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// chainHash is hash = SHA-256(prev_hash || canonical(row)). scratch is reused by the
// caller so hashing allocates nothing; the grown buffer is returned.
func (r *row) chainHash(scratch []byte) ([32]byte, []byte) {
	scratch = append(scratch[:0], r.prevHash[:]...)
	scratch = r.appendCanonical(scratch)
	return sha256.Sum256(scratch), scratch
}
