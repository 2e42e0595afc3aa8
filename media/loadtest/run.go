package loadtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/pion/rtp"
)

const (
	setupTimeout = 60 * time.Second
	drain        = 500 * time.Millisecond
	callTimeout  = 10 * time.Second
	// slack bounds what is neither setup nor measurement (starting and
	// stopping the child, closing peers).
	slack = 30 * time.Second
)

// Run measures the SFU, then the bare forwarder, for one Config. It stops
// by itself: every step has a deadline, and the whole run is bounded by
// Config.Timeout.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	rep := Report{Publishers: cfg.Publishers, Subscribers: cfg.Subscribers, Simulcast: cfg.Simulcast}
	if !cfg.SkipSFU {
		if rep.SFU, err = runOnce(ctx, cfg, "sfu"); err != nil {
			return rep, err
		}
		rep.Traffic = rep.SFU.traffic
	}
	if cfg.SkipBare {
		return rep, nil
	}
	bare, err := runOnce(ctx, cfg, "bare")
	if err != nil {
		return rep, err
	}
	rep.Bare = &bare
	if cfg.SkipSFU {
		rep.Traffic = bare.traffic
		return rep, nil
	}
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
	done   chan struct{} // closed when dispatch ends

	mu      sync.Mutex
	routes  map[string]route // child frames by participant id
	control chan frame       // marked / usage / subs_ok
}

// route delivers one participant's frames until its peer closes.
type route struct {
	ch   chan frame
	done <-chan struct{}
}

func startChild(ctx context.Context, cfg Config, kind string) (*child, error) {
	c := &child{routes: map[string]route{}, control: make(chan frame, 4), done: make(chan struct{})}
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
		close(c.done)
		c.stop()
		return nil, fmt.Errorf("%w: no ready frame (%v): %s", ErrChild, err, c.stderr.String())
	}
	c.addr = f.Addr
	go c.dispatch()
	return c, nil
}

// dispatch routes the child's frames until its stdout closes. A route
// that does not keep up drops signaling rather than block the child.
func (c *child) dispatch() {
	defer close(c.done)
	defer close(c.control)
	for {
		f, err := c.w.recv()
		if err != nil {
			return
		}
		switch f.Op {
		case "signal":
			c.mu.Lock()
			rt, ok := c.routes[f.ID]
			c.mu.Unlock()
			if ok && f.Msg != nil {
				select {
				case rt.ch <- f:
				case <-rt.done:
				}
			}
		case "error":
			// A refused message is the client's problem; the run
			// notices through missing tracks.
		default:
			select {
			case c.control <- f:
			default: // nobody asked: dropped rather than block the child
			}
		}
	}
}

func (c *child) call(ctx context.Context, op string) (frame, error) {
	if err := c.w.send(frame{Op: op}); err != nil {
		return frame{}, fmt.Errorf("%w: %w", ErrChild, err)
	}
	return c.reply(ctx, op)
}

