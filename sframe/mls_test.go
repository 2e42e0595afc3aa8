package sframe

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// fakeExporter stands in for an MLS epoch's exporter: a keyed function of the
// group secret, epoch, label and context, like RFC 9420 §8.5's.
type fakeExporter struct {
	group string
	epoch uint64
	fail  bool
	short bool
}

func (e fakeExporter) Export(label string, context []byte, length int) ([]byte, error) {
	if e.fail {
		return nil, errors.New("exporter down")
	}
	mac := hmac.New(sha256.New, []byte(e.group))
	mac.Write(binary.BigEndian.AppendUint64(nil, e.epoch))
	mac.Write([]byte(label))
	mac.Write(context)
	out := mac.Sum(nil)
	for len(out) < length {
		out = append(out, mac.Sum(out)...)
	}
	if e.short {
		length--
	}
	return out[:length], nil
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newMember(t *testing.T, clock *fakeClock, cfg MLSConfig) *MLSKeys {
	t.Helper()
	cfg.Now = clock.now
	m, err := NewMLSKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMLSKeysEpochs(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	alice := newMember(t, clock, MLSConfig{Grace: 5 * time.Second})
	bob := newMember(t, clock, MLSConfig{Grace: 5 * time.Second})
	frame := append([]byte{0x78}, bytes.Repeat([]byte("opus"), 20)...)

	if _, err := alice.EncryptFrame(nil, CodecOpus, frame); !errors.Is(err, ErrNoEpoch) {
		t.Fatalf("before any epoch: %v", err)
	}
	set := func(m *MLSKeys, epoch uint64, leaf uint32) {
		t.Helper()
		if err := m.SetEpoch(epoch, leaf, fakeExporter{group: "g", epoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	set(alice, 7, 0)
	set(bob, 7, 1)
	a7, err := alice.EncryptFrame(nil, CodecOpus, frame)
	if err != nil {
		t.Fatal(err)
	}
	b7, _ := bob.EncryptFrame(nil, CodecOpus, frame)
	for _, tc := range []struct {
		rx   *MLSKeys
		in   []byte
		leaf uint64
	}{{bob, a7, 0}, {alice, b7, 1}} {
		got, h, err := tc.rx.DecryptFrame(nil, CodecOpus, tc.in)
		if err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("epoch 7: %v", err)
		}
		if _, leaf, ep := tc.rx.Layout().Split(h.KID); leaf != tc.leaf || ep != 7 {
			t.Fatalf("kid %d: leaf %d epoch bits %d", h.KID, leaf, ep)
		}
	}

	// Epoch 8: Bob moves first; Alice's epoch-7 frames still decrypt in the grace period.
	set(bob, 8, 1)
	a7b, _ := alice.EncryptFrame(nil, CodecOpus, frame)
	if _, _, err := bob.DecryptFrame(nil, CodecOpus, a7b); err != nil {
		t.Fatalf("previous epoch in grace: %v", err)
	}
	set(alice, 8, 0)
	a8, _ := alice.EncryptFrame(nil, CodecOpus, frame)
	if _, _, err := bob.DecryptFrame(nil, CodecOpus, a8); err != nil {
		t.Fatalf("epoch 8: %v", err)
	}
	if e, _ := bob.Epoch(); e != 8 {
		t.Fatalf("epoch %d", e)
	}
	// A stale epoch is refused.
	if err := bob.SetEpoch(8, 1, fakeExporter{group: "g", epoch: 8}); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale: %v", err)
	}
	// After the grace period, epoch 7 is gone.
	clock.t = clock.t.Add(6 * time.Second)
	if _, _, err := bob.DecryptFrame(nil, CodecOpus, a7b); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("expired epoch: %v", err)
	}
	fresh7 := mustEncryptAt(t, 7, 0, frame)
	if _, _, err := bob.DecryptFrame(nil, CodecOpus, fresh7); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("expired epoch, new frame: %v", err)
	}
}

// mustEncryptAt encrypts as leaf in epoch with a throwaway member.
func mustEncryptAt(t *testing.T, epoch uint64, leaf uint32, frame []byte) []byte {
	t.Helper()
	m, err := NewMLSKeys(MLSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetEpoch(epoch, leaf, fakeExporter{group: "g", epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	// Skip past counters the real sender used, to look like a new frame.
	m.ctx.keys[m.selfKID].next = 1000
	out, err := m.EncryptFrame(nil, CodecOpus, frame)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMLSKeysEpochCollision(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	cfg := MLSConfig{Layout: KIDLayout{EpochBits: 2, SenderBits: 8}, Grace: time.Hour}
	rx := newMember(t, clock, cfg)
	if err := rx.SetEpoch(1, 3, fakeExporter{group: "g", epoch: 1}); err != nil {
		t.Fatal(err)
	}
	old := mustEncryptAtCfg(t, cfg, 1, 0)
	if _, _, err := rx.Decrypt(nil, nil, old); err != nil {
		t.Fatal(err)
	}
	// Epoch 5 has the same low 2 bits as epoch 1: epoch 1 goes at once,
	// despite the grace period, and its frames do not decrypt under epoch 5.
	if err := rx.SetEpoch(5, 3, fakeExporter{group: "g", epoch: 5}); err != nil {
		t.Fatal(err)
	}
	old2 := mustEncryptAtCfg(t, cfg, 1, 0)
	if _, _, err := rx.Decrypt(nil, nil, old2); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("colliding old epoch: %v", err)
	}
	if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, 5, 0)); err != nil {
		t.Fatal(err)
	}
	// Epoch 6 keeps 5 as previous (grace); epoch 7 drops it: with E = 2, epoch
	// 5's low bits are those of 9, the epoch after next, whose frames are held.
	if err := rx.SetEpoch(6, 3, fakeExporter{group: "g", epoch: 6}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, 5, 1)); err != nil {
		t.Fatalf("previous epoch in grace: %v", err)
	}
	if err := rx.SetEpoch(7, 3, fakeExporter{group: "g", epoch: 7}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, 5, 2)); err == nil {
		t.Fatal("epoch 5 still accepted after epoch 7")
	}
	if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, 6, 2)); err != nil {
		t.Fatalf("epoch 6 is the previous epoch of 7: %v", err)
	}
	rx.Close()
	if _, err := rx.KID(); !errors.Is(err, ErrNoEpoch) {
		t.Fatal(err)
	}
}

