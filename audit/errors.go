package audit

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrInvalidEvent wraps every validation failure of an Event; see *FieldError.
	ErrInvalidEvent = errors.New("audit: invalid event")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrNotStarted is returned by Append before Start.
	ErrNotStarted = errors.New("audit: log not started")
	// ErrNotRecorded means the event could be written neither to Postgres nor to the spool;
	// the action it describes must not go ahead unless it is on the fail-open allow-list.
	ErrNotRecorded = errors.New("audit: event not recorded")
	// ErrForbidden means the caller's role may not query the audit log.
	ErrForbidden = errors.New("audit: forbidden")
	// ErrInvalidFilter wraps a malformed query filter.
	ErrInvalidFilter = errors.New("audit: invalid filter")
	// ErrSpoolCorrupt means a spool record failed its checksum before the end of the file.
	ErrSpoolCorrupt = errors.New("audit: spool corrupt")
	// ErrSpoolLocked means another process holds the spool directory.
	ErrSpoolLocked = errors.New("audit: spool in use by another process")
	// ErrBadSpoolRecord means a spool record's payload does not decode.
	ErrBadSpoolRecord = errors.New("audit: malformed spool record")
	// ErrConfig wraps a bad Config.
	ErrConfig = errors.New("audit: bad config")
	// ErrCheckpointDeferred is returned by Checkpoint when Postgres was unreachable: the
	// audit.checkpoint event is safe in the spool, but no checkpoint was signed.
	ErrCheckpointDeferred = errors.New("audit: postgres unreachable; checkpoint event spooled, no checkpoint signed")
	// ErrNoLegalHold means the legal hold to release does not exist or is released.
	ErrNoLegalHold = errors.New("audit: no such active legal hold")
	// ErrNoSubjectKey means a subject key vanished between insert and read-back.
	ErrNoSubjectKey = errors.New("audit: subject key missing after insert")
	// ErrBadWitnessLine means a witness file holds a complete line that is not a
	// well-formed checkpoint record; see *WitnessLineError.
	ErrBadWitnessLine = errors.New("audit: malformed witness line")
)

// Findings of VerifyWitness: how the database departs from the checkpoints its witness
// kept. Each comes as a *WitnessError carrying the first bad sequence number.
var (
	// ErrWitnessTruncated means the chain no longer reaches, or no longer passes through,
	// a witnessed head: rows at or before a witnessed sequence number were deleted or
	// replaced (a truncated tail, or a rewound chain appended to again).
	ErrWitnessTruncated = errors.New("audit: chain truncated or replaced after a witnessed head")
	// ErrWitnessTipRewound means audit_tip is behind a witnessed checkpoint.
	ErrWitnessTipRewound = errors.New("audit: tip rewound behind a witnessed checkpoint")
	// ErrWitnessCheckpointDeleted means a witnessed checkpoint is missing from
	// audit_checkpoints, or a different one stands at its sequence number.
	ErrWitnessCheckpointDeleted = errors.New("audit: witnessed checkpoint missing from the database")
	// ErrWitnessSignature means a witness record does not verify under the audit public
	// key: the witness was altered, or belongs to another key or deployment. Such a
	// record is not used for the other checks.
	ErrWitnessSignature = errors.New("audit: witness record signature does not verify")
)

// Internal errors, wrapped into the errors callers see.
var (
	// errCommitRolledBack means COMMIT answered ROLLBACK: the transaction had failed.
	errCommitRolledBack = errors.New("audit: commit rolled back")
	// errOpen means a sealed personal-data blob did not decrypt under its subject's key.
	errOpen = errors.New("audit: personal data does not decrypt")
)

// FieldError says which Event field failed validation and why. It matches ErrInvalidEvent.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("audit: invalid event: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidEvent) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidEvent }

// WitnessError is one finding of VerifyWitness. It matches its kind (ErrWitnessTruncated,
// ErrWitnessTipRewound, ErrWitnessCheckpointDeleted or ErrWitnessSignature) with
// errors.Is.
type WitnessError struct {
	Kind error
	// Seq is the first sequence number at which the database departs from the witness.
	Seq    int64
	Reason string
}

func (e *WitnessError) Error() string {
	return fmt.Sprintf("%v: first bad sequence number %d: %s", e.Kind, e.Seq, e.Reason)
}

func (e *WitnessError) Unwrap() error { return e.Kind }

// WitnessLineError says which line of a witness file is malformed. It matches
// ErrBadWitnessLine.
type WitnessLineError struct {
	Line   int
	Reason string
}

func (e *WitnessLineError) Error() string {
	return fmt.Sprintf("audit: malformed witness line %d: %s", e.Line, e.Reason)
}

// Is makes errors.Is(err, ErrBadWitnessLine) true.
func (e *WitnessLineError) Is(target error) bool { return target == ErrBadWitnessLine }
