package sframe

import (
	"crypto/hkdf"
	"encoding/binary"
	"fmt"
)

// minBaseKeyLen rejects base keys too short to carry 128 bits of entropy. The
// RFC leaves the length open (its vectors use 16 bytes for every suite); the
// MLS exporter yields AEAD.Nk bytes (§5.2).
const minBaseKeyLen = 16

// keyMaterial is the output of derive_key_salt (RFC 9605 §4.4.2).
type keyMaterial struct {
	secret []byte // sframe_secret, kept only for the vector tests
	key    []byte // sframe_key, AEAD.Nk bytes
	salt   []byte // sframe_salt, AEAD.Nn bytes
}

func (m *keyMaterial) zero() {
	clear(m.secret)
	clear(m.key)
	clear(m.salt)
}

// kdfLabel builds "SFrame 1.0 Secret key " / "SFrame 1.0 Secret salt " followed
// by the KID as 8 bytes and the cipher suite as 2 bytes, big-endian
// (RFC 9605 §4.4.2).
func kdfLabel(prefix string, kid uint64, suite Suite) string {
	b := make([]byte, 0, len(prefix)+10)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, kid)
	b = binary.BigEndian.AppendUint16(b, uint16(suite))
	return string(b)
}

const (
	keyLabelPrefix  = "SFrame 1.0 Secret key "
	saltLabelPrefix = "SFrame 1.0 Secret salt "
)

// deriveKeyMaterial implements derive_key_salt(KID, base_key), RFC 9605 §4.4.2:
//
//	sframe_secret = HKDF-Extract("", base_key)
//	sframe_key = HKDF-Expand(sframe_secret, sframe_key_label, AEAD.Nk)
//	sframe_salt = HKDF-Expand(sframe_secret, sframe_salt_label, AEAD.Nn)
func deriveKeyMaterial(suite Suite, kid uint64, baseKey []byte) (keyMaterial, error) {
	p, err := suite.params()
	if err != nil {
		return keyMaterial{}, err
	}
	if len(baseKey) < minBaseKeyLen {
		return keyMaterial{}, fmt.Errorf("%w: base key of %d bytes, want at least %d", ErrKeyLength, len(baseKey), minBaseKeyLen)
	}
	h := p.hash()
	var m keyMaterial
	if m.secret, err = hkdf.Extract(h, baseKey, nil); err != nil {
		return keyMaterial{}, err
	}
	if m.key, err = hkdf.Expand(h, m.secret, kdfLabel(keyLabelPrefix, kid, suite), p.nk); err != nil {
		m.zero()
		return keyMaterial{}, err
	}
	if m.salt, err = hkdf.Expand(h, m.secret, kdfLabel(saltLabelPrefix, kid, suite), nonceSize); err != nil {
		m.zero()
		return keyMaterial{}, err
	}
	return m, nil
}
