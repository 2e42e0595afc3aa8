package loadtest

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/sframe"
)

// sentPacket is a copy of what a source emitted.
type sentPacket struct {
	packet
	payload []byte
}

// generate runs a source for the given number of video frames and the
// audio frames that fall in the same time, without a network or a clock:
// each packet is stamped with the fake clock's current time.
func generate(t *testing.T, src *source, frames int) (video, audio []sentPacket) {
	t.Helper()
	clk := &clock{epoch: time.Now()}
	emit := func(p packet) error {
		sp := sentPacket{packet: p, payload: slices.Clone(p.payload)}
		if p.stream.video {
			video = append(video, sp)
		} else {
			audio = append(audio, sp)
		}
		return nil
	}
	for i := range frames {
		if err := src.videoFrame(clk, emit); err != nil {
			t.Fatal(err)
		}
		for range (i+1)*50/videoFPS - i*50/videoFPS {
			if err := src.audioFrame(clk, emit); err != nil {
				t.Fatal(err)
			}
		}
	}
	return video, audio
}

// TestCameraTraffic checks the traffic against what a browser's camera
// sends: several packets per frame at 30 frames/s, a keyframe every 2 s
// that the SFU's keyframe detection sees, the marker on each frame's last
// packet, 1.5..2.5 Mbit/s, frames that decrypt as SFrame, and Opus at 50
// packets/s.
func TestCameraTraffic(t *testing.T) {
	src, err := newSource(3, defaultBitrate, false)
	if err != nil {
		t.Fatal(err)
	}
	const seconds = 4
	video, audio := generate(t, src, seconds*videoFPS)

	// One receiving context per stream: audio and video frames share the
	// sender's counter, and each stream is decrypted in its own order.
	receiver := func() *sframe.Context {
		rx, err := sframe.NewContext(sframe.DefaultSuite)
		if err != nil {
			t.Fatal(err)
		}
		if err := rx.AddKey(src.log.kid, loadKey); err != nil {
			t.Fatal(err)
		}
		return rx
	}
	rx, arx := receiver(), receiver()
	var bytesSent, frames, keyframes int
	var frame []byte
	for i, p := range video {
		if len(p.payload)+rtpHeaderLen > rtpMTU {
			t.Fatalf("packet %d: %d payload bytes", i, len(p.payload))
		}
		bytesSent += len(p.payload)
		if i > 0 && p.seq != video[i-1].seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.seq, video[i-1].seq)
		}
		d, err := media.ParseVP8Descriptor(p.payload)
		if err != nil {
			t.Fatal(err)
		}
		start := i == 0 || video[i-1].marker
		if d.Start != start || d.PartitionID != 0 || !d.HasPictureID {
			t.Fatalf("packet %d: descriptor %+v, frame start %v", i, d, start)
		}
		if !start && p.ts != video[i-1].ts {
			t.Fatalf("packet %d: timestamp changed inside a frame", i)
		}
		if start && i > 0 && p.ts != video[i-1].ts+videoClockRate/videoFPS {
			t.Fatalf("packet %d: timestamp %d after %d", i, p.ts, video[i-1].ts)
		}
		key := media.IsKeyframeStart(media.CodecVP8, p.payload)
		if start {
			frame = frame[:0]
		}
		frame = append(frame, p.payload[d.Size:]...)
		if !p.marker {
			if key && !start {
				t.Fatalf("packet %d: keyframe start inside a frame", i)
			}
			continue
		}
		// The frame is whole: it decrypts, and is the VP8-shaped frame.
		plain, _, err := rx.DecryptFrame(nil, sframe.CodecVP8, frame)
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		if sframe.VP8KeyFrame(plain) != (frames%keyframeFrames == 0) {
			t.Fatalf("frame %d: keyframe %v", frames, sframe.VP8KeyFrame(plain))
		}
		frames++
	}
	for i, p := range video {
		if (i == 0 || video[i-1].marker) && media.IsKeyframeStart(media.CodecVP8, p.payload) {
			keyframes++
		}
	}
	if frames != seconds*videoFPS || keyframes != seconds*videoFPS/keyframeFrames {
		t.Fatalf("%d frames, %d keyframes in %d s", frames, keyframes, seconds)
	}
	if per := float64(len(video)) / float64(frames); per < 4 {
		t.Fatalf("%.1f packets per frame", per)
	}
	if bps := float64(bytesSent) * 8 / seconds; bps < 1.5e6 || bps > 2.5e6 {
		t.Fatalf("video at %.2f Mbit/s", bps/1e6)
	}
	if len(audio) != seconds*50 {
		t.Fatalf("%d audio packets in %d s", len(audio), seconds)
	}
	for i, p := range audio {
		if p.payload[0] != 0x78 || !media.IsKeyframeStart(media.CodecOpus, p.payload) {
			t.Fatalf("audio %d: TOC %x", i, p.payload[0])
		}
		if _, _, err := arx.DecryptFrame(nil, sframe.CodecOpus, p.payload); err != nil {
			t.Fatalf("audio %d: %v", i, err)
		}
		if i > 0 && p.ts != audio[i-1].ts+960 {
			t.Fatalf("audio %d: timestamp step %d", i, p.ts-audio[i-1].ts)
		}
	}
	t.Logf("video %.2f Mbit/s, %.1f packets/frame, %d keyframes; audio %d packets",
		float64(bytesSent)*8/seconds/1e6, float64(len(video))/float64(frames), keyframes, len(audio))
}

