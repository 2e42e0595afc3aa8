package sframe

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// H.264 NAL-aware protection (docs/protocol.md, "h264: NAL-aware protection").
//
// An H.264 frame is an Annex B byte stream (ITU-T H.264 Annex B): NAL units
// each preceded by a start code 00 00 01 or 00 00 00 01. Packetizers split on
// start codes and read NAL headers (RFC 6184), so both stay in the clear.
// Parameter sets and other non-picture NAL units (clearNAL) stay whole in the
// clear too: receivers' depacketizers parse SPS and PPS and drop packets they
// cannot parse. Every other NAL unit has its payload (the bytes after its
// header) protected. One SFrame covers the whole frame:
//
//	plaintext = payload_1 || ... || payload_k      (protected NAL units, in order)
//	metadata  = for each NAL unit, in order:
//	              start code || header            (protected)
//	              start code || whole NAL unit    (clear)
//	            followed by the payload length as 4 bytes big-endian (0 if clear)
//	sframe    = SFrame header || ciphertext || tag   (RFC 9605 §4.4.3)
//
// The SFrame bytes are cut back into the protected NAL units: the first gets
// the SFrame header and as many ciphertext bytes as its payload had, the next
// ones their payload's share, and the last also gets the tag. Each share is
// then escaped so the ciphertext never emulates a start code: 0x03 is inserted
// after two zero bytes that precede a byte <= 0x03 (the H.264 §7.4.1
// emulation prevention rule, counting the zero bytes that end the NAL header),
// and a final 0x03 is appended when the unit would end in 0x00 or 0x03 (so it
// never ends in 0x00, which would merge with the next start code, and the
// trailer is unambiguous). The receiver drops that trailer, then every 0x03
// that follows two zero bytes.

// clearNAL reports whether a NAL unit type stays whole in the clear: SPS (7),
// PPS (8), access unit delimiter (9), end of sequence (10), end of stream
// (11), filler (12), SPS extension (13), subset SPS (15).
func clearNAL(t byte) bool {
	switch t {
	case 7, 8, 9, 10, 11, 12, 13, 15:
		return true
	}
	return false
}

// nalHeaderLen is 1, or 4 for the types with a 3-byte header extension
// (prefix NAL 14, coded slice extension 20 and 21; H.264 §7.3.1).
func nalHeaderLen(t byte) int {
	switch t {
	case 14, 20, 21:
		return 4
	}
	return 1
}

// slicePrefixLen is how many bytes of a coded slice's payload (NAL types 1
// and 5) stay in the clear with its header: those holding the slice header's
// first three fields, first_mb_in_slice, slice_type and
// pic_parameter_set_id (H.264 §7.3.3, Exp-Golomb ue(v) codes, §9.1), read
// from the bytes as they are. Receivers' depacketizers read the PPS id of an
// IDR slice (libwebrtc's H264SpsPpsTracker drops an IDR whose PPS it cannot
// find), and first_mb_in_slice tells where a picture starts. The codes end
// within the first bytes for any picture of fewer than 2^15 macroblocks. ok
// is false when they do not end within p: the frame is refused, never sent
// with a guessed layout.
func slicePrefixLen(p []byte) (n int, ok bool) {
	pos := 0 // in bits
	bit := func() (uint8, bool) {
		if pos >= 8*len(p) {
			return 0, false
		}
		b := p[pos/8] >> (7 - pos%8) & 1
		pos++
		return b, true
	}
	for range 3 {
		zeros := 0
		for {
			b, ok := bit()
			if !ok || zeros > 31 {
				return 0, false
			}
			if b == 1 {
				break
			}
			zeros++
		}
		for range zeros {
			if _, ok := bit(); !ok {
				return 0, false
			}
		}
	}
	return (pos + 7) / 8, true
}

// nalUnit locates one NAL unit: frame[sc:start] is its start code,
// frame[start:hdr] its header, frame[hdr:end] its payload.
type nalUnit struct {
	sc, start, hdr, end int
	clear               bool
}

// splitAnnexB cuts an Annex B frame into NAL units. The frame must start with
// a start code. A zero byte just before 00 00 01 belongs to a 4-byte start
// code; sender and receiver apply the same rule to the same clear bytes.
func splitAnnexB(frame []byte) ([]nalUnit, error) {
	var sc int
	switch {
	case bytes.HasPrefix(frame, []byte{0, 0, 1}):
		sc = 3
	case bytes.HasPrefix(frame, []byte{0, 0, 0, 1}):
		sc = 4
	default:
		return nil, fmt.Errorf("%w: no start code at offset 0", ErrMalformedH264)
	}
	var nals []nalUnit
	begin, start := 0, sc
	for {
		end := len(frame)
		next := -1
		if i := bytes.Index(frame[start:], []byte{0, 0, 1}); i >= 0 {
			next = start + i
			end = next
			if end > start && frame[end-1] == 0 {
				end--
			}
		}
		if end <= start {
			return nil, fmt.Errorf("%w: empty NAL unit at offset %d", ErrMalformedH264, start)
		}
		t := frame[start] & 0x1f
		n := nalUnit{sc: begin, start: start, clear: clearNAL(t)}
		n.hdr = start + nalHeaderLen(t)
		if n.hdr > end {
			return nil, fmt.Errorf("%w: NAL unit at offset %d shorter than its header", ErrMalformedH264, start)
		}
		if t == 1 || t == 5 {
			k, ok := slicePrefixLen(frame[n.hdr:end])
			if !ok {
				return nil, fmt.Errorf("%w: coded slice at offset %d without a readable slice header", ErrMalformedH264, start)
			}
			n.hdr += k
		}
		n.end = end
		if len(nals) == maxUnits {
			return nil, fmt.Errorf("%w: more than %d NAL units", ErrMalformedH264, maxUnits)
		}
		nals = append(nals, n)
		if next < 0 {
			return nals, nil
		}
		begin, start = end, next+3
	}
}

