package mls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"hash"
)

// suite1 is MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (RFC 9420 §17.1):
// HPKE DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Ed25519.
func suite1() *CipherSuite {
	return &CipherSuite{
		id:      X25519_AES128GCM_SHA256_Ed25519,
		newHash: func() hash.Hash { return sha256.New() },
		kem:     hpke.DHKEM(ecdh.X25519()),
		kdf:     hpke.HKDFSHA256(),
		aead:    hpke.AES128GCM(),
		newAEAD: newAESGCM,
		sig:     ed25519Scheme{},
		nh:      sha256.Size,
		nk:      16,
		nn:      12,
	}
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ed25519Scheme implements Ed25519 signatures; private keys are 32-byte seeds.
type ed25519Scheme struct{}

func (ed25519Scheme) sign(priv, msg []byte) ([]byte, error) {
	if len(priv) != ed25519.SeedSize {
		return nil, ErrInvalidKey
	}
	k := ed25519.NewKeyFromSeed(priv)
	defer clear(k)
	return ed25519.Sign(k, msg), nil
}

func (ed25519Scheme) verify(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
}

func (ed25519Scheme) publicKey(priv []byte) ([]byte, error) {
	if len(priv) != ed25519.SeedSize {
		return nil, ErrInvalidKey
	}
	k := ed25519.NewKeyFromSeed(priv)
	defer clear(k)
	return append([]byte(nil), k[32:]...), nil
}

func (ed25519Scheme) generate() (priv, pub []byte, err error) {
	p, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	defer clear(k)
	return append([]byte(nil), k.Seed()...), []byte(p), nil
}
