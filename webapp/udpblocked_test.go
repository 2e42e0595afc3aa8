//go:build linux

package webapp_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
	"github.com/sealroom/sealroom/server/servertest/netns"
)

// netnsClientEnv, when set, makes the test binary the Go participant of
// TestUDPBlocked (netnsClient) instead of running tests: the test starts it inside
// the network namespace with ip netns exec.
const netnsClientEnv = "SEALROOM_NETNS_CLIENT"

func TestMain(m *testing.M) {
	if os.Getenv(netnsClientEnv) != "" {
		os.Exit(netnsClient())
	}
	os.Exit(m.Run())
}

// TestUDPBlocked puts a patient's devices on a network that drops every UDP packet: a
// network namespace with nftables rules, holding a Go client and a Chromium, while the
// server runs on the host. Each joins the meeting and they decrypt each other's media,
// through TURN over TCP, then TURN over TLS, then ICE-TCP to the SFU, each offered
// alone; both report the path they use, and the namespace counts the UDP it dropped.
func TestUDPBlocked(t *testing.T) {
	needChromium(t)
	netns.Need(t)
	for _, path := range []string{"turn-tcp", "turns", "ice-tcp"} {
		t.Run(path, func(t *testing.T) { udpBlocked(t, path) })
	}
}

func udpBlocked(t *testing.T, path string) {
	ns := netns.New(t)
	ns.DropUDP(t)
	srv := startFieldServer(t, ns.HostIP, path)
	browser := nsBrowser(t, ns, srv.url, srv.spki)

	page := tab(t, browser, srv.url+"/join#token="+srv.token(t, "patient-7", "Pat", auth.RoleParticipant))
	browserID := eval[string](t, page, `window.sealroomMe()`)
	child := startNetnsClient(t, ns, srv, srv.token(t, "bot-1", "Bot", auth.RoleParticipant))

	start := time.Now()
	var st netnsStatus
	browserPoll.UntilOr(t, 60*time.Second, "the Go client to decrypt the browser's video and audio", func() bool {
		st = child.status(t)
		s := st.Sources[browserID]
		return s.Video > 0 && s.Audio > 0
	}, func() any { return fmt.Sprintf("go client: %+v; browser: %v", st, mediaState(t, page)) })
	browserPoll.UntilOr(t, 30*time.Second, "the browser to render the Go client's decrypted video", func() bool {
		return brightFrom(t, page, st.ID)
	}, func() any { return mediaState(t, page) })
	t.Logf("%s: media decrypted both ways %v after the Go client started", path, time.Since(start).Round(time.Millisecond))

	goPath, pagePath := child.status(t).Path, browserPath(t, page)
	want := map[string]struct {
		what string
		ok   func(icePath) bool
	}{
		"turn-tcp": {"a relay reached over TCP", func(p icePath) bool { return p.Local == "relay" && p.Relay == "tcp" }},
		"turns":    {"a relay reached over TLS", func(p icePath) bool { return p.Local == "relay" && p.Relay == "tls" }},
		// Chromium reports the local end of its active TCP connection as
		// peer-reflexive (RFC 6544 active candidates are signalled with port 9).
		"ice-tcp": {"ICE-TCP to the SFU's passive candidate", func(p icePath) bool {
			return p.Local != "relay" && p.Protocol == "tcp" && p.Remote == "host"
		}},
	}[path]
	if !want.ok(goPath) {
		t.Errorf("the Go client's path is %+v, want %s", goPath, want.what)
	}
	if !want.ok(pagePath) {
		t.Errorf("the browser's path is %+v, want %s", pagePath, want.what)
	}
	dropped := ns.DroppedUDP(t)
	if dropped == 0 {
		t.Error("no UDP packet was dropped: the clients never tried UDP, so the test shows nothing")
	}
	t.Logf("%s: Go client %+v, browser %+v; %d UDP packets dropped in the namespace", path, goPath, pagePath, dropped)
}

// icePath is a selected candidate pair as client.Path and the browser's stats give it.
type icePath struct {
	Local, Remote, Protocol, Relay string
}

