package sframe

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// Suite is an SFrame cipher suite identifier (RFC 9605 §4.5, IANA registry §8.1).
type Suite uint16

// The cipher suites of RFC 9605 §4.5.
const (
	AES128CTRHMACSHA256_80 Suite = 0x0001
	AES128CTRHMACSHA256_64 Suite = 0x0002
	AES128CTRHMACSHA256_32 Suite = 0x0003
	AES128GCMSHA256_128    Suite = 0x0004
	AES256GCMSHA512_128    Suite = 0x0005
)

// DefaultSuite is sealroom's media suite (DESIGN.md §5).
const DefaultSuite = AES128GCMSHA256_128

// nonceSize is AEAD.Nn, 12 bytes for every suite of RFC 9605 §4.5.
const nonceSize = 12

// maxOverhead bounds header (17 bytes) plus tag (16 bytes).
const maxOverhead = maxHeaderLen + 16

// suiteParams are the constants of RFC 9605 §4.5's table.
type suiteParams struct {
	nk     int  // AEAD.Nk: key length, for CTR+HMAC the encryption and auth keys together
	nka    int  // AES key length inside nk for the CTR+HMAC suites (§4.5.1)
	nt     int  // AEAD.Nt: tag length
	gcm    bool // AES-GCM, otherwise AES-CTR + HMAC
	sha512 bool // KDF/HMAC hash: SHA-512, otherwise SHA-256
	name   string
}

func (s Suite) params() (suiteParams, error) {
	switch s {
	case AES128CTRHMACSHA256_80:
		return suiteParams{nk: 48, nka: 16, nt: 10, name: "AES_128_CTR_HMAC_SHA256_80"}, nil
	case AES128CTRHMACSHA256_64:
		return suiteParams{nk: 48, nka: 16, nt: 8, name: "AES_128_CTR_HMAC_SHA256_64"}, nil
	case AES128CTRHMACSHA256_32:
		return suiteParams{nk: 48, nka: 16, nt: 4, name: "AES_128_CTR_HMAC_SHA256_32"}, nil
	case AES128GCMSHA256_128:
		return suiteParams{nk: 16, nt: 16, gcm: true, name: "AES_128_GCM_SHA256_128"}, nil
	case AES256GCMSHA512_128:
		return suiteParams{nk: 32, nt: 16, gcm: true, sha512: true, name: "AES_256_GCM_SHA512_128"}, nil
	}
	return suiteParams{}, fmt.Errorf("%w: 0x%04x", ErrUnknownSuite, uint16(s))
}

// KeySize is AEAD.Nk: the length of the base key and of the MLS exporter output
// (RFC 9605 §5.2). It is 0 for an unknown suite.
func (s Suite) KeySize() int { p, _ := s.params(); return p.nk }

// TagSize is AEAD.Nt. It is 0 for an unknown suite.
func (s Suite) TagSize() int { p, _ := s.params(); return p.nt }

// String returns the RFC name of the suite.
func (s Suite) String() string {
	p, err := s.params()
	if err != nil {
		return fmt.Sprintf("Suite(0x%04x)", uint16(s))
	}
	return p.name
}

func (p suiteParams) hash() func() hash.Hash {
	if p.sha512 {
		return sha512.New
	}
	return sha256.New
}
