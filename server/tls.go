package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TLSInfo describes the certificate sealroom terminates TLS with, for the logs and the
// compliance report (HIPAA §164.312(e)(1) transmission security).
type TLSInfo struct {
	Subject    string
	DNSNames   []string
	NotAfter   time.Time
	MinVersion string
}

// ErrCertExpired means the configured certificate is outside its validity period.
var ErrCertExpired = errors.New("server: the TLS certificate is expired or not yet valid")

// LoadTLS reads a certificate chain and key (PEM) and returns the TLS configuration the
// server listens with: TLS 1.2 or newer, Go's default AEAD-only suites for 1.2, X25519 and
// P-256. A certificate that is not valid at now is refused so an expired deployment fails
// at start instead of at each client.
func LoadTLS(certFile, keyFile string, now time.Time) (*tls.Config, TLSInfo, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, TLSInfo{}, fmt.Errorf("server: TLS key pair: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, TLSInfo{}, fmt.Errorf("server: TLS certificate: %w", err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, TLSInfo{}, fmt.Errorf("%w (valid %s to %s)", ErrCertExpired, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	pair.Leaf = leaf
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
		Certificates:     []tls.Certificate{pair},
		// HTTP/1.1 only: the WebSocket upgrade needs it, and nothing here uses HTTP/2.
		NextProtos: []string{"http/1.1"},
	}
	return cfg, TLSInfo{Subject: leaf.Subject.String(), DNSNames: leaf.DNSNames, NotAfter: leaf.NotAfter, MinVersion: "TLS 1.2"}, nil
}