// browserPath reads the page's selected candidate pair from its PeerConnection's stats.
func browserPath(t *testing.T, page context.Context) icePath {
	return eval[icePath](t, page, `(async () => {
  const pc = window.sealroomPC();
  if (!pc) return {};
  const stats = await pc.getStats();
  let pair;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) return {};
  const l = stats.get(pair.localCandidateId), r = stats.get(pair.remoteCandidateId);
  return { Local: l.candidateType, Remote: r.candidateType, Protocol: l.protocol, Relay: l.relayProtocol || '' };
})()`)
}

// fieldServer is a whole sealroom on the host's end of the veth pair: HTTP, the SFU
// and, for the TURN paths, the embedded relay, each offering only the path under test
// (turn-tcp, turns, ice-tcp; udp: the SFU's UDP alone).
type fieldServer struct {
	url    string
	signer *auth.Signer
	sfu    *media.SFU
	// certFile is the TURN certificate (turns), for the Go client to trust, and spki
	// its key's hash, for Chromium to.
	certFile, spki string
}

func (s *fieldServer) token(t *testing.T, sub, name string, role auth.Role) string {
	t.Helper()
	tok, _, err := s.signer.Mint(auth.Grant{Identity: sub, Name: name, Room: testRoom, Role: role, CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func startFieldServer(t *testing.T, host netip.Addr, path string) *fieldServer {
	t.Helper()
	assets := builtAssets(t)
	at := net.JoinHostPort(host.String(), "0")
	mcfg := media.Config{ListenAddr: at}
	if path == "ice-tcp" {
		mcfg.TCPListenAddr = at
	}
	sfu, err := media.New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })

	fs := &fieldServer{sfu: sfu}
	var relay *turn.Server
	var urls []string
	if path == "turn-tcp" || path == "turns" {
		ln, err := net.Listen("tcp", at)
		if err != nil {
			t.Fatal(err)
		}
		scheme := "turn"
		if path == "turns" {
			cert, certFile, spki := hostCert(t, host)
			fs.certFile, fs.spki = certFile, spki
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			scheme = "turns"
		}
		urls = []string{fmt.Sprintf("%s:%s?transport=tcp", scheme, ln.Addr().String())}
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		relay, err = turn.New(turn.Config{Listeners: []net.Listener{ln}, RelayIP: host.AsSlice(), RelayBind: host.String(),
			Realm: "sealroom", Secret: secret, AllowedPeers: []netip.AddrPort{sfu.Addr().(*net.UDPAddr).AddrPort()}})
		if err != nil {
			_ = ln.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = relay.Close() })
	}
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t),
		KeyService: func(cfg *keyservice.Config, _ *audit.Log) {
			cfg.SweepInterval, cfg.CommitTimeout, cfg.DisconnectTimeout = 100*time.Millisecond, 3*time.Second, -1
		},
		Deps: func(d *server.Deps) {
			d.Assets, d.Media = assets, sfu
			if relay != nil {
				d.TURN, d.TURNURLs = relay, urls
			}
		},
	})
	// The same server, reachable from the namespace: on the host's end of the pair.
	ln, err := net.Listen("tcp", at)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: st.HTTP.Config.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	fs.url, fs.signer = "http://"+ln.Addr().String(), st.Signer
	return fs
}

// hostCert makes a self-signed certificate for the host's address, writes it as PEM
// and returns it with the path and Chromium's SPKI hash of its key.
func hostCert(t *testing.T, host netip.Addr) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turn.sealroom.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{host.AsSlice()}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "turn.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, file, base64.StdEncoding.EncodeToString(sum[:])
}

// nsBrowser starts Debian's Chromium inside the namespace, as newBrowser starts it on
// the host (chromedp's pipe to it passes through ip netns exec). origin, plain HTTP on
// the veth address, is treated as secure (WebCrypto and the camera need a secure
// context; loopback is one, the veth address is not). spki, when set, is the hash of
// the key Chromium is to accept (the TURN server's self-signed certificate).
func nsBrowser(t *testing.T, ns *netns.NS, origin, spki string) context.Context {
	t.Helper()
	opts := append(chromiumOptions(t),
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", origin),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			ns.Wrap(c, c.Path, c.Args[1:]...)
			// As chromedp does for the browsers it starts: it dies with the test.
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	)
	if spki != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium in the namespace: %v", err)
	}
	return ctx
}

