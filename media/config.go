package media

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// Config configures an SFU. The zero value of every field but Conn or
// ListenAddr selects a documented default.
type Config struct {
	// Conn is the one UDP socket all participants' media uses (ICE UDP
	// mux). If nil, New listens on ListenAddr.
	Conn *net.UDPConn
	// ListenAddr is used when Conn is nil, e.g. "0.0.0.0:7882". A loopback
	// address restricts ICE to loopback candidates (tests).
	ListenAddr string
	// PublicIPs, if set, replace the host candidates' addresses (1:1 NAT).
	PublicIPs []string
	// TCPListenAddr, if set, is where the SFU also accepts ICE over TCP
	// (RFC 6544 passive candidates, one TCP port for all participants,
	// framed per RFC 4571), for clients on networks that block UDP. Empty:
	// UDP only.
	TCPListenAddr string

	// RateLimit bounds each participant's incoming packets.
	RateLimit RateLimit
	// PLIMinInterval is the shortest time between two keyframe requests
	// sent for one upstream layer. Default 500 ms.
	PLIMinInterval time.Duration
	// ControlInterval is how often each subscriber's layers are re-chosen
	// from its bandwidth estimate. Default 500 ms.
	ControlInterval time.Duration
	// InitialBitrate, MinBitrate and MaxBitrate bound the per-subscriber
	// congestion controller (bits/s). Defaults 1.5 M, 30 k, 20 M.
	InitialBitrate, MinBitrate, MaxBitrate int

	// VideoCodecs is the order in which a room chooses its video codec: the
	// first every participant decodes (mimeTypes, of H.264, VP9, VP8 and
	// AV1). Default H.264, VP9, VP8; a room whose participants share none
	// of them uses VP8.
	VideoCodecs []string

	// Logger receives operational logs; nil discards them. Logs never
	// carry payload bytes.
	Logger *slog.Logger

	// Observe, if set, is a test and diagnostic hook: it sees every RTP
	// packet (header and payload, after SRTP) the SFU reads from a
	// publisher, before forwarding, on the forwarding goroutine. It must
	// not block, retain or modify the slice. Since the SFU never holds a key,
	// it never sees anything but SFrame ciphertext and clear codec bytes:
	// the end-to-end tests use it to show a plaintext marker never reaches
	// the SFU.
	Observe func(packet []byte)
}

func (c Config) withDefaults() (Config, error) {
	if c.Conn == nil && c.ListenAddr == "" {
		return c, fmt.Errorf("%w: Conn or ListenAddr required", ErrConfig)
	}
	if len(c.VideoCodecs) == 0 {
		c.VideoCodecs = defaultVideoCodecs
	}
	// Canonical mimeTypes, in a slice of the SFU's own.
	codecs := make([]string, 0, len(c.VideoCodecs))
	for _, v := range c.VideoCodecs {
		i := slices.IndexFunc(roomCodecs, func(k string) bool { return strings.EqualFold(v, k) })
		if i < 0 {
			return c, fmt.Errorf("%w: video codec %q is not one of %v", ErrConfig, v, roomCodecs)
		}
		codecs = append(codecs, roomCodecs[i])
	}
	c.VideoCodecs = codecs
	if c.RateLimit == (RateLimit{}) {
		c.RateLimit = DefaultRateLimit()
	}
	if c.PLIMinInterval <= 0 {
		c.PLIMinInterval = 500 * time.Millisecond
	}
	if c.ControlInterval <= 0 {
		c.ControlInterval = 500 * time.Millisecond
	}
	if c.InitialBitrate <= 0 {
		c.InitialBitrate = 1_500_000
	}
	if c.MinBitrate <= 0 {
		c.MinBitrate = 30_000
	}
	if c.MaxBitrate <= 0 {
		c.MaxBitrate = 20_000_000
	}
	if c.MinBitrate > c.InitialBitrate || c.InitialBitrate > c.MaxBitrate {
		return c, fmt.Errorf("%w: need MinBitrate <= InitialBitrate <= MaxBitrate", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
