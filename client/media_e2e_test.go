package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/sframe"
)

// frameKID reads the (unauthenticated) SFrame KID of an encrypted frame of the
// prefix layouts (docs/protocol.md, "Codec layouts").
func frameKID(t *testing.T, codec sframe.Codec, frame []byte) uint64 {
	t.Helper()
	n := 1
	if codec == sframe.CodecVP8 {
		n = 3
		if sframe.VP8KeyFrame(frame) {
			n = 10
		}
	}
	h, _, err := sframe.ParseHeader(frame[n:])
	if err != nil {
		t.Fatalf("own frame has no SFrame header: %v", err)
	}
	return h.KID
}

type sentFrame struct {
	codec sframe.Codec
	kid   uint64
	frame []byte
}

// recorder keeps what a bot's hooks saw.
type botRecord struct {
	mu   sync.Mutex
	sent []sentFrame
	// first decrypted frame per (source, epoch bits)
	first map[string]time.Time
	byKey map[string]int // source|epochbits|codec -> frames
}

func epochKey(from string, e uint64, codec sframe.Codec) string {
	return from + "|" + string(rune('a'+e)) + "|" + codec.String()
}

func (r *botRecord) count(from string, e uint64, codec sframe.Codec) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byKey[epochKey(from, e, codec)]
}

type bot struct {
	name string
	c    *client.Client
	m    *client.Media
	rec  *botRecord
}

