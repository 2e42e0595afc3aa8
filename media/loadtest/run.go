package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	setupTimeout = 60 * time.Second
	drain        = 500 * time.Millisecond
)

// Run measures the SFU, then the bare forwarder, for one Config.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Publishers: cfg.Publishers, Subscribers: cfg.Subscribers}
	if rep.SFU, err = runOnce(ctx, cfg, "sfu"); err != nil {
		return rep, err
	}
	if cfg.SkipBare {
		return rep, nil
	}
	bare, err := runOnce(ctx, cfg, "bare")
	if err != nil {
		return rep, err
	}
	rep.Bare = &bare
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	rep.CPURatio = ratio(rep.SFU.CPUPerPktUs, bare.CPUPerPktUs)
	rep.DelayP50Ratio = ratio(float64(rep.SFU.DelayP50), float64(bare.DelayP50))
	rep.DelayP99Ratio = ratio(float64(rep.SFU.DelayP99), float64(bare.DelayP99))
	return rep, nil
}

// child is a running server child process.
type child struct {
	cmd    *exec.Cmd
	w      *wire
	stderr bytes.Buffer
	addr   string

	mu      sync.Mutex
	routes  map[string]chan frame // child frames by participant id
	control chan frame            // marked / usage / subs_ok
}

func startChild(ctx context.Context, cfg Config, kind string) (*child, error) {
	c := &child{routes: map[string]chan frame{}, control: make(chan frame, 4)}
	c.cmd = exec.CommandContext(ctx, cfg.Command[0], cfg.Command[1:]...)
	c.cmd.Env = append(os.Environ(), ChildEnv+"="+kind)
	c.cmd.Stderr = &c.stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start: %w", ErrChild, err)
	}
	c.w = newWire(stdout, stdin)
	c.w.closer = stdin
	f, err := c.w.recv()
	if err != nil || f.Op != "ready" {
		c.stop()
		return nil, fmt.Errorf("%w: no ready frame (%v): %s", ErrChild, err, c.stderr.String())
	}
	c.addr = f.Addr
	go c.dispatch()
	return c, nil
}

func (c *child) dispatch() {
	for {
		f, err := c.w.recv()
		if err != nil {
			close(c.control)
			return
		}
		switch f.Op {
		case "signal":
			c.mu.Lock()
			ch := c.routes[f.ID]
			c.mu.Unlock()
			if ch != nil && f.Msg != nil {
				ch <- f
			}
		case "error":
			// A refused message is the client's problem; the run
			// notices through missing tracks.
		default:
			c.control <- f
		}
	}
}

func (c *child) call(op string) (frame, error) {
	if err := c.w.send(frame{Op: op}); err != nil {
		return frame{}, fmt.Errorf("%w: %w", ErrChild, err)
	}
	select {
	case f, ok := <-c.control:
		if !ok {
			return frame{}, fmt.Errorf("%w: exited: %s", ErrChild, c.stderr.String())
		}
		return f, nil
	case <-time.After(10 * time.Second):
		return frame{}, fmt.Errorf("%w: no reply to %s", ErrChild, op)
	}
}

