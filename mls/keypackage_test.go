package mls

import (
	"errors"
	"testing"
	"time"
)

func newTestKeyPackage(t testing.TB, now time.Time) (*CipherSuite, *KeyPackage, []byte) {
	t.Helper()
	cs, err := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	signPriv, _, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	kp, sec, err := NewKeyPackage(cs, signPriv, KeyPackageParams{
		Credential:   NewBasicCredential([]byte("alice@example.org")),
		Capabilities: DefaultCapabilities(cs),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	sec.Zero()
	return cs, kp, signPriv
}

func TestKeyPackageValidate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cs, kp, signPriv := newTestKeyPackage(t, now)
	if _, err := kp.Validate(now); err != nil {
		t.Fatalf("fresh key package: %v", err)
	}
	b, err := Marshal(kp)
	if err != nil {
		t.Fatal(err)
	}
	var back KeyPackage
	if err := Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, err := back.Validate(now); err != nil {
		t.Fatalf("decoded key package: %v", err)
	}
	ref1, _ := kp.Ref(cs)
	ref2, _ := back.Ref(cs)
	if len(ref1) != cs.HashLength() || string(ref1) != string(ref2) {
		t.Fatal("KeyPackageRef")
	}

	mutate := func(f func(k *KeyPackage)) *KeyPackage {
		var k KeyPackage
		if err := Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		f(&k)
		return &k
	}
	cases := []struct {
		name string
		kp   *KeyPackage
		now  time.Time
		want error
	}{
		{"expired", kp, now.Add(48 * time.Hour), ErrInvalidLeafNode},
		{"not yet valid", kp, now.Add(-2 * time.Hour), ErrInvalidLeafNode},
		{"bad kp signature", mutate(func(k *KeyPackage) { k.Signature[3] ^= 1 }), now, ErrInvalidSignature},
		{"bad leaf signature", mutate(func(k *KeyPackage) { k.LeafNode.Signature[3] ^= 1 }), now, ErrInvalidSignature},
		{"identity swapped", mutate(func(k *KeyPackage) { k.LeafNode.Credential.Identity = []byte("mallory") }), now, ErrInvalidSignature},
		{"version", mutate(func(k *KeyPackage) { k.Version = 2 }), now, ErrUnsupportedVersion},
		{"suite", mutate(func(k *KeyPackage) { k.CipherSuite = 7 }), now, ErrUnsupportedCipherSuite},
		{"init equals encryption", mutate(func(k *KeyPackage) {
			k.InitKey = k.LeafNode.EncryptionKey
			_ = k.Sign(cs, signPriv)
		}), now, ErrInvalidKeyPackage},
		{"credential not in capabilities", mutate(func(k *KeyPackage) {
			k.LeafNode.Capabilities.Credentials = []CredentialType{CredentialTypeX509}
			_ = k.LeafNode.Sign(cs, signPriv, nil, 0)
			_ = k.Sign(cs, signPriv)
		}), now, ErrInvalidLeafNode},
		{"unlisted extension", mutate(func(k *KeyPackage) {
			k.LeafNode.Extensions = Extensions{{Type: 0xff00, Data: []byte{1}}}
			_ = k.LeafNode.Sign(cs, signPriv, nil, 0)
			_ = k.Sign(cs, signPriv)
		}), now, ErrInvalidLeafNode},
		{"wrong source", mutate(func(k *KeyPackage) {
			k.LeafNode.Source = LeafNodeSourceUpdate
			_ = k.LeafNode.Sign(cs, signPriv, nil, 0)
			_ = k.Sign(cs, signPriv)
		}), now, ErrInvalidLeafNode},
	}
	for _, c := range cases {
		_, err := c.kp.Validate(c.now)
		if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalidKeyPackage) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: not a ValidationError", c.name)
		}
	}
}

func TestLeafNodeUpdateBinding(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cs, kp, signPriv := newTestKeyPackage(t, now)
	ln := kp.LeafNode
	ln.Source = LeafNodeSourceUpdate
	if err := ln.Sign(cs, signPriv, []byte("group"), 3); err != nil {
		t.Fatal(err)
	}
	chk := LeafNodeCheck{Source: LeafNodeSourceUpdate, GroupID: []byte("group"), Leaf: 3}
	if err := ln.Validate(cs, chk); err != nil {
		t.Fatal(err)
	}
	chk.Leaf = 4 // replayed at another position
	if err := ln.Validate(cs, chk); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("moved leaf: %v", err)
	}
	chk.Leaf, chk.GroupID = 3, []byte("other")
	if err := ln.Validate(cs, chk); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("other group: %v", err)
	}
	chk.GroupID = []byte("group")
	chk.Required = &RequiredCapabilities{ProposalTypes: []ProposalType{0x0a0a}}
	if err := ln.Validate(cs, chk); !errors.Is(err, ErrInvalidLeafNode) {
		t.Fatalf("required capabilities: %v", err)
	}
}
