package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"hash"
)

// cipherKey is the per-KID cipher state. It is not safe for concurrent use:
// Context serializes access.
type cipherKey struct {
	p    suiteParams
	salt [nonceSize]byte

	gcm cipher.AEAD // AES-GCM suites

	block  cipher.Block // AES-CTR + HMAC suites (§4.5.1)
	mac    hash.Hash
	macSum [64]byte

	aad      []byte // scratch for header || metadata
	nonceBuf [nonceSize]byte
}

func newCipherKey(suite Suite, kid uint64, baseKey []byte) (*cipherKey, error) {
	m, err := deriveKeyMaterial(suite, kid, baseKey)
	if err != nil {
		return nil, err
	}
	defer m.zero()
	return newCipherKeyFromMaterial(suite, m.key, m.salt)
}

func newCipherKeyFromMaterial(suite Suite, key, salt []byte) (*cipherKey, error) {
	p, err := suite.params()
	if err != nil {
		return nil, err
	}
	if len(key) != p.nk || len(salt) != nonceSize {
		return nil, ErrKeyLength
	}
	k := &cipherKey{p: p}
	copy(k.salt[:], salt)
	if p.gcm {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		if k.gcm, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
		return k, nil
	}
	// §4.5.1 derive_subkeys: enc_key = sframe_key[..Nka], auth_key = sframe_key[Nka..].
	if k.block, err = aes.NewCipher(key[:p.nka]); err != nil {
		return nil, err
	}
	k.mac = hmac.New(p.hash(), key[p.nka:])
	return k, nil
}

// destroy drops the key. The AES key schedule inside crypto/aes cannot be
// wiped from here; dropping the references is the best this package can do.
func (k *cipherKey) destroy() {
	clear(k.salt[:])
	clear(k.nonceBuf[:])
	clear(k.aad)
	clear(k.macSum[:])
	if k.mac != nil {
		k.mac.Reset()
	}
	k.gcm, k.block, k.mac, k.aad = nil, nil, nil, nil
}

// nonce is sframe_salt XOR CTR encoded big-endian in AEAD.Nn bytes (§4.4.3).
// It is written to the key's scratch array: a stack array passed to the
// cipher.AEAD interface would escape and cost an allocation per frame.
func (k *cipherKey) nonce(ctr uint64) *[nonceSize]byte {
	// Two stores that match how the nonce is read back (8 + 4 bytes) avoid a
	// store-forwarding stall in the AES-GCM code that loads it.
	n := &k.nonceBuf
	binary.BigEndian.PutUint64(n[0:8], binary.BigEndian.Uint64(k.salt[0:8])^ctr>>32)
	binary.BigEndian.PutUint32(n[8:12], binary.BigEndian.Uint32(k.salt[8:12])^uint32(ctr))
	return n
}

// joinAAD returns header || metadata (§4.4.3), in the key's scratch buffer
// unless there is no metadata to append.
func (k *cipherKey) joinAAD(hdr, metadata []byte) []byte {
	if len(metadata) == 0 {
		return hdr
	}
	n := len(hdr) + len(metadata)
	if cap(k.aad) < n {
		k.aad = make([]byte, 0, n+64)
	}
	a := append(k.aad[:0], hdr...)
	return append(a, metadata...)
}

// seal appends header || ciphertext || tag to dst (encrypt(), RFC 9605 §4.4.3).
func (k *cipherKey) seal(dst []byte, h Header, metadata, pt []byte) ([]byte, error) {
	hl := h.Len()
	ret, out := sliceForAppend(dst, hl+len(pt)+k.p.nt)
	if anyOverlap(out, pt) || anyOverlap(out, metadata) {
		return dst, ErrOverlap
	}
	hdr := h.AppendTo(out[:0])
	nonce := k.nonce(h.CTR)
	if k.gcm != nil {
		k.gcm.Seal(out[hl:hl], nonce[:], pt, k.joinAAD(hdr, metadata))
		return ret, nil
	}
	ct := out[hl : hl+len(pt)]
	k.ctr(ct, pt, nonce)
	copy(out[hl+len(pt):], k.tag(nonce, hdr, metadata, ct))
	return ret, nil
}

// open verifies and decrypts ct (ciphertext || tag) under the received header
// bytes hdr, appending the plaintext to dst (decrypt(), RFC 9605 §4.4.3).
// Nothing is appended when authentication fails.
func (k *cipherKey) open(dst []byte, hdr []byte, ctr uint64, metadata, ct []byte) ([]byte, error) {
	if len(ct) < k.p.nt {
		return dst, ErrShortCiphertext
	}
	ptLen := len(ct) - k.p.nt
	ret, out := sliceForAppend(dst, ptLen)
	if anyOverlap(out, ct) || anyOverlap(out, metadata) || anyOverlap(out, hdr) {
		return dst, ErrOverlap
	}
	nonce := k.nonce(ctr)
	if k.gcm != nil {
		if _, err := k.gcm.Open(out[:0], nonce[:], ct, k.joinAAD(hdr, metadata)); err != nil {
			return dst, ErrAuthentication
		}
		return ret, nil
	}
	body := ct[:ptLen]
	if !hmac.Equal(k.tag(nonce, hdr, metadata, body), ct[ptLen:]) {
		return dst, ErrAuthentication
	}
	k.ctr(out, body, nonce)
	return ret, nil
}

// ctr is AES-CTR with the initial counter nonce || 0x00000000 (§4.5.1).
func (k *cipherKey) ctr(dst, src []byte, nonce *[nonceSize]byte) {
	var iv [aes.BlockSize]byte
	copy(iv[:], nonce[:])
	cipher.NewCTR(k.block, iv[:]).XORKeyStream(dst, src)
}

// tag is compute_tag of RFC 9605 §4.5.1, with aad = hdr || metadata:
//
//	auth_data = len(aad) (8) || len(ct) (8) || Nt (8) || nonce || aad || ct
//	tag = truncate(HMAC(auth_key, auth_data), AEAD.Nt)
func (k *cipherKey) tag(nonce *[nonceSize]byte, hdr, metadata, ct []byte) []byte {
	var lens [24]byte
	binary.BigEndian.PutUint64(lens[0:], uint64(len(hdr)+len(metadata)))
	binary.BigEndian.PutUint64(lens[8:], uint64(len(ct)))
	binary.BigEndian.PutUint64(lens[16:], uint64(k.p.nt))
	k.mac.Reset()
	k.mac.Write(lens[:])
	k.mac.Write(nonce[:])
	k.mac.Write(hdr)
	k.mac.Write(metadata)
	k.mac.Write(ct)
	return k.mac.Sum(k.macSum[:0])[:k.p.nt]
}
