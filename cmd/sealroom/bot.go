package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/auth"
)

func newBotCmd(e *env) *cobra.Command {
	var (
		c          common
		url, token string
		g          auth.Grant
		role       string
		ttl        time.Duration
		duration   time.Duration
		interval   time.Duration
		fps        int
		marker     string
		loopback   bool
		videoFile  string
		audioFile  string
	)
	cmd := &cobra.Command{
		Use:   "bot",
		Short: "Join a room headless and publish SFrame-encrypted VP8 and Opus (synthetic or recorded)",
		Long: "Joins a room as an MLS member, publishes VP8 video and Opus audio encrypted with the group's\n" +
			"SFrame keys, decrypts every other participant's frames, and prints its counters every\n" +
			"--interval and at exit (SIGINT or --duration).\n\n" +
			"Media: by default synthetic frames carrying --marker, which other bots recognise after decryption\n" +
			"(\"marked\") but a browser cannot decode. --video FILE.ivf (VP8) and --audio FILE.ogg (Opus, one\n" +
			"packet per Ogg page) publish a recording instead, looped at its own rate, which browsers render\n" +
			"and play; a track without a file stays synthetic. client/testdata holds a short clip of each.\n\n" +
			"Authentication: --token, or --room and --identity to mint a token with the local signing key\n" +
			"exactly like `sealroom token` (same key sources and flags, and the mint is audited the same way).\n" +
			"ICE uses loopback only unless --loopback-only=false.",
		Example: "  sealroom bot --room demo --identity bot-1 --duration 30s\n" +
			"  sealroom bot --room demo --identity bot-2 --video client/testdata/testsrc.ivf --audio client/testdata/tone.ogg\n" +
			"  sealroom bot --url https://meet.example --token \"$TOKEN\" --loopback-only=false",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rec *client.Recording
			if videoFile != "" || audioFile != "" {
				var err error
				if rec, err = client.LoadRecording(videoFile, audioFile); err != nil {
					return err
				}
			}
			if token == "" {
				if g.Room == "" || g.Identity == "" {
					return errors.New("--token, or --room and --identity, are required")
				}
				g.Role = auth.Role(role)
				g.CanPublish, g.CanSubscribe = true, true
				key, err := c.signingKey(e, e.logger())
				if err != nil {
					return err
				}
				var jti string
				token, jti, err = auth.NewSigner(key, c.issuer, c.audience).Mint(g, ttl)
				if err != nil {
					return err
				}
				if err := c.auditMint(cmd.Context(), e, g, jti, ttl); err != nil {
					return err
				}
			}
			s, err := client.RunBot(cmd.Context(), client.BotConfig{
				Client:   client.Config{URL: url, Token: token},
				Media:    client.MediaConfig{Marker: []byte(marker), VideoFPS: fps, LoopbackOnly: loopback, Recording: rec},
				Duration: duration, Interval: interval, Out: e.stdout,
			})
			if err != nil {
				return err
			}
			if s.VideoSent+s.AudioSent == 0 {
				return fmt.Errorf("bot: sent no frame")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	c.flags(fs, e)
	fs.StringVar(&url, "url", e.getenvOr("SEALROOM_URL", "http://127.0.0.1:8080"), "server base URL (env SEALROOM_URL)")
	fs.StringVar(&token, "token", "", "access token (JWT); instead of --room/--identity")
	fs.StringVar(&g.Room, "room", "", "room to join (with --identity: mint a token with the local key)")
	fs.StringVar(&g.Identity, "identity", "", "the bot's identity (sub) when minting")
	fs.StringVar(&g.Name, "name", "", "display name when minting")
	fs.StringVar(&role, "role", string(auth.RoleParticipant), "role when minting")
	fs.DurationVar(&ttl, "ttl", time.Hour, "token lifetime when minting")
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: until SIGINT)")
	fs.DurationVar(&interval, "interval", 5*time.Second, "how often to print the counters")
	fs.IntVar(&fps, "fps", 30, "synthetic video frames per second (without --video)")
	fs.StringVar(&marker, "marker", "sealroom-bot", "plaintext marker inside every synthetic frame (checked after decryption)")
	fs.BoolVar(&loopback, "loopback-only", true, "gather loopback ICE candidates only (local servers)")
	fs.StringVar(&videoFile, "video", "", "publish this VP8 IVF recording in a loop instead of synthetic video")
	fs.StringVar(&audioFile, "audio", "", "publish this Ogg Opus recording in a loop instead of synthetic audio")
	return cmd
}
