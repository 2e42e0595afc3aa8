package sframe

// EncryptFrame encrypts one media frame under kid with the layout of codec
// (see Codec and docs/protocol.md ("Media frames")) and appends the result to dst. For every codec
// but CodecH264 and CodecAV1 it does not allocate when dst has room for
// len(frame)+Overhead() bytes. dst must not overlap frame.
func (c *Context) EncryptFrame(dst []byte, kid uint64, codec Codec, frame []byte) ([]byte, error) {
	c.mu.Lock()
	out, err := c.encryptFrameLocked(dst, kid, codec, frame)
	c.mu.Unlock()
	return out, err
}

func (c *Context) encryptFrameLocked(dst []byte, kid uint64, codec Codec, frame []byte) ([]byte, error) {
	switch codec {
	case CodecH264:
		return c.encryptH264Locked(dst, kid, frame)
	case CodecAV1:
		return c.encryptAV1Locked(dst, kid, frame)
	}
	n, err := clearPrefixLen(codec, frame)
	if err != nil {
		return dst, err
	}
	base := len(dst)
	out, prefix := sliceForAppend(dst, n)
	if anyOverlap(prefix, frame) {
		return dst, ErrOverlap
	}
	copy(prefix, frame[:n])
	out, err = c.encryptLocked(out, kid, prefix, frame[n:])
	if err != nil {
		return dst[:base], err
	}
	return out, nil
}

// DecryptFrame reverses EncryptFrame: it authenticates data (clear prefix
// included) and appends the original frame to dst, returning the SFrame
// header. On error nothing is appended, no state changes and no plaintext is
// returned. For every codec but CodecH264 and CodecAV1 it does not allocate when dst has
// room for len(data) bytes.
func (c *Context) DecryptFrame(dst []byte, codec Codec, data []byte) ([]byte, Header, error) {
	c.mu.Lock()
	out, h, err := c.decryptFrameLocked(dst, codec, data)
	c.mu.Unlock()
	return out, h, err
}

func (c *Context) decryptFrameLocked(dst []byte, codec Codec, data []byte) ([]byte, Header, error) {
	switch codec {
	case CodecH264:
		return c.decryptH264Locked(dst, data)
	case CodecAV1:
		return c.decryptAV1Locked(dst, data)
	}
	n, err := clearPrefixLen(codec, data)
	if err != nil {
		return dst, Header{}, err
	}
	prefix, sframe := data[:n], data[n:]
	h, hl, err := ParseHeader(sframe)
	if err != nil {
		return dst, Header{}, err
	}
	base := len(dst)
	out, p := sliceForAppend(dst, n)
	if anyOverlap(p, data) {
		return dst, Header{}, ErrOverlap
	}
	copy(p, prefix)
	out, err = c.openLocked(out, h, sframe[:hl], prefix, sframe[hl:])
	if err != nil {
		clear(out[base:])
		return dst[:base], Header{}, err
	}
	return out, h, nil
}
