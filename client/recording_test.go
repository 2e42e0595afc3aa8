package client

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/sframe"
)

func TestLoadRecordingTestdata(t *testing.T) {
	r, err := LoadRecording("testdata/testsrc.ivf", "testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	var vd, ad time.Duration
	keys := 0
	for i, f := range r.video {
		vd += f.dur
		if f.key {
			keys++
		}
		if k := r.nextKey[i]; !r.video[k].key || (k < i && k != 0) {
			t.Fatalf("nextKey[%d] = %d", i, k)
		}
	}
	for _, f := range r.audio {
		ad += f.dur
		if f.dur != 20*time.Millisecond {
			t.Fatalf("Opus packet of %s, want 20 ms", f.dur)
		}
	}
	// testdata/README.md: 5 s of 15 fps VP8, a key frame a second; 5 s of 20 ms Opus.
	if len(r.video) != 75 || keys != 5 || vd.Round(time.Millisecond) != 5*time.Second || len(r.audio) < 250 {
		t.Fatalf("video %d frames (%d key) lasting %s, audio %d packets lasting %s", len(r.video), keys, vd, len(r.audio), ad)
	}
	if !r.HasVideo() || !r.HasAudio() {
		t.Fatal("tracks missing")
	}
	v, err := LoadRecording("testdata/testsrc.ivf", "")
	if err != nil || !v.HasVideo() || v.HasAudio() {
		t.Fatalf("video only: %v", err)
	}
	var none *Recording
	if none.HasVideo() || none.HasAudio() {
		t.Fatal("nil recording has tracks")
	}
}

func ivfFile(fourcc string, frames ...[]byte) []byte {
	b := []byte("DKIF\x00\x00\x20\x00" + fourcc)
	b = binary.LittleEndian.AppendUint16(b, 320)
	b = binary.LittleEndian.AppendUint16(b, 240)
	b = binary.LittleEndian.AppendUint32(b, 15) // time base 1/15 s
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frames)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint64(b, uint64(i))
		b = append(b, f...)
	}
	return b
}

