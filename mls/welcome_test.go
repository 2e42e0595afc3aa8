package mls

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestWelcomeVectors(t *testing.T) {
	var vs []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		InitPriv    hexBytes `json:"init_priv"`
		KeyPackage  hexBytes `json:"key_package"`
		SignerPub   hexBytes `json:"signer_pub"`
		Welcome     hexBytes `json:"welcome"`
	}
	loadVectors(t, "welcome.json", &vs)
	ran := 0
	for i, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		kp := decodeMLS(t, v.KeyPackage).KeyPackage
		w := decodeMLS(t, v.Welcome).Welcome
		if kp == nil || w == nil {
			t.Fatalf("vector %d: wrong wire formats", i)
		}
		opened, err := openWelcome(cs, w, kp, v.InitPriv, nil)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if err := opened.GroupInfo.VerifySignature(cs, v.SignerPub); err != nil {
			t.Fatalf("vector %d: group info signature: %v", i, err)
		}
		bad := *w
		bad.EncryptedGroupInfo = bytes.Clone(w.EncryptedGroupInfo)
		bad.EncryptedGroupInfo[0] ^= 1
		if _, err := openWelcome(cs, &bad, kp, v.InitPriv, nil); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("vector %d: tampered Welcome: %v", i, err)
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func TestWelcomeRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cs, err := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	signPriv, signPub, _ := cs.GenerateSignatureKeyPair()
	kp, sec, err := NewKeyPackage(cs, signPriv, KeyPackageParams{
		Credential: NewBasicCredential([]byte("bob")), Capabilities: DefaultCapabilities(cs),
		NotBefore: now, NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: []byte("g"), Epoch: 3,
		TreeHash: make([]byte, 32), ConfirmedTranscriptHash: bytes.Repeat([]byte{7}, 32)}
	es, err := cs.deriveEpochSecrets(make([]byte, 32), nil, nil, ctx)
	if err != nil {
		t.Fatal(err)
	}
	gi := &GroupInfo{GroupContext: *ctx, ConfirmationTag: confirmationTag(cs, es.ConfirmationKey, ctx.ConfirmedTranscriptHash), Signer: 0}
	if err := gi.Sign(cs, signPriv); err != nil {
		t.Fatal(err)
	}
	w, err := sealWelcome(cs, gi, es, nil, []welcomeRecipient{{KeyPackage: kp, PathSecret: []byte("ps")}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back Welcome
	roundTrip(t, "welcome", enc, &back)
	opened, err := openWelcome(cs, &back, kp, sec.InitPriv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(opened.Epoch.EpochAuthenticator, es.EpochAuthenticator) || string(opened.Secrets.PathSecret.Secret) != "ps" {
		t.Fatal("joiner derived other secrets")
	}
	if err := opened.GroupInfo.VerifySignature(cs, signPub); err != nil {
		t.Fatal(err)
	}
	// Another KeyPackage is not invited.
	other, osec, _ := NewKeyPackage(cs, signPriv, KeyPackageParams{
		Credential: NewBasicCredential([]byte("eve")), Capabilities: DefaultCapabilities(cs),
		NotBefore: now, NotAfter: now.Add(time.Hour),
	})
	if _, err := openWelcome(cs, &back, other, osec.InitPriv, nil); !errors.Is(err, ErrNotInvited) {
		t.Fatalf("uninvited: %v", err)
	}
}
