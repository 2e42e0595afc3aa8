package sframe

import (
	"encoding/binary"
	"fmt"
)

// AV1 OBU-aware protection (docs/protocol.md, "av1: OBU-aware protection").
//
// An AV1 frame, as an encoder hands it to the RTP packetizer, is a sequence of
// OBUs (AV1 §5.3, the low-overhead bitstream format): a header byte
// (forbidden bit, 4-bit type, extension flag, has_size_field, reserved bit),
// an extension byte when the flag is set, the payload size as leb128 when
// has_size_field is set (else the payload runs to the end of the frame), and
// the payload. The packetizer (the AV1 RTP payload format, §4 and §5) reads
// each OBU's header and size, drops temporal delimiters, tile lists and
// padding, and sends the rest without their size fields; the depacketizer
// writes every OBU back with has_size_field set and a fresh size. So the
// headers must stay readable and the sizes true, but the sizes the receiver
// sees are not the sender's bytes: the layout authenticates headers (with
// has_size_field set, as the receiver sees them) and payload lengths, never
// the size fields' encoding.
//
// The sender drops the OBUs the packetizer would (temporal delimiter 2, tile
// list 8, padding 15); every other OBU keeps its header in the clear and has
// its payload protected. One SFrame covers the frame:
//
//	plaintext = payload_1 || ... || payload_k
//	metadata  = for each OBU, in order: header byte | 0x02 || extension byte
//	            (if any) || payload length as 4 bytes big-endian
//	sframe    = SFrame header || ciphertext || tag
//
// The SFrame bytes are cut back into the OBUs as for H.264: the first gets
// the SFrame header and as many ciphertext bytes as its payload had, the next
// ones their payload's share, and the last also gets the tag; each OBU is
// written with has_size_field set and the leb128 size of its share. No
// escaping is needed: OBU sizes are explicit.

const (
	obuExtensionFlag = 0x04
	obuHasSize       = 0x02
	obuForbidden     = 0x80
	maxLEB128Bytes   = 8 // AV1 §4.10.5
)

// obu locates one OBU: frame[start:hdr] is its header (with extension),
// frame[payload:end] its payload.
type obu struct {
	start, hdr, payload, end int
}

// obuType is the 4-bit OBU type of a header byte.
func obuType(header byte) byte { return header >> 3 & 0x0f }

// dropOBU reports whether the RTP packetizer drops an OBU of type t
// (temporal delimiter, tile list, padding), so it is neither sent nor
// authenticated.
func dropOBU(t byte) bool { return t == 2 || t == 8 || t == 15 }

// readLEB128 reads an unsigned leb128 (AV1 §4.10.5) of at most 8 bytes whose
// value fits in an int.
func readLEB128(b []byte) (v, n int, ok bool) {
	var x uint64
	for i := 0; i < maxLEB128Bytes && i < len(b); i++ {
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if x > uint64(len(b)) { // no payload can be longer than the frame
				return 0, 0, false
			}
			return int(x), i + 1, true
		}
	}
	return 0, 0, false
}

func appendLEB128(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// splitOBUs cuts a frame into OBUs, leaving out those the packetizer drops.
func splitOBUs(frame []byte) ([]obu, error) {
	var obus []obu
	for pos := 0; pos < len(frame); {
		o := obu{start: pos}
		h := frame[pos]
		if h&obuForbidden != 0 {
			return nil, fmt.Errorf("%w: forbidden bit set in the OBU at offset %d", ErrMalformedAV1, pos)
		}
		o.hdr = pos + 1
		if h&obuExtensionFlag != 0 {
			o.hdr++
		}
		if o.hdr > len(frame) {
			return nil, fmt.Errorf("%w: OBU at offset %d shorter than its header", ErrMalformedAV1, pos)
		}
		o.payload, o.end = o.hdr, len(frame)
		if h&obuHasSize != 0 {
			size, n, ok := readLEB128(frame[o.hdr:])
			if !ok || o.hdr+n+size > len(frame) {
				return nil, fmt.Errorf("%w: bad size of the OBU at offset %d", ErrMalformedAV1, pos)
			}
			o.payload = o.hdr + n
			o.end = o.payload + size
		}
		if !dropOBU(obuType(h)) {
			if len(obus) == maxUnits {
				return nil, fmt.Errorf("%w: more than %d OBUs", ErrMalformedAV1, maxUnits)
			}
			obus = append(obus, o)
		}
		pos = o.end
	}
	if len(obus) == 0 {
		return nil, fmt.Errorf("%w: no OBU to protect", ErrMalformedAV1)
	}
	return obus, nil
}

// av1Metadata builds the metadata of the layout above; payloadLen gives the
// plaintext payload length of the i-th OBU.
func av1Metadata(frame []byte, obus []obu, payloadLen func(i int) int) []byte {
	md := make([]byte, 0, 6*len(obus))
	for i, o := range obus {
		md = append(md, frame[o.start]|obuHasSize)
		md = append(md, frame[o.start+1:o.hdr]...)
		md = binary.BigEndian.AppendUint32(md, uint32(payloadLen(i)))
	}
	return md
}

// appendOBU writes an OBU with the header of frame[o.start:o.hdr], has_size_field
// set, and payload p.
func appendOBU(dst, frame []byte, o obu, p []byte) []byte {
	dst = append(dst, frame[o.start]|obuHasSize)
	dst = append(dst, frame[o.start+1:o.hdr]...)
	dst = appendLEB128(dst, len(p))
	return append(dst, p...)
}

func (c *Context) encryptAV1Locked(dst []byte, kid uint64, frame []byte) ([]byte, error) {
	obus, err := splitOBUs(frame)
	if err != nil {
		return dst, err
	}
	var pt []byte
	lens := make([]int, len(obus))
	for i, o := range obus {
		pt = append(pt, frame[o.payload:o.end]...)
		lens[i] = o.end - o.payload
	}
	md := av1Metadata(frame, obus, func(i int) int { return lens[i] })
	shares, err := c.sealShares(kid, md, pt, lens)
	if err != nil {
		return dst, err
	}
	out := dst
	for i, o := range obus {
		out = appendOBU(out, frame, o, shares[i])
	}
	return out, nil
}

func (c *Context) decryptAV1Locked(dst []byte, data []byte) ([]byte, Header, error) {
	obus, err := splitOBUs(data)
	if err != nil {
		return dst, Header{}, err
	}
	var sf []byte
	lens := make([]int, len(obus))
	for i, o := range obus {
		sf = append(sf, data[o.payload:o.end]...)
		lens[i] = o.end - o.payload
	}
	pt, h, err := c.openShares(sf, lens, 0, len(lens)-1, func() []byte {
		return av1Metadata(data, obus, func(i int) int { return lens[i] })
	})
	if err != nil {
		return dst, Header{}, err
	}
	out := dst
	pos := 0
	for i, o := range obus {
		out = appendOBU(out, data, o, pt[pos:pos+lens[i]])
		pos += lens[i]
	}
	clear(pt)
	return out, h, nil
}
