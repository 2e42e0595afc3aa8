package media

import (
	"errors"
	"testing"
)

func TestVP8Descriptor(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    VP8Descriptor
		wantErr bool
	}{
		{"keyframe minimal", []byte{0x10, 0x00}, VP8Descriptor{Start: true, Size: 1, Keyframe: true}, false},
		{"delta minimal", []byte{0x10, 0x01}, VP8Descriptor{Start: true, Size: 1}, false},
		{"continuation", []byte{0x00, 0x00}, VP8Descriptor{Size: 1}, false},
		{"not partition 0", []byte{0x11, 0x00}, VP8Descriptor{Start: true, PartitionID: 1, Size: 1}, false},
		{"long picture id keyframe", []byte{0x90, 0x80, 0x81, 0x23, 0x00},
			VP8Descriptor{Start: true, HasPictureID: true, LongPicture: true, PictureID: 0x0123, Size: 4, Keyframe: true}, false},
		{"all extensions", []byte{0x90, 0xf0, 0x05, 0x07, 0xa3, 0x01},
			VP8Descriptor{Start: true, HasPictureID: true, PictureID: 5, HasTL0PicIdx: true, TL0PicIdx: 7,
				HasTID: true, HasKeyIdx: true, TID: 2, LayerSync: true, KeyIdx: 3, Size: 5}, false},
		{"empty", nil, VP8Descriptor{}, true},
		{"X without ext byte", []byte{0x80}, VP8Descriptor{}, true},
		{"truncated long picture id", []byte{0x90, 0x80, 0x81}, VP8Descriptor{}, true},
		{"start without payload header", []byte{0x10}, VP8Descriptor{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVP8Descriptor(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrPayloadTooShort) {
					t.Fatalf("err = %v, want ErrPayloadTooShort", err)
				}
				if IsKeyframeStart(CodecVP8, tc.in) {
					t.Fatal("malformed payload taken for a keyframe")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if enc := got.AppendTo(nil); string(enc) != string(tc.in[:got.Size]) {
				t.Fatalf("re-encoded %x, want %x", enc, tc.in[:got.Size])
			}
		})
	}
}

func TestKeyframeOtherCodecs(t *testing.T) {
	tests := []struct {
		codec Codec
		in    []byte
		want  bool
	}{
		{CodecOpus, []byte{0x78}, true},
		{CodecVP9, []byte{0x08}, true},        // B, not P
		{CodecVP9, []byte{0x48}, false},       // B and P
		{CodecVP9, []byte{0x00}, false},       // not a frame start
		{CodecVP9, []byte{0x28, 0x02}, false}, // L: spatial layer 1
		{CodecVP9, []byte{0x28, 0x00}, true},  // L: spatial layer 0
		{CodecVP9, []byte{0xa8}, false},       // I and L, truncated
		{CodecH264, []byte{0x65}, true},       // IDR
		{CodecH264, []byte{0x67}, true},       // SPS
		{CodecH264, []byte{0x41}, false},      // non-IDR slice
		{CodecH264, []byte{0x7c, 0x85}, true}, // FU-A start of IDR
		{CodecH264, []byte{0x7c, 0x05}, false},
		{CodecH264, []byte{0x78, 0x00, 0x01, 0x67, 0x00, 0x01, 0x68}, true}, // STAP-A SPS+PPS
		{CodecH264, []byte{0x78, 0x00, 0x09, 0x67}, false},                  // STAP-A overrun
		{CodecH264, nil, false},
		{CodecAV1, []byte{0x18, 0x0a}, true},  // N: a new coded video sequence, W=1
		{CodecAV1, []byte{0x10, 0x32}, false}, // an inter frame
		{CodecAV1, []byte{0x88}, false},       // N, but continuing an OBU (Z)
		{CodecAV1, nil, false},
	}
	for _, tc := range tests {
		if got := IsKeyframeStart(tc.codec, tc.in); got != tc.want {
			t.Errorf("codec %d %x: got %v want %v", tc.codec, tc.in, got, tc.want)
		}
	}
}

// FuzzClearPrefix feeds arbitrary payloads to every parser of the clear
// codec bytes: none may panic, and a parsed VP8 descriptor must re-encode
// to the bytes it was read from.
func FuzzClearPrefix(f *testing.F) {
	seeds := [][]byte{
		{0x10, 0x00}, {0x10, 0x01}, {0x90, 0x80, 0x81, 0x23, 0x00}, {0x90, 0xf0, 0x05, 0x07, 0xa3, 0x01},
		{0x80}, {0x08}, {0x28, 0x00}, {0xa8, 0x80}, {0x65}, {0x7c, 0x85}, {0x78, 0x00, 0x01, 0x67},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, c := range []Codec{CodecUnknown, CodecOpus, CodecVP8, CodecVP9, CodecH264} {
			IsKeyframeStart(c, p)
		}
		d, err := ParseVP8Descriptor(p)
		if err != nil {
			return
		}
		if d.Size > len(p) {
			t.Fatalf("descriptor size %d beyond payload %d", d.Size, len(p))
		}
		// Reserved bits (RFC 7741 §4.2: R in the first byte, RSV in the
		// extension byte) are not kept; everything else must be.
		want := append([]byte(nil), p[:d.Size]...)
		want[0] &^= 0x48
		if want[0]&0x80 != 0 {
			want[1] &^= 0x0f
			if want[1] == 0 {
				want = want[:1] // X with no field set encodes as no X
				want[0] &^= 0x80
			}
		}
		if enc := d.AppendTo(nil); string(enc) != string(want) {
			t.Fatalf("round trip: %x -> %x", p[:d.Size], enc)
		}
	})
}
