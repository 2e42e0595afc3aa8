package mls

import (
	"bytes"
	"errors"
	"testing"
)

func TestTranscriptHashVectors(t *testing.T) {
	var vs []struct {
		CipherSuite                  uint16   `json:"cipher_suite"`
		ConfirmationKey              hexBytes `json:"confirmation_key"`
		AuthenticatedContent         hexBytes `json:"authenticated_content"`
		InterimTranscriptHashBefore  hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedTranscriptHashAfter hexBytes `json:"confirmed_transcript_hash_after"`
		InterimTranscriptHashAfter   hexBytes `json:"interim_transcript_hash_after"`
	}
	loadVectors(t, "transcript-hashes.json", &vs)
	ran := 0
	for _, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		var ac AuthenticatedContent
		if err := Unmarshal(v.AuthenticatedContent, &ac); err != nil {
			t.Fatal(err)
		}
		re, err := Marshal(&ac)
		if err != nil || !bytes.Equal(re, v.AuthenticatedContent) {
			t.Fatalf("AuthenticatedContent round trip (%v)", err)
		}
		confirmed, err := ConfirmedTranscriptHash(cs, v.InterimTranscriptHashBefore, &ac)
		if err != nil || !bytes.Equal(confirmed, v.ConfirmedTranscriptHashAfter) {
			t.Errorf("confirmed transcript hash mismatch (%v)", err)
		}
		if err := verifyConfirmationTag(cs, v.ConfirmationKey, confirmed, ac.Auth.ConfirmationTag); err != nil {
			t.Errorf("confirmation tag: %v", err)
		}
		bad := bytes.Clone(ac.Auth.ConfirmationTag)
		bad[len(bad)-1] ^= 1
		if err := verifyConfirmationTag(cs, v.ConfirmationKey, confirmed, bad); !errors.Is(err, ErrInvalidConfirmationTag) {
			t.Errorf("forged confirmation tag: %v", err)
		}
		interim, err := InterimTranscriptHash(cs, confirmed, ac.Auth.ConfirmationTag)
		if err != nil || !bytes.Equal(interim, v.InterimTranscriptHashAfter) {
			t.Errorf("interim transcript hash mismatch (%v)", err)
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}
