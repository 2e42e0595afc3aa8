package mls

import (
	"fmt"
	"time"
)

// DefaultCapabilities advertises mls10, the given suite, basic credentials
// and no non-default extensions or proposals.
func DefaultCapabilities(cs *CipherSuite) Capabilities {
	return Capabilities{
		Versions:     []ProtocolVersion{ProtocolVersionMLS10},
		CipherSuites: []CipherSuiteID{cs.ID()},
		Credentials:  []CredentialType{CredentialTypeBasic},
	}
}

// KeyPackageParams describes a KeyPackage to create.
type KeyPackageParams struct {
	Credential   Credential
	Capabilities Capabilities
	NotBefore    time.Time
	NotAfter     time.Time
	// LeafExtensions and Extensions are optional.
	LeafExtensions Extensions
	Extensions     Extensions
}

// KeyPackageSecrets are the private keys behind a KeyPackage. The client
// keeps them until the KeyPackage is used, then zeroes them.
type KeyPackageSecrets struct {
	InitPriv       []byte
	EncryptionPriv []byte
}

// Zero overwrites the private keys.
func (s *KeyPackageSecrets) Zero() {
	clear(s.InitPriv)
	clear(s.EncryptionPriv)
}

// NewKeyPackage generates fresh init and encryption keys and returns a signed
// KeyPackage (RFC 9420 §10) for the holder of signPriv.
func NewKeyPackage(cs *CipherSuite, signPriv []byte, p KeyPackageParams) (*KeyPackage, *KeyPackageSecrets, error) {
	if p.NotBefore.Unix() < 0 || p.NotAfter.Before(p.NotBefore) {
		return nil, nil, fmt.Errorf("%w: lifetime", ErrInvalidArgument)
	}
	signPub, err := cs.SignaturePublicKey(signPriv)
	if err != nil {
		return nil, nil, err
	}
	initPriv, initPub, err := cs.generateHPKEKeyPair()
	if err != nil {
		return nil, nil, err
	}
	encPriv, encPub, err := cs.generateHPKEKeyPair()
	if err != nil {
		clear(initPriv)
		return nil, nil, err
	}
	secrets := &KeyPackageSecrets{InitPriv: initPriv, EncryptionPriv: encPriv}
	kp := &KeyPackage{
		Version:     ProtocolVersionMLS10,
		CipherSuite: cs.ID(),
		InitKey:     initPub,
		LeafNode: LeafNode{
			EncryptionKey: encPub,
			SignatureKey:  signPub,
			Credential:    p.Credential,
			Capabilities:  p.Capabilities,
			Source:        LeafNodeSourceKeyPackage,
			Lifetime:      Lifetime{NotBefore: uint64(p.NotBefore.Unix()), NotAfter: uint64(p.NotAfter.Unix())},
			Extensions:    p.LeafExtensions,
		},
		Extensions: p.Extensions,
	}
	if err := kp.LeafNode.Sign(cs, signPriv, nil, 0); err != nil {
		secrets.Zero()
		return nil, nil, err
	}
	if err := kp.Sign(cs, signPriv); err != nil {
		secrets.Zero()
		return nil, nil, err
	}
	return kp, secrets, nil
}
