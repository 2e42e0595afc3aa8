package loadtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/signaling"
)

// IsChild reports whether this process was started as a loadtest server.
func IsChild() bool { return os.Getenv(ChildEnv) != "" }

// ChildMain runs the loadtest server on stdin/stdout until the parent
// closes stdin, and returns the process exit code.
//
// If SEALROOM_LOADTEST_CPUPROFILE names a file prefix, the child writes a
// CPU profile of the measured window to PREFIX.sfu or PREFIX.bare.
func ChildMain() int {
	w := newWire(os.Stdin, os.Stdout)
	var err error
	switch kind := os.Getenv(ChildEnv); kind {
	case "sfu":
		err = serveSFU(w)
	case "bare":
		err = serveBare(w)
	default:
		err = fmt.Errorf("%w: unknown server kind %q", ErrChild, kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// windowProfile profiles the measured window when asked to.
type windowProfile struct{ f *os.File }

func (p *windowProfile) start() {
	path := os.Getenv("SEALROOM_LOADTEST_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path + "." + os.Getenv(ChildEnv))
	if err != nil {
		return
	}
	if pprof.StartCPUProfile(f) != nil {
		_ = f.Close()
		return
	}
	p.f = f
}

func (p *windowProfile) stop() {
	if p.f != nil {
		pprof.StopCPUProfile()
		_ = p.f.Close()
		p.f = nil
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// maxRSS is the child's peak resident set size in bytes: VmHWM of
// /proc/self/status (proc(5)). getrusage's ru_maxrss would not do: Linux
// carries it across fork and execve, so it starts at the parent's RSS.
func maxRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// serveSFU runs a media.SFU and relays signaling for the parent's peers.
func serveSFU(w *wire) error {
	sfu, err := media.New(media.Config{
		ListenAddr: "127.0.0.1:0",
		// Pin the estimate range: the harness measures forwarding, not
		// how fast GCC ramps up on a loopback link.
		InitialBitrate: 200_000_000, MinBitrate: 100_000_000, MaxBitrate: 400_000_000,
	})
	if err != nil {
		return err
	}
	defer sfu.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parts := map[string]*media.Participant{}
	var mark struct {
		cpu int64
		fwd uint64
	}
	var prof windowProfile
	defer prof.stop()
	if err := w.send(frame{Op: "ready", Addr: sfu.Addr().String()}); err != nil {
		return err
	}
	for {
		f, err := w.recv()
		if err != nil {
			return nil // parent closed stdin: done
		}
		switch f.Op {
		case "join":
			id := f.ID
			p, err := sfu.Join(ctx, "load", id, media.Grants{CanPublish: f.Publish, CanSubscribe: f.Subscribe},
				func(m signaling.Media) { _ = w.send(frame{Op: "signal", ID: id, Msg: &m}) })
			if err != nil {
				return err
			}
			parts[id] = p
		case "msg":
			p := parts[f.ID]
			if p == nil || f.Msg == nil {
				return fmt.Errorf("%w: message for unknown participant %q", ErrChild, f.ID)
			}
			if err := p.HandleMessage(*f.Msg); err != nil {
				_ = w.send(frame{Op: "error", ID: f.ID, Err: err.Error()})
			}
		case "mark":
			prof.start()
			mark.cpu, mark.fwd = cpuNanos(), sfu.Counters().ForwardedPackets
			if err := w.send(frame{Op: "marked"}); err != nil {
				return err
			}
		case "usage":
			prof.stop()
			if err := w.send(frame{Op: "usage", CPUNanos: cpuNanos() - mark.cpu,
				Forwarded: sfu.Counters().ForwardedPackets - mark.fwd, MaxRSS: maxRSS()}); err != nil {
				return err
			}
		}
	}
}

// bareForwarder is the baseline: receive a datagram, copy it into each
// subscriber's buffer, rewrite the SSRC like an SFU would (the subscriber's
// index in its top byte), send with one sendto per datagram. No encryption,
// no RTCP, no congestion control, no batching.
type bareForwarder struct {
	conn      *net.UDPConn
	mu        sync.Mutex
	subs      []netip.AddrPort
	forwarded atomic.Uint64
}

func (b *bareForwarder) run() {
	in := make([]byte, 1500)
	var bufs [][]byte
	for {
		n, _, err := b.conn.ReadFromUDPAddrPort(in)
		if err != nil {
			return
		}
		b.mu.Lock()
		subs := b.subs
		b.mu.Unlock()
		for len(bufs) < len(subs) {
			bufs = append(bufs, make([]byte, 1500))
		}
		for i, s := range subs {
			out := bufs[i][:n]
			copy(out, in[:n])
			if n >= 12 {
				binary.BigEndian.PutUint32(out[8:], binary.BigEndian.Uint32(in[8:])&0xffffff|uint32(i)<<24)
			}
			if _, err := b.conn.WriteToUDPAddrPort(out, s); err == nil {
				b.forwarded.Add(1)
			}
		}
	}
}

func serveBare(w *wire) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	b := &bareForwarder{conn: conn}
	go b.run()
	var mark struct {
		cpu int64
		fwd uint64
	}
	var prof windowProfile
	defer prof.stop()
	if err := w.send(frame{Op: "ready", Addr: conn.LocalAddr().String()}); err != nil {
		return err
	}
	for {
		f, err := w.recv()
		if err != nil {
			return nil
		}
		switch f.Op {
		case "subs":
			var subs []netip.AddrPort
			for _, s := range f.Subs {
				ap, err := netip.ParseAddrPort(s)
				if err != nil || !ap.Addr().IsLoopback() {
					return fmt.Errorf("%w: subscriber %q is not a loopback address", ErrChild, s)
				}
				subs = append(subs, ap)
			}
			b.mu.Lock()
			b.subs = subs
			b.mu.Unlock()
			if err := w.send(frame{Op: "subs_ok"}); err != nil {
				return err
			}
		case "mark":
			prof.start()
			mark.cpu, mark.fwd = cpuNanos(), b.forwarded.Load()
			if err := w.send(frame{Op: "marked"}); err != nil {
				return err
			}
		case "usage":
			prof.stop()
			if err := w.send(frame{Op: "usage", CPUNanos: cpuNanos() - mark.cpu,
				Forwarded: b.forwarded.Load() - mark.fwd, MaxRSS: maxRSS()}); err != nil {
				return err
			}
		}
	}
}