// The same publisher sends the same packets in every run (apart from the
// SFrame ciphertext's counter-derived nonce, which is the same too).
func TestTrafficDeterministic(t *testing.T) {
	a, err := newSource(7, defaultBitrate, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSource(7, defaultBitrate, true)
	if err != nil {
		t.Fatal(err)
	}
	va, aa := generate(t, a, 70)
	vb, ab := generate(t, b, 70)
	if len(va) != len(vb) || len(aa) != len(ab) {
		t.Fatalf("lengths differ: %d/%d %d/%d", len(va), len(vb), len(aa), len(ab))
	}
	for i := range va {
		if !bytes.Equal(va[i].payload, vb[i].payload) || va[i].seq != vb[i].seq || va[i].marker != vb[i].marker {
			t.Fatalf("video packet %d differs", i)
		}
	}
	// Three simulcast layers, the top one counted, lower ones smaller.
	var perLayer [3]int
	for _, p := range va {
		perLayer[p.layer] += len(p.payload)
	}
	if !(perLayer[0] > perLayer[1] && perLayer[1] > perLayer[2] && perLayer[2] > 0) {
		t.Fatalf("layer bytes %v", perLayer)
	}
	if !a.layers[0].log.counted || a.layers[1].log.counted || !a.audio.counted {
		t.Fatal("counted streams wrong")
	}
}

func TestKeyframeOnRequest(t *testing.T) {
	src, err := newSource(1, defaultBitrate, false)
	if err != nil {
		t.Fatal(err)
	}
	generate(t, src, 5)
	src.requestKeyframe()
	video, _ := generate(t, src, 1)
	if !media.IsKeyframeStart(media.CodecVP8, video[0].payload) {
		t.Fatal("no keyframe after a request")
	}
	// The 2 s interval restarts at the requested keyframe.
	video, _ = generate(t, src, keyframeFrames-1)
	for i, p := range video {
		if (i == 0 || video[i-1].marker) && media.IsKeyframeStart(media.CodecVP8, p.payload) {
			t.Fatalf("keyframe %d packets after the requested one", i)
		}
	}
	video, _ = generate(t, src, 1)
	if !media.IsKeyframeStart(media.CodecVP8, video[0].payload) {
		t.Fatal("no keyframe 2 s after the requested one")
	}
}

// fakeSFU rewrites a packet as the SFU does towards one subscriber: its
// own SSRC, payload type, and sequence numbers and timestamps shifted by
// per-subscriber offsets, plus a transport-wide sequence number extension.
func fakeSFU(p sentPacket, seqOff uint16, tsOff uint32, twcc uint16) []byte {
	h := rtp.Header{Version: 2, Marker: p.marker, PayloadType: 100, SequenceNumber: p.seq + seqOff,
		Timestamp: p.ts + tsOff, SSRC: 0xdecafbad}
	_ = h.SetExtension(5, binary.BigEndian.AppendUint16(nil, twcc))
	b, _ := h.Marshal()
	return append(b, p.payload...)
}

// A subscriber attributes each received packet to the packet the
// publisher sent, despite the SFU's rewriting: it counts each once,
// ignores duplicates and packets sent outside the window, and cannot
// count packets before the first frame start of its track.
func TestSinkAttributesRewrittenPackets(t *testing.T) {
	src, err := newSource(2, defaultBitrate, false)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{epoch: time.Now()}
	sk := newSink(clk, registry{src.log.kid: src.log})
	var video, audio []sentPacket
	emit := func(p packet) error {
		sp := sentPacket{packet: p, payload: slices.Clone(p.payload)}
		if p.stream.video {
			video = append(video, sp)
		} else {
			audio = append(audio, sp)
		}
		return nil
	}
	for range 10 {
		_ = src.videoFrame(clk, emit)
		_ = src.audioFrame(clk, emit)
	}
	clk.t0.Store(video[3].nanos) // window opens inside frame 0
	for range 70 {
		_ = src.videoFrame(clk, emit)
		_ = src.audioFrame(clk, emit)
	}
	clk.t1.Store(clk.now())
	for range 5 {
		_ = src.videoFrame(clk, emit)
	}

	vt, at := newTrack(true), newTrack(false)
	// Join mid-frame: the rest of that frame cannot be attributed.
	skip := 2
	var want uint64
	attributed := false
	for i, p := range video[skip:] {
		attributed = attributed || video[skip+i-1].marker
		if i%17 == 5 {
			continue // lost
		}
		b := fakeSFU(p, 4000, 123456, uint16(i))
		sk.record(vt, b, p.nanos+int64(time.Millisecond))
		if i%23 == 0 {
			sk.record(vt, b, p.nanos+int64(2*time.Millisecond)) // duplicate (NACK)
		}
		if attributed && clk.inWindow(p.nanos) {
			want++
		}
	}
	for _, p := range audio {
		sk.record(at, fakeSFU(p, 60000, 1, 0), p.nanos+int64(time.Millisecond))
		if clk.inWindow(p.nanos) {
			want++
		}
	}
	received, unattributed, p50, p99 := summarize([]*sink{sk})
	if received != want {
		t.Fatalf("received %d, want %d", received, want)
	}
	if unattributed == 0 {
		t.Fatal("packets before the first frame start were attributed")
	}
	if p50 < 990*time.Microsecond || p50 > 1010*time.Microsecond || p99 > 1010*time.Microsecond {
		t.Fatalf("delays p50 %v p99 %v, want 1 ms", p50, p99)
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for v := int64(0); v < 1e6; v += 7 {
		if i := histIndex(v); histLow(i) > v || (i+1 < histBuckets && histLow(i+1) <= v) {
			t.Fatalf("value %d in bucket %d [%d, %d)", v, i, histLow(i), histLow(i+1))
		}
	}
	for i := range 100000 {
		h.add(int64(i) * 1000) // 0 .. 100 ms
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.02 || d > 0.02 {
			t.Fatalf("q%.2f = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	runs := []Report{
		{Publishers: 2, Subscribers: 3, SFU: Result{Server: "sfu", CPUPerPktUs: 9, Loss: 0.01}, Bare: &Result{Server: "bare", CPUPerPktUs: 3}, CPURatio: 3},
		{Publishers: 2, Subscribers: 3, SFU: Result{Server: "sfu", CPUPerPktUs: 4}, Bare: &Result{Server: "bare", CPUPerPktUs: 4}, CPURatio: 1},
		{Publishers: 2, Subscribers: 3, SFU: Result{Server: "sfu", CPUPerPktUs: 6}, Bare: &Result{Server: "bare", CPUPerPktUs: 3}, CPURatio: 2},
	}
	s := Summarize(runs)
	if s.Scenario != "2x3" || s.Runs != 3 || s.SFUCPUPerPktUs != 6 || s.BareCPUPerPktUs != 3 || s.CPURatio != 2 || s.SFULoss != 0.01 {
		t.Fatalf("%+v", s)
	}
	if !slices.Equal(s.Ratios, []float64{3, 1, 2}) {
		t.Fatalf("ratios %v", s.Ratios)
	}
	t.Log("\n" + SummaryTable([]Summary{s}))
}
