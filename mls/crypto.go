package mls

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/subtle"
	"fmt"
)

// labelPrefix is prepended to every label (RFC 9420 §5.1.2, §5.1.3, §8).
const labelPrefix = "MLS 1.0 "

// extract is KDF.Extract(salt, ikm) (RFC 5869 §2.2).
// A nil salt means Nh zero bytes, as HKDF specifies.
func (cs *CipherSuite) extract(salt, ikm []byte) ([]byte, error) {
	return hkdf.Extract(cs.newHash, ikm, salt)
}

// expandWithLabel implements RFC 9420 §8:
//
//	KDFLabel = struct { uint16 length; opaque label<V>; opaque context<V>; }
//	ExpandWithLabel(Secret, Label, Context, Length) = KDF.Expand(Secret, KDFLabel, Length)
func (cs *CipherSuite) expandWithLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*cs.nh {
		return nil, fmt.Errorf("%w: ExpandWithLabel length %d", ErrInvalidArgument, length)
	}
	w := writer{b: make([]byte, 0, 2+1+len(labelPrefix)+len(label)+4+len(context))}
	w.u16(uint16(length))
	w.varint(uint32(len(labelPrefix) + len(label)))
	w.bytes([]byte(labelPrefix))
	w.bytes([]byte(label))
	w.opaque(context)
	info, err := w.result()
	if err != nil {
		return nil, err
	}
	return hkdf.Expand(cs.newHash, secret, string(info), length)
}

// deriveSecret is ExpandWithLabel(Secret, Label, "", KDF.Nh) (RFC 9420 §8).
func (cs *CipherSuite) deriveSecret(secret []byte, label string) ([]byte, error) {
	return cs.expandWithLabel(secret, label, nil, cs.nh)
}

// deriveTreeSecret is ExpandWithLabel(Secret, Label, uint32 Generation,
// Length) (RFC 9420 §9).
func (cs *CipherSuite) deriveTreeSecret(secret []byte, label string, generation uint32, length int) ([]byte, error) {
	g := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return cs.expandWithLabel(secret, label, g[:], length)
}

// RefHash implements RFC 9420 §5.2: Hash(struct { opaque label<V>; opaque value<V>; }).
func (cs *CipherSuite) RefHash(label string, value []byte) ([]byte, error) {
	var w writer
	w.opaque([]byte(label))
	w.opaque(value)
	b, err := w.result()
	if err != nil {
		return nil, err
	}
	return cs.Hash(b), nil
}

// mac is HMAC with the suite's hash (RFC 9420 §5.1).
func (cs *CipherSuite) mac(key, data []byte) []byte {
	m := hmac.New(cs.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

// verifyMAC compares in constant time so a forger learns nothing from timing.
func (cs *CipherSuite) verifyMAC(key, data, tag []byte) bool {
	return subtle.ConstantTimeCompare(cs.mac(key, data), tag) == 1
}

// signContent builds SignContent (RFC 9420 §5.1.2).
func signContent(label string, content []byte) ([]byte, error) {
	w := writer{b: make([]byte, 0, len(labelPrefix)+len(label)+len(content)+8)}
	w.varint(uint32(len(labelPrefix) + len(label)))
	w.bytes([]byte(labelPrefix))
	w.bytes([]byte(label))
	w.opaque(content)
	return w.result()
}

// SignWithLabel signs SignContent{label, content} (RFC 9420 §5.1.2).
func (cs *CipherSuite) SignWithLabel(priv []byte, label string, content []byte) ([]byte, error) {
	msg, err := signContent(label, content)
	if err != nil {
		return nil, err
	}
	return cs.sig.sign(priv, msg)
}

// VerifyWithLabel checks a SignWithLabel signature; it needs no secret and
// returns ErrInvalidSignature on any mismatch.
func (cs *CipherSuite) VerifyWithLabel(pub []byte, label string, content, signature []byte) error {
	msg, err := signContent(label, content)
	if err != nil {
		return err
	}
	if !cs.sig.verify(pub, msg, signature) {
		return ErrInvalidSignature
	}
	return nil
}

// GenerateSignatureKeyPair returns a fresh signature key pair for the suite.
func (cs *CipherSuite) GenerateSignatureKeyPair() (priv, pub []byte, err error) {
	return cs.sig.generate()
}

// SignaturePublicKey derives the public key of a signature private key.
func (cs *CipherSuite) SignaturePublicKey(priv []byte) ([]byte, error) {
	return cs.sig.publicKey(priv)
}

// encryptContext builds EncryptContext (RFC 9420 §5.1.3).
func encryptContext(label string, context []byte) ([]byte, error) {
	var w writer
	w.varint(uint32(len(labelPrefix) + len(label)))
	w.bytes([]byte(labelPrefix))
	w.bytes([]byte(label))
	w.opaque(context)
	return w.result()
}

// EncryptWithLabel is SealBase(pub, EncryptContext, "", plaintext)
// (RFC 9420 §5.1.3) with HPKE from crypto/hpke.
func (cs *CipherSuite) EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (HPKECiphertext, error) {
	pk, err := cs.kem.NewPublicKey(pub)
	if err != nil {
		return HPKECiphertext{}, fmt.Errorf("%w: HPKE public key", ErrInvalidKey)
	}
	info, err := encryptContext(label, context)
	if err != nil {
		return HPKECiphertext{}, err
	}
	enc, s, err := hpke.NewSender(pk, cs.kdf, cs.aead, info)
	if err != nil {
		return HPKECiphertext{}, err
	}
	ct, err := s.Seal(nil, plaintext)
	if err != nil {
		return HPKECiphertext{}, err
	}
	return HPKECiphertext{KEMOutput: enc, Ciphertext: ct}, nil
}

// decryptWithLabel is OpenBase(kem_output, priv, EncryptContext, "",
// ciphertext) (RFC 9420 §5.1.3). Any failure is ErrDecrypt or ErrInvalidKey.
func (cs *CipherSuite) decryptWithLabel(priv []byte, label string, context []byte, ct HPKECiphertext) ([]byte, error) {
	sk, err := cs.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE private key", ErrInvalidKey)
	}
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, err
	}
	rcp, err := hpke.NewRecipient(ct.KEMOutput, sk, cs.kdf, cs.aead, info)
	if err != nil {
		return nil, ErrDecrypt
	}
	pt, err := rcp.Open(nil, ct.Ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// deriveKeyPair derives an HPKE key pair from a secret (RFC 9180 §7.1.3), as
// used for external_pub and for tree node keys. It returns the serialized
// private and public keys.
func (cs *CipherSuite) deriveKeyPair(secret []byte) (priv, pub []byte, err error) {
	sk, err := cs.kem.DeriveKeyPair(secret)
	if err != nil {
		return nil, nil, err
	}
	priv, err = sk.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return priv, sk.PublicKey().Bytes(), nil
}

// generateHPKEKeyPair returns a fresh HPKE key pair for init or encryption keys.
func (cs *CipherSuite) generateHPKEKeyPair() (priv, pub []byte, err error) {
	sk, err := cs.kem.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	priv, err = sk.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return priv, sk.PublicKey().Bytes(), nil
}

// HPKECiphertext is struct { opaque kem_output<V>; opaque ciphertext<V>; }
// (RFC 9420 §5.1.3).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) marshal(w *writer) {
	w.opaque(c.KEMOutput)
	w.opaque(c.Ciphertext)
}

func (c *HPKECiphertext) unmarshal(r *reader) {
	c.KEMOutput = r.opaque()
	c.Ciphertext = r.opaque()
}
