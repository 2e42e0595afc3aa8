package mls

import (
	"errors"
	"testing"
)

// TestTruncationsAndTrailing cuts every vector message at every length and
// appends a byte: each must fail with a typed error, never panic.
func TestTruncationsAndTrailing(t *testing.T) {
	var vs []messagesVector
	loadVectors(t, "messages.json", &vs)
	v := vs[0]
	for _, c := range []struct {
		name string
		b    []byte
		mk   func() WireStruct
	}{
		{"welcome", v.MLSWelcome, func() WireStruct { return new(MLSMessage) }},
		{"group_info", v.MLSGroupInfo, func() WireStruct { return new(MLSMessage) }},
		{"key_package", v.MLSKeyPackage, func() WireStruct { return new(MLSMessage) }},
		{"public_commit", v.PublicMessageCommit, func() WireStruct { return new(MLSMessage) }},
		{"private", v.PrivateMessage, func() WireStruct { return new(MLSMessage) }},
		{"ratchet_tree", v.RatchetTree, func() WireStruct { return new(RatchetTreeNodes) }},
		{"commit", v.Commit, func() WireStruct { return new(Commit) }},
		{"group_secrets", v.GroupSecrets, func() WireStruct { return new(groupSecrets) }},
	} {
		for n := 0; n < len(c.b); n++ {
			err := Unmarshal(c.b[:n], c.mk())
			var de *DecodeError
			if err == nil || !errors.As(err, &de) {
				t.Fatalf("%s cut at %d: %v", c.name, n, err)
			}
		}
		err := Unmarshal(append(append([]byte(nil), c.b...), 0), c.mk())
		if !errors.Is(err, ErrTrailingData) {
			t.Fatalf("%s with trailing byte: %v", c.name, err)
		}
	}
}

func TestUnknownEnumValues(t *testing.T) {
	cases := []struct {
		name  string
		b     []byte
		v     WireStruct
		field string
	}{
		{"wire format", []byte{0, 1, 0, 9}, new(MLSMessage), "wire_format"},
		{"proposal type", []byte{0x0a, 0x0a, 0}, new(Proposal), "proposal_type"},
		{"reserved proposal", []byte{0, 0}, new(Proposal), "proposal_type"},
		{"credential type", []byte{0, 9, 0}, new(Credential), "credential_type"},
		{"psk type", []byte{3, 0, 0}, new(PreSharedKeyID), "psktype"},
		{"psk usage", []byte{2, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, new(PreSharedKeyID), "resumption_psk_usage"},
		{"proposal or ref", []byte{1, 3, 0}, new(Commit), "proposal_or_ref_type"},
		{"node type", []byte{2, 1, 3}, new(RatchetTreeNodes), "node_type"},
		// FramedContent with sender_type 7.
		{"sender type", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 7}, new(FramedContent), "sender_type"},
		// FramedContent with a member sender and content_type 9.
		{"content type", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 9}, new(FramedContent), "content_type"},
		{"private content type", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, new(PrivateMessage), "content_type"},
		{"auth wire format", []byte{0, 5}, new(AuthenticatedContent), "wire_format"},
	}
	for _, c := range cases {
		err := Unmarshal(c.b, c.v)
		var ue *UnknownValueError
		if !errors.As(err, &ue) || ue.Field != c.field || !errors.Is(err, ErrUnknownValue) {
			t.Errorf("%s: got %v", c.name, err)
		}
	}
	if err := Unmarshal([]byte{0, 2, 0, 1}, new(MLSMessage)); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version: %v", err)
	}
	// optional<T> with a presence byte of 2.
	if err := Unmarshal([]byte{0, 2}, new(Commit)); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("optional marker: %v", err)
	}
	// A vector whose length runs past the input.
	if err := Unmarshal([]byte{0, 1, 0x45}, new(Credential)); !errors.Is(err, ErrTruncated) {
		t.Errorf("overlong vector: %v", err)
	}
	// A struct straddling the end of its enclosing vector.
	if err := Unmarshal([]byte{0x03, 0, 1, 0x05}, new(Extensions)); !errors.Is(err, ErrTruncated) {
		t.Errorf("straddling element: %v", err)
	}
}

func TestEncodeRejectsInconsistentStructs(t *testing.T) {
	for _, v := range []WireStruct{
		&Proposal{Type: ProposalTypeAdd},
		&MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatWelcome},
		&Credential{Type: 77},
		&FramedContent{ContentType: ContentTypeCommit, Sender: Sender{Type: SenderTypeMember}},
	} {
		if _, err := Marshal(v); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%T: got %v", v, err)
		}
	}
}

func TestPrivateMessageBadSender(t *testing.T) {
	var vs []messageProtectionVector
	loadVectors(t, "message-protection.json", &vs)
	v := vs[0]
	cs, _ := CipherSuiteByID(CipherSuiteID(v.CipherSuite))
	ctx := v.context(cs)
	m := decodeMLS(t, v.ApplicationPriv).PrivateMessage
	// A one-leaf tree: the sender (leaf 1) is outside it.
	st, _ := newSecretTree(cs, v.EncryptionSecret, 1)
	if _, err := decryptPrivateMessage(cs, privateMessageKeys{SecretTree: st, SenderDataSecret: v.SenderDataSecret}, ctx, m); !errors.Is(err, ErrInvalidLeafIndex) {
		t.Fatalf("leaf out of range: %v", err)
	}
	wrong := *ctx
	wrong.Epoch++
	if _, err := decryptPrivateMessage(cs, v.keys(t, cs), &wrong, m); !errors.Is(err, ErrWrongGroup) {
		t.Fatalf("stale epoch: %v", err)
	}
	bad := *m
	bad.EncryptedSenderData = append([]byte(nil), m.EncryptedSenderData...)
	bad.EncryptedSenderData[0] ^= 1
	if _, err := decryptPrivateMessage(cs, v.keys(t, cs), ctx, &bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("sender data: %v", err)
	}
	bad.EncryptedSenderData = nil
	if _, err := decryptPrivateMessage(cs, v.keys(t, cs), ctx, &bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("empty sender data: %v", err)
	}
}