// headBuffer keeps the first 64 KiB written to it, for diagnostics; it may be read
// while a process writes.
type headBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := 64<<10 - h.b.Len(); room > 0 {
		h.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.b.String()
}

// netnsStatus is what the Go participant reports when asked.
type netnsStatus struct {
	Error   string
	ID      string
	Path    icePath
	Sources map[string]client.SourceStats
}

// netnsChild is the Go participant running in the namespace: the test asks for its
// status by writing a line, and ends it by closing its input.
type netnsChild struct {
	in    io.WriteCloser
	lines chan string
}

func startNetnsClient(t *testing.T, ns *netns.NS, srv *fieldServer, token string) *netnsChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	video, _ := filepath.Abs("../client/testdata/testsrc.ivf")
	audio, _ := filepath.Abs("../client/testdata/tone.ogg")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := ns.Command(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), netnsClientEnv+"=1", "SEALROOM_NETNS_URL="+srv.url, "SEALROOM_NETNS_TOKEN="+token,
		"SEALROOM_NETNS_VIDEO="+video, "SEALROOM_NETNS_AUDIO="+audio)
	if srv.certFile != "" {
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+srv.certFile) // the Go client trusts the test's TURN certificate
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &headBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the Go client in the namespace: %v", err)
	}
	c := &netnsChild{in: in, lines: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		defer func() {
			if t.Failed() {
				t.Logf("the Go client's stderr: %s", stderr.String())
			}
		}()
		_ = in.Close() // the client leaves and exits
		select {
		case err := <-exited:
			if err != nil && !t.Failed() {
				t.Errorf("the Go client in the namespace: %v: %s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cancel() // kills it
			<-exited
			t.Errorf("the Go client in the namespace did not leave: %s", stderr.String())
		}
		cancel()
	})
	return c
}

// status asks the Go participant how it is doing.
func (c *netnsChild) status(t *testing.T) netnsStatus {
	t.Helper()
	if _, err := io.WriteString(c.in, "status\n"); err != nil {
		t.Fatalf("the Go client in the namespace is gone: %v", err)
	}
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatal("the Go client in the namespace exited")
		}
		var st netnsStatus
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("the Go client in the namespace said %q", line)
		}
		if st.Error != "" {
			t.Fatalf("the Go client in the namespace: %s", st.Error)
		}
		return st
	case <-time.After(60 * time.Second):
		// It answers its first question only once it has joined and started its media
		// (ICE through the relay included): seconds on a loaded machine.
		t.Fatal("the Go client in the namespace does not answer")
	}
	return netnsStatus{}
}

// netnsClient is the Go participant: it joins with the token it is given, publishes
// the test recording, and answers each line on its input with its status (JSON). It
// leaves when its input closes, and in any case within three minutes.
func netnsClient() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	lines := bufio.NewScanner(os.Stdin)
	fail := func(err error) int {
		// Answer the next question with the error, so the test shows it.
		if lines.Scan() {
			_ = out.Encode(netnsStatus{Error: err.Error()})
		}
		return 1
	}
	rec, err := client.LoadRecording(os.Getenv("SEALROOM_NETNS_VIDEO"), os.Getenv("SEALROOM_NETNS_AUDIO"))
	if err != nil {
		return fail(err)
	}
	c, err := client.Dial(ctx, client.Config{URL: os.Getenv("SEALROOM_NETNS_URL"), Token: os.Getenv("SEALROOM_NETNS_TOKEN")})
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if err := c.WaitJoined(ctx); err != nil {
		return fail(err)
	}
	m, err := c.StartMedia(ctx, client.MediaConfig{Recording: rec})
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	for lines.Scan() {
		st := netnsStatus{ID: c.ParticipantID(), Sources: m.Stats().Sources}
		if p, ok := m.Path(); ok {
			st.Path = icePath{Local: p.Local, Remote: p.Remote, Protocol: p.Protocol, Relay: p.Relay}
		}
		if err := out.Encode(st); err != nil {
			return 1
		}
	}
	m.Close()
	leaveCtx, cancelLeave := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelLeave()
	_ = c.Leave(leaveCtx)
	return 0
}
