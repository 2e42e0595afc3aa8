package sframe

import (
	"bytes"
	"errors"
	"testing"
)

// The encrypted frame is still a sequence of OBUs with the input's headers
// (has_size_field set), in order, whose sizes are true: what the AV1 RTP
// packetizer parses.
func TestAV1LayoutKeepsOBUStructure(t *testing.T) {
	frame := sampleFrames()["av1"].frame
	in, err := splitOBUs(frame)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestContext(t, DefaultSuite, 5)
	for range 20 {
		enc, err := c.EncryptFrame(nil, 5, CodecAV1, frame)
		if err != nil {
			t.Fatal(err)
		}
		out, err := splitOBUs(enc)
		if err != nil {
			t.Fatalf("encrypted frame does not parse as OBUs: %v", err)
		}
		if len(out) != len(in) || out[len(out)-1].end != len(enc) {
			t.Fatalf("%d OBUs ending at %d of %d, want %d", len(out), out[len(out)-1].end, len(enc), len(in))
		}
		for i := range in {
			if !bytes.Equal(enc[out[i].start:out[i].hdr], frame[in[i].start:in[i].hdr]) || enc[out[i].start]&obuHasSize == 0 {
				t.Fatalf("OBU %d header %x, want %x with has_size_field", i, enc[out[i].start:out[i].hdr], frame[in[i].start:in[i].hdr])
			}
		}
	}
}

// What the packetizer drops (temporal delimiter, padding) is neither sent nor
// authenticated, and sizes are written anew (has_size_field set, minimal
// leb128), as a depacketizer writes them: the receiver gets the frame in
// that form, which the sender's encrypted frame already has.
func TestAV1CanonicalForm(t *testing.T) {
	frame := []byte{0x12, 0x00}                      // temporal delimiter
	frame = append(frame, 0x0a, 0x83, 0x00, 1, 2, 3) // sequence header, size 3 in 2 bytes
	frame = append(frame, 0x7a, 0x01, 0xee)          // padding
	frame = append(frame, 0x30, 9, 8, 7, 6)          // frame without a size field: to the end
	want := []byte{0x0a, 0x03, 1, 2, 3, 0x32, 0x04, 9, 8, 7, 6}
	tx := newTestContext(t, DefaultSuite, 1)
	rx := newTestContext(t, DefaultSuite, 1)
	enc, err := tx.EncryptFrame(nil, 1, CodecAV1, frame)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := rx.DecryptFrame(nil, CodecAV1, enc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v; want %x", got, err, want)
	}
	// A depacketizer's rewriting of the sizes (here: a non-minimal leb128)
	// changes nothing the receiver authenticates.
	obus, _ := splitOBUs(enc)
	var rewritten []byte
	for _, o := range obus {
		n := o.end - o.payload
		rewritten = append(rewritten, enc[o.start:o.hdr]...)
		rewritten = append(rewritten, byte(n&0x7f|0x80), byte(n>>7))
		rewritten = append(rewritten, enc[o.payload:o.end]...)
	}
	rx2 := newTestContext(t, DefaultSuite, 1)
	if got, _, err := rx2.DecryptFrame(nil, CodecAV1, rewritten); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after size rewriting: got %x, %v; want %x", got, err, want)
	}
	// An OBU header changed in transit fails authentication.
	bad := bytes.Clone(enc)
	bad[0] ^= 0x08 // sequence header -> another type
	if _, _, err := newTestContext(t, DefaultSuite, 1).DecryptFrame(nil, CodecAV1, bad); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("changed OBU type: %v, want ErrAuthentication", err)
	}
}