// h264Metadata builds the metadata of the layout above; payloadLen gives the
// plaintext payload length of the i-th NAL unit.
func h264Metadata(frame []byte, nals []nalUnit, payloadLen func(i int) int) []byte {
	var md []byte
	for i, n := range nals {
		if n.clear {
			md = append(md, frame[n.sc:n.end]...)
			md = binary.BigEndian.AppendUint32(md, 0)
			continue
		}
		md = append(md, frame[n.sc:n.hdr]...)
		md = binary.BigEndian.AppendUint32(md, uint32(payloadLen(i)))
	}
	return md
}

func (c *Context) encryptH264Locked(dst []byte, kid uint64, frame []byte) ([]byte, error) {
	nals, err := splitAnnexB(frame)
	if err != nil {
		return dst, err
	}
	var pt []byte
	var lens []int
	for _, n := range nals {
		if !n.clear {
			pt = append(pt, frame[n.hdr:n.end]...)
			lens = append(lens, n.end-n.hdr)
		}
	}
	if len(lens) == 0 {
		return dst, fmt.Errorf("%w: no NAL unit to protect", ErrMalformedH264)
	}
	md := h264Metadata(frame, nals, func(i int) int { return nals[i].end - nals[i].hdr })
	shares, err := c.sealShares(kid, md, pt, lens)
	if err != nil {
		return dst, err
	}
	out := dst
	k := 0
	for _, n := range nals {
		if n.clear {
			out = append(out, frame[n.sc:n.end]...)
			continue
		}
		out = append(out, frame[n.sc:n.hdr]...)
		out = appendEscaped(out, frame[n.start:n.hdr], shares[k])
		k++
	}
	return out, nil
}

func (c *Context) decryptH264Locked(dst []byte, data []byte) ([]byte, Header, error) {
	nals, err := splitAnnexB(data)
	if err != nil {
		return dst, Header{}, err
	}
	var sf, scratch []byte
	lens := make([]int, len(nals))
	first, last := -1, -1
	for i, n := range nals {
		if n.clear {
			continue
		}
		before := len(sf)
		hdr, esc := data[n.start:n.hdr], data[n.hdr:n.end]
		sf = appendUnescaped(sf, hdr, esc)
		lens[i] = len(sf) - before
		// Only the escaping appendEscaped produces is accepted, so each
		// SFrame has exactly one H.264 form.
		scratch = appendEscaped(scratch[:0], hdr, sf[before:])
		if !bytes.Equal(scratch, esc) {
			return dst, Header{}, fmt.Errorf("%w: non-canonical escaping in NAL unit at offset %d", ErrMalformedH264, n.start)
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 {
		return dst, Header{}, fmt.Errorf("%w: no protected NAL unit", ErrMalformedH264)
	}
	pt, h, err := c.openShares(sf, lens, first, last, func() []byte {
		return h264Metadata(data, nals, func(i int) int { return lens[i] })
	})
	if err != nil {
		return dst, Header{}, err
	}
	out := dst
	pos := 0
	for i, n := range nals {
		if n.clear {
			out = append(out, data[n.sc:n.end]...)
			continue
		}
		out = append(out, data[n.sc:n.hdr]...)
		out = append(out, pt[pos:pos+lens[i]]...)
		pos += lens[i]
	}
	clear(pt)
	return out, h, nil
}

// trailingZeros counts the zero bytes ending b, up to 2.
func trailingZeros(b []byte) int {
	z := 0
	for i := len(b) - 1; i >= 0 && z < 2 && b[i] == 0; i-- {
		z++
	}
	return z
}

// appendEscaped appends src, the payload following NAL header hdr, with
// emulation prevention and the 0x03 trailer described above.
func appendEscaped(dst, hdr, src []byte) []byte {
	zeros := trailingZeros(hdr)
	for _, b := range src {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	last := hdr[len(hdr)-1]
	if len(src) > 0 {
		last = src[len(src)-1]
	}
	if last == 0 || last == 3 {
		dst = append(dst, 3)
	}
	return dst
}

// appendUnescaped reverses appendEscaped for the escaped payload esc that
// follows NAL header hdr.
func appendUnescaped(dst, hdr, esc []byte) []byte {
	if n := len(esc); n > 0 && esc[n-1] == 3 {
		prev := hdr[len(hdr)-1]
		if n >= 2 {
			prev = esc[n-2]
		}
		if prev == 0 || prev == 3 {
			esc = esc[:n-1]
		}
	}
	zeros := trailingZeros(hdr)
	for _, b := range esc {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}
