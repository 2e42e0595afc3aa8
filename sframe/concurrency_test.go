package sframe

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse runs senders, receivers and epoch changes at once; run
// with -race. Every frame decrypts to what was sent or fails with a typed
// error (a frame may race with its epoch's removal), never anything else.
func TestConcurrentUse(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var clockMu sync.Mutex
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock.t }
	cfg := MLSConfig{Grace: time.Second, Now: now}
	tx, err := NewMLSKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := NewMLSKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*MLSKeys{tx, rx} {
		if err := m.SetEpoch(1, 4, fakeExporter{group: "g", epoch: 1}); err != nil {
			t.Fatal(err)
		}
	}
	frames := make(chan []byte, 64)
	frame := append([]byte{0x11, 0, 0}, bytes.Repeat([]byte{7}, 500)...)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				enc, err := tx.EncryptFrame(nil, CodecVP8, frame)
				if err != nil {
					t.Error(err)
					return
				}
				frames <- enc
			}
		}()
	}
	var rxWG sync.WaitGroup
	for range 2 {
		rxWG.Add(1)
		go func() {
			defer rxWG.Done()
			for enc := range frames {
				got, _, err := rx.DecryptFrame(nil, CodecVP8, enc)
				if err == nil && !bytes.Equal(got, frame) {
					t.Error("wrong plaintext")
				}
				if err != nil && !isTyped(err) {
					t.Errorf("untyped error %v", err)
				}
			}
		}()
	}
	for epoch := uint64(2); epoch < 12; epoch++ {
		for _, m := range []*MLSKeys{rx, tx} {
			if err := m.SetEpoch(epoch, 4, fakeExporter{group: "g", epoch: epoch}); err != nil {
				t.Error(err)
			}
		}
		clockMu.Lock()
		clock.t = clock.t.Add(300 * time.Millisecond)
		clockMu.Unlock()
	}
	wg.Wait()
	close(frames)
	rxWG.Wait()
}
