package mls

import (
	"golang.org/x/crypto/cryptobyte"
)

// maxVarint is the largest value a variable-length integer can hold: the
// 4-byte form carries 30 bits (RFC 9420 §2.1.2).
const maxVarint = 1<<30 - 1

// reader decodes the TLS presentation language with MLS variable-length
// vectors. It keeps the first error and turns every later read into a no-op,
// so decoders read straight through and check once at the end.
//
// Allocation bound: byte vectors are copied only after their length has been
// checked against the remaining input, and vectors of structs grow by one
// element per consumed element encoding (each at least one byte), so a decoder
// never allocates more than a small multiple of its input.
type reader struct {
	s   cryptobyte.String
	err error
}

func newReader(b []byte) *reader { return &reader{s: cryptobyte.String(b)} }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) ok() bool { return r.err == nil }

func (r *reader) u8() uint8 {
	var v uint8
	if r.err == nil && !r.s.ReadUint8(&v) {
		r.fail(ErrTruncated)
	}
	return v
}

func (r *reader) u16() uint16 {
	var v uint16
	if r.err == nil && !r.s.ReadUint16(&v) {
		r.fail(ErrTruncated)
	}
	return v
}

func (r *reader) u32() uint32 {
	var v uint32
	if r.err == nil && !r.s.ReadUint32(&v) {
		r.fail(ErrTruncated)
	}
	return v
}

func (r *reader) u64() uint64 {
	var v uint64
	if r.err == nil && !r.s.ReadUint64(&v) {
		r.fail(ErrTruncated)
	}
	return v
}

// varint reads a variable-length integer (RFC 9420 §2.1.2). The two high
// bits of the first byte give the length; 0b11 is reserved, and a value must
// use the shortest form that holds it.
func (r *reader) varint() uint32 {
	if r.err != nil {
		return 0
	}
	var first uint8
	if !r.s.ReadUint8(&first) {
		r.fail(ErrTruncated)
		return 0
	}
	prefix := first >> 6
	v := uint32(first & 0x3f)
	var extra int
	switch prefix {
	case 0:
		return v
	case 1:
		extra = 1
	case 2:
		extra = 3
	default:
		r.fail(ErrInvalidVarint)
		return 0
	}
	var rest []byte
	if !r.s.ReadBytes(&rest, extra) {
		r.fail(ErrTruncated)
		return 0
	}
	for _, b := range rest {
		v = v<<8 | uint32(b)
	}
	if varintLen(v) != 1+extra {
		r.fail(ErrInvalidVarint)
		return 0
	}
	return v
}

// raw returns the next n bytes without copying; callers copy if they keep them.
func (r *reader) raw(n int) []byte {
	var b []byte
	if r.err == nil && !r.s.ReadBytes(&b, n) {
		r.fail(ErrTruncated)
	}
	return b
}

// fixed copies the next n bytes.
func (r *reader) fixed(n int) []byte {
	b := r.raw(n)
	if r.err != nil {
		return nil
	}
	return append(make([]byte, 0, n), b...)
}

// opaque reads opaque data<V> into a fresh copy. The length is checked
// against the remaining input before anything is allocated.
func (r *reader) opaque() []byte {
	n := r.varint()
	if r.err != nil {
		return nil
	}
	if int(n) > len(r.s) {
		r.fail(ErrTruncated)
		return nil
	}
	return r.fixed(int(n))
}

// vector reads a <V> vector of structs: elem is called on a sub-reader until
// the vector's bytes are used up. A structure that straddles the vector's
// end is an error of the sub-reader.
func (r *reader) vector(elem func(*reader)) {
	n := r.varint()
	if r.err != nil {
		return
	}
	body := r.raw(int(n))
	if r.err != nil {
		return
	}
	sub := newReader(body)
	for sub.err == nil && len(sub.s) > 0 {
		elem(sub)
	}
	r.fail(sub.err)
}

// optional reads the presence byte of optional<T> (RFC 9420 §2.1.1 / RFC 8446
// §3): 0 absent, 1 present, anything else invalid.
func (r *reader) optional() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return r.err == nil
	default:
		r.fail(ErrInvalidValue)
		return false
	}
}

// finish reports the first error, or ErrTrailingData if input is left over.
func (r *reader) finish() error {
	if r.err != nil {
		return r.err
	}
	if len(r.s) != 0 {
		return ErrTrailingData
	}
	return nil
}

// decodeAll runs dec on b and demands that b is consumed exactly.
func decodeAll(name string, b []byte, dec func(*reader)) error {
	r := newReader(b)
	dec(r)
	if err := r.finish(); err != nil {
		return &DecodeError{Struct: name, Err: err}
	}
	return nil
}

// writer encodes the TLS presentation language by appending to a slice.
type writer struct {
	b   []byte
	err error
}

// result returns the encoding, or an error if some vector was too long for a
// variable-length integer.
func (w *writer) result() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = append(w.b, byte(v>>8), byte(v)) }
func (w *writer) u32(v uint32) {
	w.b = append(w.b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (w *writer) u64(v uint64) {
	w.u32(uint32(v >> 32))
	w.u32(uint32(v))
}

func (w *writer) bytes(b []byte) { w.b = append(w.b, b...) }

// varintLen is the length of the minimal encoding of v (RFC 9420 §2.1.2).
func varintLen(v uint32) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	default:
		return 4
	}
}

// varint appends v in minimal form; values above maxVarint set w.err.
func (w *writer) varint(v uint32) {
	if v > maxVarint {
		w.err = ErrInvalidVarint
		return
	}
	w.b = putVarint(w.b, v)
}

func putVarint(b []byte, v uint32) []byte {
	switch varintLen(v) {
	case 1:
		return append(b, byte(v))
	case 2:
		return append(b, 0x40|byte(v>>8), byte(v))
	default:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

func (w *writer) opaque(b []byte) {
	if len(b) > maxVarint {
		w.err = ErrInvalidVarint
		return
	}
	w.varint(uint32(len(b)))
	w.b = append(w.b, b...)
}

// vector writes a <V> vector whose body is produced by body. The body is
// written in place and shifted once its length is known, so nesting does not
// allocate per level once the buffer has grown.
func (w *writer) vector(body func(*writer)) {
	start := len(w.b)
	body(w)
	n := len(w.b) - start
	if n > maxVarint {
		w.err = ErrInvalidVarint
		return
	}
	h := varintLen(uint32(n))
	w.b = append(w.b, make([]byte, h)...)
	copy(w.b[start+h:], w.b[start:start+n])
	putVarint(w.b[start:start], uint32(n))
}

func (w *writer) optional(present bool) {
	if present {
		w.u8(1)
	} else {
		w.u8(0)
	}
}
