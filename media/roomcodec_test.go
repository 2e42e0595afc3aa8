package media

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// The room's codec is the first of H.264, VP9 and VP8 that every participant declared it
// decodes; a participant that declared nothing counts as VP8 only. Everyone is told when the
// choice changes, only the asker when it does not.
func TestRoomCodec(t *testing.T) {
	r := newRoom(nil, "r")
	chrome, last, told, mu := codecRoom(t, r)
	chrome.setDecodes([]string{"video/H264", "video/VP9", "video/VP8", "video/AV1"})
	if c := last("chrome", 1); c != webrtc.MimeTypeH264 {
		t.Fatalf("alone, chrome is told %s, want H.264", c)
	}
	fox := join(t, r, "firefox", told, mu)
	fox.setDecodes([]string{"video/vp9", "video/vp8"}) // names are case-insensitive
	if c, d := last("chrome", 2), last("firefox", 1); c != webrtc.MimeTypeVP9 || d != webrtc.MimeTypeVP9 {
		t.Fatalf("with firefox: chrome told %s, firefox %s; want VP9", c, d)
	}
	join(t, r, "quiet", told, mu) // declares nothing: VP8 only, counted at the next choice
	goc := join(t, r, "go", told, mu)
	goc.setDecodes([]string{"video/H264", "video/VP9", "video/VP8"})
	if c := last("go", 1); c != webrtc.MimeTypeVP8 {
		t.Fatalf("with a participant that declared nothing: %s, want VP8", c)
	}
	r.release("quiet")
	r.release("firefox")
	r.chooseCodec(nil)
	if c := last("chrome", 4); c != webrtc.MimeTypeH264 {
		t.Fatalf("after firefox and the quiet one left: %s, want H.264", c)
	}
	// The same declaration again is answered to its sender only; a different one is
	// refused and changes nothing.
	if err := goc.setDecodes([]string{"video/H264", "video/VP9", "video/VP8"}); err != nil {
		t.Fatal(err)
	}
	last("go", 3)
	if err := goc.setDecodes([]string{"video/H264"}); !errors.Is(err, ErrCodecsDeclared) {
		t.Fatalf("a second, different declaration: %v, want ErrCodecsDeclared", err)
	}
	if !goc.canDecode(webrtc.MimeTypeVP8) {
		t.Fatal("a refused declaration changed what go decodes")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told["chrome"]) != 4 {
		t.Fatalf("chrome told again of an unchanged choice: %v", told["chrome"])
	}
}

// The operator's order (Config.VideoCodecs) decides: with AV1 first, two browsers meet in
// AV1, and a participant that does not decode it (the Go client) brings the room to the
// next codec of the order that everyone decodes.
func TestRoomCodecOperatorOrder(t *testing.T) {
	cfg, err := Config{ListenAddr: "127.0.0.1:0", VideoCodecs: []string{"video/av1", "video/H264", "video/VP9", "video/VP8"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := newRoom(&SFU{cfg: cfg}, "r")
	chrome, last, told, mu := codecRoom(t, r)
	chrome.setDecodes([]string{"video/H264", "video/VP9", "video/VP8", "video/AV1"})
	if c := last("chrome", 1); c != webrtc.MimeTypeAV1 {
		t.Fatalf("alone, chrome is told %s, want AV1", c)
	}
	fox := join(t, r, "firefox", told, mu)
	fox.setDecodes([]string{"video/VP9", "video/VP8", "video/AV1"})
	if c := last("firefox", 1); c != webrtc.MimeTypeAV1 {
		t.Fatalf("with firefox: %s, want AV1", c)
	}
	goc := join(t, r, "go", told, mu)
	goc.setDecodes([]string{"video/H264", "video/VP9", "video/VP8"})
	if c := last("go", 1); c != webrtc.MimeTypeVP9 {
		t.Fatalf("with a Go participant: %s, want VP9 (firefox has no H.264)", c)
	}
	if _, err := (Config{ListenAddr: "127.0.0.1:0", VideoCodecs: []string{"video/H265"}}).withDefaults(); !errors.Is(err, ErrConfig) {
		t.Fatalf("an unknown codec in the order: %v, want ErrConfig", err)
	}
}

// codecRoom joins "chrome" to r and returns what the codec tests use: the participant, a
// function waiting for id's n-th codec message, and the messages so far with their lock.
func codecRoom(t *testing.T, r *room) (*Participant, func(string, int) string, map[string][]string, *sync.Mutex) {
	t.Helper()
	mu := &sync.Mutex{}
	told := map[string][]string{}
	last := func(id string, n int) string {
		var got string
		poll.Until(t, 5*time.Second, id+" told", func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(told[id]) == n {
				got = told[id][n-1]
				return true
			}
			return false
		})
		return got
	}
	return join(t, r, "chrome", told, mu), last, told, mu
}

// join adds a participant to r whose codec messages are recorded in told.
func join(t *testing.T, r *room, id string, told map[string][]string, mu *sync.Mutex) *Participant {
	p := &Participant{room: r, id: id}
	p.signals = newSignalQueue(func(m signaling.Media) {
		if m.Type == signaling.MediaCodec {
			mu.Lock()
			told[id] = append(told[id], m.Codec)
			mu.Unlock()
		}
	})
	t.Cleanup(func() { p.signals.close(); p.signals.wait() })
	r.mu.Lock()
	r.participants[id] = p
	r.mu.Unlock()
	return p
}
