package media

import "fmt"

// VP8Descriptor is the VP8 RTP payload descriptor (RFC 7741 §4.2) plus the
// keyframe bit of the VP8 payload header (§4.3) when the packet starts a
// partition 0. These bytes are in the clear in front of the SFrame
// ciphertext; everything after them is opaque.
type VP8Descriptor struct {
	NonReference bool // N
	Start        bool // S
	PartitionID  uint8

	HasPictureID bool
	LongPicture  bool   // M: 15-bit picture ID
	PictureID    uint16 // 7 or 15 bits
	HasTL0PicIdx bool
	TL0PicIdx    uint8
	HasTID       bool
	TID          uint8 // 2 bits
	LayerSync    bool  // Y
	HasKeyIdx    bool
	KeyIdx       uint8 // 5 bits

	// Size is the descriptor length in bytes; the VP8 payload header
	// follows at payload[Size].
	Size int
	// Keyframe is true when S=1, PID=0 and the payload header's P bit
	// (inverse key frame flag, RFC 7741 §4.3) is 0.
	Keyframe bool
}

// ParseVP8Descriptor parses the descriptor at the start of a VP8 RTP
// payload. It never reads past the first byte of the VP8 payload header.
func ParseVP8Descriptor(p []byte) (VP8Descriptor, error) {
	var d VP8Descriptor
	if len(p) < 1 {
		return d, fmt.Errorf("vp8 descriptor: %w", ErrPayloadTooShort)
	}
	b := p[0]
	d.NonReference = b&0x20 != 0
	d.Start = b&0x10 != 0
	d.PartitionID = b & 0x07
	off := 1
	if b&0x80 != 0 { // X
		if len(p) < 2 {
			return d, fmt.Errorf("vp8 extension byte: %w", ErrPayloadTooShort)
		}
		x := p[1]
		off = 2
		d.HasPictureID = x&0x80 != 0
		d.HasTL0PicIdx = x&0x40 != 0
		d.HasTID = x&0x20 != 0
		d.HasKeyIdx = x&0x10 != 0
		if d.HasPictureID {
			if len(p) < off+1 {
				return d, fmt.Errorf("vp8 picture id: %w", ErrPayloadTooShort)
			}
			if p[off]&0x80 != 0 {
				if len(p) < off+2 {
					return d, fmt.Errorf("vp8 long picture id: %w", ErrPayloadTooShort)
				}
				d.LongPicture = true
				d.PictureID = uint16(p[off]&0x7f)<<8 | uint16(p[off+1])
				off += 2
			} else {
				d.PictureID = uint16(p[off])
				off++
			}
		}
		if d.HasTL0PicIdx {
			if len(p) < off+1 {
				return d, fmt.Errorf("vp8 tl0picidx: %w", ErrPayloadTooShort)
			}
			d.TL0PicIdx = p[off]
			off++
		}
		if d.HasTID || d.HasKeyIdx {
			if len(p) < off+1 {
				return d, fmt.Errorf("vp8 tid/keyidx: %w", ErrPayloadTooShort)
			}
			t := p[off]
			d.TID = t >> 6
			d.LayerSync = t&0x20 != 0
			d.KeyIdx = t & 0x1f
			off++
		}
	}
	d.Size = off
	if d.Start && d.PartitionID == 0 {
		// The payload header must be there: a frame start without it is
		// malformed, not a delta frame.
		if len(p) < off+1 {
			return d, fmt.Errorf("vp8 payload header: %w", ErrPayloadTooShort)
		}
		d.Keyframe = p[off]&0x01 == 0
	}
	return d, nil
}

// AppendTo appends the descriptor's wire form (without the payload header)
// to b. Used by tests and the load generator to build clear prefixes.
func (d VP8Descriptor) AppendTo(b []byte) []byte {
	first := d.PartitionID & 0x07
	if d.NonReference {
		first |= 0x20
	}
	if d.Start {
		first |= 0x10
	}
	ext := d.HasPictureID || d.HasTL0PicIdx || d.HasTID || d.HasKeyIdx
	if !ext {
		return append(b, first)
	}
	var x byte
	if d.HasPictureID {
		x |= 0x80
	}
	if d.HasTL0PicIdx {
		x |= 0x40
	}
	if d.HasTID {
		x |= 0x20
	}
	if d.HasKeyIdx {
		x |= 0x10
	}
	b = append(b, first|0x80, x)
	if d.HasPictureID {
		if d.LongPicture {
			b = append(b, 0x80|byte(d.PictureID>>8&0x7f), byte(d.PictureID))
		} else {
			b = append(b, byte(d.PictureID&0x7f))
		}
	}
	if d.HasTL0PicIdx {
		b = append(b, d.TL0PicIdx)
	}
	if d.HasTID || d.HasKeyIdx {
		t := d.TID<<6 | d.KeyIdx&0x1f
		if d.LayerSync {
			t |= 0x20
		}
		b = append(b, t)
	}
	return b
}
