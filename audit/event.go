package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Outcome is what became of the action.
type Outcome string

// The three outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeDenied  Outcome = "denied"
	OutcomeError   Outcome = "error"
)

// TargetKind says what an event's Target.ID names.
type TargetKind string

// Target kinds. TargetNone is for events without a target.
const (
	TargetNone       TargetKind = ""
	TargetRoom       TargetKind = "room"
	TargetUser       TargetKind = "user"
	TargetKeyPackage TargetKind = "keypackage"
	TargetCommit     TargetKind = "commit"
	TargetToken      TargetKind = "token"
	TargetConfig     TargetKind = "config"
	TargetAuditLog   TargetKind = "audit_log"
)

// Target is what an action was done to.
type Target struct {
	Kind TargetKind
	ID   string
}

// Personal holds the personal data of an event. It is sealed under the key of the
// event's Subject before it is stored (README "per-subject encryption"), so erasing the
// subject makes it unreadable while the chain still verifies.
type Personal struct {
	SourceIP  string
	UserAgent string
	Name      string // display name
	Text      string // free text (a kick reason, a break-glass justification)
}

// Event is one audit event as callers hand it to Log.Append.
type Event struct {
	// ID makes Append idempotent: an event whose ID is already in the log is not added
	// again. Zero means Append assigns a fresh UUIDv7.
	ID uuid.UUID
	// Time is when the action happened; zero means now. Stored to the microsecond.
	Time time.Time
	// Actor is the stable user id (token subject) or "service:<name>"; never empty.
	Actor     string
	ActorRole string
	Action    Action
	Target    Target
	// Room is the room the action concerns, if any (filterable).
	Room      string
	Outcome   Outcome
	RequestID string
	// Subject is the data subject whose key seals Personal; empty means Actor.
	Subject string
	// Details are non-personal facts (ids, epochs, reason codes), stored in clear. Never
	// put names, addresses or free text here: use Personal.
	Details map[string]string
	// Personal is sealed per subject; see Personal.
	Personal Personal
}

// Limits on event fields, so a row always fits the table and the spool.
const (
	maxField    = 512
	maxText     = 4096
	maxDetails  = 32
	maxDetailKV = 512
)

// entry is a validated, normalised event: what the spool stores and the writer chains.
type entry struct {
	id uuid.UUID
	// givenID: the caller chose the ID, so this may be a retry of an event already
	// chained. A fresh UUIDv7 from normalize cannot be, and skips the lookup.
	givenID    bool
	force      bool  // Checkpoint: sign a checkpoint in the same transaction
	occurred   int64 // unix microseconds
	actor      string
	actorRole  string
	action     string
	targetKind string
	targetID   string
	room       string
	outcome    string
	requestID  string
	subject    string
	details    string // canonical JSON object, "" when there are none
	ip         string
	userAgent  string
	name       string
	text       string
}

func (e *entry) hasPersonal() bool {
	return e.ip != "" || e.userAgent != "" || e.name != "" || e.text != ""
}

// normalize validates ev and returns its entry. now supplies defaults.
func normalize(ev *Event, now time.Time) (entry, error) {
	// A zero ID gets a UUIDv7 from the writer, which draws randomness once per batch.
	id, given := ev.ID, ev.ID != uuid.Nil
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	subject := ev.Subject
	if subject == "" {
		subject = ev.Actor
	}
	var details string
	if len(ev.Details) > 0 {
		if len(ev.Details) > maxDetails {
			return entry{}, &FieldError{"Details", "too many keys"}
		}
		for k, v := range ev.Details {
			if err := checkText("Details key", k, maxDetailKV); err != nil {
				return entry{}, err
			}
			if k == "" {
				return entry{}, &FieldError{"Details key", "empty"}
			}
			if err := checkText("Details value", v, maxDetailKV); err != nil {
				return entry{}, err
			}
		}
		details = encodeDetails(ev.Details)
	}
	e := entry{
		id:         id,
		givenID:    given,
		occurred:   t.UnixMicro(),
		actor:      ev.Actor,
		actorRole:  ev.ActorRole,
		action:     string(ev.Action),
		targetKind: string(ev.Target.Kind),
		targetID:   ev.Target.ID,
		room:       ev.Room,
		outcome:    string(ev.Outcome),
		requestID:  ev.RequestID,
		subject:    subject,
		details:    details,
		ip:         ev.Personal.SourceIP,
		userAgent:  ev.Personal.UserAgent,
		name:       ev.Personal.Name,
		text:       ev.Personal.Text,
	}
	return e, e.validate()
}

