package sframe

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// crossCase is one request to webapp/sframe/crosscheck.mjs.
type crossCase struct {
	Name    string    `json:"name"`
	Suite   Suite     `json:"suite"`
	KID     string    `json:"kid,omitempty"`
	BaseKey string    `json:"base_key,omitempty"`
	MLS     *crossMLS `json:"mls,omitempty"`
	Codec   string    `json:"codec"`
	Frames  []string  `json:"frames"`
	Go      []string  `json:"go"`
}

type crossMLS struct {
	Exported   string `json:"exported"`
	Epoch      string `json:"epoch"`
	Sender     uint32 `json:"sender"`
	Receiver   uint32 `json:"receiver"`
	EpochBits  uint   `json:"epoch_bits"`
	SenderBits uint   `json:"sender_bits"`
	Context    string `json:"context"`
}

type crossResult struct {
	Name      string   `json:"name"`
	Decrypted []string `json:"decrypted"`
	JS        []string `json:"js"`
	Error     string   `json:"error"`
}

// staticExporter returns a fixed secret, standing in for one MLS epoch.
type staticExporter []byte

func (e staticExporter) Export(label string, context []byte, length int) ([]byte, error) {
	if label != mlsBaseKeyLabel || len(context) != 0 || length > len(e) {
		return nil, fmt.Errorf("unexpected export %q", label)
	}
	return bytes.Clone(e[:length]), nil
}

// nodeOrSkip finds node. Without it the test fails in CI and is skipped,
// loudly, elsewhere.
func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		return node
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("node not found (CI=true): the Go/JavaScript SFrame cross-check cannot run: %v", err)
	}
	t.Skip("!!! node not found: SKIPPING the Go/JavaScript SFrame cross-check; install Node.js >= 20 to run it !!!")
	return ""
}

// TestCrossCheckJS encrypts frames in Go, decrypts them in JavaScript
// (webapp/sframe) and the reverse, for every suite and codec layout and for
// MLS-derived keys, and requires both sides to produce the same bytes.
func TestCrossCheckJS(t *testing.T) {
	node := nodeOrSkip(t)
	byCodec := map[Codec][][]byte{}
	for _, name := range []string{"none", "opus", "vp8-key", "vp8-delta", "h264"} {
		s := sampleFrames()[name]
		byCodec[s.codec] = append(byCodec[s.codec], s.frame)
	}
	for codec := range byCodec {
		// A second frame of the same shape with other bytes and the next counter.
		f := bytes.Clone(byCodec[codec][0])
		f[len(f)-1] ^= 0x5a
		byCodec[codec] = append(byCodec[codec], f)
	}

	type expect struct {
		frames [][]byte
		goOut  [][]byte
		dec    func([]byte) ([]byte, error)
	}
	var cases []crossCase
	want := map[string]expect{}
	for _, suite := range allSuites {
		for codec, frames := range byCodec {
			for _, mls := range []bool{false, true} {
				name := fmt.Sprintf("%v/%v/mls=%v", suite, codec, mls)
				c := crossCase{Name: name, Suite: suite, Codec: codec.String()}
				var enc func([]byte) ([]byte, error)
				var dec func([]byte) ([]byte, error)
				if mls {
					secret := testBaseKey(suite.KeySize())
					cfg := MLSConfig{Suite: suite, Layout: KIDLayout{EpochBits: 5, SenderBits: 12}, Context: 3}
					tx, rx := mustMLS(t, cfg, 21, 7, secret), mustMLS(t, cfg, 21, 2, secret)
					c.MLS = &crossMLS{Exported: hex.EncodeToString(secret), Epoch: "21", Sender: 7, Receiver: 2, EpochBits: 5, SenderBits: 12, Context: "3"}
					enc = func(f []byte) ([]byte, error) { return tx.EncryptFrame(nil, codec, f) }
					dec = func(f []byte) ([]byte, error) { out, _, err := rx.DecryptFrame(nil, codec, f); return out, err }
				} else {
					kid := uint64(0x1234567)
					base := testBaseKey(16)
					tx, rx := newTestContext(t, suite), newTestContext(t, suite)
					for _, cx := range []*Context{tx, rx} {
						if err := cx.AddKey(kid, base); err != nil {
							t.Fatal(err)
						}
					}
					c.KID, c.BaseKey = strconv.FormatUint(kid, 10), hex.EncodeToString(base)
					enc = func(f []byte) ([]byte, error) { return tx.EncryptFrame(nil, kid, codec, f) }
					dec = func(f []byte) ([]byte, error) { out, _, err := rx.DecryptFrame(nil, codec, f); return out, err }
				}
				var goOut [][]byte
				for _, f := range frames {
					out, err := enc(f)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					goOut = append(goOut, out)
					c.Frames = append(c.Frames, hex.EncodeToString(f))
					c.Go = append(c.Go, hex.EncodeToString(out))
				}
				cases = append(cases, c)
				want[name] = expect{frames: frames, goOut: goOut, dec: dec}
			}
		}
	}

	req, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "webapp", "sframe", "crosscheck.mjs"))
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node crosscheck.mjs: %v\n%s", err, stderr.String())
	}
	var resp struct {
		Cases []crossResult `json:"cases"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("node output: %v", err)
	}
	if len(resp.Cases) != len(cases) {
		t.Fatalf("%d results for %d cases", len(resp.Cases), len(cases))
	}
	for _, r := range resp.Cases {
		w := want[r.Name]
		if r.Error != "" {
			t.Errorf("%s: JavaScript: %s", r.Name, r.Error)
			continue
		}
		for i, f := range w.frames {
			if r.Decrypted[i] != hex.EncodeToString(f) {
				t.Errorf("%s frame %d: JavaScript decrypted Go's frame differently", r.Name, i)
			}
			js, _ := hex.DecodeString(r.JS[i])
			if !bytes.Equal(js, w.goOut[i]) {
				t.Errorf("%s frame %d: JavaScript bytes differ from Go's\n js %x\n go %x", r.Name, i, js, w.goOut[i])
				continue
			}
		}
		// Go decrypts what JavaScript produced (a fresh receiver: the Go
		// frames were never decrypted in Go, so the counters are new).
		for i, js := range r.JS {
			b, _ := hex.DecodeString(js)
			got, err := w.dec(b)
			if err != nil || !bytes.Equal(got, w.frames[i]) {
				t.Errorf("%s frame %d: Go could not decrypt JavaScript's frame: %v", r.Name, i, err)
			}
		}
	}
	t.Logf("%d cross-check cases, %d frames each way", len(cases), 2*len(cases))
}

func mustMLS(t *testing.T, cfg MLSConfig, epoch uint64, leaf uint32, secret []byte) *MLSKeys {
	t.Helper()
	m, err := NewMLSKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetEpoch(epoch, leaf, staticExporter(secret)); err != nil {
		t.Fatal(err)
	}
	return m
}
