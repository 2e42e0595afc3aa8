package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sealroom/sealroom/cluster"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/webapp"
)

// serveOptions are serve's flags and environment, kept apart from the wiring (serve)
// that uses them.
type serveOptions struct {
	common
	addr      string
	migrate   bool
	proxies   []string
	cfg       server.Config
	maxBody   int64
	ratePerS  float64
	tlsCert   string
	tlsKey    string
	mediaAddr string
	// mediaTCPAddr is the SFU's ICE-TCP address; empty: UDP only.
	mediaTCPAddr string
	// videoCodecs is the room codec order (media.Config.VideoCodecs), without "video/".
	videoCodecs []string
	// The cluster (package cluster): every serve is a node of one, alone or not.
	nodeName     string
	advertiseURL string
	lease        time.Duration
}

func newServeCmd(e *env) *cobra.Command {
	o := &serveOptions{cfg: server.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the sealroom server",
		Long: "Run the HTTP API. Without DATABASE_URL, --dev starts a throwaway local Postgres under the data\n" +
			"folder. SIGTERM or SIGINT starts a graceful shutdown: /readyz fails first, in-flight requests finish.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), e, o) },
	}
	o.register(cmd.Flags(), e)
	return cmd
}

// register declares serve's flags, with defaults from the environment.
func (o *serveOptions) register(fs *pflag.FlagSet, e *env) {
	o.common.flags(fs, e)
	fs.StringVar(&o.addr, "addr", e.getenvOr("SEALROOM_ADDR", "127.0.0.1:8080"), "listen address (env SEALROOM_ADDR)")
	fs.BoolVar(&o.migrate, "migrate", e.getenv("SEALROOM_MIGRATE") == "1", "apply pending migrations before serving (env SEALROOM_MIGRATE=1)")
	fs.StringSliceVar(&o.proxies, "trusted-proxy", nil, "CIDR of a reverse proxy whose X-Forwarded-For is trusted (repeatable)")
	fs.Int64Var(&o.maxBody, "max-body", o.cfg.MaxBodyBytes, "largest accepted request body in bytes")
	fs.DurationVar(&o.cfg.DrainDelay, "drain-delay", o.cfg.DrainDelay, "how long /readyz fails before the listener closes on shutdown")
	fs.DurationVar(&o.cfg.ShutdownTimeout, "shutdown-timeout", o.cfg.ShutdownTimeout, "how long in-flight requests may take to finish on shutdown")
	fs.Float64Var(&o.ratePerS, "rate", o.cfg.RatePerSecond, "sustained requests per second allowed per IP and per identity")
	fs.IntVar(&o.cfg.RateBurst, "rate-burst", o.cfg.RateBurst, "burst allowed per IP and per identity")
	fs.DurationVar(&o.cfg.SignalIdleTimeout, "idle-timeout", envDuration(e, "SEALROOM_IDLE_TIMEOUT", o.cfg.SignalIdleTimeout), "automatic logoff: close a signaling connection after this long without a client message (env SEALROOM_IDLE_TIMEOUT)")
	fs.StringVar(&o.mediaAddr, "media-addr", e.getenvOr("SEALROOM_MEDIA_ADDR", "127.0.0.1:7882"), "UDP address of the SFU (all media on one port); env SEALROOM_MEDIA_ADDR, public IPs in SEALROOM_MEDIA_PUBLIC_IPS")
	fs.StringVar(&o.mediaTCPAddr, "media-tcp-addr", e.getenv("SEALROOM_MEDIA_TCP_ADDR"), "TCP address where the SFU also accepts ICE-TCP, for networks that block UDP; empty: off (env SEALROOM_MEDIA_TCP_ADDR)")
	fs.StringSliceVar(&o.videoCodecs, "video-codecs", splitList(e.getenv("SEALROOM_VIDEO_CODECS")), "the order in which a room chooses its video codec, the first every participant decodes, of H264, VP9, VP8 and AV1; empty: H264,VP9,VP8 (env SEALROOM_VIDEO_CODECS)")
	fs.StringVar(&o.tlsCert, "tls-cert", e.getenv("SEALROOM_TLS_CERT"), "PEM certificate chain: terminate TLS here (env SEALROOM_TLS_CERT)")
	fs.StringVar(&o.tlsKey, "tls-key", e.getenv("SEALROOM_TLS_KEY"), "PEM private key for --tls-cert (env SEALROOM_TLS_KEY)")
	fs.BoolVar(&o.cfg.RequireMFA, "require-mfa", e.getenv("SEALROOM_REQUIRE_MFA") == "1", "administrative endpoints need a token whose amr claim asserts a second factor (env SEALROOM_REQUIRE_MFA=1)")
	fs.StringVar(&o.nodeName, "node-name", e.getenv("SEALROOM_NODE_NAME"), "this node's name in the cluster (its id is name~incarnation, new at each start) (env SEALROOM_NODE_NAME)")
	fs.StringVar(&o.advertiseURL, "advertise-url", e.getenv("SEALROOM_ADVERTISE_URL"), "where the other nodes reach this node's API to forward a room's connections; empty: http(s)://--addr (env SEALROOM_ADVERTISE_URL)")
	fs.DurationVar(&o.cfg.SessionGrace, "session-grace", envDuration(e, "SEALROOM_SESSION_GRACE", o.cfg.SessionGrace), "how long a dropped participant keeps its session and MLS leaf for a resume, here or on another node (env SEALROOM_SESSION_GRACE)")
	fs.DurationVar(&o.lease, "cluster-lease", envDuration(e, "SEALROOM_CLUSTER_LEASE", 4*time.Second), "how long a node stays alive to the cluster without renewing; a dead node's rooms move after it (env SEALROOM_CLUSTER_LEASE)")
	fs.StringSliceVar(&o.cfg.AllowedOrigins, "allowed-origin", nil, "extra browser origin (host pattern) allowed to open the signaling WebSocket (repeatable)")
}

