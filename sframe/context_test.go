package sframe

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestContextBadInput(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			tx := newTestContext(t, suite, 1000)
			rx := newTestContext(t, suite, 1000)
			md := []byte("meta")
			pt := []byte("hello media frame")
			ct, err := tx.Encrypt(nil, 1000, md, pt)
			if err != nil {
				t.Fatal(err)
			}
			hl := Header{KID: 1000}.Len()
			wrongTag := bytes.Clone(ct)
			wrongTag[len(wrongTag)-1] ^= 1
			wrongMD := []byte("metA")
			unknown, _ := newTestContext(t, suite, 7).Encrypt(nil, 7, md, pt)
			cases := []struct {
				name string
				in   []byte
				md   []byte
				want error
			}{
				{"empty", nil, md, ErrTruncatedHeader},
				{"truncated KID", []byte{0x90, 0x03}, md, ErrTruncatedHeader},
				{"truncated CTR", []byte{0x99, 0x03, 0xe8, 0x01}, md, ErrTruncatedHeader},
				{"non-minimal KID", []byte{0x80, 0x05, 0x00}, md, ErrNonMinimalHeader},
				{"leading zero KID", []byte{0x90, 0x00, 0x09, 0x00}, md, ErrNonMinimalHeader},
				{"non-minimal CTR", []byte{0x08, 0x07}, md, ErrNonMinimalHeader},
				{"leading zero CTR", append([]byte{0x0f}, make([]byte, 8)...), md, ErrNonMinimalHeader},
				{"unknown KID", unknown, md, ErrUnknownKID},
				{"wrong tag", wrongTag, md, ErrAuthentication},
				{"wrong metadata", ct, wrongMD, ErrAuthentication},
				{"shorter than tag", ct[:hl+suite.TagSize()-1], md, ErrShortCiphertext},
				{"header only", ct[:hl], md, ErrShortCiphertext},
			}
			for _, tc := range cases {
				dst := []byte("x")
				out, _, err := rx.Decrypt(dst, tc.md, tc.in)
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
				}
				if !bytes.Equal(out, []byte("x")) {
					t.Errorf("%s: output changed", tc.name)
				}
			}
			// Nothing above moved the replay window: the real frame still decrypts once.
			if got, _, err := rx.Decrypt(nil, md, ct); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("genuine frame: %v", err)
			}
			if _, _, err := rx.Decrypt(nil, md, ct); !errors.Is(err, ErrReplay) {
				t.Fatalf("replay: %v", err)
			}
			var fe *FrameError
			if _, _, err := rx.Decrypt(nil, md, ct); !errors.As(err, &fe) || fe.KID != 1000 || fe.CTR != 0 {
				t.Fatalf("FrameError: %v", err)
			}
		})
	}
}

func TestContextReplayWindow(t *testing.T) {
	tx := newTestContext(t, DefaultSuite, 3)
	rx := newTestContext(t, DefaultSuite, 3)
	var frames [][]byte
	const w = ReplayWindow
	for i := 0; i < w+172; i++ {
		f, err := tx.Encrypt(nil, 3, nil, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	// Out of order within the window is fine, once.
	for _, i := range []int{10, 5, 9, w + 72, 73, w + 71} {
		if _, _, err := rx.Decrypt(nil, nil, frames[i]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		i    int
		want error
	}{{w + 72, ErrReplay}, {73, ErrReplay}, {74, nil}, {74, ErrReplay}, {72, ErrTooOld}, {10, ErrTooOld}, {w + 171, nil}, {171, ErrTooOld}, {172, nil}} {
		if _, _, err := rx.Decrypt(nil, nil, frames[tc.i]); !errors.Is(err, tc.want) {
			t.Errorf("frame %d: got %v, want %v", tc.i, err, tc.want)
		}
	}
}

func TestContextCounters(t *testing.T) {
	c := newTestContext(t, DefaultSuite, 1, 2)
	for want := uint64(0); want < 3; want++ {
		for _, kid := range []uint64{1, 2} {
			ct, err := c.Encrypt(nil, kid, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h, _, _ := ParseHeader(ct)
			if h.CTR != want || h.KID != kid {
				t.Fatalf("kid %d: header %+v, want ctr %d", kid, h, want)
			}
		}
	}
	// Re-adding a KID keeps its counter (no nonce reuse with the same key).
	if err := c.AddKey(1, testBaseKey(16)); err != nil {
		t.Fatal(err)
	}
	ct, _ := c.Encrypt(nil, 1, nil, nil)
	if h, _, _ := ParseHeader(ct); h.CTR != 3 {
		t.Fatalf("counter after re-add: %d", h.CTR)
	}
	// Exhaustion is an error, not a wrap-around.
	c.keys[2].next = math.MaxUint64
	if _, err := c.Encrypt(nil, 2, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Encrypt(nil, 2, nil, nil); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("exhausted: %v", err)
	}
	c.RemoveKey(1)
	if _, err := c.Encrypt(nil, 1, nil, nil); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("removed: %v", err)
	}
	if c.HasKey(1) || !c.HasKey(2) {
		t.Fatal("HasKey")
	}
	c.Close()
	if c.HasKey(2) {
		t.Fatal("Close kept a key")
	}
}

func TestContextKeyErrors(t *testing.T) {
	if _, err := NewContext(Suite(6)); !errors.Is(err, ErrUnknownSuite) {
		t.Fatal(err)
	}
	c := newTestContext(t, DefaultSuite)
	if err := c.AddKey(1, make([]byte, 8)); !errors.Is(err, ErrKeyLength) {
		t.Fatal(err)
	}
}

func TestContextOverlap(t *testing.T) {
	c := newTestContext(t, DefaultSuite, 1)
	buf := make([]byte, 100, 200)
	if _, err := c.Encrypt(buf[:10], 1, nil, buf[10:50]); !errors.Is(err, ErrOverlap) {
		t.Fatalf("encrypt overlap: %v", err)
	}
	ct, _ := c.Encrypt(nil, 1, nil, []byte("abc"))
	buf = append(buf[:0], ct...)
	if _, _, err := c.Decrypt(buf[:1], nil, buf[:len(ct)]); !errors.Is(err, ErrOverlap) {
		t.Fatalf("decrypt overlap: %v", err)
	}
}

func TestHeaderErrorsTyped(t *testing.T) {
	_, _, err := ParseHeader([]byte{0x80})
	var he *HeaderError
	if !errors.As(err, &he) || he.Field != "KID" || !errors.Is(err, ErrTruncatedHeader) {
		t.Fatalf("%v", err)
	}
}

// TestContextFarFuture: a counter far above the window is accepted (RFC 9605
// lets counters skip; only a key holder can make one authenticate) and moves
// the window, after which older counters are too old.
func TestContextFarFuture(t *testing.T) {
	tx := newTestContext(t, DefaultSuite, 8)
	rx := newTestContext(t, DefaultSuite, 8)
	early, _ := tx.Encrypt(nil, 8, nil, []byte("a"))
	tx.keys[8].next = 1 << 40
	far, _ := tx.Encrypt(nil, 8, nil, []byte("b"))
	if _, _, err := rx.Decrypt(nil, nil, far); err != nil {
		t.Fatalf("far-future counter: %v", err)
	}
	if _, _, err := rx.Decrypt(nil, nil, early); !errors.Is(err, ErrTooOld) {
		t.Fatalf("counter far below the window: %v", err)
	}
}
