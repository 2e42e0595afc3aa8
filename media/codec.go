package media

import "strings"

// Codec is a media codec the SFU knows how to read the clear prefix of.
type Codec uint8

// Codecs whose clear prefix the SFU reads; CodecUnknown is forwarded
// without keyframe gating.
const (
	CodecUnknown Codec = iota
	CodecOpus
	CodecVP8
	CodecVP9
	CodecH264
	CodecAV1
)

func codecFromMime(mime string) Codec {
	switch strings.ToLower(mime) {
	case "audio/opus":
		return CodecOpus
	case "video/vp8":
		return CodecVP8
	case "video/vp9":
		return CodecVP9
	case "video/h264":
		return CodecH264
	case "video/av1":
		return CodecAV1
	}
	return CodecUnknown
}

func (c Codec) isVideo() bool {
	return c == CodecVP8 || c == CodecVP9 || c == CodecH264 || c == CodecAV1
}

// IsKeyframeStart reports whether an RTP payload of codec c starts a frame
// a decoder can start from. It reads only the clear bytes the SFrame
// transform leaves in front of the ciphertext. Audio and unknown codecs have
// no decoding dependency the SFU can see, so every packet is a start point.
// Malformed payloads are never keyframes.
func IsKeyframeStart(c Codec, payload []byte) bool {
	switch c {
	case CodecVP8:
		d, err := ParseVP8Descriptor(payload)
		return err == nil && d.Keyframe
	case CodecVP9:
		return vp9Keyframe(payload)
	case CodecH264:
		return h264Keyframe(payload)
	case CodecAV1:
		return av1Keyframe(payload)
	}
	return true
}

// av1Keyframe reads the aggregation header, the first byte of an AV1 RTP
// payload (the AV1 RTP payload format, §4.4: Z Y W W N - - -): N set marks
// the first packet of a coded video sequence, which starts with a key frame,
// and Z clear says the packet does not continue an OBU of an earlier one.
func av1Keyframe(p []byte) bool {
	return len(p) >= 1 && p[0]&0x08 != 0 && p[0]&0x80 == 0
}

// vp9Keyframe reads the first byte of the VP9 payload descriptor
// (RFC 9628 §4.2): B (start of frame) set and P (inter-picture predicted)
// clear. With spatial layers (L set) only the base layer starts a frame a
// decoder can join at.
func vp9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b := p[0]
	const (
		flagI, flagP, flagL, flagF, flagB = 0x80, 0x40, 0x20, 0x10, 0x08
	)
	if b&flagB == 0 || b&flagP != 0 {
		return false
	}
	if b&flagL == 0 {
		return true
	}
	off := 1
	if b&flagI != 0 {
		if off >= len(p) {
			return false
		}
		if p[off]&0x80 != 0 {
			off += 2
		} else {
			off++
		}
	}
	if off >= len(p) {
		return false
	}
	// Layer indices: TID(3) U(1) SID(3) D(1).
	return (p[off]>>1)&0x07 == 0
}

// h264Keyframe looks at NAL unit headers (RFC 6184 §5.3), which sealroom's
// SFrame packetization keeps in the clear: an IDR slice (type 5) or a
// sequence parameter set (type 7) starts a decodable sequence.
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	isKey := func(t byte) bool { return t == 5 || t == 7 }
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		return isKey(t)
	case t == 24: // STAP-A, RFC 6184 §5.7.1
		for off := 1; off+2 < len(p); {
			size := int(p[off])<<8 | int(p[off+1])
			off += 2
			if size == 0 || off+size > len(p) {
				return false
			}
			if isKey(p[off] & 0x1f) {
				return true
			}
			off += size
		}
		return false
	case t == 28: // FU-A, RFC 6184 §5.8: start bit and original type
		return len(p) >= 2 && p[1]&0x80 != 0 && isKey(p[1]&0x1f)
	}
	return false
}
