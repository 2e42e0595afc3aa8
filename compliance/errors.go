package compliance

import "errors"

// Errors of the subject-rights operations. The HTTP layer maps them to codes; their text
// is safe to show to an administrator.
var (
	// ErrLegalHold means the subject is under a legal hold: erasure is refused until
	// the hold is released (GDPR Art. 17(3)(e)).
	ErrLegalHold = errors.New("compliance: the subject is under a legal hold; release it before erasing")
	// ErrInvalidSubject means the subject id is empty or malformed.
	ErrInvalidSubject = errors.New("compliance: invalid subject id")
	// ErrNoHold means there is no active legal hold with that id.
	ErrNoHold = errors.New("compliance: no such active legal hold")
)
