package client

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/sealroom/sealroom/sframe"
)

func vp8Packets(t *testing.T, frame []byte, ts uint32, seq uint16) []*rtp.Packet {
	t.Helper()
	var p codecs.VP8Payloader
	var out []*rtp.Packet
	payloads := p.Payload(1200, frame)
	for i, pl := range payloads {
		out = append(out, &rtp.Packet{Header: rtp.Header{Timestamp: ts, SequenceNumber: seq + uint16(i),
			Marker: i == len(payloads)-1}, Payload: pl})
	}
	return out
}

// A VP8 frame split over several packets is rebuilt whatever their order, once; a
// frame missing a packet is given up after partialMaxAge.
func TestAssemblerVP8(t *testing.T) {
	frame := synthVP8(nil, true, []byte("m"), 7)
	pkts := vp8Packets(t, frame, 1000, 65534) // sequence numbers wrap
	if len(pkts) < 3 {
		t.Fatalf("key frame in %d packets, want >= 3", len(pkts))
	}
	a := newAssembler(sframe.CodecVP8)
	now := time.Now()
	order := []int{2, 0, 1}
	for i, k := range order {
		got, inc := a.push(pkts[k], now)
		if inc != 0 {
			t.Fatalf("incomplete %d", inc)
		}
		if i < len(order)-1 && got != nil {
			t.Fatal("frame completed early")
		}
		if i == len(order)-1 && !bytes.Equal(got, frame) {
			t.Fatal("reassembled frame differs")
		}
	}
	if got, _ := a.push(pkts[1], now); got != nil {
		t.Fatal("a retransmission completed the frame again")
	}
	second := vp8Packets(t, synthVP8(nil, true, []byte("m"), 8), 4000, 10)
	if got, _ := a.push(second[0], now); got != nil {
		t.Fatal("frame completed without its other packets")
	}
	later := vp8Packets(t, synthVP8(nil, false, []byte("m"), 9), 7000, 20)
	got, inc := a.push(later[0], now.Add(2*partialMaxAge))
	if inc != 1 || got == nil {
		t.Fatalf("got %d bytes, %d incomplete; want the delta frame and 1 incomplete", len(got), inc)
	}
}

func TestAssemblerOpus(t *testing.T) {
	a := newAssembler(sframe.CodecOpus)
	p := &rtp.Packet{Header: rtp.Header{Timestamp: 960, SequenceNumber: 1}, Payload: synthOpus(nil, []byte("m"), 1)}
	if got, _ := a.push(p, time.Now()); !bytes.Equal(got, p.Payload) {
		t.Fatal("opus frame not returned")
	}
	if got, _ := a.push(p, time.Now()); got != nil {
		t.Fatal("duplicate opus packet returned twice")
	}
}

func TestSyntheticFrames(t *testing.T) {
	key, delta := synthVP8(nil, true, []byte("mk"), 1), synthVP8(nil, false, []byte("mk"), 2)
	if !sframe.VP8KeyFrame(key) || sframe.VP8KeyFrame(delta) {
		t.Fatal("VP8 key frame bit wrong")
	}
	if len(key) != keyframeSize || len(delta) != deltaSize || !bytes.Equal(key[3:6], []byte{0x9d, 0x01, 0x2a}) {
		t.Fatal("VP8 layout wrong")
	}
	if o := synthOpus(nil, []byte("mk"), 3); o[0] != 0x78 || !bytes.Equal(o[1:3], []byte("mk")) {
		t.Fatal("Opus layout wrong")
	}
}

