package client

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/sealroom/sealroom/sframe"
)

// FuzzReceive feeds arbitrary RTP payloads (from the network, through the SFU) to the
// reassembler and the decryptor: nothing panics, and nothing that was not encrypted
// under the group's keys comes out as a decrypted frame.
func FuzzReceive(f *testing.F) {
	seeds := 0
	add := func(b []byte) { f.Add(b); seeds++ }
	tx, err := sframe.NewMLSKeys(sframe.MLSConfig{})
	if err != nil {
		f.Fatal(err)
	}
	exp := sframe.ExporterFunc(func(_ string, _ []byte, n int) ([]byte, error) { return make([]byte, n), nil })
	if err := tx.SetEpoch(1, 0, exp); err != nil {
		f.Fatal(err)
	}
	enc, err := tx.EncryptFrame(nil, sframe.CodecVP8, synthVP8(nil, true, []byte("m"), 1))
	if err != nil {
		f.Fatal(err)
	}
	// Format: repeated [flags(1) len(2) payload]; flags bit 0 = marker, bit 1 = opus.
	seed := func(flags byte, payloads ...[]byte) []byte {
		var b []byte
		for _, p := range payloads {
			b = append(b, flags)
			b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
			b = append(b, p...)
		}
		return b
	}
	add(seed(1, append([]byte{0x10}, enc...)))
	add(seed(0, []byte{0x10, 0x10, 0x00}, []byte{0x00, 1, 2}))
	add(seed(3, []byte{0x78, 0x00, 0x01}))
	add(seed(1, []byte{0x90, 0x80, 0x80}))
	add(nil)
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rx, err := sframe.NewMLSKeys(sframe.MLSConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		if err := rx.SetEpoch(1, 1, sframe.ExporterFunc(func(_ string, _ []byte, n int) ([]byte, error) {
			b := make([]byte, n)
			b[0] = 1 // not the sender's base key: nothing may authenticate
			return b, nil
		})); err != nil {
			t.Fatal(err)
		}
		m := &Media{c: &Client{keys: rx}, cfg: MediaConfig{Marker: []byte("m")}.withDefaults(), stats: newStatsBook()}
		asm := map[bool]*assembler{false: newAssembler(sframe.CodecVP8), true: newAssembler(sframe.CodecOpus)}
		now := time.Unix(0, 0)
		var dst []byte
		for seq := uint16(0); len(data) >= 3; seq++ {
			flags, n := data[0], int(binary.BigEndian.Uint16(data[1:3]))
			data = data[3:]
			n = min(n, len(data))
			p := &rtp.Packet{Header: rtp.Header{Marker: flags&1 != 0, SequenceNumber: seq, Timestamp: uint32(flags >> 2)},
				Payload: data[:n]}
			data = data[n:]
			opus := flags&2 != 0
			codec := sframe.CodecVP8
			if opus {
				codec = sframe.CodecOpus
			}
			frame, _ := asm[opus].push(p, now)
			if frame == nil {
				continue
			}
			if ok, _ := m.openFrame("x", codec, frame, &dst, false, false); ok {
				t.Fatal("a frame decrypted under keys it was not encrypted with")
			}
		}
	})
}

// FuzzDepacketize feeds arbitrary RTP packets to the H.264, VP9 and AV1 reassemblers (pion's
// depacketizers, media_recv.go) and what they complete to the decryptor: nothing panics and
// nothing authenticates under keys nobody sent with.
func FuzzDepacketize(f *testing.F) {
	// Format: repeated [flags(1) len(1) payload]; flags bit 0 = marker, bit 1 = VP9 (AV1 when
	// bit 2 is set too), bits 2-7 a timestamp.
	seeds := [][]byte{
		{1, 6, 0x65, 0x88, 0x84, 0x21, 0xa0, 0x55},                   // single NAL, marker
		{0, 4, 0x7c, 0x85, 0x88, 0x84, 1, 3, 0x7c, 0x45, 0x21},       // FU-A start, then end with marker
		{0, 9, 0x78, 0, 4, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 1, 2, 0x65}, // STAP-A then a cut unit
		{3, 5, 0x88, 0x80, 1, 2, 3},                                  // VP9 B and E bits
		{2, 2, 0x80, 0x01, 3, 2, 0x04, 0x02},                         // VP9 start without E, then end
		{6, 3, 0x18, 0x0a, 1, 6, 3, 0x50, 0x32, 7, 7, 2, 0x90, 8},    // AV1 sequence header, frame in two fragments
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rx, err := sframe.NewMLSKeys(sframe.MLSConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		if err := rx.SetEpoch(1, 1, sframe.ExporterFunc(func(_ string, _ []byte, n int) ([]byte, error) { return make([]byte, n), nil })); err != nil {
			t.Fatal(err)
		}
		m := &Media{c: &Client{keys: rx}, cfg: MediaConfig{Marker: []byte("m")}.withDefaults(), stats: newStatsBook()}
		h264 := newAssembler(sframe.CodecH264)
		h264.depay = func() rtp.Depacketizer { return &codecs.H264Packet{} }
		vp9 := newAssembler(sframe.CodecNone)
		vp9.depay = func() rtp.Depacketizer { return &codecs.VP9Packet{} }
		av1 := newAssembler(sframe.CodecAV1)
		av1.depay = func() rtp.Depacketizer { return &codecs.AV1Depacketizer{} }
		now := time.Unix(0, 0)
		var dst []byte
		for seq := uint16(0); len(data) >= 2; seq++ {
			flags, n := data[0], min(int(data[1]), len(data)-2)
			p := &rtp.Packet{Header: rtp.Header{Marker: flags&1 != 0, SequenceNumber: seq, Timestamp: uint32(flags >> 2)}, Payload: data[2 : 2+n]}
			data = data[2+n:]
			asm, codec := h264, sframe.CodecH264
			switch {
			case flags&6 == 6:
				asm, codec = av1, sframe.CodecAV1
			case flags&2 != 0:
				asm, codec = vp9, sframe.CodecNone
			}
			if frame, _ := asm.push(p, now); frame != nil {
				dst = dst[:0]
				m.openFrame("x", codec, frame, &dst, false, asm.unverified)
			}
		}
		if s := m.stats.snapshot(); s.Decrypted != 0 {
			t.Fatalf("%d frames decrypted from noise", s.Decrypted)
		}
	})
}
