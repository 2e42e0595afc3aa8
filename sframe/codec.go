package sframe

import "fmt"

// Codec selects the frame layout: which bytes of a media frame stay in the
// clear for packetizers, depacketizers and the SFU, authenticated as SFrame
// metadata (RFC 9605 §4.4.3: aad = header || metadata). docs/protocol.md ("Media frames") is the
// normative description; webapp/sframe/codec.mjs mirrors it byte for byte.
//
// For CodecNone, CodecOpus and CodecVP8 an encrypted frame is
//
//	[clear prefix][SFrame header][ciphertext][tag]
//
// where the clear prefix is the first n bytes of the frame, the metadata is
// exactly the clear prefix and the plaintext is the rest of the frame:
//
//	CodecNone  n = 0
//	CodecOpus  n = 1 (the TOC byte, RFC 6716 §3.1)
//	CodecVP8   n = 10 on key frames, 3 on interframes (RFC 6386 §9.1: the
//	           3-byte frame tag, plus the 7-byte start code and dimensions on
//	           key frames). A key frame is one whose first byte has the P bit
//	           (bit 0) clear (RFC 7741 §4.3); the receiver reads the same bit
//	           from the clear prefix, so no signalling is needed.
//
// CodecH264 keeps Annex B start codes and NAL unit headers in the clear; see
// the H.264 section of docs/protocol.md ("Media frames") and h264.go.
// CodecAV1 keeps OBU headers in the clear and the sizes true; see the AV1
// section and av1.go.
type Codec uint8

// The codecs with a defined frame layout.
const (
	CodecNone Codec = iota
	CodecOpus
	CodecVP8
	CodecH264
	CodecAV1
)

// String returns the codec's name as used by ParseCodec and the JavaScript twin.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecOpus:
		return "opus"
	case CodecVP8:
		return "vp8"
	case CodecH264:
		return "h264"
	case CodecAV1:
		return "av1"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// ParseCodec maps a name ("none", "opus", "vp8", "h264", "av1") to a Codec.
func ParseCodec(name string) (Codec, error) {
	for c := CodecNone; c <= CodecAV1; c++ {
		if c.String() == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownCodec, name)
}

const (
	vp8KeyPrefix   = 10
	vp8DeltaPrefix = 3
	opusPrefix     = 1
)

// VP8KeyFrame reports whether a VP8 frame (or encrypted frame, whose first
// byte is clear) is a key frame: the P bit of the frame tag is 0 (RFC 7741 §4.3).
func VP8KeyFrame(frame []byte) bool { return len(frame) > 0 && frame[0]&0x01 == 0 }

// clearPrefixLen is n for the prefix layouts. It reads only bytes that stay in
// the clear, so sender and receiver compute the same n.
func clearPrefixLen(codec Codec, frame []byte) (int, error) {
	var n int
	switch codec {
	case CodecNone:
		return 0, nil
	case CodecOpus:
		n = opusPrefix
	case CodecVP8:
		n = vp8DeltaPrefix
		if VP8KeyFrame(frame) {
			n = vp8KeyPrefix
		}
	default:
		return 0, fmt.Errorf("%w: %v", ErrUnknownCodec, codec)
	}
	if len(frame) < n {
		return 0, fmt.Errorf("%w: %v frame of %d bytes, prefix %d", ErrFrameTooShort, codec, len(frame), n)
	}
	return n, nil
}
