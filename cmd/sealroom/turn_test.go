package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
)

func TestTURNURLs(t *testing.T) {
	all := "turn:relay.example:3478?transport=udp, turn:relay.example:3478?transport=tcp,turns:relay.example:443?transport=tcp"
	got, err := turnURLs(all, true, true, true)
	if err != nil || len(got) != 3 || got[1] != "turn:relay.example:3478?transport=tcp" {
		t.Fatalf("turnURLs: %q, %v", got, err)
	}
	for _, c := range []struct {
		list           string
		udp, tcp, tlsL bool
	}{
		{"", true, true, true},
		{"turn:relay.example:3478", false, true, true},                     // UDP by default, no UDP listener
		{"turn:relay.example:3478?transport=tcp", true, false, true},       // no TCP listener
		{"turns:relay.example:443?transport=tcp", true, true, false},       // no TLS listener
		{"turns:relay.example:443?transport=udp", true, true, true},        // DTLS: not offered
		{"stun:relay.example:3478", true, true, true},                      // not a relay
		{"https://relay.example", true, true, true},                        // not a TURN URL
		{"turn:relay.example:3478?transport=sctp", true, true, true},       // no such transport
		{"turn:relay.example:3478,turns:relay.example", true, true, false}, // one bad URL spoils the list
	} {
		if got, err := turnURLs(c.list, c.udp, c.tcp, c.tlsL); err == nil {
			t.Errorf("turnURLs(%q, udp=%v tcp=%v tls=%v) = %q, want an error", c.list, c.udp, c.tcp, c.tlsL, got)
		}
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool trusting the certificate.
func writeTestCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
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
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(leaf)
	return certFile, keyFile, roots
}

// The serve wiring starts TURN on UDP, TCP and TLS from the environment, hands out the
// configured URLs, and a client gets a UDP relay through each stream listener.
func TestStartTURNListeners(t *testing.T) {
	certFile, keyFile, roots := writeTestCert(t)
	secret := filepath.Join(t.TempDir(), "turn.secret")
	if err := os.WriteFile(secret, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	urls := "turn:127.0.0.1:3478?transport=udp,turn:127.0.0.1:3478?transport=tcp,turns:127.0.0.1:5349?transport=tcp"
	vars := map[string]string{
		"SEALROOM_TURN_ADDR": "127.0.0.1:0", "SEALROOM_TURN_TCP_ADDR": "127.0.0.1:0", "SEALROOM_TURN_TLS_ADDR": "127.0.0.1:0",
		"SEALROOM_TURN_TLS_CERT": certFile, "SEALROOM_TURN_TLS_KEY": keyFile,
		"SEALROOM_TURN_RELAY_IP": "127.0.0.1", "SEALROOM_TURN_SECRET_FILE": secret, "SEALROOM_TURN_URL": urls,
		"SEALROOM_TURN_TTL": "2m",
	}
	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	var logs syncBuffer
	e := &env{getenv: testEnv(vars)}
	srv, got, err := startTURN(e, &serveOptions{}, slog.New(slog.NewJSONHandler(&logs, nil)), sfu, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if strings.Join(got, ",") != urls {
		t.Fatalf("URLs handed out: %q", got)
	}
	if srv.TTL() != 2*time.Minute {
		t.Fatalf("credential lifetime %v, want SEALROOM_TURN_TTL's 2m", srv.TTL())
	}
	listening := map[string]string{} // transport -> address
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l struct{ Msg, Transport, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "TURN relay listening" {
			listening[l.Transport] = l.Addr
		}
	}
	if len(listening) != 3 {
		t.Fatalf("listeners logged: %v", listening)
	}
	cred, err := srv.Credentials(turn.Grant{TokenID: "jti", Subject: "patient", IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range []string{"tcp", "tls"} {
		var c net.Conn
		if transport == "tls" {
			c, err = tls.Dial("tcp", listening["tls"], &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		} else {
			c, err = net.Dial("tcp", listening["tcp"])
		}
		if err != nil {
			t.Fatalf("dial TURN over %s: %v", transport, err)
		}
		defer c.Close()
		cl, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: c.RemoteAddr().String(), STUNServerAddr: c.RemoteAddr().String(),
			Conn: pionturn.NewSTUNConn(c), Username: cred.Username, Password: cred.Password, Realm: "sealroom"})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := cl.Allocate()
		if err != nil {
			t.Fatalf("allocate over %s: %v", transport, err)
		}
		relay.Close()
	}

	// A turns: URL without a TLS listener, or a TLS listener without a certificate, does
	// not start.
	delete(vars, "SEALROOM_TURN_TLS_ADDR")
	if _, _, err := startTURN(e, &serveOptions{}, slog.New(slog.DiscardHandler), sfu, nil); err == nil {
		t.Fatal("a turns: URL without a TLS listener started")
	}
	vars["SEALROOM_TURN_TLS_ADDR"], vars["SEALROOM_TURN_TLS_CERT"], vars["SEALROOM_TURN_ADDR"] = "127.0.0.1:0", "", ""
	vars["SEALROOM_TURN_URL"] = "turns:127.0.0.1:5349?transport=tcp"
	if _, _, err := startTURN(e, &serveOptions{}, slog.New(slog.DiscardHandler), sfu, nil); err == nil {
		t.Fatal("a TLS listener without a certificate started")
	}
}
