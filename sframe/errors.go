package sframe

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them, so
// callers test with errors.Is. None of them carries key material or plaintext.
var (
	// ErrUnknownSuite: the cipher suite is not one of the five of RFC 9605 §4.5.
	ErrUnknownSuite = errors.New("sframe: unknown cipher suite")
	// ErrKeyLength: a base key or exported secret has the wrong length.
	ErrKeyLength = errors.New("sframe: invalid key length")

	// ErrTruncatedHeader: the input ends inside the SFrame header.
	ErrTruncatedHeader = errors.New("sframe: truncated header")
	// ErrNonMinimalHeader: a KID or CTR field is longer than needed (RFC 9605
	// §4.3 encodes both in the fewest bytes). Rejecting it keeps one encoding
	// per (KID, CTR), so a rewritten header cannot pass for another frame.
	ErrNonMinimalHeader = errors.New("sframe: non-minimal KID or CTR encoding")
	// ErrShortCiphertext: the ciphertext is shorter than the suite's tag.
	ErrShortCiphertext = errors.New("sframe: ciphertext shorter than tag")
	// ErrAuthentication: the tag does not verify. No plaintext is returned.
	ErrAuthentication = errors.New("sframe: authentication failed")
	// ErrUnknownKID: no key is held for the frame's KID.
	ErrUnknownKID = errors.New("sframe: unknown KID")
	// ErrReplay: the frame's counter was already accepted for this KID.
	ErrReplay = errors.New("sframe: replayed counter")
	// ErrTooOld: the frame's counter is older than the replay window.
	ErrTooOld = errors.New("sframe: counter older than replay window")
	// ErrCounterExhausted: the sender's counter reached 2^64-1; a new key is needed.
	ErrCounterExhausted = errors.New("sframe: counter exhausted")
	// ErrOverlap: dst overlaps the input in a way that would corrupt it.
	ErrOverlap = errors.New("sframe: invalid buffer overlap")

	// ErrUnknownCodec: the codec value is not one of the Codec constants.
	ErrUnknownCodec = errors.New("sframe: unknown codec")
	// ErrFrameTooShort: the frame is shorter than its codec's clear prefix.
	ErrFrameTooShort = errors.New("sframe: frame shorter than codec prefix")
	// ErrMalformedH264: the frame is not an Annex B byte stream this package can protect.
	ErrMalformedH264 = errors.New("sframe: malformed H.264 Annex B frame")
	// ErrMalformedAV1: the frame is not a sequence of AV1 OBUs this package can protect.
	ErrMalformedAV1 = errors.New("sframe: malformed AV1 frame")

	// ErrKIDLayout: an MLS KID component does not fit its bit field (RFC 9605 §5.2).
	ErrKIDLayout = errors.New("sframe: KID component out of range")
	// ErrStaleEpoch: an MLS epoch not newer than the current one was installed.
	ErrStaleEpoch = errors.New("sframe: epoch not newer than current")
	// ErrNoEpoch: no MLS epoch has been installed yet.
	ErrNoEpoch = errors.New("sframe: no MLS epoch installed")
	// ErrKIDChanged: the member's sending KID is no longer the one the caller prepared
	// the frame for (an epoch was installed meanwhile).
	ErrKIDChanged = errors.New("sframe: sending KID changed")
	// ErrExporter: the MLS exporter failed or returned a secret of the wrong length.
	ErrExporter = errors.New("sframe: MLS exporter failed")
)

// HeaderError locates a header parsing failure. It wraps ErrTruncatedHeader or
// ErrNonMinimalHeader.
type HeaderError struct {
	Field string // "config", "KID" or "CTR"
	Err   error
}

func (e *HeaderError) Error() string { return fmt.Sprintf("%v (%s field)", e.Err, e.Field) }
func (e *HeaderError) Unwrap() error { return e.Err }

// FrameError is returned by decryption when the header parsed but the frame was
// rejected. KID and CTR come from the (unauthenticated) header and are given for
// diagnostics only. It wraps ErrUnknownKID, ErrReplay, ErrTooOld,
// ErrShortCiphertext or ErrAuthentication.
type FrameError struct {
	KID uint64
	CTR uint64
	Err error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("%v (kid=%d ctr=%d)", e.Err, e.KID, e.CTR)
}
func (e *FrameError) Unwrap() error { return e.Err }
