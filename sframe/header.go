package sframe

import (
	"encoding/binary"
	"math/bits"
)

// maxHeaderLen is a config byte plus an 8-byte KID and an 8-byte CTR.
const maxHeaderLen = 17

// Header is the SFrame header of RFC 9605 §4.3.
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+---------------------------------+
//	|X|  K  |Y|  C  |   KID (0-8 B)   |  CTR (0-8 B)  |
//	+-+-+-+-+-+-+-+-+---------------------------------+
//
// A value below 8 sits in K (or C) with X (or Y) clear; otherwise X (or Y) is
// set, K (or C) holds the length minus one and the value follows big-endian in
// that many bytes.
type Header struct {
	KID uint64
	CTR uint64
}

// byteLen is the minimal big-endian length of v (1..8), v >= 8.
func byteLen(v uint64) int { return (bits.Len64(v) + 7) / 8 }

// Len is the encoded length of h.
func (h Header) Len() int {
	n := 1
	if h.KID >= 8 {
		n += byteLen(h.KID)
	}
	if h.CTR >= 8 {
		n += byteLen(h.CTR)
	}
	return n
}

// AppendTo appends the minimal encoding of h (RFC 9605 §4.3) to b.
func (h Header) AppendTo(b []byte) []byte {
	var cfg byte
	var kl, cl int
	if h.KID < 8 {
		cfg = byte(h.KID) << 4
	} else {
		kl = byteLen(h.KID)
		cfg = 0x80 | byte(kl-1)<<4
	}
	if h.CTR < 8 {
		cfg |= byte(h.CTR)
	} else {
		cl = byteLen(h.CTR)
		cfg |= 0x08 | byte(cl-1)
	}
	b = append(b, cfg)
	b = appendUint(b, h.KID, kl)
	return appendUint(b, h.CTR, cl)
}

// appendUint appends the low n bytes of v, big-endian.
func appendUint(b []byte, v uint64, n int) []byte {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	return append(b, buf[8-n:]...)
}

// readUint reads an n-byte big-endian value that must be minimally encoded:
// at least 8 (else it belongs in the config byte) and without a leading zero.
func readUint(b []byte, field string) (uint64, error) {
	if b[0] == 0 || (len(b) == 1 && b[0] < 8) {
		return 0, &HeaderError{Field: field, Err: ErrNonMinimalHeader}
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v, nil
}

// ParseHeader decodes the SFrame header at the start of b and returns it with
// its encoded length. Errors are *HeaderError wrapping ErrTruncatedHeader or
// ErrNonMinimalHeader.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 1 {
		return Header{}, 0, &HeaderError{Field: "config", Err: ErrTruncatedHeader}
	}
	cfg := b[0]
	var h Header
	n := 1
	if cfg&0x80 == 0 {
		h.KID = uint64(cfg>>4) & 0x07
	} else {
		kl := int(cfg>>4&0x07) + 1
		if len(b) < n+kl {
			return Header{}, 0, &HeaderError{Field: "KID", Err: ErrTruncatedHeader}
		}
		v, err := readUint(b[n:n+kl], "KID")
		if err != nil {
			return Header{}, 0, err
		}
		h.KID = v
		n += kl
	}
	if cfg&0x08 == 0 {
		h.CTR = uint64(cfg & 0x07)
	} else {
		cl := int(cfg&0x07) + 1
		if len(b) < n+cl {
			return Header{}, 0, &HeaderError{Field: "CTR", Err: ErrTruncatedHeader}
		}
		v, err := readUint(b[n:n+cl], "CTR")
		if err != nil {
			return Header{}, 0, err
		}
		h.CTR = v
		n += cl
	}
	return h, n, nil
}
