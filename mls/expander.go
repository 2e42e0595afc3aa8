package mls

import "hash"

// expander computes ExpandWithLabel (RFC 9420 §8) on the message path
// without allocating per call beyond its output: every PrivateMessage runs
// five expansions (ratchet key, nonce and next secret, sender data key and
// nonce), and crypto/hkdf builds a fresh HMAC with two hash states for
// each. The outputs there are at most Nh bytes, so HKDF-Expand is a single
// block, T(1) = HMAC(PRK, info || 0x01) (RFC 5869 §2.3), and HMAC
// (RFC 2104) can run on two hash states kept here. The secrets are Nh
// bytes, never longer than the hash block, so HMAC uses them as the key
// directly. Results equal ExpandWithLabel's; the secret-tree and
// message-protection vectors check that.
//
// An expander belongs to one secret tree and shares its rule: not safe for
// concurrent use.
type expander struct {
	inner, outer hash.Hash
	pad          []byte // key XOR ipad/opad, one hash block
	info         []byte // KDFLabel || 0x01
	sum          []byte // inner and outer digests
}

func newExpander(cs *CipherSuite) *expander {
	in, out := cs.newHash(), cs.newHash()
	return &expander{
		inner: in, outer: out,
		pad:  make([]byte, in.BlockSize()),
		info: make([]byte, 0, 64),
		sum:  make([]byte, 0, in.Size()),
	}
}

// expandLabel returns ExpandWithLabel(secret, label, context, length) in a
// new slice of exactly length bytes. It falls back to the general
// implementation when the single-block shortcut does not apply.
func (e *expander) expandLabel(cs *CipherSuite, secret []byte, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > e.outer.Size() || len(secret) > len(e.pad) || len(labelPrefix)+len(label) > maxVarint || len(context) > maxVarint {
		return cs.expandWithLabel(secret, label, context, length)
	}
	// KDFLabel = struct { uint16 length; opaque label<V>; opaque context<V>; }
	b := append(e.info[:0], byte(length>>8), byte(length))
	b = putVarint(b, uint32(len(labelPrefix)+len(label)))
	b = append(b, labelPrefix...)
	b = append(b, label...)
	b = putVarint(b, uint32(len(context)))
	b = append(b, context...)
	b = append(b, 1)
	e.info = b

	e.keyPad(secret, 0x36)
	e.inner.Reset()
	e.inner.Write(e.pad)
	e.inner.Write(b)
	e.sum = e.inner.Sum(e.sum[:0])
	e.keyPad(secret, 0x5c)
	e.outer.Reset()
	e.outer.Write(e.pad)
	e.outer.Write(e.sum)
	e.sum = e.outer.Sum(e.sum[:0])
	out := make([]byte, length)
	copy(out, e.sum)
	clear(e.pad)
	clear(e.sum)
	return out, nil
}

// keyPad fills pad with the zero-padded key XOR the HMAC pad byte.
func (e *expander) keyPad(key []byte, p byte) {
	for i := range e.pad {
		e.pad[i] = p
	}
	for i, k := range key {
		e.pad[i] ^= k
	}
}

// deriveTreeSecret is DeriveTreeSecret (RFC 9420 §9) through the expander.
func (e *expander) deriveTreeSecret(cs *CipherSuite, secret []byte, label string, generation uint32, length int) ([]byte, error) {
	g := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return e.expandLabel(cs, secret, label, g[:], length)
}

// zero drops what the hash states may still hold of the last secret.
func (e *expander) zero() {
	e.inner.Reset()
	e.outer.Reset()
	clear(e.pad)
	clear(e.sum[:cap(e.sum)])
}
