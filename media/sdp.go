package media

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// announcedSources reads what a client's SDP says it will send: the SSRCs
// of a=ssrc lines (RFC 5576 §4.1) in audio/video sections it sends on, and
// whether any such section announces rid-based simulcast (RFC 8851 §4),
// whose SSRCs are learnt from the rid header extension instead.
//
// A section with port 0 is rejected (RFC 3264 §6) unless it carries
// a=bundle-only (RFC 8843 §6): a max-bundle offerer (Firefox; Chrome puts
// port 9 everywhere) gives every section but the first port 0 and
// bundle-only, and sends on them over the bundle's transport.
func announcedSources(raw string) (ssrcs []uint32, rids bool, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return nil, false, err
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		sends, bundleOnly := true, false
		for _, a := range m.Attributes {
			switch a.Key {
			case "recvonly", "inactive":
				sends = false
			case "bundle-only":
				bundleOnly = true
			}
		}
		if m.MediaName.Port.Value == 0 && !bundleOnly {
			continue // rejected section (RFC 3264 §6)
		}
		if !sends {
			continue
		}
		for _, a := range m.Attributes {
			switch a.Key {
			case "ssrc":
				f := strings.Fields(a.Value)
				if len(f) == 0 {
					continue
				}
				if v, err := strconv.ParseUint(f[0], 10, 32); err == nil {
					ssrcs = appendUnique(ssrcs, uint32(v))
				}
			case "rid":
				if f := strings.Fields(a.Value); len(f) >= 2 && f[1] == "send" {
					rids = true
				}
			}
		}
	}
	return ssrcs, rids, nil
}

func appendUnique(s []uint32, v uint32) []uint32 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// offeredVideo reads, per mid, the codec names (RFC 8866 §6.6 rtpmap
// encoding names, as "video/NAME") of each video section the client sends on.
func offeredVideo(raw string) map[string][]string {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return nil
	}
	out := map[string][]string{}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		mid, _ := m.Attribute("mid")
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			f := strings.Fields(a.Value)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(f[1], "/")
			out[mid] = append(out[mid], "video/"+name)
		}
	}
	return out
}
