package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/sealroom/sealroom/sframe"
)

// maxRecordingFile bounds what LoadRecording reads into memory: a recording is a
// short clip played in a loop, not a film.
const maxRecordingFile = 32 << 20

// Recording is a recorded clip a client publishes in a loop instead of synthetic
// frames (MediaConfig.Recording): VP8 frames from an IVF file and Opus packets from
// an Ogg file, each kept with its own duration. Unlike synthetic frames, recorded
// frames are real media a browser can decode and render, so they carry no marker.
// A Recording is immutable and may be shared by several clients.
type Recording struct {
	video []recFrame
	audio []recFrame
	// nextKey[i] is the index of the first video key frame at or after i,
	// wrapping to the start of the clip.
	nextKey []int
}

type recFrame struct {
	data []byte
	dur  time.Duration
	key  bool
}

// LoadRecording reads a VP8 IVF file and an Ogg Opus file (RFC 7845) with one Opus
// packet per Ogg page (ffmpeg's -page_duration 20000). Either path may be empty:
// that track stays synthetic. The video must start with a key frame so that the
// loop restarts decodably. Errors are *RecordingError wrapping one of the
// ErrRecording sentinels or the file system's error.
func LoadRecording(ivfPath, oggPath string) (*Recording, error) {
	r := &Recording{}
	if ivfPath != "" {
		b, err := readRecordingFile(ivfPath)
		if err == nil {
			r.video, err = parseIVF(b)
		}
		if err != nil {
			return nil, &RecordingError{Path: ivfPath, Err: err}
		}
		r.nextKey = make([]int, len(r.video))
		next := -1
		for pass := 0; pass < 2; pass++ {
			for i := len(r.video) - 1; i >= 0; i-- {
				if r.video[i].key {
					next = i
				}
				r.nextKey[i] = next
			}
		}
	}
	if oggPath != "" {
		b, err := readRecordingFile(oggPath)
		if err == nil {
			r.audio, err = parseOggOpus(b)
		}
		if err != nil {
			return nil, &RecordingError{Path: oggPath, Err: err}
		}
	}
	return r, nil
}

// HasVideo reports whether the recording has a VP8 track.
func (r *Recording) HasVideo() bool { return r != nil && len(r.video) > 0 }

// HasAudio reports whether the recording has an Opus track.
func (r *Recording) HasAudio() bool { return r != nil && len(r.audio) > 0 }

// VideoFrames is the number of VP8 frames in the clip.
func (r *Recording) VideoFrames() int { return len(r.video) }

// AudioFrames is the number of Opus packets in the clip.
func (r *Recording) AudioFrames() int { return len(r.audio) }

func readRecordingFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordingFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordingFile {
		return nil, ErrRecordingTooLarge
	}
	return b, nil
}