// serve wires the parts by hand (database, audit log, Delivery Service, SFU, TURN,
// revocations, HTTP server) and serves until ctx ends.
func serve(ctx context.Context, e *env, o *serveOptions) error {
	log := e.logger()
	pool, err := o.connect(ctx, e, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := migrations.New(pool, log)
	if err != nil {
		return err
	}
	defer m.Close()
	if o.migrate {
		applied, err := m.Up(ctx)
		if err != nil {
			return err
		}
		log.Info("migrations applied", "versions", applied)
	}
	auditLog, err := o.openAudit(ctx, e, log, pool, "audit-spool")
	if err != nil {
		return err
	}
	defer auditLog.Close()
	key, err := o.signingKey(e, log)
	if err != nil {
		return err
	}
	keys, err := o.verifyKeys(e, key.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	for _, p := range o.proxies {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("--trusted-proxy: %w", err)
		}
		o.cfg.TrustedProxies = append(o.cfg.TrustedProxies, pfx)
	}
	o.cfg.MaxBodyBytes = o.maxBody
	o.cfg.RatePerSecond = o.ratePerS
	dm, err := compliance.LoadDataMap()
	if err != nil {
		return err
	}
	months, err := retentionMonths(e)
	if err != nil {
		return err
	}
	subjects := compliance.NewSubjects(pool, auditLog, dm)
	retCtx, stopRetention := context.WithCancel(ctx)
	defer stopRetention()
	go subjects.RunRetention(retCtx, time.Hour, months, func(err error) { log.Error("retention", "err", err) })
	dsKey, err := o.dsKey(e, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	tlsOn := o.tlsCert != "" || o.tlsKey != ""
	advertise := o.advertiseURL
	if advertise == "" {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && ap.Addr().IsUnspecified() {
			return fmt.Errorf("--addr %s listens on every interface: set --advertise-url to the address the other nodes reach this one at", o.addr)
		}
		advertise = "http://" + ln.Addr().String()
		if tlsOn {
			advertise = "https://" + ln.Addr().String()
		}
	}
	node, err := cluster.New(cluster.Config{Pool: pool, Name: o.nodeName, APIURL: advertise, MediaAddr: o.mediaAddr, Lease: o.lease, Log: log})
	if err != nil {
		return err
	}
	ks, err := keyservice.New(keyservice.Config{Pool: pool, SignerKey: dsKey, Audit: auditLog, Log: log, Node: node.ID(), Settled: node.Settled,
		DisconnectTimeout: o.cfg.SessionGrace})
	if err != nil {
		return err
	}
	if err := ks.Start(ctx); err != nil {
		return err
	}
	defer ks.Close()
	var publicIPs []string
	if v := e.getenv("SEALROOM_MEDIA_PUBLIC_IPS"); v != "" {
		publicIPs = strings.Split(v, ",")
	}
	var codecs []string
	for _, c := range o.videoCodecs {
		if c = strings.TrimSpace(c); c != "" {
			codecs = append(codecs, "video/"+strings.TrimPrefix(c, "video/"))
		}
	}
	sfu, err := media.New(media.Config{ListenAddr: o.mediaAddr, TCPListenAddr: o.mediaTCPAddr, PublicIPs: publicIPs,
		VideoCodecs: codecs, Logger: log})
	if err != nil {
		return err
	}
	defer sfu.Close()
	log.Info("SFU listening", "addr", sfu.Addr().String())
	if a := sfu.TCPAddr(); a != nil {
		log.Info("SFU listening for ICE-TCP", "addr", a.String())
	}
	rev, err := server.NewRevocations(ctx, pool, log)
	if err != nil {
		return err
	}
	relay, relayURLs, err := startTURN(e, o, log, sfu, rev.TURNRevoked)
	if err != nil {
		return err
	}
	if relay != nil {
		defer relay.Close()
	}
	assets, err := webapp.Assets()
	if err != nil {
		log.Warn("the browser client is not built (make build); serving the API only", "err", err)
	}
	srv, err := server.New(o.cfg, server.Deps{
		Pool:           pool,
		Migrations:     m,
		Verifier:       auth.NewVerifier(o.issuer, o.audience, keys, auth.WithRevocations(rev)),
		Revocations:    rev,
		Rooms:          ks,
		Media:          sfu,
		Assets:         assets,
		TURN:           relay,
		TURNURLs:       relayURLs,
		Signer:         auth.NewSigner(key, o.issuer, o.audience),
		Audit:          auditLog,
		Subjects:       subjects,
		Consents:       compliance.NewConsents(pool, auditLog),
		BreakGlassHook: webhook(e.getenv("SEALROOM_BREAKGLASS_WEBHOOK")),
		Cluster:        node,
		Log:            log,
	})
	if err != nil {
		return err
	}
	node.Bind(srv.ClusterHooks())
	if err := node.Start(ctx); err != nil {
		return err
	}
	defer node.Close()
	log.Info("cluster node registered", "node", node.ID(), "advertise", advertise)
	scheme := "http"
	if tlsOn {
		tcfg, info, err := server.LoadTLS(o.tlsCert, o.tlsKey, time.Now())
		if err != nil {
			ln.Close()
			return err
		}
		if time.Until(info.NotAfter) < 14*24*time.Hour {
			log.Warn("the TLS certificate expires soon", "not_after", info.NotAfter)
		}
		ln = tls.NewListener(ln, tcfg)
		scheme = "https"
		log.Info("terminating TLS", "subject", info.Subject, "not_after", info.NotAfter, "min_version", info.MinVersion)
	}
	log.Info("serving", "addr", ln.Addr().String())
	mint := "bin/sealroom token"
	if o.dev {
		mint += " --dev" // so the mint is audited in the same local database
	}
	fmt.Fprintf(e.stderr, "\nsealroom is serving on "+scheme+"://%s\n"+
		"Mint a token:   TOKEN=$(%s --room demo --identity alice --name Alice --role host)\n"+
		"Call the API:   curl -H \"Authorization: Bearer $TOKEN\" "+scheme+"://%s/v1/whoami\n\n",
		ln.Addr(), mint, ln.Addr())
	return srv.Serve(ctx, ln)
}

// webhook returns a break-glass hook that POSTs the notice as JSON to url, or nil (the
// server then only logs) when url is empty.
func webhook(url string) func(context.Context, server.BreakGlassNotice) error {
	if url == "" {
		return nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	return func(ctx context.Context, n server.BreakGlassNotice) error {
		body, err := json.Marshal(n)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("break-glass webhook answered %s", resp.Status)
		}
		return nil
	}
}

// retentionMonths reads SEALROOM_RETENTION, "category=months,..." (e.g. identity=24),
// overriding the data map's default periods.
func retentionMonths(e *env) (map[string]int, error) {
	out := map[string]int{}
	for _, kv := range strings.Split(e.getenv("SEALROOM_RETENTION"), ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("SEALROOM_RETENTION: %q is not category=months", kv)
		}
		out[k] = n
	}
	return out, nil
}

// startTURN starts the embedded TURN relay when any of SEALROOM_TURN_ADDR (UDP),
// SEALROOM_TURN_TCP_ADDR (TCP) and SEALROOM_TURN_TLS_ADDR (TLS, with
// SEALROOM_TURN_TLS_CERT and _KEY, or the HTTPS certificate) is set. Its credentials
// are keyed by SEALROOM_TURN_SECRET_FILE (32+ bytes, the same for every process of a
// deployment), live SEALROOM_TURN_TTL (default 10m; signaling pushes fresh ones
// before they expire) and are handed out with SEALROOM_TURN_URL, a comma-separated list whose
// every URL must name a listener that runs. Whatever the way in, relays are UDP and
// reach public addresses and this server's SFU only.
func startTURN(e *env, o *serveOptions, log *slog.Logger, sfu *media.SFU, revoked func(turn.Grant) bool) (*turn.Server, []string, error) {
	udpAddr, tcpAddr, tlsAddr := e.getenv("SEALROOM_TURN_ADDR"), e.getenv("SEALROOM_TURN_TCP_ADDR"), e.getenv("SEALROOM_TURN_TLS_ADDR")
	if udpAddr == "" && tcpAddr == "" && tlsAddr == "" {
		return nil, nil, nil
	}
	relayIP := net.ParseIP(e.getenv("SEALROOM_TURN_RELAY_IP"))
	urls, err := turnURLs(e.getenv("SEALROOM_TURN_URL"), udpAddr != "", tcpAddr != "", tlsAddr != "")
	if err != nil {
		return nil, nil, err
	}
	if relayIP == nil {
		return nil, nil, errors.New("the TURN relay needs SEALROOM_TURN_RELAY_IP (the relay's public IP)")
	}
	secret, err := os.ReadFile(e.getenv("SEALROOM_TURN_SECRET_FILE"))
	if err != nil || len(secret) < 32 {
		return nil, nil, errors.New("SEALROOM_TURN_SECRET_FILE must name a file of at least 32 random bytes")
	}
	var tcfg *tls.Config
	if tlsAddr != "" {
		cert, key := e.getenvOr("SEALROOM_TURN_TLS_CERT", o.tlsCert), e.getenvOr("SEALROOM_TURN_TLS_KEY", o.tlsKey)
		if cert == "" || key == "" {
			return nil, nil, errors.New("SEALROOM_TURN_TLS_ADDR needs SEALROOM_TURN_TLS_CERT and SEALROOM_TURN_TLS_KEY (or --tls-cert and --tls-key)")
		}
		if tcfg, _, err = server.LoadTLS(cert, key, time.Now()); err != nil {
			return nil, nil, fmt.Errorf("turn: %w", err)
		}
		tcfg = tcfg.Clone()
		tcfg.NextProtos = nil // not HTTP; RFC 7443's "stun.turn" is optional
	}
	var ttl time.Duration
	if v := e.getenv("SEALROOM_TURN_TTL"); v != "" {
		if ttl, err = time.ParseDuration(v); err != nil {
			return nil, nil, fmt.Errorf("SEALROOM_TURN_TTL: %w", err)
		}
	}
	cfg := turn.Config{RelayIP: relayIP, RelayBind: "0.0.0.0", Realm: "sealroom", Secret: secret, TTL: ttl,
		AllowedPeers: sfuPeers(sfu.Addr()), Revoked: revoked}
	var closers []io.Closer
	fail := func(err error) (*turn.Server, []string, error) {
		for _, c := range closers {
			_ = c.Close()
		}
		return nil, nil, fmt.Errorf("turn: %w", err)
	}
	if udpAddr != "" {
		if cfg.Conn, err = net.ListenPacket("udp", udpAddr); err != nil {
			return fail(err)
		}
		closers = append(closers, cfg.Conn)
		log.Info("TURN relay listening", "transport", "udp", "addr", cfg.Conn.LocalAddr().String())
	}
	for _, l := range []struct {
		addr, transport string
		tls             *tls.Config
	}{{tcpAddr, "tcp", nil}, {tlsAddr, "tls", tcfg}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, ln)
		log.Info("TURN relay listening", "transport", l.transport, "addr", ln.Addr().String())
		if l.tls != nil {
			ln = tls.NewListener(ln, l.tls)
		}
		cfg.Listeners = append(cfg.Listeners, ln)
	}
	srv, err := turn.New(cfg)
	if err != nil {
		return fail(err)
	}
	log.Info("TURN URLs handed to clients", "urls", urls)
	return srv, urls, nil
}

