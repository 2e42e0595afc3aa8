package mls

import (
	"bytes"
	"errors"
	"testing"
)

func TestDeserializationVectors(t *testing.T) {
	var vs []struct {
		Header hexBytes `json:"vlbytes_header"`
		Length uint32   `json:"length"`
	}
	loadVectors(t, "deserialization.json", &vs)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		r := newReader(v.Header)
		if got := r.varint(); got != v.Length {
			t.Errorf("decode %x = %d want %d", []byte(v.Header), got, v.Length)
		}
		if err := r.finish(); err != nil {
			t.Errorf("decode %x: %v", []byte(v.Header), err)
		}
		var w writer
		w.varint(v.Length)
		if !bytes.Equal(w.b, v.Header) {
			t.Errorf("encode %d = %x want %x", v.Length, w.b, []byte(v.Header))
		}
	}
}

func TestVarintRejects(t *testing.T) {
	cases := []struct {
		in   []byte
		want error
	}{
		{[]byte{0xc0}, ErrInvalidVarint},                   // reserved prefix
		{[]byte{0x40, 0x05}, ErrInvalidVarint},             // 5 in two bytes
		{[]byte{0x80, 0x00, 0x00, 0x3f}, ErrInvalidVarint}, // 63 in four bytes
		{[]byte{0x80, 0x00, 0x3f}, ErrTruncated},
		{[]byte{}, ErrTruncated},
	}
	for _, c := range cases {
		r := newReader(c.in)
		r.varint()
		if err := r.finish(); !errors.Is(err, c.want) {
			t.Errorf("%x: got %v want %v", c.in, err, c.want)
		}
	}
}

func TestOpaqueBoundedByInput(t *testing.T) {
	// A header claiming 2^30-1 bytes followed by 3 bytes must fail without
	// allocating the claimed length.
	in := []byte{0xbf, 0xff, 0xff, 0xff, 1, 2, 3}
	allocs := testing.AllocsPerRun(10, func() {
		r := newReader(in)
		r.opaque()
		if !errors.Is(r.finish(), ErrTruncated) {
			t.Fatal("want ErrTruncated")
		}
	})
	if allocs > 1 {
		t.Fatalf("allocs = %v", allocs)
	}
}

func TestNestedVectorEncoding(t *testing.T) {
	var w writer
	w.vector(func(w *writer) {
		for range 70 {
			w.u8(7)
		}
	})
	if w.b[0] != 0x40 || w.b[1] != 70 || len(w.b) != 72 {
		t.Fatalf("header %x len %d", w.b[:2], len(w.b))
	}
	r := newReader(w.b)
	n := 0
	r.vector(func(r *reader) { r.u8(); n++ })
	if err := r.finish(); err != nil || n != 70 {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

func TestTrailingData(t *testing.T) {
	err := decodeAll("x", []byte{0x01, 0xaa, 0xbb}, func(r *reader) { r.opaque() })
	if !errors.Is(err, ErrTrailingData) {
		t.Fatalf("got %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Struct != "x" {
		t.Fatalf("not a DecodeError: %v", err)
	}
}
