package mls

import (
	"crypto/cipher"
	"crypto/hpke"
	"fmt"
	"hash"
)

// CipherSuiteID is the MLS cipher suite identifier from the wire (RFC 9420 §17.1).
type CipherSuiteID uint16

// Cipher suites registered by RFC 9420 §17.1. Only suite 1 is implemented.
const (
	X25519_AES128GCM_SHA256_Ed25519 CipherSuiteID = 0x0001
)

// signatureScheme is the signature half of a cipher suite (RFC 9420 §5.1.2).
// Private keys use the encoding of the mlswg vectors: the 32-byte seed for
// EdDSA.
type signatureScheme interface {
	sign(priv, msg []byte) ([]byte, error)
	verify(pub, msg, sig []byte) bool
	publicKey(priv []byte) ([]byte, error)
	generate() (priv, pub []byte, err error)
}

// CipherSuite bundles the primitives of one MLS cipher suite. Values come
// from CipherSuiteByID and are immutable; they are safe for concurrent use.
type CipherSuite struct {
	id      CipherSuiteID
	newHash func() hash.Hash
	kem     hpke.KEM
	kdf     hpke.KDF
	aead    hpke.AEAD
	newAEAD func(key []byte) (cipher.AEAD, error)
	sig     signatureScheme
	nh      int // KDF.Nh: hash and secret length
	nk      int // AEAD.Nk
	nn      int // AEAD.Nn
}

// CipherSuiteByID returns the implementation of a suite named on the wire,
// or ErrUnsupportedCipherSuite. A switch rather than a registry map keeps
// the package free of mutable globals; adding a suite adds a case.
func CipherSuiteByID(id CipherSuiteID) (*CipherSuite, error) {
	switch id {
	case X25519_AES128GCM_SHA256_Ed25519:
		return suite1(), nil
	default:
		return nil, fmt.Errorf("%w: %#04x", ErrUnsupportedCipherSuite, uint16(id))
	}
}

// ID returns the wire identifier of the suite.
func (cs *CipherSuite) ID() CipherSuiteID { return cs.id }

// HashLength returns KDF.Nh, the length of secrets and hashes.
func (cs *CipherSuite) HashLength() int { return cs.nh }

// KeyLength returns AEAD.Nk.
func (cs *CipherSuite) KeyLength() int { return cs.nk }

// NonceLength returns AEAD.Nn.
func (cs *CipherSuite) NonceLength() int { return cs.nn }

// Hash returns Hash(data) with the suite's hash function.
func (cs *CipherSuite) Hash(data []byte) []byte {
	h := cs.newHash()
	h.Write(data)
	return h.Sum(nil)
}