// turnURLs parses SEALROOM_TURN_URL, a comma-separated list of turn: and turns: URLs
// (RFC 7065), and checks that each names a listener that runs: turn:…?transport=udp
// (the default) the UDP one, turn:…?transport=tcp the TCP one, turns: the TLS one.
func turnURLs(list string, udp, tcp, tlsOn bool) ([]string, error) {
	var out []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		uri, err := stun.ParseURI(u)
		if err != nil {
			return nil, fmt.Errorf("SEALROOM_TURN_URL: %q: %w", u, err)
		}
		var ok bool
		switch {
		case uri.Scheme == stun.SchemeTypeTURN && uri.Proto == stun.ProtoTypeUDP:
			ok = udp
		case uri.Scheme == stun.SchemeTypeTURN && uri.Proto == stun.ProtoTypeTCP:
			ok = tcp
		case uri.Scheme == stun.SchemeTypeTURNS && uri.Proto == stun.ProtoTypeTCP:
			ok = tlsOn
		default:
			return nil, fmt.Errorf("SEALROOM_TURN_URL: %q is not a turn: or turns: URL over UDP, TCP or TLS", u)
		}
		if !ok {
			return nil, fmt.Errorf("SEALROOM_TURN_URL: %q names a listener that is not configured (SEALROOM_TURN_ADDR, _TCP_ADDR, _TLS_ADDR)", u)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("the TURN relay needs SEALROOM_TURN_URL: the turn: and turns: URLs given to clients, comma-separated (turn:host:3478?transport=udp,turn:host:3478?transport=tcp,turns:host:443?transport=tcp)")
	}
	return out, nil
}

// sfuPeers are the SFU media addresses relays may reach although they are not public:
// the SFU's socket, or, when it listens on every interface, each interface's address
// at its port (the host candidates it offers).
func sfuPeers(sfu net.Addr) []netip.AddrPort {
	ua, ok := sfu.(*net.UDPAddr)
	if !ok {
		return nil
	}
	ap := ua.AddrPort()
	if !ap.Addr().IsUnspecified() {
		return []netip.AddrPort{ap}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.AddrPort
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), ap.Port()))
			}
		}
	}
	return out
}

// splitList splits a comma-separated environment value, leaving out empty entries.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
