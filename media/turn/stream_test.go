package turn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

// testCert is a self-signed certificate for 127.0.0.1, and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turn.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// streamServer runs a TURN server with a TCP and a TLS listener only, and
// a UDP socket standing for the SFU, the one private peer relays may reach.
type streamServer struct {
	s        *Server
	tcp, tls string
	roots    *x509.CertPool
	sfu      net.PacketConn
}

func newStreamServer(t *testing.T) *streamServer {
	t.Helper()
	cert, roots := testCert(t)
	tcpLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	s, err := New(Config{
		Listeners: []net.Listener{tcpLn, tls.NewListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})},
		RelayIP:   net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1", Realm: "sealroom.test", Secret: bytes.Repeat([]byte{7}, 32),
		AllowedPeers: []netip.AddrPort{sfu.LocalAddr().(*net.UDPAddr).AddrPort()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &streamServer{s: s, tcp: tcpLn.Addr().String(), tls: tlsLn.Addr().String(), roots: roots, sfu: sfu}
}

// dial opens a stream to the server's TCP or TLS listener.
func (ss *streamServer) dial(t *testing.T, transport string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if transport == "tls" {
		c, err = tls.Dial("tcp4", ss.tls, &tls.Config{RootCAs: ss.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	} else {
		c, err = net.Dial("tcp4", ss.tcp)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", transport, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func streamClient(t *testing.T, conn net.Conn, c Credentials) *pionturn.Client {
	t.Helper()
	addr := conn.RemoteAddr().String()
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr,
		Conn: pionturn.NewSTUNConn(conn), Username: c.Username, Password: c.Password, Realm: "sealroom.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	return cl
}

// Over TCP and over TLS, as over UDP, an Allocate asking for a TCP relay is
// answered 442, and the UDP relay the same client then allocates carries
// datagrams both ways to the SFU.
func TestStreamListenersRelayUDPOnly(t *testing.T) {
	ss := newStreamServer(t)
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			cl := streamClient(t, ss.dial(t, transport), mustCredentials(t, ss.s, testGrant))
			alloc, err := cl.AllocateTCP()
			if err == nil {
				alloc.Close()
				t.Fatal("TCP allocation granted")
			}
			var terr *stun.TurnError
			if !errors.As(err, &terr) || terr.ErrorCodeAttr.Code != stun.CodeUnsupportedTransProto {
				t.Fatalf("TCP allocate: %v, want 442", err)
			}

			relay, err := cl.Allocate()
			if err != nil {
				t.Fatalf("UDP allocate over %s: %v", transport, err)
			}
			defer relay.Close()
			if _, err := relay.WriteTo([]byte("to the sfu over "+transport), ss.sfu.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			_ = ss.sfu.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := ss.sfu.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "to the sfu over "+transport {
				t.Fatalf("the SFU read %q, %v", buf[:n], err)
			}
			// More than four bytes: pion's stream framing takes a ChannelData
			// frame of eight bytes or fewer for an incomplete one.
			if _, err := ss.sfu.WriteTo([]byte("back from the sfu"), from); err != nil {
				t.Fatal(err)
			}
			_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err = relay.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "back from the sfu" {
				t.Fatalf("the client read %q, %v", buf[:n], err)
			}
		})
	}
}

// The stream filter hands pion exactly the frames the client sent, however
// the stream cuts them, ChannelData padding included, and answers a
// refused Allocate itself.
func TestFilterStreamFraming(t *testing.T) {
	s, _ := newTestServer(t, nil)
	cred := mustCredentials(t, s, testGrant)
	client, server := net.Pipe()
	defer client.Close()
	fs := &filterStream{Conn: server, l: &filterListener{s: s}, frames: pionturn.NewSTUNConn(server), buf: make([]byte, maxFrame)}
	defer fs.Close()

	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	integrity := stun.NewLongTermIntegrity(cred.Username, "sealroom.test", cred.Password)
	tcpAlloc := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{6, 0, 0, 0}},
		stun.NewUsername(cred.Username), stun.NewRealm("sealroom.test"), stun.NewNonce("n"), integrity, stun.Fingerprint)
	// ChannelData on channel 0x4000 with 5 bytes of data, padded to 8 on a
	// stream (RFC 8656 §12.5).
	chanData := []byte{0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0}
	var stream []byte
	stream = append(stream, binding.Raw...)
	stream = append(stream, tcpAlloc.Raw...)
	stream = append(stream, chanData...)

	got := make(chan [][]byte, 1)
	go func() {
		var frames [][]byte
		pion := pionturn.NewSTUNConn(fs)
		buf := make([]byte, 1600)
		for len(frames) < 2 {
			n, _, err := pion.ReadFrom(buf)
			if err != nil {
				break
			}
			frames = append(frames, append([]byte(nil), buf[:n]...))
		}
		got <- frames
	}()
	answered := make(chan *stun.Message, 1)
	go func() {
		buf := make([]byte, 1600)
		n, err := client.Read(buf)
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err != nil || m.Decode() != nil {
			answered <- nil
			return
		}
		answered <- m
	}()
	for len(stream) > 0 { // three bytes at a time
		k := min(3, len(stream))
		if _, err := client.Write(stream[:k]); err != nil {
			t.Fatal(err)
		}
		stream = stream[k:]
	}
	frames := <-got
	if len(frames) != 2 || !bytes.Equal(frames[0], binding.Raw) || !bytes.Equal(frames[1], chanData) {
		t.Fatalf("pion read %x, want the binding request and the padded ChannelData", frames)
	}
	m := <-answered
	var code stun.ErrorCodeAttribute
	if m == nil || m.TransactionID != tcpAlloc.TransactionID || code.GetFrom(m) != nil || code.Code != stun.CodeUnsupportedTransProto {
		t.Fatalf("the TCP Allocate was answered %v", m)
	}
}

// Closing the server closes the streams it accepted: no client keeps a
// connection, and pion's goroutine for it, after Close.
func TestCloseEndsStreams(t *testing.T) {
	ss := newStreamServer(t)
	conns := []net.Conn{ss.dial(t, "tcp"), ss.dial(t, "tls")}
	// A binding request and its answer show each stream is being served.
	for _, c := range conns {
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if _, err := c.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1600)); err != nil {
			t.Fatalf("binding over %s: %v", c.LocalAddr(), err)
		}
	}
	if err := ss.s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var ne net.Error
		if _, err := c.Read(make([]byte, 10)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("a stream is still open after Close: %v", err)
		}
	}
}