// validate checks every field; the spool decoder runs it too, so a spooled record always
// fits the table.
func (e *entry) validate() error {
	if e.id == uuid.Nil && e.givenID {
		return &FieldError{"ID", "nil UUID"}
	}
	// Postgres timestamptz covers 4713 BC .. 294276 AD; keep to sane years.
	if e.occurred < -62135596800000000 || e.occurred > 253402300799999999 {
		return &FieldError{"Time", "out of range"}
	}
	if e.actor == "" {
		return &FieldError{"Actor", "empty"}
	}
	if !Action(e.action).Valid() {
		return &FieldError{"Action", "not in the vocabulary"}
	}
	switch Outcome(e.outcome) {
	case OutcomeSuccess, OutcomeDenied, OutcomeError:
	default:
		return &FieldError{"Outcome", "must be success, denied or error"}
	}
	switch TargetKind(e.targetKind) {
	case TargetNone:
		if e.targetID != "" {
			return &FieldError{"Target", "ID without Kind"}
		}
	case TargetRoom, TargetUser, TargetKeyPackage, TargetCommit, TargetToken, TargetConfig, TargetAuditLog:
	default:
		return &FieldError{"Target.Kind", "unknown"}
	}
	if len(e.subject) > 256 {
		return &FieldError{"Subject", "longer than 256 bytes"}
	}
	for _, f := range [...]struct {
		name, v string
		max     int
	}{
		{"Actor", e.actor, 256}, {"ActorRole", e.actorRole, maxField},
		{"Target.ID", e.targetID, maxField}, {"Room", e.room, maxField},
		{"RequestID", e.requestID, maxField}, {"Subject", e.subject, 256},
		{"Details", e.details, maxDetails * (2*maxDetailKV*6 + 6)},
		{"Personal.SourceIP", e.ip, maxField}, {"Personal.UserAgent", e.userAgent, maxField},
		{"Personal.Name", e.name, maxField}, {"Personal.Text", e.text, maxText},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

// checkText enforces what a Postgres text column accepts (valid UTF-8, no NUL).
func checkText(field, s string, max int) error {
	if len(s) > max {
		return &FieldError{field, "too long"}
	}
	if !utf8.ValidString(s) {
		return &FieldError{field, "not valid UTF-8"}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return &FieldError{field, "contains NUL"}
	}
	return nil
}

func decodeDetails(s string) (map[string]string, error) {
	var d map[string]string
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("audit: stored details: %w", err)
	}
	return d, nil
}

// encodeDetails writes details as a JSON object with keys in byte order, so the stored
// text (hashed into the chain) depends only on the map's contents. Strings are valid
// UTF-8 without NUL (checked before); quotes, backslashes and control characters are
// escaped as JSON requires (RFC 8259 §7). It allocates once: the returned text.
func encodeDetails(d map[string]string) string {
	var stack [8]string
	keys := stack[:0]
	n := 2
	for k, v := range d {
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, d[k])
	}
	b.WriteByte('}')
	return b.String()
}

func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '"' && c != '\\' && c >= 0x20 {
			continue
		}
		b.WriteString(s[start:i])
		if c < 0x20 {
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		} else {
			b.WriteByte('\\')
			b.WriteByte(c)
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
