package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/sframe"
)

const (
	testIVF = "testdata/testsrc.ivf"
	testOgg = "testdata/tone.ogg"
)

// clipFrames reads the test clip with pion's readers alone, as an oracle for what
// LoadRecording and the publisher make of it: the VP8 frames, and the Opus packets
// (one per Ogg page after OpusHead and OpusTags).
func clipFrames(t *testing.T) (video, audio [][]byte) {
	t.Helper()
	f, err := os.Open(testIVF)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ivf, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		fr, _, err := ivf.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		video = append(video, fr)
	}
	g, err := os.Open(testOgg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ogg, _, err := oggreader.NewWith(g)
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, h, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if typ, ok := h.HeaderType(p); ok && typ == oggreader.HeaderOpusTags {
			continue
		}
		audio = append(audio, p)
	}
	return video, audio
}

type recvFrame struct {
	kid  uint64
	data []byte
}

// One Go client publishes the recorded clip, another decrypts it: what comes out of
// SFrame is the clip, byte for byte and in the clip's order (skipping forward only to
// a key frame), without the marker; after an epoch change the first video frame is a
// key frame. The publisher in turn decrypts the other's synthetic frames and finds
// their marker.
func TestMediaRecordingEndToEnd(t *testing.T) {
	rec, err := client.LoadRecording(testIVF, testOgg)
	if err != nil {
		t.Fatal(err)
	}
	clipVideo, clipAudio := clipFrames(t)
	if rec.VideoFrames() != len(clipVideo) || rec.AudioFrames() != len(clipAudio) {
		t.Fatalf("LoadRecording: %d video and %d audio frames, pion's readers %d and %d",
			rec.VideoFrames(), rec.AudioFrames(), len(clipVideo), len(clipAudio))
	}

	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	f := newFixture(t, func(d *server.Deps) { d.Media = sfu })
	alice, bob := f.dial(t, "alice"), f.dial(t, "bob")
	var e0 uint64
	poll.Until(t, 15*time.Second, "alice and bob in one epoch with keys", func() bool {
		ea, oka := alice.Epoch()
		eb, okb := bob.Epoch()
		ka, erra := alice.Keys().Epoch()
		kb, errb := bob.Keys().Epoch()
		e0 = ea
		return oka && okb && erra == nil && errb == nil && ea == eb && ka == ea && kb == eb && ea >= 1
	})
	layout := alice.Keys().Layout()
	mask := uint64(1)<<layout.EpochBits - 1
	epochOf := func(kid uint64) uint64 { _, _, e := layout.Split(kid); return e }

	var mu sync.Mutex
	var got = map[sframe.Codec][]recvFrame{}
	var sentAfter []recvFrame // alice's encrypted video frames after the first epoch
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	am, err := alice.StartMedia(ctx, client.MediaConfig{LoopbackOnly: true, Recording: rec,
		OnSent: func(codec sframe.Codec, frame []byte) {
			if codec != sframe.CodecVP8 {
				return
			}
			kid := frameKID(t, codec, frame)
			mu.Lock()
			if epochOf(kid) != e0&mask && len(sentAfter) < 64 {
				sentAfter = append(sentAfter, recvFrame{kid, bytes.Clone(frame)})
			}
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Close)
	aliceID := alice.ParticipantID()
	bm, err := bob.StartMedia(ctx, client.MediaConfig{LoopbackOnly: true,
		OnFrame: func(fr client.Frame) {
			if fr.From != aliceID {
				return
			}
			mu.Lock()
			if len(got[fr.Codec]) < 4096 {
				got[fr.Codec] = append(got[fr.Codec], recvFrame{fr.KID, bytes.Clone(fr.Payload)})
			}
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bm.Close)
	count := func(codec sframe.Codec, epoch uint64) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, fr := range got[codec] {
			if epochOf(fr.kid) == epoch&mask {
				n++
			}
		}
		return n
	}
	const want = 30
	poll.Until(t, 20*time.Second, "bob decrypting alice's recorded video and audio", func() bool {
		return count(sframe.CodecVP8, e0) >= want && count(sframe.CodecOpus, e0) >= want
	})

	// A new epoch: alice switches KID and must restart the video with a key frame.
	if err := alice.Update(ctx); err != nil {
		t.Fatalf("update: %v", err)
	}
	e1, _ := alice.Epoch()
	poll.Until(t, 20*time.Second, "bob decrypting alice's frames of the new epoch", func() bool {
		return count(sframe.CodecVP8, e1) >= 10 && count(sframe.CodecOpus, e1) >= 10
	})
	am.Close()
	bm.Close()

	mu.Lock()
	defer mu.Unlock()
	checkClip(t, "video", got[sframe.CodecVP8], clipVideo, true)
	checkClip(t, "audio", got[sframe.CodecOpus], clipAudio, false)
	for _, fr := range got[sframe.CodecVP8] {
		if epochOf(fr.kid) == e1&mask {
			if !sframe.VP8KeyFrame(fr.data) {
				t.Error("bob's first video frame of the new epoch is not a key frame")
			}
			break
		}
	}
	if len(sentAfter) == 0 || !sframe.VP8KeyFrame(sentAfter[0].data) {
		t.Error("alice's first video frame under the new KID is not a key frame")
	}

	as, bs := am.Stats(), bm.Stats()
	t.Logf("alice: sent video=%d (keyframes %d) audio=%d key_switches=%d | decrypted=%d marked=%d failed=%d %v",
		as.VideoSent, as.KeyframesSent, as.AudioSent, as.KeySwitches, as.Decrypted, as.Marked, as.Failed, as.Failures)
	t.Logf("bob: decrypted=%d marked=%d failed=%d %v; from alice %+v", bs.Decrypted, bs.Marked, bs.Failed, bs.Failures, bs.Sources[aliceID])
	if src := bs.Sources[aliceID]; src.Video == 0 || src.Audio == 0 || src.Marked != 0 {
		t.Errorf("bob from alice: %+v, want recorded (unmarked) video and audio", src)
	}
	if src := as.Sources[bob.ParticipantID()]; src.Video+src.Audio == 0 || src.Marked != src.Video+src.Audio {
		t.Errorf("alice from bob: %+v, want every synthetic frame marked", src)
	}
	for _, s := range []client.MediaStats{as, bs} {
		for _, reason := range []string{client.FailNoKey, client.FailAuth, client.FailMalformed, client.FailReplay} {
			if n := s.Failures[reason]; n != 0 {
				t.Errorf("%d frames failed with %s", n, reason)
			}
		}
	}
}

// checkClip checks that what was decrypted is the clip, byte for byte, in the clip's
// order from the first frame received on. Video may skip forward, but only to a key
// frame (the publisher answers a key change or request with the clip's next one).
func checkClip(t *testing.T, what string, got []recvFrame, clip [][]byte, video bool) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s: nothing decrypted", what)
	}
	index := func(b []byte, from int) int {
		for k := range clip {
			if i := (from + k) % len(clip); bytes.Equal(clip[i], b) {
				return i
			}
		}
		return -1
	}
	prev := -1
	for n, fr := range got {
		i := index(fr.data, prev+1)
		if i < 0 {
			t.Fatalf("%s frame %d (%d bytes) is none of the clip's %d frames", what, n, len(fr.data), len(clip))
		}
		switch next := (prev + 1) % len(clip); {
		case prev < 0 && video && !sframe.VP8KeyFrame(fr.data):
			t.Fatalf("%s: the first frame received, clip frame %d, is not a key frame", what, i)
		case prev >= 0 && i != next && !(video && sframe.VP8KeyFrame(fr.data)):
			t.Fatalf("%s frame %d is clip frame %d, want %d (or a key frame)", what, n, i, next)
		}
		prev = i
	}
	t.Logf("%s: %d frames decrypted, each equal to the clip's frame in sequence", what, len(got))
}