func (c *child) reply(ctx context.Context, op string) (frame, error) {
	select {
	case f, ok := <-c.control:
		if !ok {
			return frame{}, fmt.Errorf("%w: exited: %s", ErrChild, c.stderr.String())
		}
		return f, nil
	case <-time.After(callTimeout):
		return frame{}, fmt.Errorf("%w: no reply to %s", ErrChild, op)
	case <-ctx.Done():
		return frame{}, ctx.Err()
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
	<-c.done
}

// run is one measurement: the publishers' sources, the subscribers'
// sinks, and the goroutines that send.
type run struct {
	cfg     Config
	clk     *clock
	sources []*source
	reg     registry
	sinks   []*sink
	full    chan struct{} // closed when setup is done: full traffic
	stop    chan struct{}
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

func newRun(cfg Config) (*run, error) {
	r := &run{cfg: cfg, clk: &clock{epoch: time.Now()}, reg: registry{}, full: make(chan struct{}), stop: make(chan struct{})}
	for i := range cfg.Publishers {
		src, err := newSource(uint16(i), cfg.VideoBitrate, cfg.Simulcast)
		if err != nil {
			return nil, err
		}
		r.sources = append(r.sources, src)
		r.reg[src.log.kid] = src.log
	}
	for range cfg.Subscribers {
		r.sinks = append(r.sinks, newSink(r.clk, r.reg))
	}
	return r, nil
}

// start paces source src through emit until the run stops, counting what
// is stamped inside the window.
func (r *run) start(src *source, emit emitFunc) {
	r.wg.Go(func() {
		src.pace(r.clk, r.full, r.stop, func(p packet) error {
			err := emit(p)
			if err == nil && r.clk.inWindow(p.nanos) {
				p.stream.sent.Add(1)
				p.stream.bytes.Add(uint64(len(p.payload)))
			}
			return err
		}, r.fail)
	})
}

func (r *run) fail(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil && !errors.Is(err, net.ErrClosed) {
		r.err = err
	}
}

func (r *run) halt() {
	close(r.stop)
	r.wg.Wait()
}

// traffic sums what the publishers sent inside the window.
func (r *run) traffic(window time.Duration) (expected uint64, t Traffic) {
	var pkts, bytes uint64
	for _, src := range r.sources {
		for _, st := range src.log.streams {
			n := st.sent.Load()
			pkts += n
			bytes += st.bytes.Load()
			if st.counted {
				expected += n
			}
			if st.video {
				t.VideoPackets += n
			}
		}
	}
	t.Packets = pkts
	if window > 0 && len(r.sources) > 0 {
		per := float64(len(r.sources)) * window.Seconds()
		t.PacketsPerSec = float64(pkts) / per
		t.Bitrate = float64(bytes) * 8 / per
		t.VideoPacketsPerFrame = float64(t.VideoPackets) / (per * videoFPS)
	}
	return expected, t
}

// runOnce sets up one server kind, warms up, measures one window.
func runOnce(ctx context.Context, cfg Config, kind string) (Result, error) {
	c, err := startChild(ctx, cfg, kind)
	if err != nil {
		return Result{}, err
	}
	defer c.stop()
	r, err := newRun(cfg)
	if err != nil {
		return Result{}, err
	}
	var cleanup func()
	switch kind {
	case "sfu":
		cleanup, err = setupSFU(ctx, r, c)
	default:
		cleanup, err = setupBare(ctx, r, c)
	}
	defer func() {
		r.halt()
		if cleanup != nil {
			cleanup()
		}
	}()
	if err != nil {
		return Result{}, err
	}

	close(r.full)
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return Result{}, err
	}
	if _, err := c.call(ctx, "mark"); err != nil {
		return Result{}, err
	}
	t0 := r.clk.now()
	r.clk.t0.Store(t0)
	if err := sleepCtx(ctx, cfg.Duration); err != nil {
		return Result{}, err
	}
	t1 := r.clk.now()
	r.clk.t1.Store(t1)
	u, err := c.call(ctx, "usage")
	if err != nil {
		return Result{}, err
	}
	if err := sleepCtx(ctx, drain); err != nil {
		return Result{}, err
	}
	r.errMu.Lock()
	sendErr := r.err
	r.errMu.Unlock()
	if sendErr != nil {
		return Result{}, fmt.Errorf("loadtest: publisher: %w", sendErr)
	}
	res := Result{Server: kind, Forwarded: u.Forwarded, ServerCPU: time.Duration(u.CPUNanos), MaxRSS: u.MaxRSS}
	res.Sent, res.traffic = r.traffic(time.Duration(t1 - t0))
	res.Expected = res.Sent * uint64(cfg.Subscribers)
	res.Received, res.unattributed, res.DelayP50, res.DelayP99 = summarize(r.sinks)
	if res.Expected > 0 {
		res.Loss = 1 - float64(res.Received)/float64(res.Expected)
	}
	if u.Forwarded > 0 {
		res.CPUPerPktUs = float64(u.CPUNanos) / 1e3 / float64(u.Forwarded)
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func setupSFU(ctx context.Context, r *run, c *child) (func(), error) {
	api, err := loopbackAPI()
	if err != nil {
		return nil, err
	}
	var peers []*peer
	var routes sync.WaitGroup
	cleanup := func() {
		for _, p := range peers {
			p.close()
		}
		routes.Wait()
	}
	join := func(id string, pub bool, sk *sink) (*peer, error) {
		p, err := newPeer(api, id, c.w, sk)
		if err != nil {
			return nil, err
		}
		peers = append(peers, p)
		rt := route{ch: make(chan frame, 64), done: p.done}
		c.mu.Lock()
		c.routes[id] = rt
		c.mu.Unlock()
		routes.Go(func() {
			for {
				select {
				case f := <-rt.ch:
					select {
					case p.in <- *f.Msg:
					case <-p.done:
						return
					}
				case <-p.done:
					return
				}
			}
		})
		return p, c.w.send(frame{Op: "join", ID: id, Publish: pub, Subscribe: !pub})
	}
	var subs []*peer
	for i := range r.cfg.Subscribers {
		p, err := join(fmt.Sprintf("sub%d", i), false, r.sinks[i])
		if err != nil {
			return cleanup, err
		}
		subs = append(subs, p)
	}
	deadline := time.Now().Add(setupTimeout)
	wait := func(what string, done func() bool) error {
		for !done() {
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: %s", ErrSetup, what)
			}
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	}
	for i, src := range r.sources {
		p, err := join(fmt.Sprintf("pub%d", i), true, nil)
		if err != nil {
			return cleanup, err
		}
		pub, err := p.publish(src)
		if err != nil {
			return cleanup, err
		}
		if err := wait(p.id+" negotiated", func() bool { return p.simulcastReady(pub, r.cfg.Simulcast) }); err != nil {
			return cleanup, err
		}
		r.start(src, pub.emitter(src))
	}
	tracks := int32(2 * r.cfg.Publishers)
	for _, s := range subs {
		if err := wait(fmt.Sprintf("%s receives %d of %d tracks", s.id, s.tracks.Load(), tracks),
			func() bool { return s.tracks.Load() >= tracks }); err != nil {
			return cleanup, err
		}
	}
	return cleanup, nil
}

// Bare forwarder SSRCs: the publisher and stream in the low 24 bits; the
// forwarder writes the subscriber's index into the top byte, as an SFU
// gives each subscriber its own SSRC.
func bareSSRC(pub uint16, stream uint8) uint32 { return uint32(pub)<<8 | uint32(stream) | 1<<23 }

const (
	barePTVideo = 96
	barePTAudio = 111
)

func setupBare(ctx context.Context, r *run, c *child) (func(), error) {
	var conns []*net.UDPConn
	var readers sync.WaitGroup
	cleanup := func() {
		for _, conn := range conns {
			_ = conn.Close()
		}
		readers.Wait()
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
	for _, sk := range r.sinks {
		conn, err := listen()
		if err != nil {
			return cleanup, err
		}
		addrs = append(addrs, conn.LocalAddr().String())
		readers.Go(func() {
			buf := make([]byte, 1500)
			tracks := map[uint32]*track{}
			for {
				n, err := conn.Read(buf)
				if err != nil {
					return
				}
				if n < rtpHeaderLen {
					continue
				}
				ssrc := binary.BigEndian.Uint32(buf[8:]) & 0xffffff
				t := tracks[ssrc]
				if t == nil {
					t = newTrack(buf[1]&0x7f == barePTVideo)
					tracks[ssrc] = t
				}
				sk.record(t, buf[:n], r.clk.now())
			}
		})
	}
	if err := c.w.send(frame{Op: "subs", Subs: addrs}); err != nil {
		return cleanup, err
	}
	if f, err := c.reply(ctx, "subs"); err != nil || f.Op != "subs_ok" {
		return cleanup, fmt.Errorf("%w: subscribers refused (%v): %s", ErrChild, err, c.stderr.String())
	}
	server, err := net.ResolveUDPAddr("udp4", c.addr)
	if err != nil {
		return cleanup, err
	}
	for _, src := range r.sources {
		conn, err := listen()
		if err != nil {
			return cleanup, err
		}
		buf := make([]byte, 0, 1500)
		r.start(src, func(p packet) error {
			pt := uint8(barePTAudio)
			if p.stream.video {
				pt = barePTVideo
			}
			h := rtp.Header{Version: 2, Marker: p.marker, PayloadType: pt, SequenceNumber: p.seq,
				Timestamp: p.ts, SSRC: bareSSRC(src.log.pub, p.stream.index)}
			n, err := h.MarshalTo(buf[:rtpHeaderLen])
			if err != nil {
				return err
			}
			_, err = conn.WriteToUDP(append(buf[:n], p.payload...), server)
			return err
		})
	}
	return cleanup, nil
}