func (c *child) stop() {
	_ = c.w.closer.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// runOnce sets up one server kind, warms up, measures one window.
func runOnce(ctx context.Context, cfg Config, kind string) (Result, error) {
	c, err := startChild(ctx, cfg, kind)
	if err != nil {
		return Result{}, err
	}
	defer c.stop()
	clk := &clock{epoch: time.Now()}
	sinks := make([]*sink, cfg.Subscribers)
	for i := range sinks {
		sinks[i] = newSink(clk)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Uint64
	defer func() { close(stop); wg.Wait() }()

	var cleanup func()
	switch kind {
	case "sfu":
		cleanup, err = setupSFU(ctx, cfg, c, clk, sinks, stop, &wg, &sent)
	default:
		cleanup, err = setupBare(ctx, cfg, c, clk, sinks, stop, &wg, &sent)
	}
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		return Result{}, err
	}

	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return Result{}, err
	}
	if _, err := c.call("mark"); err != nil {
		return Result{}, err
	}
	clk.t0.Store(clk.now())
	if err := sleepCtx(ctx, cfg.Duration); err != nil {
		return Result{}, err
	}
	clk.t1.Store(clk.now())
	u, err := c.call("usage")
	if err != nil {
		return Result{}, err
	}
	if err := sleepCtx(ctx, drain); err != nil {
		return Result{}, err
	}
	res := Result{Server: kind, Sent: sent.Load(), Forwarded: u.Forwarded, ServerCPU: time.Duration(u.CPUNanos)}
	res.Expected = res.Sent * uint64(cfg.Subscribers)
	res.Received, res.DelayP50, res.DelayP99 = summarize(sinks)
	if res.Expected > 0 {
		res.Loss = 1 - float64(res.Received)/float64(res.Expected)
	}
	if u.Forwarded > 0 {
		res.CPUPerPktUs = float64(u.CPUNanos) / 1e3 / float64(u.Forwarded)
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func setupSFU(ctx context.Context, cfg Config, c *child, clk *clock, sinks []*sink,
	stop chan struct{}, wg *sync.WaitGroup, sent *atomic.Uint64) (func(), error) {
	api, err := loopbackAPI()
	if err != nil {
		return nil, err
	}
	var peers []*peer
	cleanup := func() {
		for _, p := range peers {
			p.close()
		}
	}
	join := func(id string, pub bool, sk *sink) (*peer, error) {
		p, err := newPeer(api, id, c.w, sk)
		if err != nil {
			return nil, err
		}
		peers = append(peers, p)
		ch := make(chan frame, 64)
		c.mu.Lock()
		c.routes[id] = ch
		c.mu.Unlock()
		go func() {
			for f := range ch {
				p.in <- *f.Msg
			}
		}()
		return p, c.w.send(frame{Op: "join", ID: id, Publish: pub, Subscribe: !pub})
	}
	var subs []*peer
	for i := range cfg.Subscribers {
		p, err := join(fmt.Sprintf("sub%d", i), false, sinks[i])
		if err != nil {
			return cleanup, err
		}
		subs = append(subs, p)
	}
	for i := range cfg.Publishers {
		p, err := join(fmt.Sprintf("pub%d", i), true, nil)
		if err != nil {
			return cleanup, err
		}
		tr, err := p.publish()
		if err != nil {
			return cleanup, err
		}
		wg.Add(1)
		go func(pub uint16, tr *webrtc.TrackLocalStaticRTP) {
			defer wg.Done()
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}}
			pacer(clk, pub, cfg.PacketRate, cfg.PayloadSize, stop, sent, func(b []byte, seq, ts uint32) error {
				pkt.SequenceNumber, pkt.Timestamp, pkt.Payload = uint16(seq), ts, b
				return tr.WriteRTP(pkt)
			})
		}(uint16(i), tr)
	}
	deadline := time.Now().Add(setupTimeout)
	for _, s := range subs {
		for s.tracks.Load() < int32(cfg.Publishers) {
			if time.Now().After(deadline) {
				return cleanup, fmt.Errorf("%w: %s receives %d of %d tracks", ErrSetup, s.id, s.tracks.Load(), cfg.Publishers)
			}
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return cleanup, err
			}
		}
	}
	return cleanup, nil
}

func setupBare(ctx context.Context, cfg Config, c *child, clk *clock, sinks []*sink,
	stop chan struct{}, wg *sync.WaitGroup, sent *atomic.Uint64) (func(), error) {
	var conns []*net.UDPConn
	cleanup := func() {
		for _, conn := range conns {
			_ = conn.Close()
		}
	}
	listen := func() (*net.UDPConn, error) {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err == nil {
			_ = conn.SetReadBuffer(4 << 20)
			conns = append(conns, conn)
		}
		return conn, err
	}
	var addrs []string
	for i := range cfg.Subscribers {
		conn, err := listen()
		if err != nil {
			return cleanup, err
		}
		addrs = append(addrs, conn.LocalAddr().String())
		go func(sk *sink) {
			buf := make([]byte, 1500)
			for {
				n, err := conn.Read(buf)
				if err != nil {
					return
				}
				if n > 12 {
					sk.record(buf[12:n])
				}
			}
		}(sinks[i])
	}
	if err := c.w.send(frame{Op: "subs", Subs: addrs}); err != nil {
		return cleanup, err
	}
	select {
	case f, ok := <-c.control:
		if !ok || f.Op != "subs_ok" {
			return cleanup, fmt.Errorf("%w: subscribers refused: %s", ErrChild, c.stderr.String())
		}
	case <-time.After(10 * time.Second):
		return cleanup, fmt.Errorf("%w: no reply to subs", ErrChild)
	}
	server, err := net.ResolveUDPAddr("udp4", c.addr)
	if err != nil {
		return cleanup, err
	}
	for i := range cfg.Publishers {
		conn, err := listen()
		if err != nil {
			return cleanup, err
		}
		wg.Add(1)
		go func(pub uint16) {
			defer wg.Done()
			h := rtp.Header{Version: 2, Marker: true, PayloadType: 96, SSRC: uint32(pub) + 1}
			buf := make([]byte, 0, 1500)
			pacer(clk, pub, cfg.PacketRate, cfg.PayloadSize, stop, sent, func(b []byte, seq, ts uint32) error {
				h.SequenceNumber, h.Timestamp = uint16(seq), ts
				out, err := h.MarshalTo(buf[:12])
				if err != nil {
					return err
				}
				pkt := append(buf[:out], b...)
				_, err = conn.WriteToUDP(pkt, server)
				return err
			})
		}(uint16(i))
	}
	_ = ctx
	return cleanup, nil
}
