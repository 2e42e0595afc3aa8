package sframe

import (
	"bytes"
	"errors"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, suite := range allSuites {
		for name, s := range sampleFrames() {
			t.Run(suite.String()+"/"+name, func(t *testing.T) {
				tx := newTestContext(t, suite, 300)
				rx := newTestContext(t, suite, 300)
				for i := 0; i < 3; i++ {
					enc, err := tx.EncryptFrame(nil, 300, s.codec, s.frame)
					if err != nil {
						t.Fatal(err)
					}
					got, h, err := rx.DecryptFrame(nil, s.codec, enc)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, s.frame) || h.KID != 300 || h.CTR != uint64(i) {
						t.Fatalf("round trip differs (ctr %d)", h.CTR)
					}
				}
			})
		}
	}
}

func TestFrameClearPrefix(t *testing.T) {
	frames := sampleFrames()
	tx := newTestContext(t, DefaultSuite, 1)
	for name, want := range map[string]int{"none": 0, "opus": 1, "vp8-key": 10, "vp8-delta": 3} {
		s := frames[name]
		enc, err := tx.EncryptFrame(nil, 1, s.codec, s.frame)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc[:want], s.frame[:want]) {
			t.Errorf("%s: prefix not clear", name)
		}
		h, _, err := ParseHeader(enc[want:])
		if err != nil || h.KID != 1 {
			t.Errorf("%s: no SFrame header after the %d-byte prefix: %v", name, want, err)
		}
		if len(enc) != len(s.frame)+h.Len()+16 {
			t.Errorf("%s: length %d", name, len(enc))
		}
	}
}

// TestFrameTamper flips every byte of each encrypted frame, clear bytes
// included: each must fail with a typed error and return no plaintext.
func TestFrameTamper(t *testing.T) {
	for name, s := range sampleFrames() {
		t.Run(name, func(t *testing.T) {
			tx := newTestContext(t, DefaultSuite, 9)
			rx := newTestContext(t, DefaultSuite, 9)
			enc, err := tx.EncryptFrame(nil, 9, s.codec, s.frame)
			if err != nil {
				t.Fatal(err)
			}
			for i := range enc {
				bad := bytes.Clone(enc)
				bad[i] ^= 0x40
				dst := []byte("keep")
				got, _, err := rx.DecryptFrame(dst, s.codec, bad)
				if err == nil {
					t.Fatalf("byte %d: tampered frame accepted", i)
				}
				if !bytes.Equal(got, []byte("keep")) {
					t.Fatalf("byte %d: output changed on error", i)
				}
				if !isTyped(err) {
					t.Fatalf("byte %d: untyped error %v", i, err)
				}
			}
			if _, _, err := rx.DecryptFrame(nil, s.codec, enc); err != nil {
				t.Fatalf("original rejected after tampering attempts: %v", err)
			}
		})
	}
}

func isTyped(err error) bool {
	for _, s := range []error{ErrTruncatedHeader, ErrNonMinimalHeader, ErrShortCiphertext,
		ErrAuthentication, ErrUnknownKID, ErrReplay, ErrTooOld, ErrFrameTooShort, ErrMalformedH264, ErrMalformedAV1} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func TestFrameErrors(t *testing.T) {
	c := newTestContext(t, DefaultSuite, 1)
	cases := []struct {
		codec Codec
		frame []byte
		want  error
	}{
		{CodecOpus, nil, ErrFrameTooShort},
		{CodecVP8, []byte{0x10, 1, 2}, ErrFrameTooShort},
		{CodecVP8, []byte{0x11, 1}, ErrFrameTooShort},
		{CodecH264, []byte{1, 2, 3}, ErrMalformedH264},
		{CodecH264, []byte{0, 0, 1}, ErrMalformedH264},
		{CodecH264, []byte{0, 0, 1, 0x67, 1, 2}, ErrMalformedH264}, // only a clear SPS
		{CodecH264, []byte{0, 0, 1, 0x74, 1}, ErrMalformedH264},    // type 20, short header
		{CodecAV1, nil, ErrMalformedAV1},
		{CodecAV1, []byte{0x80}, ErrMalformedAV1},                                                       // forbidden bit
		{CodecAV1, []byte{0x12, 0x00}, ErrMalformedAV1},                                                 // a temporal delimiter alone
		{CodecAV1, []byte{0x0a, 0x05, 1}, ErrMalformedAV1},                                              // size beyond the frame
		{CodecAV1, []byte{0x0e}, ErrMalformedAV1},                                                       // extension flag, no extension byte
		{CodecAV1, []byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, ErrMalformedAV1}, // 9-byte leb128
		{CodecAV1, bytes.Repeat([]byte{0x0a, 0x00}, maxUnits+1), ErrMalformedAV1},
		{CodecH264, bytes.Repeat([]byte{0, 0, 1, 0x41, 0xe0, 0x55}, maxUnits+1), ErrMalformedH264},
		{Codec(9), []byte{1, 2, 3}, ErrUnknownCodec},
	}
	for _, tc := range cases {
		if _, err := c.EncryptFrame(nil, 1, tc.codec, tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("encrypt %v %x: %v, want %v", tc.codec, tc.frame, err, tc.want)
		}
		if _, _, err := c.DecryptFrame(nil, tc.codec, tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("decrypt %v %x: %v, want %v", tc.codec, tc.frame, err, tc.want)
		}
	}
}

func TestParseCodec(t *testing.T) {
	for c := CodecNone; c <= CodecAV1; c++ {
		got, err := ParseCodec(c.String())
		if err != nil || got != c {
			t.Fatalf("%v: %v %v", c, got, err)
		}
	}
	if _, err := ParseCodec("vp9"); !errors.Is(err, ErrUnknownCodec) {
		t.Fatal(err)
	}
}
