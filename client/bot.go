package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// BotConfig configures RunBot.
type BotConfig struct {
	Client Config
	Media  MediaConfig
	// Duration bounds the run; zero runs until ctx ends.
	Duration time.Duration
	// Interval is how often the counters are printed (default 5 s; negative: only at exit).
	Interval time.Duration
	// Out receives the counter lines; nil discards them.
	Out io.Writer
}

// RunBot joins a room headless: it dials, waits for group membership, publishes
// synthetic (or, with Media.Recording, recorded) SFrame-encrypted VP8 and Opus, decrypts everyone else's, prints the
// counters every Interval and once more at exit ("final"), then leaves the room.
// It returns the final counters. Lines carry counts only, never a key, token or
// frame byte.
func RunBot(ctx context.Context, cfg BotConfig) (MediaStats, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	c, err := Dial(ctx, cfg.Client)
	if err != nil {
		return MediaStats{}, err
	}
	defer c.Close()
	if err := c.WaitJoined(ctx); err != nil {
		return MediaStats{}, fmt.Errorf("client: bot: waiting to join the group: %w", err)
	}
	m, err := c.StartMedia(ctx, cfg.Media)
	if err != nil {
		return MediaStats{}, err
	}
	start := time.Now()
	var tick <-chan time.Time
	if cfg.Interval > 0 {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	var runErr error
loop:
	for {
		select {
		case <-tick:
			fmt.Fprintln(cfg.Out, formatBotLine("stats", c, time.Since(start), m.Stats()))
		case <-ctx.Done():
			break loop
		case <-c.Done():
			runErr = ErrClosed
			break loop
		}
	}
	m.Close()
	s := m.Stats()
	fmt.Fprintln(cfg.Out, formatBotLine("final", c, time.Since(start), s))
	if runErr == nil {
		leaveCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := c.Leave(leaveCtx); err != nil && !errors.Is(err, ErrClosed) {
			runErr = err
		}
	}
	return s, runErr
}

// formatBotLine is one line of counters.
func formatBotLine(what string, c *Client, elapsed time.Duration, s MediaStats) string {
	epoch, _ := c.Epoch()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s t=%s epoch=%d sent: video=%d keyframes=%d audio=%d key_switches=%d send_errors=%d | received=%d decrypted=%d marked=%d held=%d failed=%d",
		what, c.Subject(), elapsed.Round(100*time.Millisecond), epoch, s.VideoSent, s.KeyframesSent, s.AudioSent,
		s.KeySwitches, s.SendErrors, s.Received, s.Decrypted, s.Marked, s.Held, s.Failed)
	for _, k := range slices.Sorted(maps.Keys(s.Failures)) {
		fmt.Fprintf(&b, " %s=%d", k, s.Failures[k])
	}
	fmt.Fprintf(&b, " sources=%d", len(s.Sources))
	return b.String()
}