// A file that is not what LoadRecording plays is refused with a typed error.
func TestLoadRecordingRefuses(t *testing.T) {
	key := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	delta := []byte{0x31, 0x01, 0x00, 0xaa}
	truncated := ivfFile("VP80", key)
	binary.LittleEndian.PutUint32(truncated[32:], 1<<31) // claims a 2 GiB frame
	ogg, err := os.ReadFile("testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, c := range map[string]struct {
		ivf, ogg []byte
		want     error
	}{
		"not ivf":          {ivf: []byte("not an IVF file at all, just text here"), want: ErrRecordingMalformed},
		"vp9":              {ivf: ivfFile("VP90", key), want: ErrRecordingCodec},
		"empty ivf":        {ivf: ivfFile("VP80"), want: ErrRecordingEmpty},
		"delta first":      {ivf: ivfFile("VP80", delta, key), want: ErrRecordingNoKeyframe},
		"truncated frame":  {ivf: truncated, want: ErrRecordingMalformed},
		"short frame":      {ivf: ivfFile("VP80", key, []byte{0x31}), want: ErrRecordingMalformed},
		"not ogg":          {ogg: []byte("OggS but not really"), want: ErrRecordingMalformed},
		"ogg headers only": {ogg: ogg[:oggHeadersLen(t, ogg)], want: ErrRecordingEmpty},
	} {
		t.Run(name, func(t *testing.T) {
			var ivfPath, oggPath string
			if c.ivf != nil {
				ivfPath = filepath.Join(dir, name+".ivf")
				if err := os.WriteFile(ivfPath, c.ivf, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if c.ogg != nil {
				oggPath = filepath.Join(dir, name+".ogg")
				if err := os.WriteFile(oggPath, c.ogg, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadRecording(ivfPath, oggPath)
			var re *RecordingError
			if !errors.Is(err, c.want) || !errors.As(err, &re) {
				t.Fatalf("got %v, want %v in a *RecordingError", err, c.want)
			}
		})
	}
	if _, err := LoadRecording(filepath.Join(dir, "missing.ivf"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if r, err := LoadRecording("", ""); err != nil || r.HasVideo() || r.HasAudio() {
		t.Fatalf("no files: %v", err)
	}
}

// oggHeadersLen is the length of the OpusHead and OpusTags pages (RFC 3533 §6).
func oggHeadersLen(t *testing.T, b []byte) int {
	t.Helper()
	off := 0
	for range 2 {
		n := int(b[off+26])
		size := 0
		for _, s := range b[off+27 : off+27+n] {
			size += int(s)
		}
		off += 27 + n + size
	}
	return off
}

// Two Opus packets in one Ogg page (as ffmpeg writes without -page_duration) are
// refused rather than sent as one frame.
func TestLoadRecordingRefusesPackedOgg(t *testing.T) {
	ogg, err := os.ReadFile("testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	h := oggHeadersLen(t, ogg)
	page := func(off int) (seg, payload []byte, end int) {
		n := int(ogg[off+26])
		seg = ogg[off+27 : off+27+n]
		size := 0
		for _, s := range seg {
			size += int(s)
		}
		return seg, ogg[off+27+n : off+27+n+size], off + 27 + n + size
	}
	// Merge the 2nd and 3rd audio pages; the result carries the 3rd's granule.
	_, _, p1end := page(h)
	seg2, pay2, p2end := page(p1end)
	seg3, pay3, p3end := page(p2end)
	merged := append([]byte(nil), ogg[p2end:p2end+26]...) // header of the 3rd page
	merged = append(merged, byte(len(seg2)+len(seg3)))
	merged = append(merged, seg2...)
	merged = append(merged, seg3...)
	merged = append(merged, pay2...)
	merged = append(merged, pay3...)
	binary.LittleEndian.PutUint32(merged[22:], 0)
	binary.LittleEndian.PutUint32(merged[22:], oggCRC(merged))
	b := append(append(append([]byte(nil), ogg[:p1end]...), merged...), ogg[p3end:]...)
	path := filepath.Join(t.TempDir(), "packed.ogg")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecording("", path); !errors.Is(err, ErrRecordingMalformed) || !strings.Contains(err.Error(), "more than one Opus packet") {
		t.Fatalf("packed pages: %v", err)
	}
}

// oggCRC is the page checksum of RFC 3533 §6: CRC-32, polynomial 0x04c11db7,
// not reflected, over the page with its checksum field zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for _, b := range page {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func TestOpusPacketDuration(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want time.Duration
	}{
		{[]byte{0x78}, 20 * time.Millisecond},               // config 15 hybrid 20 ms, one frame
		{[]byte{0xfc}, 20 * time.Millisecond},               // config 31 CELT 20 ms
		{[]byte{0xf9}, 40 * time.Millisecond},               // config 31, two frames
		{[]byte{0x03 | 3<<3, 0x02}, 120 * time.Millisecond}, // SILK 60 ms, code 3, two frames
		{[]byte{0x83, 0x05}, 12500 * time.Microsecond},      // config 16 CELT 2.5 ms, five frames
	} {
		if got, err := opusPacketDuration(c.p); err != nil || got != c.want {
			t.Errorf("%x: %s %v, want %s", c.p, got, err, c.want)
		}
	}
	for _, p := range [][]byte{nil, {0x03}, {0x1b, 0x03}, {0x1b, 0x00}} {
		if _, err := opusPacketDuration(p); !errors.Is(err, ErrRecordingMalformed) {
			t.Errorf("%x: %v, want malformed", p, err)
		}
	}
}

// A clip plays in order and wraps to its start; a key frame request skips to the
// clip's next key frame, wrapping to the first one after the last.
func TestPubTrackClip(t *testing.T) {
	r, err := LoadRecording("testdata/testsrc.ivf", "")
	if err != nil {
		t.Fatal(err)
	}
	p := &pubTrack{codec: sframe.CodecVP8, clip: r.video, nextKey: r.nextKey}
	n := len(r.video)
	for i := range n + 3 {
		f, key := p.next(false, nil)
		if want := r.video[i%n]; &f[0] != &want.data[0] || key != want.key {
			t.Fatalf("frame %d is not clip frame %d", i, i%n)
		}
		p.advance()
	}
	// Now at frame 3: a key request jumps to the next key frame, 15.
	if _, key := p.next(true, nil); !key || p.pos != 15 {
		t.Fatalf("key request at 3 gave frame %d (key %v), want 15", p.pos, key)
	}
	p.pos = n - 2
	if _, key := p.next(true, nil); !key || p.pos != 0 {
		t.Fatalf("key request near the end gave frame %d, want 0", p.pos)
	}
	// A key frame is sent as it comes, without a request.
	p.pos = 15
	if _, key := p.next(false, nil); !key || p.pos != 15 {
		t.Fatal("clip key frame not reported as key")
	}
}

// FuzzRecordingParsers: whatever bytes a recording file holds, the parsers return frames
// that satisfy their own checks or a typed error, and never panic.
func FuzzRecordingParsers(f *testing.F) {
	for _, path := range []string{"testdata/testsrc.ivf", "testdata/tone.ogg"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 1024)])
	}
	f.Add(ivfFile("VP80", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if frames, err := parseIVF(b); err == nil {
			if len(frames) == 0 || !frames[0].key {
				t.Fatalf("parseIVF accepted %d frames without a leading key frame", len(frames))
			}
			for _, fr := range frames {
				if fr.dur <= 0 || fr.dur > time.Second {
					t.Fatalf("parseIVF accepted a frame lasting %s", fr.dur)
				}
			}
		} else if !errors.Is(err, ErrRecordingMalformed) && !errors.Is(err, ErrRecordingCodec) &&
			!errors.Is(err, ErrRecordingEmpty) && !errors.Is(err, ErrRecordingNoKeyframe) {
			t.Fatalf("parseIVF: untyped error %v", err)
		}
		if frames, err := parseOggOpus(b); err == nil {
			for _, fr := range frames {
				if fr.dur <= 0 || fr.dur > 120*time.Millisecond {
					t.Fatalf("parseOggOpus accepted a packet lasting %s", fr.dur)
				}
			}
		} else if !errors.Is(err, ErrRecordingMalformed) && !errors.Is(err, ErrRecordingCodec) && !errors.Is(err, ErrRecordingEmpty) {
			t.Fatalf("parseOggOpus: untyped error %v", err)
		}
	})
}
