package media

import (
	"net"
	"testing"
)

// ICE-TCP is off unless configured; when on, the SFU listens on the TCP
// address and Close stops listening.
func TestICETCPListener(t *testing.T) {
	off, err := New(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if off.TCPAddr() != nil {
		t.Fatalf("ICE-TCP listening without TCPListenAddr: %v", off.TCPAddr())
	}
	_ = off.Close()

	s, err := New(Config{ListenAddr: "127.0.0.1:0", TCPListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.TCPAddr()
	if addr == nil {
		t.Fatal("no ICE-TCP listener")
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("dial the ICE-TCP port: %v", err)
	}
	_ = c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		_ = c.Close()
		t.Fatal("the ICE-TCP port still accepts after Close")
	}
	if _, err := New(Config{ListenAddr: "127.0.0.1:0", TCPListenAddr: "not an address"}); err == nil {
		t.Fatal("a bad TCP address accepted")
	}
}
