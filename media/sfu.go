package media

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// SFU forwards each room's published tracks to the room's subscribers. One
// SFU serves any number of rooms over one UDP socket.
type SFU struct {
	cfg   Config
	log   *slog.Logger
	conn  *guardConn
	mux   ice.UDPMux
	tcp   ice.TCPMux // ICE-TCP, when Config.TCPListenAddr is set
	tcpLn net.Listener
	epoch time.Time

	global counters // drops on no participant's transport

	mu      sync.Mutex
	rooms   map[string]*room
	retired Counters // counters of participants that left
	closed  bool
}

// New starts an SFU on cfg's socket.
func New(cfg Config) (*SFU, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	conn := cfg.Conn
	if conn == nil {
		addr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: listen address: %w", ErrConfig, err)
		}
		if conn, err = net.ListenUDP("udp", addr); err != nil {
			return nil, fmt.Errorf("media: listen: %w", err)
		}
	}
	// A bigger socket buffer absorbs keyframe bursts from many publishers.
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	s := &SFU{cfg: cfg, log: cfg.Logger, epoch: time.Now(), rooms: map[string]*room{}}
	s.conn = newGuardConn(conn, &s.global)
	s.mux = webrtc.NewICEUDPMux(nil, s.conn)
	if cfg.TCPListenAddr != "" {
		if s.tcpLn, err = net.Listen("tcp", cfg.TCPListenAddr); err != nil {
			_ = s.mux.Close()
			return nil, fmt.Errorf("media: listen for ICE-TCP: %w", err)
		}
		// 128 packets of read buffer per connection absorb a keyframe burst.
		s.tcp = webrtc.NewICETCPMux(nil, s.tcpLn, 128)
	}
	return s, nil
}

// Addr is the media socket's address.
func (s *SFU) Addr() net.Addr { return s.conn.LocalAddr() }

// TCPAddr is the ICE-TCP listener's address, or nil when ICE-TCP is off.
func (s *SFU) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

func (s *SFU) nanos() int64 { return int64(time.Since(s.epoch)) }

// Counters sums the counters of all participants, past and present.
func (s *SFU) Counters() Counters {
	s.mu.Lock()
	c := s.retired
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		for _, p := range r.snapshotParticipants() {
			c.add(p.counters.snapshot())
		}
	}
	c.add(s.global.snapshot())
	return c
}

const maxIDLen = 256

// Join adds a participant to a room and returns it. The SFU sends the
// participant's messages through signal, one at a time and in order; signal
// must not call back into the Participant synchronously. The participant
// leaves when ctx is done or Close is called. If the room already has
// tracks and grants allow subscribing, the SFU's first offer follows.
func (s *SFU) Join(ctx context.Context, roomID, participantID string, grants Grants, signal func(signaling.Media)) (*Participant, error) {
	if roomID == "" || participantID == "" || len(roomID) > maxIDLen || len(participantID) > maxIDLen {
		return nil, ErrInvalidID
	}
	if signal == nil {
		return nil, ErrNilSignal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	r := s.rooms[roomID]
	if r == nil {
		r = newRoom(s, roomID)
		s.rooms[roomID] = r
	}
	if !r.reserve(participantID) {
		s.mu.Unlock()
		return nil, ErrDuplicateParticipant
	}
	s.mu.Unlock()

	p, err := newParticipant(s, r, participantID, grants, signal)
	if err != nil {
		r.release(participantID)
		s.dropRoomIfEmpty(r)
		return nil, err
	}
	pubs := r.admit(p)
	if grants.CanSubscribe {
		for _, pub := range pubs {
			p.subscribe(pub)
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Close()
		case <-p.done:
		}
	}()
	return p, nil
}

func (s *SFU) dropRoomIfEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.empty() && s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
}

func (s *SFU) retire(c Counters) {
	s.mu.Lock()
	s.retired.add(c)
	s.mu.Unlock()
}

// Close closes every participant and the media socket.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		for _, p := range r.snapshotParticipants() {
			_ = p.Close()
		}
	}
	if s.tcp != nil {
		_ = s.tcp.Close()
	}
	return s.mux.Close()
}
