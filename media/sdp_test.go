package media

import (
	"slices"
	"strings"
	"testing"
)

func TestAnnouncedSources(t *testing.T) {
	sdp := strings.Join([]string{
		"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
		// audio, sending, with an SSRC
		"m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=mid:0", "a=sendrecv",
		"a=ssrc:1111 cname:x", "a=ssrc:1111 msid:s a",
		// Chrome-style simulcast: rids, no SSRC lines
		"m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:1", "a=sendonly",
		"a=rid:q send", "a=rid:h send", "a=simulcast:send q;h",
		// receive-only section: its SSRC (if any) is not a send announcement
		"m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:2", "a=recvonly", "a=ssrc:2222 cname:x",
		// rejected section
		"m=video 0 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:3", "a=ssrc:3333 cname:x",
		// garbage ssrc values are ignored
		"m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=mid:4", "a=ssrc:notanumber cname:x", "a=ssrc:99999999999 x",
		"",
	}, "\r\n")
	ssrcs, rids, err := announcedSources(sdp)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ssrcs, []uint32{1111}) || !rids {
		t.Fatalf("ssrcs %v rids %v", ssrcs, rids)
	}
	if _, _, err := announcedSources("not sdp"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzAnnouncedSources(f *testing.F) {
	seeds := []string{"v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\na=ssrc:1 x\r\n", "v=0\r\n", "m=video 0 x 1\r\na=rid:h send\r\n"}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = announcedSources(s)
	})
}
