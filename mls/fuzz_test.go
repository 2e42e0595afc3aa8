package mls

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzSeeds derives seed inputs for every decoder from the messages and
// message-protection vectors, keyed by structure name.
func fuzzSeeds(f *testing.F) map[string][][]byte {
	f.Helper()
	seeds := map[string][][]byte{}
	add := func(name string, v WireStruct) {
		b, err := Marshal(v)
		if err != nil {
			f.Fatalf("seed %s: %v", name, err)
		}
		seeds[name] = append(seeds[name], b)
	}
	var vs []messagesVector
	loadVectors(f, "messages.json", &vs)
	if len(vs) > 3 {
		vs = vs[:3]
	}
	for _, v := range vs {
		for _, b := range [][]byte{v.MLSWelcome, v.MLSGroupInfo, v.MLSKeyPackage, v.PublicMessageApplication,
			v.PublicMessageProposal, v.PublicMessageCommit, v.PrivateMessage} {
			var m MLSMessage
			if err := Unmarshal(b, &m); err != nil {
				f.Fatal(err)
			}
			seeds["MLSMessage"] = append(seeds["MLSMessage"], b)
			switch {
			case m.KeyPackage != nil:
				kp := m.KeyPackage
				add("KeyPackage", kp)
				add("LeafNode", &kp.LeafNode)
				add("Credential", &kp.LeafNode.Credential)
				add("Capabilities", &kp.LeafNode.Capabilities)
				add("Extensions", &kp.LeafNode.Extensions)
			case m.GroupInfo != nil:
				add("GroupInfo", m.GroupInfo)
				add("GroupContext", &m.GroupInfo.GroupContext)
				add("Extensions", &m.GroupInfo.Extensions)
			case m.Welcome != nil:
				add("Welcome", m.Welcome)
			case m.PublicMessage != nil:
				add("PublicMessage", m.PublicMessage)
				add("FramedContent", &m.PublicMessage.Content)
				add("AuthenticatedContent", m.PublicMessage.AuthenticatedContent())
			case m.PrivateMessage != nil:
				add("PrivateMessage", m.PrivateMessage)
			}
		}
		seeds["RatchetTree"] = append(seeds["RatchetTree"], v.RatchetTree)
		seeds["GroupSecrets"] = append(seeds["GroupSecrets"], v.GroupSecrets)
		seeds["Commit"] = append(seeds["Commit"], v.Commit)
		var c Commit
		if err := Unmarshal(v.Commit, &c); err != nil {
			f.Fatal(err)
		}
		if c.Path != nil {
			add("UpdatePath", c.Path)
		}
		for _, p := range []struct {
			t ProposalType
			b []byte
		}{
			{ProposalTypeAdd, v.AddProposal}, {ProposalTypeUpdate, v.UpdateProposal},
			{ProposalTypeRemove, v.RemoveProposal}, {ProposalTypePSK, v.PreSharedKeyProposal},
			{ProposalTypeReInit, v.ReInitProposal}, {ProposalTypeExternalInit, v.ExternalInitProposal},
			{ProposalTypeGroupContextExtensions, v.GroupContextExtensionsProposal},
		} {
			seeds["Proposal"] = append(seeds["Proposal"], append([]byte{byte(p.t >> 8), byte(p.t)}, p.b...))
		}
		var psk PreSharedKey
		if err := Unmarshal(v.PreSharedKeyProposal, &psk); err != nil {
			f.Fatal(err)
		}
		add("PreSharedKeyID", &psk.PSK)
	}
	add("ExternalSenders", &ExternalSenders{{SignatureKey: make([]byte, 32), Credential: NewBasicCredential([]byte("ds"))}})
	add("RequiredCapabilities", &RequiredCapabilities{ProposalTypes: []ProposalType{1}, CredentialTypes: []CredentialType{1}})
	return seeds
}

// fuzzDecoder checks that a decoder never panics, fails only with a
// DecodeError, and that whatever it accepts re-encodes to the same bytes.
func fuzzDecoder[T any, P interface {
	*T
	WireStruct
}](f *testing.F, name string) {
	seeds := fuzzSeeds(f)[name]
	if len(seeds) == 0 {
		f.Fatalf("empty seed corpus for %s", name)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v T
		err := Unmarshal(b, P(&v))
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		re, err := Marshal(P(&v))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("round trip differs:\n in %x\nout %x", b, re)
		}
	})
}

