package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/sealroom/sealroom/server/signaling"
)

// ChildEnv names the environment variable that makes an executable a
// loadtest server child; its value is the server kind ("sfu" or "bare").
const ChildEnv = "SEALROOM_LOADTEST_CHILD"

// frame is one JSON line between parent and child.
type frame struct {
	Op string `json:"op"`
	// join
	ID        string `json:"id,omitempty"`
	Publish   bool   `json:"publish,omitempty"`
	Subscribe bool   `json:"subscribe,omitempty"`
	// msg / signal
	Msg *signaling.Media `json:"msg,omitempty"`
	// ready / bare
	Addr string   `json:"addr,omitempty"`
	Subs []string `json:"subs,omitempty"`
	// usage
	CPUNanos  int64  `json:"cpu_ns,omitempty"`
	Forwarded uint64 `json:"forwarded,omitempty"`
	MaxRSS    uint64 `json:"max_rss,omitempty"`
	Err       string `json:"err,omitempty"`
}

// wire reads and writes frames; writes are serialized.
type wire struct {
	closer io.Closer // parent side: the child's stdin
	mu     sync.Mutex
	enc    *json.Encoder
	dec    *bufio.Scanner
}

func newWire(r io.Reader, w io.Writer) *wire {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &wire{enc: json.NewEncoder(w), dec: sc}
}

func (w *wire) send(f frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(f)
}

func (w *wire) recv() (frame, error) {
	if !w.dec.Scan() {
		if err := w.dec.Err(); err != nil {
			return frame{}, err
		}
		return frame{}, io.EOF
	}
	var f frame
	if err := json.Unmarshal(w.dec.Bytes(), &f); err != nil {
		return frame{}, fmt.Errorf("%w: bad frame: %w", ErrChild, err)
	}
	return f, nil
}
