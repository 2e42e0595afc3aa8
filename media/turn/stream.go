package turn

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// handshakeTimeout bounds a TLS client's handshake, as pion bounds it for
// the tls.Conn it would otherwise see.
const handshakeTimeout = 10 * time.Second

// maxFrame is the largest TURN frame on a stream: a STUN message of the
// largest length (RFC 8489 §5: 20-byte header and up to 65535 bytes), or
// ChannelData of the largest length padded to four bytes (RFC 8656 §12.5).
const maxFrame = 20 + 0xffff + 4

// filterListener is a TURN listener over TCP or TLS (RFC 8656 §3.1: a
// client may reach the server over TCP or TLS-over-TCP and still be given
// a UDP relay). The connections it accepts pass every frame through the
// same transport filter as the UDP listener's datagrams, so an Allocate
// asking for a TCP relay is answered 442 on every path. Close closes the
// connections it accepted too, which pion's Server.Close would leave open.
type filterListener struct {
	net.Listener
	s *Server

	mu     sync.Mutex
	conns  map[*filterStream]struct{}
	closed bool
}

func (l *filterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fs := &filterStream{Conn: c, l: l, frames: pionturn.NewSTUNConn(c), buf: make([]byte, maxFrame)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	if l.conns == nil {
		l.conns = map[*filterStream]struct{}{}
	}
	l.conns[fs] = struct{}{}
	return fs, nil
}

func (l *filterListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

func (l *filterListener) forget(c *filterStream) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// filterStream is one accepted connection. pion reads it through its own
// framing (turn.NewSTUNConn); Read hands it whole frames that passed the
// filter, so pion frames the same bytes the client sent, less the refused
// Allocates, which are answered here. Only pion's read loop calls Read.
type filterStream struct {
	net.Conn
	l      *filterListener
	frames *pionturn.STUNConn // frames the stream (RFC 8656 §12.5 padding included)
	buf    []byte
	rest   []byte // what of the current frame Read has not handed over yet
	shook  bool
}

func (c *filterStream) Read(b []byte) (int, error) {
	if !c.shook {
		c.shook = true
		if err := c.handshake(); err != nil {
			return 0, err
		}
	}
	for len(c.rest) == 0 {
		n, _, err := c.frames.ReadFrom(c.buf)
		if err != nil {
			return 0, err
		}
		resp := c.l.s.refuseTransport(c.buf[:n])
		if resp == nil {
			c.rest = c.buf[:n]
			break
		}
		if _, err := c.Conn.Write(resp); err != nil {
			return 0, err
		}
	}
	n := copy(b, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// handshake completes a TLS handshake within handshakeTimeout, so a client
// that never finishes one does not hold the connection for ever.
func (c *filterStream) handshake() error {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

func (c *filterStream) Close() error {
	c.l.forget(c)
	return c.Conn.Close()
}