// parseIVF reads the frames of an IVF file (https://wiki.multimedia.cx/index.php/IVF):
// a 32-byte file header, then per frame a 12-byte header (size, pts) and the frame.
func parseIVF(b []byte) ([]recFrame, error) {
	const frameHeader = 12
	br := bytes.NewReader(b)
	rd, h, err := ivfreader.NewWith(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecordingMalformed, err)
	}
	if h.FourCC != "VP80" {
		return nil, fmt.Errorf("%w: IVF FourCC %q, want VP80", ErrRecordingCodec, h.FourCC)
	}
	// ivfreader rescales the pts in a way that depends on the time base, so the raw
	// pts is read here, together with the size, which is checked against the file
	// before ivfreader allocates a buffer of that size.
	var frames []recFrame
	var pts []uint64
	for br.Len() > 0 {
		off := len(b) - br.Len()
		if br.Len() < frameHeader {
			return nil, fmt.Errorf("%w: truncated IVF frame header", ErrRecordingMalformed)
		}
		size := binary.LittleEndian.Uint32(b[off:])
		if uint64(size) > uint64(br.Len()-frameHeader) {
			return nil, fmt.Errorf("%w: truncated IVF frame", ErrRecordingMalformed)
		}
		p := binary.LittleEndian.Uint64(b[off+4:])
		data, _, err := rd.ParseNextFrame()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRecordingMalformed, err)
		}
		if len(data) < 3 {
			return nil, fmt.Errorf("%w: VP8 frame of %d bytes", ErrRecordingMalformed, len(data))
		}
		if len(pts) > 0 && p <= pts[len(pts)-1] {
			return nil, fmt.Errorf("%w: IVF timestamps not increasing", ErrRecordingMalformed)
		}
		frames = append(frames, recFrame{data: data, key: sframe.VP8KeyFrame(data)})
		pts = append(pts, p)
	}
	if len(frames) == 0 {
		return nil, ErrRecordingEmpty
	}
	if !frames[0].key {
		return nil, ErrRecordingNoKeyframe
	}
	// The IVF time base is numerator/denominator seconds per pts unit.
	tick := func(d uint64) time.Duration {
		return time.Duration(d * uint64(time.Second) * uint64(h.TimebaseNumerator) / uint64(h.TimebaseDenominator))
	}
	for i := range frames {
		var d time.Duration
		switch {
		case i+1 < len(frames):
			d = tick(pts[i+1] - pts[i])
		case i > 0:
			d = frames[i-1].dur // the last frame lasts as long as the one before
		default:
			d = tick(1)
		}
		if d <= 0 || d > time.Second {
			return nil, fmt.Errorf("%w: VP8 frame %d lasts %s", ErrRecordingMalformed, i, d)
		}
		frames[i].dur = d
	}
	return frames, nil
}

// parseOggOpus reads the Opus packets of an Ogg Opus file (RFC 7845 §3): the
// OpusHead and OpusTags pages, then one packet per page. A page holding several
// packets shows in its granule position advancing by more than its first packet
// lasts, and is refused: pion's reader does not expose the lacing that splits them.
func parseOggOpus(b []byte) ([]recFrame, error) {
	rd, head, err := oggreader.NewWith(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecordingMalformed, err)
	}
	if head.ChannelMap != 0 || head.Channels == 0 || head.Channels > 2 {
		return nil, fmt.Errorf("%w: Ogg Opus with channel mapping %d and %d channels, want mono or stereo (mapping 0)",
			ErrRecordingCodec, head.ChannelMap, head.Channels)
	}
	var frames []recFrame
	var granule uint64
	started := false
	for {
		payload, ph, err := rd.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRecordingMalformed, err)
		}
		if typ, ok := ph.HeaderType(payload); ok && typ == oggreader.HeaderOpusTags {
			continue
		}
		if len(payload) == 0 {
			continue // a page that only continues a packet (none here) or an empty one
		}
		d, err := opusPacketDuration(payload)
		if err != nil {
			return nil, err
		}
		// The first audio page's granule also counts the pre-skip (RFC 7845 §4).
		if started && ph.GranulePosition > granule && time.Duration(ph.GranulePosition-granule)*time.Second/48000 > d {
			return nil, fmt.Errorf("%w: an Ogg page holds more than one Opus packet (encode with -page_duration 20000)", ErrRecordingMalformed)
		}
		started, granule = true, ph.GranulePosition
		frames = append(frames, recFrame{data: payload, dur: d})
	}
	if len(frames) == 0 {
		return nil, ErrRecordingEmpty
	}
	return frames, nil
}

// opusPacketDuration reads an Opus packet's duration from its TOC byte (RFC 6716
// §3.1): the configuration gives the frame size, the code the frame count.
func opusPacketDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, fmt.Errorf("%w: empty Opus packet", ErrRecordingMalformed)
	}
	config := int(p[0] >> 3)
	var frame time.Duration
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		frame = [...]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = [...]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT-only: 2.5, 5, 10, 20 ms
		frame = [...]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	n := 1
	switch p[0] & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: Opus code 3 packet without frame count", ErrRecordingMalformed)
		}
		n = int(p[1] & 0x3f)
	}
	d := time.Duration(n) * frame
	if d <= 0 || d > 120*time.Millisecond { // RFC 6716 §3.2.5
		return 0, fmt.Errorf("%w: Opus packet of %s", ErrRecordingMalformed, d)
	}
	return d, nil
}