func FuzzMLSMessage(f *testing.F)     { fuzzDecoder[MLSMessage](f, "MLSMessage") }
func FuzzKeyPackage(f *testing.F)     { fuzzDecoder[KeyPackage](f, "KeyPackage") }
func FuzzLeafNode(f *testing.F)       { fuzzDecoder[LeafNode](f, "LeafNode") }
func FuzzCredential(f *testing.F)     { fuzzDecoder[Credential](f, "Credential") }
func FuzzCapabilities(f *testing.F)   { fuzzDecoder[Capabilities](f, "Capabilities") }
func FuzzExtensions(f *testing.F)     { fuzzDecoder[Extensions](f, "Extensions") }
func FuzzGroupInfo(f *testing.F)      { fuzzDecoder[GroupInfo](f, "GroupInfo") }
func FuzzGroupContext(f *testing.F)   { fuzzDecoder[GroupContext](f, "GroupContext") }
func FuzzWelcome(f *testing.F)        { fuzzDecoder[Welcome](f, "Welcome") }
func FuzzGroupSecrets(f *testing.F)   { fuzzDecoder[groupSecrets](f, "GroupSecrets") }
func FuzzPublicMessage(f *testing.F)  { fuzzDecoder[PublicMessage](f, "PublicMessage") }
func FuzzPrivateMessage(f *testing.F) { fuzzDecoder[PrivateMessage](f, "PrivateMessage") }
func FuzzFramedContent(f *testing.F)  { fuzzDecoder[FramedContent](f, "FramedContent") }
func FuzzAuthenticatedContent(f *testing.F) {
	fuzzDecoder[AuthenticatedContent](f, "AuthenticatedContent")
}
func FuzzCommit(f *testing.F)          { fuzzDecoder[Commit](f, "Commit") }
func FuzzUpdatePath(f *testing.F)      { fuzzDecoder[UpdatePath](f, "UpdatePath") }
func FuzzProposal(f *testing.F)        { fuzzDecoder[Proposal](f, "Proposal") }
func FuzzPreSharedKeyID(f *testing.F)  { fuzzDecoder[PreSharedKeyID](f, "PreSharedKeyID") }
func FuzzRatchetTree(f *testing.F)     { fuzzDecoder[RatchetTreeNodes](f, "RatchetTree") }
func FuzzExternalSenders(f *testing.F) { fuzzDecoder[ExternalSenders](f, "ExternalSenders") }
func FuzzRequiredCapabilities(f *testing.F) {
	fuzzDecoder[RequiredCapabilities](f, "RequiredCapabilities")
}

// FuzzDecryptPrivateMessage feeds arbitrary PrivateMessages to a receiver
// holding the vector's epoch secrets: every outcome must be a typed error or
// a valid decryption, and a failure must leave the secret tree able to open
// the genuine message afterwards.
func FuzzDecryptPrivateMessage(f *testing.F) {
	var vs []messageProtectionVector
	loadVectors(f, "message-protection.json", &vs)
	if len(vs) == 0 {
		f.Fatal("empty seed corpus")
	}
	v := vs[0]
	cs, err := CipherSuiteByID(CipherSuiteID(v.CipherSuite))
	if err != nil {
		f.Fatal(err)
	}
	ctx := &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: v.GroupID, Epoch: v.Epoch,
		TreeHash: v.TreeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash}
	var genuine MLSMessage
	if err := Unmarshal(v.ApplicationPriv, &genuine); err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{v.ApplicationPriv, v.ProposalPriv, v.CommitPriv} {
		f.Add(b[4:]) // strip the MLSMessage header
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m PrivateMessage
		if Unmarshal(b, &m) != nil {
			return
		}
		st, err := newSecretTree(cs, v.EncryptionSecret, 2)
		if err != nil {
			t.Fatal(err)
		}
		keys := privateMessageKeys{SecretTree: st, SenderDataSecret: v.SenderDataSecret}
		if _, err := decryptPrivateMessage(cs, keys, ctx, &m); err == nil {
			return
		}
		if _, err := decryptPrivateMessage(cs, keys, ctx, genuine.PrivateMessage); err != nil {
			t.Fatalf("failed input changed state: %v", err)
		}
	})
}
