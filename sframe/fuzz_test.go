package sframe

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
)

// FuzzParseHeader: no panic; an accepted header is canonical, so encoding it
// again gives back exactly the bytes parsed.
func FuzzParseHeader(f *testing.F) {
	seeds := 0
	for _, tc := range loadVectors(f).Header {
		f.Add([]byte(tc.Encoded))
		seeds++
	}
	for _, b := range [][]byte{{}, {0x80}, {0x88, 0x05}, {0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {0x90, 0x00, 0x09}} {
		f.Add(b)
		seeds++
	}
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrTruncatedHeader) && !errors.Is(err, ErrNonMinimalHeader) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if n < 1 || n > maxHeaderLen || n > len(b) || h.Len() != n {
			t.Fatalf("length %d for %x", n, b)
		}
		if enc := h.AppendTo(nil); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("parsed %x as %+v, re-encoded %x", b[:n], h, enc)
		}
	})
}

// FuzzDecryptFrame feeds arbitrary bytes to every decryption path. It must
// never panic, must fail with a typed error that leaves dst untouched, and
// may only succeed on a frame the sender really produced, returning exactly
// the frame that was encrypted.
func FuzzDecryptFrame(f *testing.F) {
	const kid = 0x2a
	suite := DefaultSuite
	tx := newTestContext(f, suite, kid)
	genuine := map[string][]byte{}
	// An AV1 frame has more than one wire form (an RTP depacketizer writes
	// the OBU sizes anew, so the layout cannot authenticate their encoding):
	// by counter, the one frame each form may decrypt to.
	av1ByCTR := map[int][]byte{}
	seeds := 0
	// Sorted: fuzz workers rebuild this list and must assign the same counters.
	samples := sampleFrames()
	for _, name := range slices.Sorted(maps.Keys(samples)) {
		s := samples[name]
		enc, err := tx.EncryptFrame(nil, kid, s.codec, s.frame)
		if err != nil {
			f.Fatal(err)
		}
		genuine[string([]byte{byte(s.codec)})+string(enc)] = s.frame
		if s.codec == CodecAV1 {
			got, h, err := newTestContext(f, suite, kid).DecryptFrame(nil, s.codec, enc)
			if err != nil || !bytes.Equal(got, s.frame) {
				f.Fatalf("the AV1 sample is not in canonical form: %v", err)
			}
			av1ByCTR[int(h.CTR)] = s.frame
		}
		f.Add(byte(s.codec), enc)
		f.Add(byte(s.codec), enc[:len(enc)/2])
		seeds += 2
	}
	f.Add(byte(CodecNone), []byte{0x80})
	f.Add(byte(CodecH264), []byte{0, 0, 1, 0x65, 0, 0, 3})
	f.Add(byte(CodecAV1), []byte{0x12, 0x00, 0x32, 0x81, 0x00, 0x00})
	seeds += 3
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, codecByte byte, data []byte) {
		codec := Codec(codecByte % 6) // includes one unknown codec
		rx := newTestContext(t, suite, kid)
		dst := []byte("dst")
		out, h, err := rx.DecryptFrame(dst, codec, data)
		if err != nil {
			if !bytes.Equal(out, []byte("dst")) {
				t.Fatalf("dst changed on error %v", err)
			}
			if !isTyped(err) && !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		want, ok := genuine[string([]byte{byte(codec)})+string(data)]
		if !ok && codec == CodecAV1 {
			want, ok = av1ByCTR[int(h.CTR)]
		}
		if !ok {
			t.Fatalf("forged frame accepted: codec %v kid %d ctr %d", codec, h.KID, h.CTR)
		}
		if !bytes.Equal(out[3:], want) {
			t.Fatal("decrypted frame differs from the one encrypted")
		}
		// Raw SFrame decryption of the same bytes must not panic either.
		_, _, _ = newTestContext(t, suite, kid).Decrypt(nil, nil, data)
	})
}

// FuzzDecrypt exercises Context.Decrypt (no codec layout) for every suite.
func FuzzDecrypt(f *testing.F) {
	seeds := 0
	for i, suite := range allSuites {
		tx := newTestContext(f, suite, 5)
		ct, err := tx.Encrypt(nil, 5, []byte("md"), []byte("payload"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), []byte("md"), ct)
		f.Add(uint8(i), []byte("md"), ct[:len(ct)-1])
		seeds += 2
	}
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, si uint8, md, data []byte) {
		suite := allSuites[int(si)%len(allSuites)]
		rx := newTestContext(t, suite, 5)
		out, _, err := rx.Decrypt(nil, md, data)
		if err != nil {
			if out != nil || !isTyped(err) {
				t.Fatalf("error %v with output %d bytes", err, len(out))
			}
			return
		}
		if !bytes.Equal(md, []byte("md")) || !bytes.Equal(out, []byte("payload")) {
			t.Fatalf("forged frame accepted")
		}
	})
}
