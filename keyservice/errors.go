package keyservice

import (
	"errors"
)

// Refusals are *Error values whose Code is one of signaling's error codes: the
// Delivery Service speaks the signaling protocol, so its refusals are that protocol's
// codes, declared once in package signaling. A refusal changes nothing stored.

// errInternal marks faults of the service itself (database, encoding); signaling turns
// any error that is not an *Error into the "internal" code.
var errInternal = errors.New("keyservice: internal")

func refuse(code, msg string) *Error { return &Error{Code: code, Message: msg} }
