package mls

import "fmt"

// ConfirmedTranscriptHash computes
//
//	confirmed_transcript_hash_[n] = Hash(interim_transcript_hash_[n-1] ||
//	    ConfirmedTranscriptHashInput_[n])
//
// where ConfirmedTranscriptHashInput is { wire_format, content, signature }
// of a commit (RFC 9420 §8.2).
func ConfirmedTranscriptHash(cs *CipherSuite, interimBefore []byte, commit *AuthenticatedContent) ([]byte, error) {
	if commit.Content.ContentType != ContentTypeCommit {
		return nil, fmt.Errorf("%w: transcript input is not a commit", ErrInvalidArgument)
	}
	w := writer{b: append([]byte(nil), interimBefore...)}
	w.u16(uint16(commit.WireFormat))
	commit.Content.marshal(&w)
	w.opaque(commit.Auth.Signature)
	b, err := w.result()
	if err != nil {
		return nil, err
	}
	return cs.Hash(b), nil
}

// InterimTranscriptHash computes interim_transcript_hash_[n] =
// Hash(confirmed_transcript_hash_[n] || InterimTranscriptHashInput_[n]) with
// InterimTranscriptHashInput = struct { MAC confirmation_tag; } (RFC 9420 §8.2).
func InterimTranscriptHash(cs *CipherSuite, confirmed, confirmationTag []byte) ([]byte, error) {
	w := writer{b: append([]byte(nil), confirmed...)}
	w.opaque(confirmationTag)
	b, err := w.result()
	if err != nil {
		return nil, err
	}
	return cs.Hash(b), nil
}

// confirmationTag is MAC(confirmation_key, confirmed_transcript_hash)
// (RFC 9420 §6.1).
func confirmationTag(cs *CipherSuite, confirmationKey, confirmedTranscriptHash []byte) []byte {
	return cs.mac(confirmationKey, confirmedTranscriptHash)
}

// verifyConfirmationTag compares in constant time and returns
// ErrInvalidConfirmationTag on mismatch.
func verifyConfirmationTag(cs *CipherSuite, confirmationKey, confirmedTranscriptHash, tag []byte) error {
	if !cs.verifyMAC(confirmationKey, confirmedTranscriptHash, tag) {
		return ErrInvalidConfirmationTag
	}
	return nil
}