// Three bots on a real server (Delivery Service, SFU, audit log on Postgres) publish
// synthetic VP8 and Opus over real pion peers on loopback. Each decrypts every
// other's frames and recovers the plaintext marker (MediaStats.Marked), which never appears in anything
// the SFU reads. When one bot leaves, the others switch to the new epoch without a
// frame lost to a missing key, and the departed bot's keys open none of the frames
// sent after the switch.
func TestMediaThreeBotsEndToEnd(t *testing.T) {
	mb := make([]byte, 12)
	_, _ = rand.Read(mb)
	marker := []byte("sealroom-marker-" + hex.EncodeToString(mb))
	var observed, leaked atomic.Uint64
	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0", Observe: func(pkt []byte) {
		observed.Add(1)
		if bytes.Contains(pkt, marker) {
			leaked.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	f := newFixture(t, func(d *server.Deps) { d.Media = sfu })

	bots := []*bot{{name: "alice"}, {name: "bob"}, {name: "carol"}}
	for _, b := range bots {
		b.c = f.dial(t, b.name)
	}
	var e0 uint64
	poll.Until(t, 15*time.Second, "one epoch for all three", func() bool {
		var es []uint64
		for _, b := range bots {
			e, ok := b.c.Epoch()
			k, err := b.c.Keys().Epoch()
			if !ok || err != nil || k != e {
				return false
			}
			es = append(es, e)
		}
		e0 = es[0]
		return es[0] == es[1] && es[1] == es[2] && e0 >= 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout := bots[0].c.Keys().Layout()
	mask := uint64(1)<<layout.EpochBits - 1
	for _, b := range bots {
		rec := &botRecord{first: map[string]time.Time{}, byKey: map[string]int{}}
		b.rec = rec
		cfg := client.MediaConfig{Marker: marker, LoopbackOnly: true,
			OnSent: func(codec sframe.Codec, frame []byte) {
				kid := frameKID(t, codec, frame)
				rec.mu.Lock()
				if _, _, e := layout.Split(kid); e != e0&mask && len(rec.sent) < 4096 {
					rec.sent = append(rec.sent, sentFrame{codec, kid, bytes.Clone(frame)})
				}
				rec.mu.Unlock()
			},
			OnFrame: func(fr client.Frame) {
				if !fr.Marked {
					return // counted below: every frame here is synthetic and must carry the marker
				}
				_, _, e := layout.Split(fr.KID)
				k := epochKey(fr.From, e, fr.Codec)
				rec.mu.Lock()
				if rec.byKey[k] == 0 {
					rec.first[k] = time.Now()
				}
				rec.byKey[k]++
				rec.mu.Unlock()
			}}
		if b.m, err = b.c.StartMedia(ctx, cfg); err != nil {
			t.Fatalf("%s: StartMedia: %v", b.name, err)
		}
		t.Cleanup(b.m.Close)
	}
	start := time.Now()

	// Phase 1: everyone decrypts everyone else's audio and video of epoch e0.
	const want = 30
	poll.Until(t, 20*time.Second, "every bot decrypting every other's audio and video", func() bool {
		for _, rx := range bots {
			for _, tx := range bots {
				if rx == tx {
					continue
				}
				id := tx.c.ParticipantID()
				if rx.rec.count(id, e0&mask, sframe.CodecVP8) < want || rx.rec.count(id, e0&mask, sframe.CodecOpus) < want {
					return false
				}
			}
		}
		return true
	})
	t.Logf("all 3x2 directions decrypted >= %d video and audio frames %s after StartMedia", want, time.Since(start).Round(time.Millisecond))

	// Phase 2: carol leaves; alice and bob move to the next epoch.
	alice, bob, carol := bots[0], bots[1], bots[2]
	carol.m.Close()
	left := time.Now()
	if err := carol.c.Leave(ctx); err != nil {
		t.Fatalf("carol leave: %v", err)
	}
	e1 := e0 + 1
	var switched time.Duration
	poll.Until(t, 10*time.Second, "alice and bob in the next epoch", func() bool {
		for _, b := range []*bot{alice, bob} {
			if k, err := b.c.Keys().Epoch(); err != nil || k < e1 {
				return false
			}
		}
		switched = time.Since(left)
		return true
	})
	poll.Until(t, 10*time.Second, "alice and bob decrypting each other in the new epoch", func() bool {
		return alice.rec.count(bob.c.ParticipantID(), e1&mask, sframe.CodecVP8) >= want &&
			alice.rec.count(bob.c.ParticipantID(), e1&mask, sframe.CodecOpus) >= want &&
			bob.rec.count(alice.c.ParticipantID(), e1&mask, sframe.CodecVP8) >= want &&
			bob.rec.count(alice.c.ParticipantID(), e1&mask, sframe.CodecOpus) >= want
	})
	firstNew := func(rx, tx *bot) time.Duration {
		rx.rec.mu.Lock()
		defer rx.rec.mu.Unlock()
		return rx.rec.first[epochKey(tx.c.ParticipantID(), e1&mask, sframe.CodecVP8)].Sub(left)
	}
	t.Logf("epoch %d -> %d: keys switched on both %s after carol's leave; first new-epoch video frame decrypted by alice after %s, by bob after %s",
		e0, e1, switched.Round(time.Millisecond), firstNew(alice, bob).Round(time.Millisecond), firstNew(bob, alice).Round(time.Millisecond))
	for _, b := range []*bot{alice, bob} {
		b.m.Close()
	}

	// The departed member's keys open nothing sent after the switch.
	if e, _ := carol.c.Keys().Epoch(); e != e0 {
		t.Fatalf("carol's keys are at epoch %d, want %d", e, e0)
	}
	var fed, opened int
	for _, b := range []*bot{alice, bob} {
		b.rec.mu.Lock()
		sent := b.rec.sent
		b.rec.mu.Unlock()
		// The first video frame under the new epoch's KID is a key frame (DESIGN.md §5).
		for _, s := range sent {
			if s.codec == sframe.CodecVP8 {
				if !sframe.VP8KeyFrame(s.frame) {
					t.Errorf("%s: first video frame after the key switch is not a key frame", b.name)
				}
				break
			}
		}
		for _, s := range sent {
			fed++
			if _, _, err := carol.c.Keys().DecryptFrame(nil, s.codec, s.frame); err == nil {
				opened++
			} else if !errors.Is(err, sframe.ErrUnknownKID) {
				t.Errorf("departed decryptor: %v, want ErrUnknownKID", err)
			}
		}
	}
	if fed < 2*want || opened != 0 {
		t.Fatalf("departed bot opened %d of %d frames sent after the switch", opened, fed)
	}

	// The SFU handled only ciphertext.
	if observed.Load() == 0 {
		t.Fatal("the SFU observed no packet")
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("%d packets handled by the SFU contain the plaintext marker", n)
	}

	for _, b := range bots {
		s := b.m.Stats()
		t.Logf("%s: sent video=%d (keyframes %d) audio=%d key_switches=%d | received=%d decrypted=%d marked=%d held=%d failed=%d %v",
			b.name, s.VideoSent, s.KeyframesSent, s.AudioSent, s.KeySwitches, s.Received, s.Decrypted, s.Marked, s.Held, s.Failed, s.Failures)
		for src, ss := range s.Sources {
			t.Logf("  from %s: video=%d audio=%d gaps=%d", src, ss.Video, ss.Audio, ss.Gaps)
		}
		if s.Decrypted == 0 || s.Marked != s.Decrypted {
			t.Errorf("%s: %d of %d decrypted frames carried the marker", b.name, s.Marked, s.Decrypted)
		}
		for src, ss := range s.Sources {
			if ss.Marked != ss.Video+ss.Audio {
				t.Errorf("%s: from %s %d of %d frames carried the marker", b.name, src, ss.Marked, ss.Video+ss.Audio)
			}
		}
		for _, reason := range []string{client.FailNoKey, client.FailAuth, client.FailMalformed, client.FailReplay} {
			if n := s.Failures[reason]; n != 0 {
				t.Errorf("%s: %d frames failed with %s", b.name, n, reason)
			}
		}
		if s.SendErrors != 0 {
			t.Errorf("%s: %d send errors", b.name, s.SendErrors)
		}
		if b != carol && (s.KeySwitches < 1 || s.KeyframesSent < s.KeySwitches+1) {
			t.Errorf("%s: %d key switches, %d keyframes: want a keyframe after every switch", b.name, s.KeySwitches, s.KeyframesSent)
		}
	}
	t.Logf("SFU observed %d packets, none with the marker; departed bot failed on all %d frames sent after the switch", observed.Load(), fed)
}
