package sframe

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// emulates reports whether b contains a start code prefix or 00 00 00.
func emulates(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] <= 2 {
			return true
		}
	}
	return false
}

func TestH264EscapeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{0, 0, 0, 1, 2, 3, 3, 0xff}
	headers := [][]byte{{0x65}, {0x41}, {0x00}, {0x03}, {0x6e, 0x00, 0x00, 0x00}, {0x74, 0x80, 0x00, 0x03}}
	for i := 0; i < 20000; i++ {
		src := make([]byte, r.IntN(12))
		for j := range src {
			src[j] = alphabet[r.IntN(len(alphabet))]
		}
		hdr := headers[r.IntN(len(headers))]
		esc := appendEscaped(nil, hdr, src)
		nal := append(bytes.Clone(hdr), esc...)
		if emulates(nal[len(hdr)-min(len(hdr), 2):]) {
			t.Fatalf("hdr %x src %x: escaped %x emulates a start code", hdr, src, esc)
		}
		if nal[len(nal)-1] == 0 {
			t.Fatalf("hdr %x src %x: escaped %x ends in 0x00", hdr, src, esc)
		}
		if got := appendUnescaped(nil, hdr, esc); !bytes.Equal(got, src) {
			t.Fatalf("hdr %x src %x: escaped %x unescaped %x", hdr, src, esc, got)
		}
	}
}

// TestH264Layout checks that the encrypted frame keeps the NAL structure:
// same start codes and NAL headers, clear NAL units verbatim, and no start
// code emulated inside protected payloads, over many counters.
func TestH264Layout(t *testing.T) {
	frame := sampleFrames()["h264"].frame
	in, err := splitAnnexB(frame)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestContext(t, DefaultSuite, 5)
	for i := 0; i < 200; i++ {
		enc, err := c.EncryptFrame(nil, 5, CodecH264, frame)
		if err != nil {
			t.Fatal(err)
		}
		out, err := splitAnnexB(enc)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(in) {
			t.Fatalf("%d NAL units in, %d out", len(in), len(out))
		}
		for j := range in {
			a, b := in[j], out[j]
			if !bytes.Equal(frame[a.sc:a.hdr], enc[b.sc:b.hdr]) {
				t.Fatalf("NAL %d: start code or header changed", j)
			}
			if a.clear && !bytes.Equal(frame[a.sc:a.end], enc[b.sc:b.end]) {
				t.Fatalf("NAL %d: clear NAL unit changed", j)
			}
			if !a.clear && emulates(enc[b.hdr-1:b.end]) {
				t.Fatalf("NAL %d: start code emulated", j)
			}
		}
	}
}

// TestH264NonCanonicalEscaping: an extra emulation prevention byte that the
// sender would not have written is refused before decryption.
func TestH264NonCanonicalEscaping(t *testing.T) {
	frame := []byte{0, 0, 0, 1, 0x65, 0x10, 0x20, 0x30}
	tx := newTestContext(t, DefaultSuite, 1)
	rx := newTestContext(t, DefaultSuite, 1)
	enc, err := tx.EncryptFrame(nil, 1, CodecH264, frame)
	if err != nil {
		t.Fatal(err)
	}
	// Insert 00 00 03 before a byte > 3: unescaping alone would drop the 03.
	i := len(enc) - 3
	for enc[i] <= 3 {
		i--
	}
	bad := append(append(append([]byte{}, enc[:i]...), 0, 0, 3), enc[i:]...)
	if _, _, err := rx.DecryptFrame(nil, CodecH264, bad); !errors.Is(err, ErrMalformedH264) {
		t.Fatalf("non-canonical: %v", err)
	}
	if got, _, err := rx.DecryptFrame(nil, CodecH264, enc); err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("genuine: %v", err)
	}
}

// The first three fields of a coded slice's header stay clear with its NAL
// header: a receiver's depacketizer reads the PPS id of an IDR slice.
func TestH264SlicePrefix(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		n    int
		fine bool
	}{
		{[]byte{0x88, 0x84}, 2, true},       // ue 0, ue 7, ue 0: 1+7+1 bits
		{[]byte{0x9a, 0}, 1, true},          // 0, 5, 0
		{[]byte{0x00, 0x91, 0x3c}, 3, true}, // first_mb 0x111 (17 bits), slice_type 2, pps 0
		{[]byte{0x00}, 0, false},            // ends inside the first code
		{[]byte{}, 0, false},
		{[]byte{0, 0, 0, 0, 0x80}, 0, false}, // 32 leading zeros: over 31
	} {
		n, ok := slicePrefixLen(c.p)
		if n != c.n || ok != c.fine {
			t.Errorf("slicePrefixLen(% x) = %d, %v; want %d, %v", c.p, n, ok, c.n, c.fine)
		}
	}
	frame := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21, 0xa0, 0x55}
	c := newTestContext(t, DefaultSuite, 5)
	enc, err := c.EncryptFrame(nil, 5, CodecH264, frame)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, frame[:14]) {
		t.Fatalf("the SPS, the IDR's NAL header and its slice header prefix are not clear: % x", enc[:14])
	}
}
