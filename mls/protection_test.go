package mls

import (
	"bytes"
	"errors"
	"testing"
)

type messageProtectionVector struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	TreeHash                hexBytes `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	SignaturePriv           hexBytes `json:"signature_priv"`
	SignaturePub            hexBytes `json:"signature_pub"`
	EncryptionSecret        hexBytes `json:"encryption_secret"`
	SenderDataSecret        hexBytes `json:"sender_data_secret"`
	MembershipKey           hexBytes `json:"membership_key"`
	Proposal                hexBytes `json:"proposal"`
	ProposalPriv            hexBytes `json:"proposal_priv"`
	ProposalPub             hexBytes `json:"proposal_pub"`
	Commit                  hexBytes `json:"commit"`
	CommitPriv              hexBytes `json:"commit_priv"`
	CommitPub               hexBytes `json:"commit_pub"`
	Application             hexBytes `json:"application"`
	ApplicationPriv         hexBytes `json:"application_priv"`
}

// The message-protection vectors use a group of two leaves with the sender
// at leaf 1 (mlswg test-vectors.md).
const mpLeaves, mpSender = 2, 1

func (v *messageProtectionVector) context(cs *CipherSuite) *GroupContext {
	return &GroupContext{
		Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: v.GroupID, Epoch: v.Epoch,
		TreeHash: v.TreeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash,
	}
}

func (v *messageProtectionVector) keys(t *testing.T, cs *CipherSuite) privateMessageKeys {
	t.Helper()
	st, err := newSecretTree(cs, v.EncryptionSecret, mpLeaves)
	if err != nil {
		t.Fatal(err)
	}
	return privateMessageKeys{SecretTree: st, SenderDataSecret: v.SenderDataSecret}
}

// contentEqual compares the content bodies by their encodings.
func contentEqual(t *testing.T, ac *AuthenticatedContent, ct ContentType, want []byte) {
	t.Helper()
	if ac.Content.ContentType != ct {
		t.Fatalf("content type %d, want %d", ac.Content.ContentType, ct)
	}
	var got []byte
	var err error
	switch ct {
	case ContentTypeApplication:
		got = ac.Content.ApplicationData
	case ContentTypeProposal:
		got, err = Marshal(ac.Content.Proposal)
	case ContentTypeCommit:
		got, err = Marshal(ac.Content.Commit)
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("content mismatch (%v)", err)
	}
}

func decodeMLS(t testing.TB, b []byte) *MLSMessage {
	t.Helper()
	var m MLSMessage
	if err := Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	re, err := Marshal(&m)
	if err != nil || !bytes.Equal(re, b) {
		t.Fatalf("MLSMessage round trip (%v)", err)
	}
	return &m
}

// newContent builds the FramedContent a vector message carries.
func (v *messageProtectionVector) newContent(t *testing.T, ct ContentType, body []byte) FramedContent {
	t.Helper()
	c := FramedContent{
		GroupID: v.GroupID, Epoch: v.Epoch,
		Sender:      Sender{Type: SenderTypeMember, LeafIndex: mpSender},
		ContentType: ct,
	}
	switch ct {
	case ContentTypeApplication:
		c.ApplicationData = body
	case ContentTypeProposal:
		c.Proposal = new(Proposal)
		if err := Unmarshal(body, c.Proposal); err != nil {
			t.Fatal(err)
		}
	case ContentTypeCommit:
		c.Commit = new(Commit)
		if err := Unmarshal(body, c.Commit); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestMessageProtectionVectors(t *testing.T) {
	var vs []messageProtectionVector
	loadVectors(t, "message-protection.json", &vs)
	ran := 0
	for _, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		ctx := v.context(cs)

		// Public messages: unprotect the vector's, then protect our own.
		for _, c := range []struct {
			name string
			ct   ContentType
			body []byte
			pub  []byte
		}{
			{"proposal", ContentTypeProposal, v.Proposal, v.ProposalPub},
			{"commit", ContentTypeCommit, v.Commit, v.CommitPub},
		} {
			t.Run("public/"+c.name, func(t *testing.T) {
				m := decodeMLS(t, c.pub)
				if m.PublicMessage == nil {
					t.Fatal("not a PublicMessage")
				}
				ac, err := m.PublicMessage.unprotect(cs, ctx, v.MembershipKey, v.SignaturePub)
				if err != nil {
					t.Fatal(err)
				}
				contentEqual(t, ac, c.ct, c.body)

				own := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: v.newContent(t, c.ct, c.body)}
				if err := own.Sign(cs, v.SignaturePriv, ctx); err != nil {
					t.Fatal(err)
				}
				if c.ct == ContentTypeCommit {
					own.Auth.ConfirmationTag = confirmationTag(cs, make([]byte, cs.HashLength()), ctx.ConfirmedTranscriptHash)
				}
				pm, err := newPublicMessage(cs, own, ctx, v.MembershipKey)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := Marshal(pm)
				if err != nil {
					t.Fatal(err)
				}
				var back PublicMessage
				if err := Unmarshal(enc, &back); err != nil {
					t.Fatal(err)
				}
				ac, err = back.unprotect(cs, ctx, v.MembershipKey, v.SignaturePub)
				if err != nil {
					t.Fatal(err)
				}
				contentEqual(t, ac, c.ct, c.body)

				back.MembershipTag[0] ^= 1
				if _, err := back.unprotect(cs, ctx, v.MembershipKey, v.SignaturePub); !errors.Is(err, ErrInvalidMembershipTag) {
					t.Fatalf("forged membership tag: %v", err)
				}
				back.MembershipTag[0] ^= 1
				back.Auth.Signature[0] ^= 1
				back.MembershipTag = nil
				pm2, _ := newPublicMessage(cs, back.AuthenticatedContent(), ctx, v.MembershipKey)
				if _, err := pm2.unprotect(cs, ctx, v.MembershipKey, v.SignaturePub); !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("forged signature: %v", err)
				}
			})
		}

		// Private messages.
		for _, c := range []struct {
			name string
			ct   ContentType
			body []byte
			priv []byte
		}{
			{"proposal", ContentTypeProposal, v.Proposal, v.ProposalPriv},
			{"commit", ContentTypeCommit, v.Commit, v.CommitPriv},
			{"application", ContentTypeApplication, v.Application, v.ApplicationPriv},
		} {
			t.Run("private/"+c.name, func(t *testing.T) {
				m := decodeMLS(t, c.priv)
				if m.PrivateMessage == nil {
					t.Fatal("not a PrivateMessage")
				}
				keys := v.keys(t, cs)
				ac, err := decryptPrivateMessage(cs, keys, ctx, m.PrivateMessage)
				if err != nil {
					t.Fatal(err)
				}
				if ac.Content.Sender.LeafIndex != mpSender {
					t.Fatalf("sender %d", ac.Content.Sender.LeafIndex)
				}
				contentEqual(t, ac, c.ct, c.body)
				if err := ac.VerifySignature(cs, v.SignaturePub, ctx); err != nil {
					t.Fatal(err)
				}
				// Replaying the same message must fail: its key is deleted.
				if _, err := decryptPrivateMessage(cs, keys, ctx, m.PrivateMessage); !errors.Is(err, ErrGenerationExpired) {
					t.Fatalf("replay: %v", err)
				}

				// Protect our own and unprotect it with a fresh receiver.
				own := &AuthenticatedContent{WireFormat: WireFormatPrivateMessage, Content: v.newContent(t, c.ct, c.body)}
				if err := own.Sign(cs, v.SignaturePriv, ctx); err != nil {
					t.Fatal(err)
				}
				if c.ct == ContentTypeCommit {
					own.Auth.ConfirmationTag = confirmationTag(cs, make([]byte, cs.HashLength()), ctx.ConfirmedTranscriptHash)
				}
				pm, err := encryptPrivateMessage(cs, v.keys(t, cs), own, 17)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := Marshal(pm)
				if err != nil {
					t.Fatal(err)
				}
				var back PrivateMessage
				if err := Unmarshal(enc, &back); err != nil {
					t.Fatal(err)
				}
				recv := v.keys(t, cs)
				tampered := back
				tampered.Ciphertext = bytes.Clone(back.Ciphertext)
				tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
				if _, err := decryptPrivateMessage(cs, recv, ctx, &tampered); !errors.Is(err, ErrDecrypt) {
					t.Fatalf("tampered: %v", err)
				}
				// The failed attempt changed nothing: the real message still opens.
				ac, err = decryptPrivateMessage(cs, recv, ctx, &back)
				if err != nil {
					t.Fatal(err)
				}
				contentEqual(t, ac, c.ct, c.body)
				if err := ac.VerifySignature(cs, v.SignaturePub, ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}
