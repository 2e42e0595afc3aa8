package turn

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// Config configures the TURN server.
type Config struct {
	// Conn is the UDP socket TURN listens on (e.g. :3478).
	Conn net.PacketConn
	// RelayIP is the address relays are advertised at (the server's
	// public IP); RelayBind is the local address relay sockets bind to.
	RelayIP   net.IP
	RelayBind string
	Realm     string
	// Secret keys the credential HMAC; at least 32 random bytes, shared
	// by every server process of a deployment.
	Secret []byte
	// TTL is how long minted credentials live (default 10 min, at most
	// 24 h). TURN checks them per request, so an allocation outlives
	// its credential only until its next refresh.
	TTL time.Duration
	// AllowedPeers are exact addresses relays may reach although they are
	// not public: the SFU's media socket(s) when the server sits on a
	// private network. Only these ports of these IPs are opened.
	AllowedPeers []netip.AddrPort
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server is a running TURN server.
type Server struct {
	cfg Config
	srv *pionturn.Server
}

// New starts a TURN server on cfg.Conn.
func New(cfg Config) (*Server, error) {
	if cfg.Conn == nil || cfg.RelayIP == nil || cfg.Realm == "" {
		return nil, fmt.Errorf("%w: Conn, RelayIP and Realm required", ErrConfig)
	}
	if len(cfg.Secret) < 32 {
		return nil, fmt.Errorf("%w: secret shorter than 32 bytes", ErrConfig)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.TTL < time.Minute || cfg.TTL > 24*time.Hour {
		return nil, fmt.Errorf("%w: TTL out of 1m..24h", ErrConfig)
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	s := &Server{cfg: cfg}
	pol := policy{allowed: append([]netip.AddrPort(nil), cfg.AllowedPeers...)}
	for i, ap := range pol.allowed {
		pol.allowed[i] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		Realm: cfg.Realm,
		AuthHandler: func(ra *pionturn.RequestAttributes) (string, []byte, bool) {
			pw, ok := s.check(ra.Username)
			if !ok {
				return "", nil, false
			}
			// RFC 8489 §9.2.2: the long-term key is MD5(user:realm:pass);
			// pion verifies MESSAGE-INTEGRITY with it.
			return ra.Username, pionturn.GenerateAuthKey(ra.Username, ra.Realm, pw), true
		},
		PacketConnConfigs: []pionturn.PacketConnConfig{{
			PacketConn: cfg.Conn,
			RelayAddressGenerator: &relayGenerator{
				RelayAddressGeneratorStatic: &pionturn.RelayAddressGeneratorStatic{
					RelayAddress: cfg.RelayIP,
					Address:      cfg.RelayBind,
				},
				policy: pol,
			},
			PermissionHandler: func(_ net.Addr, peer net.IP) bool { return pol.permitIP(peer) },
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	s.srv = srv
	return s, nil
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// Close stops the server and its allocations, and forgets the secret.
func (s *Server) Close() error {
	err := s.srv.Close()
	clear(s.cfg.Secret)
	return err
}
