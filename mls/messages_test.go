package mls

import (
	"bytes"
	"testing"
	"time"
)

type messagesVector struct {
	MLSWelcome                     hexBytes `json:"mls_welcome"`
	MLSGroupInfo                   hexBytes `json:"mls_group_info"`
	MLSKeyPackage                  hexBytes `json:"mls_key_package"`
	RatchetTree                    hexBytes `json:"ratchet_tree"`
	GroupSecrets                   hexBytes `json:"group_secrets"`
	AddProposal                    hexBytes `json:"add_proposal"`
	UpdateProposal                 hexBytes `json:"update_proposal"`
	RemoveProposal                 hexBytes `json:"remove_proposal"`
	PreSharedKeyProposal           hexBytes `json:"pre_shared_key_proposal"`
	ReInitProposal                 hexBytes `json:"re_init_proposal"`
	ExternalInitProposal           hexBytes `json:"external_init_proposal"`
	GroupContextExtensionsProposal hexBytes `json:"group_context_extensions_proposal"`
	Commit                         hexBytes `json:"commit"`
	PublicMessageApplication       hexBytes `json:"public_message_application"`
	PublicMessageProposal          hexBytes `json:"public_message_proposal"`
	PublicMessageCommit            hexBytes `json:"public_message_commit"`
	PrivateMessage                 hexBytes `json:"private_message"`
}

// roundTrip decodes b into v and demands the identical encoding back.
func roundTrip(t *testing.T, name string, b []byte, v WireStruct) {
	t.Helper()
	if err := Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	re, err := Marshal(v)
	if err != nil {
		t.Fatalf("%s: re-encode: %v", name, err)
	}
	if !bytes.Equal(re, b) {
		t.Fatalf("%s: re-encoding differs", name)
	}
}

func TestMessagesVectors(t *testing.T) {
	var vs []messagesVector
	loadVectors(t, "messages.json", &vs)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	verified := 0
	for i, v := range vs {
		var (
			welcome, groupInfo, keyPackage, pubApp, pubProp, pubCommit, priv MLSMessage
			tree                                                             RatchetTreeNodes
		)
		roundTrip(t, "mls_welcome", v.MLSWelcome, &welcome)
		roundTrip(t, "mls_group_info", v.MLSGroupInfo, &groupInfo)
		roundTrip(t, "mls_key_package", v.MLSKeyPackage, &keyPackage)
		roundTrip(t, "ratchet_tree", v.RatchetTree, &tree)
		roundTrip(t, "group_secrets", v.GroupSecrets, new(groupSecrets))
		roundTrip(t, "add_proposal", v.AddProposal, new(Add))
		roundTrip(t, "update_proposal", v.UpdateProposal, new(Update))
		roundTrip(t, "remove_proposal", v.RemoveProposal, new(Remove))
		roundTrip(t, "pre_shared_key_proposal", v.PreSharedKeyProposal, new(PreSharedKey))
		roundTrip(t, "re_init_proposal", v.ReInitProposal, new(ReInit))
		roundTrip(t, "external_init_proposal", v.ExternalInitProposal, new(ExternalInit))
		roundTrip(t, "group_context_extensions_proposal", v.GroupContextExtensionsProposal, new(GroupContextExtensions))
		roundTrip(t, "commit", v.Commit, new(Commit))
		roundTrip(t, "public_message_application", v.PublicMessageApplication, &pubApp)
		roundTrip(t, "public_message_proposal", v.PublicMessageProposal, &pubProp)
		roundTrip(t, "public_message_commit", v.PublicMessageCommit, &pubCommit)
		roundTrip(t, "private_message", v.PrivateMessage, &priv)

		for name, c := range map[string]struct {
			m    *MLSMessage
			want WireFormat
		}{
			"welcome": {&welcome, WireFormatWelcome}, "group_info": {&groupInfo, WireFormatGroupInfo},
			"key_package": {&keyPackage, WireFormatKeyPackage}, "public_app": {&pubApp, WireFormatPublicMessage},
			"public_proposal": {&pubProp, WireFormatPublicMessage}, "public_commit": {&pubCommit, WireFormatPublicMessage},
			"private": {&priv, WireFormatPrivateMessage},
		} {
			if c.m.WireFormat != c.want || c.m.body() == nil {
				t.Errorf("vector %d: %s has wire format %d", i, name, c.m.WireFormat)
			}
		}

		// Signatures that need no group state: the KeyPackage and its leaf.
		kp := keyPackage.KeyPackage
		if _, err := CipherSuiteByID(kp.CipherSuite); err != nil {
			continue // another suite; decoding was still checked
		}
		now := time.Unix(int64(kp.LeafNode.Lifetime.NotBefore), 0)
		if _, err := kp.Validate(now); err != nil {
			t.Errorf("vector %d: key package: %v", i, err)
		}
		// The GroupInfo's signer sits in the vector's ratchet tree.
		gi := groupInfo.GroupInfo
		cs, _ := CipherSuiteByID(gi.GroupContext.CipherSuite)
		if cs == nil {
			continue
		}
		signerNode := uint32(gi.Signer.NodeIndex())
		if signerNode < uint32(len(tree)) && tree[signerNode] != nil && tree[signerNode].Leaf != nil {
			if err := gi.VerifySignature(cs, tree[signerNode].Leaf.SignatureKey); err != nil {
				t.Errorf("vector %d: group info signature: %v", i, err)
			}
			verified++
		}
	}
	if verified == 0 {
		t.Fatal("no GroupInfo signature was checked")
	}
}
