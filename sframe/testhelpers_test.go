package sframe

import (
	"math/rand/v2"
	"testing"
)

var allSuites = []Suite{
	AES128CTRHMACSHA256_80, AES128CTRHMACSHA256_64, AES128CTRHMACSHA256_32,
	AES128GCMSHA256_128, AES256GCMSHA512_128,
}

// testBaseKey is a fixed, non-secret key for tests.
func testBaseKey(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0xa0 + i)
	}
	return b
}

func newTestContext(t testing.TB, suite Suite, kids ...uint64) *Context {
	t.Helper()
	c, err := NewContext(suite)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range kids {
		if err := c.AddKey(kid, testBaseKey(suite.KeySize())); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Sample frames, shared with the JavaScript cross-check (crosscheck_test.go).
func sampleFrames() map[string]struct {
	codec Codec
	frame []byte
} {
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	vp8Key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, rnd(300)...)
	vp8Delta := append([]byte{0x31, 0x05, 0x00}, rnd(120)...)
	h264 := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8}
	h264 = append(h264, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80)
	h264 = append(h264, 0, 0, 1, 0x06, 0x05, 0x01, 0xff)
	h264 = append(h264, 0, 0, 0, 1, 0x65)
	h264 = append(h264, rnd(700)...)
	h264 = append(h264, 0, 0, 0, 0, 0, 3, 0, 0, 2, 0x88, 0)
	h264 = append(h264, 0, 0, 1, 0x41, 0x9a, 0, 0, 0, 0) // slice header prefix: first_mb 0, slice_type 5, pps 0
	av1 := append([]byte{0x0a, 0x0b}, rnd(11)...)        // sequence header
	av1 = append(av1, 0x1a, 0x05)                        // frame header,
	av1 = append(av1, rnd(5)...)                         // 5 bytes
	av1 = append(av1, 0x36, 0x28, 0xbc, 0x05)            // frame, extension byte, 700 bytes
	av1 = append(av1, rnd(700)...)                       //
	return map[string]struct {
		codec Codec
		frame []byte
	}{
		"none":      {CodecNone, rnd(1200)},
		"opus":      {CodecOpus, append([]byte{0x78}, rnd(90)...)},
		"vp8-key":   {CodecVP8, vp8Key},
		"vp8-delta": {CodecVP8, vp8Delta},
		"h264":      {CodecH264, h264},
		"av1":       {CodecAV1, av1},
	}
}
