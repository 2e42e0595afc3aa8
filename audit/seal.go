package audit

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// Personal data is sealed with AES-256-GCM under the subject's key:
//
//	blob = 0x01 || nonce (12) || ciphertext || tag (16)
//	aad  = "sealroom audit personal v1" || event id (16) || subject
//
// Binding the id and subject in the AAD stops a blob being moved to another row. The
// blob is hashed into the chain as stored, so shredding the key leaves the chain intact.
const (
	sealVersion = 1
	sealAAD     = "sealroom audit personal v1"
	nonceSize   = 12
)

func sealAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealPersonal appends the sealed blob for e's personal fields to dst. scratch is reused
// for plaintext and AAD; both are zeroed before return.
func sealPersonal(dst []byte, aead cipher.AEAD, nonce *[nonceSize]byte, e *entry, scratch []byte) ([]byte, []byte) {
	pt := appendPersonal(scratch[:0], e)
	aadStart := len(pt)
	buf := append(pt, sealAAD...)
	buf = append(buf, e.id[:]...)
	buf = append(buf, e.subject...)
	dst = append(dst, sealVersion)
	dst = append(dst, nonce[:]...)
	dst = aead.Seal(dst, nonce[:], buf[:aadStart], buf[aadStart:])
	clear(buf)
	return dst, buf
}

func appendPersonal(b []byte, e *entry) []byte {
	for _, s := range [...]string{e.ip, e.userAgent, e.name, e.text} {
		b = appendLP(b, s)
	}
	return b
}

// openPersonal decrypts a blob stored for (id, subject).
func openPersonal(aead cipher.AEAD, id [16]byte, subject string, blob []byte) (Personal, error) {
	if len(blob) < 1+nonceSize+aead.Overhead() || blob[0] != sealVersion {
		return Personal{}, errOpen
	}
	aad := make([]byte, 0, len(sealAAD)+16+len(subject))
	aad = append(append(append(aad, sealAAD...), id[:]...), subject...)
	pt, err := aead.Open(nil, blob[1:1+nonceSize], blob[1+nonceSize:], aad)
	if err != nil {
		return Personal{}, errOpen
	}
	defer clear(pt)
	var f [4]string
	rest := pt
	for i := range f {
		if len(rest) < 4 {
			return Personal{}, errOpen
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return Personal{}, errOpen
		}
		f[i] = string(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return Personal{}, errOpen
	}
	return Personal{SourceIP: f[0], UserAgent: f[1], Name: f[2], Text: f[3]}, nil
}

// nonceAt derives the i-th nonce of a batch from a random 96-bit base: the counter is
// added into the low 64 bits, so nonces within a batch are distinct and batches start at
// independent random points (one random draw per batch instead of per event).
func nonceAt(base *[nonceSize]byte, i uint64, out *[nonceSize]byte) {
	*out = *base
	binary.BigEndian.PutUint64(out[4:], binary.BigEndian.Uint64(base[4:])+i)
}
