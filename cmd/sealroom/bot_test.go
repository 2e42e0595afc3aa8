package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/migrations/pgtest"
)

// Two `sealroom bot` runs against `sealroom serve` (real Postgres, SFU on loopback), one
// minting its token with the local key and publishing synthetic frames, one given a
// token by `sealroom token` and publishing the recorded test clip: both decrypt the
// other's frames, and only the synthetic ones carry the marker.
func TestBotCommand(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t), "SEALROOM_DATA": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--migrate", "--addr", "127.0.0.1:0", "--media-addr", "127.0.0.1:0", "--drain-delay", "0s"},
			testEnv(vars), io.Discard, &stderr)
	}()
	base := waitServing(t, &stderr, done)

	var tok syncBuffer
	if err := run(ctx, []string{"token", "--room", "demo", "--identity", "bot-1", "--ttl", "10m"}, testEnv(vars), &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	auth := [][]string{{"--room", "demo", "--identity", "bot-0"},
		{"--token", strings.TrimSpace(tok.String()), "--video", "../../client/testdata/testsrc.ivf", "--audio", "../../client/testdata/tone.ogg"}}
	outs := make([]*syncBuffer, 2)
	errs := make(chan error, len(outs))
	for i := range outs {
		outs[i] = &syncBuffer{}
		go func() {
			args := append([]string{"bot", "--url", base, "--duration", "4s", "--interval", "1s"}, auth[i]...)
			errs <- run(ctx, args, testEnv(vars), outs[i], io.Discard)
		}()
	}
	for range outs {
		if err := <-errs; err != nil {
			t.Fatalf("bot: %v", err)
		}
	}
	for i, out := range outs {
		var final string
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "final ") {
				final = sc.Text()
			}
		}
		t.Logf("bot-%d: %s", i, final)
		var decrypted, failed int
		if _, err := fmt.Sscanf(final[strings.Index(final, "decrypted="):], "decrypted=%d", &decrypted); err != nil {
			t.Fatalf("bot-%d: no final counters in %q", i, out.String())
		}
		if _, err := fmt.Sscanf(final[strings.Index(final, "failed="):], "failed=%d", &failed); err != nil {
			t.Fatal(err)
		}
		var marked int
		if _, err := fmt.Sscanf(final[strings.Index(final, "marked="):], "marked=%d", &marked); err != nil {
			t.Fatal(err)
		}
		if decrypted == 0 || failed != 0 || !strings.Contains(final, "sources=1") {
			t.Fatalf("bot-%d: %s", i, final)
		}
		// bot-0 receives bot-1's recording, bot-1 bot-0's synthetic frames.
		if wantMarked := i == 1; (marked == decrypted) != wantMarked || (marked == 0) == wantMarked {
			t.Fatalf("bot-%d: %d of %d decrypted frames marked: %s", i, marked, decrypted, final)
		}
		if !strings.Contains(out.String(), "stats bot-") {
			t.Fatalf("bot-%d printed no periodic counters: %q", i, out.String())
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestBotRefusesBadRecording(t *testing.T) {
	err := run(context.Background(), []string{"bot", "--room", "demo", "--identity", "b", "--video", "../../client/testdata/tone.ogg"},
		testEnv(nil), io.Discard, io.Discard)
	if !errors.Is(err, client.ErrRecordingMalformed) {
		t.Fatalf("bot with an Ogg file as --video: %v", err)
	}
}

func TestBotNeedsToken(t *testing.T) {
	err := run(context.Background(), []string{"bot", "--room", "demo"}, testEnv(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--identity") {
		t.Fatalf("bot without token or identity: %v", err)
	}
}
