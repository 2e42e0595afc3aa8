package media

import (
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
	var mu sync.Mutex
	told := map[string][]string{}
	join := func(id string) *Participant {
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
	chrome := join("chrome")
	chrome.setDecodes([]string{"video/H264", "video/VP9", "video/VP8", "video/AV1"})
	if c := last("chrome", 1); c != webrtc.MimeTypeH264 {
		t.Fatalf("alone, chrome is told %s, want H.264", c)
	}
	fox := join("firefox")
	fox.setDecodes([]string{"video/vp9", "video/vp8"}) // names are case-insensitive
	if c, d := last("chrome", 2), last("firefox", 1); c != webrtc.MimeTypeVP9 || d != webrtc.MimeTypeVP9 {
		t.Fatalf("with firefox: chrome told %s, firefox %s; want VP9", c, d)
	}
	join("quiet") // declares nothing: VP8 only, counted at the next choice
	goc := join("go")
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
	// A declaration that changes nothing is answered to its sender only.
	goc.setDecodes([]string{"video/H264"})
	last("go", 3)
	mu.Lock()
	defer mu.Unlock()
	if len(told["chrome"]) != 4 {
		t.Fatalf("chrome told again of an unchanged choice: %v", told["chrome"])
	}
}
