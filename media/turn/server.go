package turn

import (
	"crypto/cipher"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// Config configures the TURN server.
type Config struct {
	// Conn is the UDP socket TURN listens on (e.g. :3478), if any.
	Conn net.PacketConn
	// Listeners are the stream listeners TURN accepts clients on, if any: a
	// TCP listener (turn:host:3478?transport=tcp) or a tls.NewListener
	// (turns:host:443?transport=tcp), for networks that block UDP. Whatever
	// the listener, relays are UDP only. At least Conn or one listener.
	Listeners []net.Listener
	// RelayIP is the address relays are advertised at (the server's
	// public IP); RelayBind is the local address relay sockets bind to.
	RelayIP   net.IP
	RelayBind string
	Realm     string
	// Secret keys the credential HMAC; at least 32 random bytes, shared
	// by every server process of a deployment.
	Secret []byte
	// TTL is how long minted credentials live (default 10 min, 5 s to
	// 24 h). TURN checks them per request, and a relay closes when the
	// credential it was allocated with expires (closeDead): a client
	// that stays moves to fresh credentials (signaling pushes them before
	// expiry) by an ICE restart, which allocates a new relay.
	TTL time.Duration
	// AllowedPeers are exact addresses relays may reach although they are
	// not public: the SFU's media socket(s) when the server sits on a
	// private network. Only these ports of these IPs are opened.
	AllowedPeers []netip.AddrPort
	// Revoked reports whether the room token behind a credential has been
	// revoked. It is asked on every authenticated request and, for live
	// allocations, every RevocationCheck: a revoked token's relays close.
	Revoked func(Grant) bool
	// RevocationCheck is how often live allocations are checked against
	// Revoked and their credential's expiry (default 1 s).
	RevocationCheck time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server is a running TURN server.
type Server struct {
	cfg  Config
	srv  *pionturn.Server
	aead cipher.AEAD
	gen  *relayGenerator
	stop chan struct{}
	done chan struct{}

	closeOnce sync.Once
	closeErr  error

	// refused counts permissions (CreatePermission, ChannelBind) the relay
	// policy refused; metrics.go reports it.
	refused atomic.Uint64
}

// New starts a TURN server on cfg.Conn and cfg.Listeners.
func New(cfg Config) (*Server, error) {
	if (cfg.Conn == nil && len(cfg.Listeners) == 0) || cfg.RelayIP == nil || cfg.Realm == "" {
		return nil, fmt.Errorf("%w: Conn or Listeners, RelayIP and Realm required", ErrConfig)
	}
	if slices.Contains(cfg.Listeners, nil) {
		return nil, fmt.Errorf("%w: nil listener", ErrConfig)
	}
	if len(cfg.Secret) < 32 {
		return nil, fmt.Errorf("%w: secret shorter than 32 bytes", ErrConfig)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.TTL < MinTTL || cfg.TTL > 24*time.Hour {
		return nil, fmt.Errorf("%w: TTL out of 5s..24h", ErrConfig)
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RevocationCheck <= 0 {
		cfg.RevocationCheck = time.Second
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	s := &Server{cfg: cfg, aead: grantAEAD(cfg.Secret), stop: make(chan struct{}), done: make(chan struct{})}
	pol := policy{allowed: append([]netip.AddrPort(nil), cfg.AllowedPeers...)}
	for i, ap := range pol.allowed {
		pol.allowed[i] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s.gen = &relayGenerator{
		RelayAddressGeneratorStatic: &pionturn.RelayAddressGeneratorStatic{
			RelayAddress: cfg.RelayIP,
			Address:      cfg.RelayBind,
		},
		policy: pol,
	}
	permit := func(_ net.Addr, peer net.IP) bool {
		ok := pol.permitIP(peer)
		if !ok {
			s.refused.Add(1)
		}
		return ok
	}
	var packetConns []pionturn.PacketConnConfig
	if cfg.Conn != nil {
		packetConns = append(packetConns, pionturn.PacketConnConfig{
			PacketConn:            &filterConn{PacketConn: cfg.Conn, s: s},
			RelayAddressGenerator: s.gen,
			PermissionHandler:     permit,
		})
	}
	var listeners []pionturn.ListenerConfig
	for _, l := range cfg.Listeners {
		listeners = append(listeners, pionturn.ListenerConfig{
			Listener:              &filterListener{Listener: l, s: s},
			RelayAddressGenerator: s.gen,
			PermissionHandler:     permit,
		})
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		Realm: cfg.Realm,
		AuthHandler: func(ra *pionturn.RequestAttributes) (string, []byte, bool) {
			if ra.Realm != cfg.Realm {
				return "", nil, false
			}
			pw, _, ok := s.check(ra.Username)
			if !ok {
				return "", nil, false
			}
			// RFC 8489 §9.2.2: the long-term key is MD5(user:realm:pass);
			// pion verifies MESSAGE-INTEGRITY with it.
			return ra.Username, pionturn.GenerateAuthKey(ra.Username, ra.Realm, pw), true
		},
		PacketConnConfigs: packetConns,
		ListenerConfigs:   listeners,
	})
	if err != nil {
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	s.srv = srv
	go s.watchRevocations()
	return s, nil
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// MinTTL is the shortest credential lifetime Config.TTL accepts (tests of
// long visits use it; deployments keep minutes).
const MinTTL = 5 * time.Second

// watchRevocations closes the relays of revoked grants and expired
// credentials. pion checks the credential only on requests, and Send
// indications and ChannelData are not requests, so a live allocation
// would otherwise carry media until its next Refresh, minutes after the
// token was revoked or the credential ran out.
func (s *Server) watchRevocations() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.RevocationCheck)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.closeDead()
		}
	}
}

// closeDead closes the relays whose grant is revoked or whose credential
// has expired. The expiry is enforced here rather than left to the
// client's next Refresh or CreatePermission (which pion's client sends
// every 2 to 5 minutes with the credential it allocated with, and which
// then fail): a relay lives exactly as long as its credential, whatever
// the client does, and a client that stays in a visit moves to the fresh
// credentials signaling pushes before expiry (an ICE restart allocates a
// new relay with them).
func (s *Server) closeDead() {
	now := s.now().Unix()
	s.gen.closeWhere(func(user string) bool {
		exp, sealed, _ := strings.Cut(user, ":")
		sec, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || sec < now {
			return true
		}
		g, ok := openGrant(s.aead, exp, sealed)
		return !ok || s.revoked(g)
	})
}

// TTL is how long the credentials Credentials mints live.
func (s *Server) TTL() time.Duration { return s.cfg.TTL }

// Allocations is the number of live relays.
func (s *Server) Allocations() int { return s.gen.count() }

// Close stops the server, its allocations and the connections its listeners
// accepted, and forgets the secret. It may be called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.closeErr = s.srv.Close()
		clear(s.cfg.Secret)
	})
	return s.closeErr
}
