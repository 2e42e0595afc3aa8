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
		// Firefox's max-bundle offer: port 0 with bundle-only is in the bundle, not rejected
		// (RFC 8843 §6); its RTX SSRC is announced too
		"m=video 0 UDP/TLS/RTP/SAVPF 120", "c=IN IP4 0.0.0.0", "a=bundle-only", "a=sendonly", "a=mid:5",
		"a=ssrc:4444 cname:{f}", "a=ssrc:5555 cname:{f}", "a=ssrc-group:FID 4444 5555",
		"m=audio 0 UDP/TLS/RTP/SAVPF 109", "c=IN IP4 0.0.0.0", "a=bundle-only", "a=recvonly", "a=mid:6", "a=ssrc:6666 cname:{f}",
		// garbage ssrc values are ignored
		"m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=mid:4", "a=ssrc:notanumber cname:x", "a=ssrc:99999999999 x",
		"",
	}, "\r\n")
	ssrcs, rids, err := announcedSources(sdp)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ssrcs, []uint32{1111, 4444, 5555}) || !rids {
		t.Fatalf("ssrcs %v rids %v", ssrcs, rids)
	}
	if _, _, err := announcedSources("not sdp"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzAnnouncedSources(f *testing.F) {
	seeds := []string{"v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\na=ssrc:1 x\r\n", "v=0\r\n", "m=video 0 x 1\r\na=rid:h send\r\n", "v=0\r\ns=-\r\nm=video 0 UDP/TLS/RTP/SAVPF 120\r\na=bundle-only\r\na=ssrc:2 x\r\n"}
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