func epochKeys(t *testing.T, leaf uint32, epochs ...uint64) *sframe.MLSKeys {
	t.Helper()
	k, err := sframe.NewMLSKeys(sframe.MLSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	for _, e := range epochs {
		setEpoch(t, k, leaf, e)
	}
	return k
}

func setEpoch(t *testing.T, k *sframe.MLSKeys, leaf uint32, e uint64) {
	t.Helper()
	exp := sframe.ExporterFunc(func(_ string, _ []byte, n int) ([]byte, error) {
		return bytes.Repeat([]byte{byte(e)}, n), nil
	})
	if err := k.SetEpoch(e, leaf, exp); err != nil {
		t.Fatal(err)
	}
}

// A frame under the next epoch's KID waits for the commit instead of failing with
// "no key"; one of an unrelated epoch fails at once.
func TestOpenHoldsNextEpoch(t *testing.T) {
	marker := []byte("marker")
	tx := epochKeys(t, 0, 1, 2)
	rx := epochKeys(t, 1, 1)
	m := &Media{c: &Client{keys: rx}, cfg: MediaConfig{Marker: marker}.withDefaults(), stats: newStatsBook()}
	enc, err := tx.EncryptFrame(nil, sframe.CodecVP8, synthVP8(nil, true, marker, 5))
	if err != nil {
		t.Fatal(err)
	}
	var dst []byte
	if ok, future := m.openFrame("tx", sframe.CodecVP8, enc, &dst, false, false); ok || !future {
		t.Fatalf("next-epoch frame: ok=%v future=%v, want held", ok, future)
	}
	if s := m.Stats(); s.Failed != 0 {
		t.Fatalf("held frame counted as failure: %v", s.Failures)
	}
	setEpoch(t, rx, 1, 2)
	if ok, _ := m.openFrame("tx", sframe.CodecVP8, enc, &dst, true, false); !ok {
		t.Fatalf("held frame does not open in its epoch: %v", m.Stats().Failures)
	}
	if s := m.Stats(); s.Decrypted != 1 || s.Marked != 1 || s.Held != 1 || s.Sources["tx"].Video != 1 {
		t.Fatalf("stats %+v", s)
	}

	far := epochKeys(t, 0, 9)
	enc, err = far.EncryptFrame(nil, sframe.CodecOpus, synthOpus(nil, marker, 1))
	if err != nil {
		t.Fatal(err)
	}
	if ok, future := m.openFrame("tx", sframe.CodecOpus, enc, &dst, false, false); ok || future {
		t.Fatal("frame of an unrelated epoch held")
	}
	if s := m.Stats(); s.Failures[FailNoKey] != 1 {
		t.Fatalf("failures %v, want one no_key", s.Failures)
	}
	// Same key, no marker (real media): decrypted, counted, not marked.
	enc, err = tx.EncryptFrame(nil, sframe.CodecOpus, []byte{0x78, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := m.openFrame("tx", sframe.CodecOpus, enc, &dst, false, false); !ok {
		t.Fatalf("frame without the marker refused: %v", m.Stats().Failures)
	}
	if s := m.Stats(); s.Decrypted != 2 || s.Marked != 1 || s.Sources["tx"].Audio != 1 || s.Sources["tx"].Marked != 1 || s.Failures[FailNoKey] != 1 || s.Failed != 1 {
		t.Fatalf("unmarked frame: stats %+v", s)
	}
	if enc, err = tx.EncryptFrame(nil, sframe.CodecOpus, synthOpus(nil, marker, 2)); err != nil {
		t.Fatal(err)
	}
	enc[len(enc)-1] ^= 1
	m.openFrame("tx", sframe.CodecOpus, enc, &dst, false, false)
	if m.Stats().Failures[FailAuth] != 1 {
		t.Fatalf("tampered frame: %v", m.Stats().Failures)
	}
}

func TestFailReason(t *testing.T) {
	for err, want := range map[error]string{
		sframe.ErrUnknownKID: FailNoKey, sframe.ErrAuthentication: FailAuth, sframe.ErrReplay: FailReplay,
		sframe.ErrTooOld: FailTooOld, sframe.ErrFrameTooShort: FailMalformed, errors.New("x"): FailMalformed,
	} {
		if got := failReason(fmt.Errorf("wrapped: %w", err)); got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
}

// Every layout's frame under the next epoch is held, whatever clear bytes come before its
// SFrame header: H.264's parameter sets, AV1's OBU header and size, none at all for VP9.
// (The KID was once read at a fixed offset, right only for VP8 and Opus: a next-epoch
// H.264, AV1 or VP9 frame failed as no_key instead of waiting for its commit.)
func TestOpenHoldsNextEpochInEveryLayout(t *testing.T) {
	tx := epochKeys(t, 0, 1, 2)
	frames := map[sframe.Codec][]byte{
		sframe.CodecVP8:  synthVP8(nil, true, []byte("m"), 1),
		sframe.CodecOpus: synthOpus(nil, []byte("m"), 1),
		sframe.CodecNone: bytes.Repeat([]byte{0x83}, 300), // VP9: wholly protected
		sframe.CodecH264: append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84},
			bytes.Repeat([]byte{0x21}, 300)...),
		sframe.CodecAV1: append([]byte{0x0a, 3, 0, 0, 0x08, 0x32, 0x80, 0x02}, bytes.Repeat([]byte{0x44}, 256)...),
	}
	for codec, frame := range frames {
		rx := epochKeys(t, 1, 1)
		m := &Media{c: &Client{keys: rx}, cfg: MediaConfig{Marker: []byte("m")}.withDefaults(), stats: newStatsBook()}
		m.c.joinEpoch.Store(1)
		enc, err := tx.EncryptFrame(nil, codec, frame)
		if err != nil {
			t.Fatalf("%v: %v", codec, err)
		}
		var dst []byte
		if ok, future := m.openFrame("tx", codec, enc, &dst, false, false); ok || !future {
			t.Fatalf("%v: next-epoch frame ok=%v future=%v (failures %v), want held", codec, ok, future, m.Stats().Failures)
		}
		setEpoch(t, rx, 1, 2)
		if ok, _ := m.openFrame("tx", codec, enc, &dst, true, false); !ok {
			t.Fatalf("%v: held frame does not open in its epoch: %v", codec, m.Stats().Failures)
		}
	}
}

// av1Packets is an AV1 key frame of two OBUs (a sequence header and a frame, each with a
// one-byte header and its size) as RTP payloads (the AV1 RTP payload format §4.4): the
// sequence header alone, then the frame OBU in two fragments, the last marked. The
// payloads carry OBUs without their size fields (W=1: one element, no length).
func av1Packets(t *testing.T, frame []byte, ts uint32, seq uint16) []*rtp.Packet {
	t.Helper()
	var obus [][]byte // each header (has_size_field cleared) and payload
	for len(frame) > 0 {
		size, n := 0, 1
		for shift := 0; ; shift += 7 {
			size |= int(frame[n]&0x7f) << shift
			n++
			if frame[n-1]&0x80 == 0 {
				break
			}
		}
		obus = append(obus, append([]byte{frame[0] &^ 0x02}, frame[n:n+size]...))
		frame = frame[n+size:]
	}
	if len(obus) != 2 {
		t.Fatalf("%d OBUs, want 2", len(obus))
	}
	half := len(obus[1]) / 2
	payloads := [][]byte{
		append([]byte{0x18}, obus[0]...),        // W=1, N=1
		append([]byte{0x50}, obus[1][:half]...), // Y=1 (continues), W=1
		append([]byte{0x90}, obus[1][half:]...), // Z=1 (continuation), W=1
	}
	var out []*rtp.Packet
	for i, p := range payloads {
		out = append(out, &rtp.Packet{Header: rtp.Header{Timestamp: ts, SequenceNumber: seq + uint16(i), Marker: i == len(payloads)-1}, Payload: p})
	}
	return out
}

// An AV1 frame whose sequence header packet was lost still starts an OBU; it is not taken
// for a whole frame after a frame that completed, and after a frame given up on it is
// unverified, so its failure counts as loss (incomplete), not as a key this member lacked.
func TestAssemblerAV1LostFirstPacket(t *testing.T) {
	tx := epochKeys(t, 0, 1)
	frame := append([]byte{0x0a, 3, 0, 0, 0x08, 0x32, 0x80, 0x02}, bytes.Repeat([]byte{0x44}, 256)...)
	enc, err := tx.EncryptFrame(nil, sframe.CodecAV1, frame)
	if err != nil {
		t.Fatal(err)
	}
	rx := epochKeys(t, 1, 1)
	m := &Media{c: &Client{keys: rx}, cfg: MediaConfig{Marker: []byte("m")}.withDefaults(), stats: newStatsBook()}
	m.c.joinEpoch.Store(1)
	now := time.Unix(0, 0)

	a := newAssembler(sframe.CodecAV1)
	a.depay = func() rtp.Depacketizer { return &codecs.AV1Depacketizer{} }
	var got []byte
	for _, p := range av1Packets(t, enc, 100, 10) {
		got, _ = a.push(p, now)
	}
	var dst []byte
	if ok, _ := m.openFrame("tx", sframe.CodecAV1, got, &dst, false, a.unverified); !ok {
		t.Fatalf("whole AV1 frame does not open: %v", m.Stats().Failures)
	}
	next := av1Packets(t, enc, 200, 13)
	for _, p := range next[1:] {
		if got, _ := a.push(p, now); got != nil {
			t.Fatal("a frame missing its sequence header was completed after a whole frame")
		}
	}

	// That frame is given up on; the next one lost its first packet too: nothing shows
	// where it starts, so it is taken, unverified.
	third := av1Packets(t, enc, 300, 16)
	later := now.Add(2 * partialMaxAge)
	if _, inc := a.push(third[1], later); inc != 1 {
		t.Fatalf("%d frames given up on, want 1", inc)
	}
	got, _ = a.push(third[2], later)
	if got == nil || !a.unverified {
		t.Fatalf("frame after one given up on: %d bytes, unverified %v; want the frame, unverified", len(got), a.unverified)
	}
	if ok, future := m.openFrame("tx", sframe.CodecAV1, got, &dst, false, a.unverified); ok || future {
		t.Fatalf("truncated frame ok=%v future=%v", ok, future)
	}
	if s := m.Stats(); s.Failures[FailIncomplete] != 1 || s.Failed != 1 {
		t.Fatalf("truncated frame counted as %v, want one incomplete", s.Failures)
	}
}