func mustEncryptAtCfg(t *testing.T, cfg MLSConfig, epoch uint64, leaf uint32) []byte {
	t.Helper()
	cfg.Now = nil
	m, err := NewMLSKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetEpoch(epoch, leaf, fakeExporter{group: "g", epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	out, err := m.Encrypt(nil, nil, []byte("frame"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMLSKeysErrors(t *testing.T) {
	m, err := NewMLSKeys(MLSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetEpoch(1, 0, fakeExporter{fail: true}); !errors.Is(err, ErrExporter) {
		t.Fatal(err)
	}
	if err := m.SetEpoch(1, 0, fakeExporter{short: true}); !errors.Is(err, ErrExporter) {
		t.Fatal(err)
	}
	if err := m.SetEpoch(1, 1<<16, fakeExporter{}); !errors.Is(err, ErrKIDLayout) {
		t.Fatal(err)
	}
	if _, err := NewMLSKeys(MLSConfig{Layout: KIDLayout{EpochBits: 0, SenderBits: 3}}); !errors.Is(err, ErrKIDLayout) {
		t.Fatal(err)
	}
	wrong := ExporterFunc(func(string, []byte, int) ([]byte, error) { return make([]byte, 3), nil })
	if err := m.SetEpoch(1, 0, wrong); !errors.Is(err, ErrExporter) {
		t.Fatal(err)
	}
	if _, err := NewMLSKeys(MLSConfig{Suite: 99}); !errors.Is(err, ErrUnknownSuite) {
		t.Fatal(err)
	}
	// Unknown epoch bits: typed error, and a forged frame installs no key.
	if err := m.SetEpoch(2, 0, fakeExporter{group: "g", epoch: 2}); err != nil {
		t.Fatal(err)
	}
	forged := []byte{0x80, 0x13, 0xaa, 0xbb} // X=1, K=0: one KID byte, 0x13 = sender 1, epoch bits 3
	if _, _, err := m.Decrypt(nil, nil, append(forged, make([]byte, 16)...)); !errors.Is(err, ErrUnknownKID) {
		t.Fatal(err)
	}
	forged[1] = 0x12 // epoch bits 2: held; the tag is wrong
	if _, _, err := m.Decrypt(nil, nil, append(forged, make([]byte, 16)...)); !errors.Is(err, ErrAuthentication) {
		t.Fatal(err)
	}
	if m.ctx.HasKey(0x12) {
		t.Fatal("forged frame installed a key")
	}
}

// Quick churn: epochs two and three behind the current one still decrypt in
// their grace period, and not after it.
func TestMLSKeysEarlierEpochsInGrace(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	cfg := MLSConfig{Grace: 5 * time.Second}
	rx := newMember(t, clock, cfg)
	for e := uint64(4); e <= 7; e++ {
		if err := rx.SetEpoch(e, 3, fakeExporter{group: "g", epoch: e}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []uint64{5, 4} {
		if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, e, 0)); err != nil {
			t.Fatalf("epoch %d, %d behind, in its grace period: %v", e, 7-e, err)
		}
	}
	clock.t = clock.t.Add(5*time.Second + time.Millisecond)
	if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, 5, 1)); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("epoch 5 after its grace period: %v", err)
	}
	if _, _, err := rx.Decrypt(nil, nil, mustEncryptAtCfg(t, cfg, 7, 1)); err != nil {
		t.Fatal(err)
	}
}

// A frame prepared for one KID does not go out under the next: after an epoch change
// EncryptFrameUnder refuses the old KID, encrypts nothing, and takes the new one.
func TestMLSKeysEncryptFrameUnder(t *testing.T) {
	m, err := NewMLSKeys(MLSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte{0x01, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // a VP8 delta frame
	if _, err := m.EncryptFrameUnder(nil, 0, CodecVP8, frame); !errors.Is(err, ErrNoEpoch) {
		t.Fatalf("before any epoch: %v", err)
	}
	if err := m.SetEpoch(1, 2, fakeExporter{group: "g", epoch: 1}); err != nil {
		t.Fatal(err)
	}
	old, _ := m.KID()
	if _, err := m.EncryptFrameUnder(nil, old, CodecVP8, frame); err != nil {
		t.Fatal(err)
	}
	if err := m.SetEpoch(2, 2, fakeExporter{group: "g", epoch: 2}); err != nil {
		t.Fatal(err)
	}
	out, err := m.EncryptFrameUnder([]byte("kept"), old, CodecVP8, frame)
	if !errors.Is(err, ErrKIDChanged) || string(out) != "kept" {
		t.Fatalf("under the previous KID: %q, %v", out, err)
	}
	kid, _ := m.KID()
	if kid == old {
		t.Fatal("the KID did not change with the epoch")
	}
	if _, err := m.EncryptFrameUnder(nil, kid, CodecVP8, frame); err != nil {
		t.Fatal(err)
	}
}
