package mls

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; the struct errors below
// wrap them where a caller needs to know which field or value was at fault.
var (
	// ErrTruncated means the input ended before a structure was complete.
	ErrTruncated = errors.New("mls: truncated input")
	// ErrTrailingData means bytes were left after a complete structure.
	ErrTrailingData = errors.New("mls: trailing data after structure")
	// ErrInvalidVarint means a variable-length integer used the reserved
	// prefix or was not minimally encoded (RFC 9420 §2.1.2).
	ErrInvalidVarint = errors.New("mls: invalid variable-length integer")
	// ErrUnknownValue means an enum field carried a value this package does
	// not know; see UnknownValueError for which one.
	ErrUnknownValue = errors.New("mls: unknown enum value")
	// ErrInvalidValue means a field had a value the protocol forbids in that
	// position (for example a reserved value or a bad optional marker).
	ErrInvalidValue = errors.New("mls: invalid field value")
	// ErrUnsupportedCipherSuite means the suite ID is not implemented.
	ErrUnsupportedCipherSuite = errors.New("mls: unsupported cipher suite")
	// ErrUnsupportedVersion means the protocol version is not mls10.
	ErrUnsupportedVersion = errors.New("mls: unsupported protocol version")
	// ErrInvalidSignature means a SignWithLabel signature did not verify.
	ErrInvalidSignature = errors.New("mls: invalid signature")
	// ErrInvalidMembershipTag means a PublicMessage membership tag did not verify.
	ErrInvalidMembershipTag = errors.New("mls: invalid membership tag")
	// ErrInvalidConfirmationTag means a confirmation tag did not verify.
	ErrInvalidConfirmationTag = errors.New("mls: invalid confirmation tag")
	// ErrDecrypt means an AEAD or HPKE decryption failed.
	ErrDecrypt = errors.New("mls: decryption failed")
	// ErrInvalidPadding means PrivateMessageContent padding was not all zero.
	ErrInvalidPadding = errors.New("mls: non-zero padding")
	// ErrInvalidLeafIndex means a leaf index was outside the tree.
	ErrInvalidLeafIndex = errors.New("mls: leaf index out of range")
	// ErrGenerationExpired means a ratchet key for that generation was
	// already used or deleted (RFC 9420 §9.2).
	ErrGenerationExpired = errors.New("mls: ratchet generation already consumed or expired")
	// ErrGenerationTooFar means a generation lies beyond the forward window.
	ErrGenerationTooFar = errors.New("mls: ratchet generation beyond window")
	// ErrWrongGroup means a message names another group or epoch.
	ErrWrongGroup = errors.New("mls: message for another group or epoch")
	// ErrInvalidSender means the sender type is not allowed for the message.
	ErrInvalidSender = errors.New("mls: sender not allowed here")
	// ErrInvalidKeyPackage means a KeyPackage failed validation (RFC 9420 §10.1).
	ErrInvalidKeyPackage = errors.New("mls: invalid KeyPackage")
	// ErrInvalidLeafNode means a LeafNode failed validation (RFC 9420 §7.3).
	ErrInvalidLeafNode = errors.New("mls: invalid LeafNode")
	// ErrInvalidKey means a public or private key could not be parsed.
	ErrInvalidKey = errors.New("mls: invalid key")
	// ErrInvalidArgument means a caller passed an unusable parameter.
	ErrInvalidArgument = errors.New("mls: invalid argument")
)

// UnknownValueError reports an enum value the decoder does not know.
type UnknownValueError struct {
	Field string
	Value uint64
}

func (e *UnknownValueError) Error() string {
	return fmt.Sprintf("mls: unknown %s value %d", e.Field, e.Value)
}

func (e *UnknownValueError) Unwrap() error { return ErrUnknownValue }

// DecodeError reports which structure failed to decode, wrapping the cause.
type DecodeError struct {
	Struct string
	Err    error
}

func (e *DecodeError) Error() string { return "mls: decoding " + e.Struct + ": " + e.Err.Error() }

func (e *DecodeError) Unwrap() error { return e.Err }

// ValidationError reports which check of a KeyPackage or LeafNode failed.
// Reason is a fixed description; it never contains key material.
type ValidationError struct {
	Kind   error // ErrInvalidKeyPackage or ErrInvalidLeafNode
	Reason string
	Err    error // optional underlying cause
}

func (e *ValidationError) Error() string {
	s := e.Kind.Error() + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *ValidationError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Sentinels of the tree and group layers, refining the ones above.
var (
	// ErrInvalidTree means a ratchet tree is malformed or fails validation
	// (RFC 9420 §7.9, §12.4.3.3).
	ErrInvalidTree = errors.New("mls: invalid ratchet tree")
	// ErrRemoved means a Commit removed this member from the group; the
	// member's state is unchanged and should be discarded.
	ErrRemoved = errors.New("mls: this member was removed from the group")
)

// ErrInvalidPath means an UpdatePath does not fit the tree or its keys or
// parent hashes do not match (RFC 9420 §7.5, §12.4.2).
var ErrInvalidPath = fmt.Errorf("%w: update path", ErrInvalidTree)

// ErrInvalidProposal means a proposal or a Commit's proposal list breaks
// RFC 9420 §12.1-12.2.
var ErrInvalidProposal = fmt.Errorf("%w: proposal", ErrInvalidValue)

// ErrNotInvited means a Welcome holds no secrets for the given KeyPackage.
var ErrNotInvited = fmt.Errorf("%w: no EncryptedGroupSecrets for this KeyPackage", ErrInvalidArgument)

// ErrNotPublic means a handshake message was encrypted, so the Delivery
// Service cannot check it.
var ErrNotPublic = fmt.Errorf("%w: handshake is not a PublicMessage", ErrInvalidArgument)

// ErrInvalidState means a serialized Group state could not be decoded or is
// inconsistent (RestoreGroup); nothing of it is used.
var ErrInvalidState = errors.New("mls: invalid group state")

// ErrInvalidExternalCommit means an external commit (RFC 9420 §12.4.3.2)
// breaks the rules for its proposals, or a GroupInfo cannot be joined by one.
var ErrInvalidExternalCommit = fmt.Errorf("%w: external commit", ErrInvalidProposal)

// ErrPolicy wraps a refusal of the group's Policy (SetPolicy): the message is valid
// under RFC 9420 but the application does not allow it.
var ErrPolicy = errors.New("mls: refused by the group's policy")
