package sframe

// The SFrame of a frame cut into shares, for the layouts that protect
// several payloads of one frame under one SFrame (H.264, AV1; twin of
// webapp/sframe/shares.mjs): the first share begins with the SFrame header,
// each has its payload's length of ciphertext, and the last ends with the
// tag.

// maxUnits bounds the NAL units or OBUs of one frame: encoders write a few,
// or a few per slice or tile; a frame of thousands is an attack on the
// metadata's size, refused before any is built.
const maxUnits = 4096

// sealShares encrypts pt, the protected payloads of a frame joined (their
// lengths are lens, in order), under kid with metadata md, and cuts the
// SFrame back into one share per payload for a layout to write in its place
// (the H.264 and AV1 layouts): the first share begins with the SFrame header,
// each has its payload's length of ciphertext, and the last ends with the tag.
// pt is wiped.
func (c *Context) sealShares(kid uint64, md, pt []byte, lens []int) ([][]byte, error) {
	sf, err := c.encryptLocked(nil, kid, md, pt)
	clear(pt)
	if err != nil {
		return nil, err
	}
	hl := len(sf) - len(pt) - c.suite.TagSize()
	shares := make([][]byte, len(lens))
	pos := 0
	for i, l := range lens {
		if i == 0 {
			l += hl
		}
		if i == len(lens)-1 {
			l = len(sf) - pos
		}
		shares[i] = sf[pos : pos+l]
		pos += l
	}
	return shares, nil
}

// openShares opens an SFrame that a layout cut into shares of a frame (the
// H.264 and AV1 layouts): sf is the shares joined, lens[i] the length of
// share i, of which first begins with the SFrame header and last ends with
// the tag. lens becomes each share's plaintext length, which metadata may
// then read.
func (c *Context) openShares(sf []byte, lens []int, first, last int, metadata func() []byte) ([]byte, Header, error) {
	h, hl, err := ParseHeader(sf)
	if err != nil {
		return nil, Header{}, err
	}
	lens[first] -= hl
	lens[last] -= c.suite.TagSize()
	for _, l := range lens {
		if l < 0 {
			return nil, Header{}, &FrameError{KID: h.KID, CTR: h.CTR, Err: ErrShortCiphertext}
		}
	}
	pt, err := c.openLocked(nil, h, sf[:hl], metadata(), sf[hl:])
	if err != nil {
		return nil, Header{}, err
	}
	return pt, h, nil
}
