// Package clustertest runs a cluster of real `sealroom serve` processes on loopback
// against one Postgres database, for tests: nodes that can be killed (SIGKILL), drained
// (SIGTERM) and started again, and a TCP load balancer in front of them, as a deployment
// would put one.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/sealroom once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := pgtest.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "sealroom-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sealroom")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sealroom")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Cluster is a set of serve processes sharing a database and keys.
type Cluster struct {
	t      testing.TB
	bin    string
	dbURL  string
	keys   string
	Signer *auth.Signer
	// Args are extra serve flags for every node.
	Args []string

	mu    sync.Mutex
	nodes map[string]*Node
	all   []*Node // every process started, for their logs
	lb    *Balancer
}

// New prepares a cluster on the database at dbURL (migrated by the first node).
func New(t testing.TB, dbURL string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: Binary(t), dbURL: dbURL, keys: t.TempDir(), nodes: map[string]*Node{}}
	var tokenKey ed25519.PrivateKey
	for _, name := range []string{"token", "ds", "audit"} {
		k, _, err := auth.LoadOrCreateKey(filepath.Join(c.keys, name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		if name == "token" {
			tokenKey = k
		}
	}
	c.Signer = auth.NewSigner(tokenKey, "sealroom", "sealroom")
	t.Cleanup(func() {
		c.mu.Lock()
		nodes := make([]*Node, 0, len(c.nodes))
		for _, n := range c.nodes {
			nodes = append(nodes, n)
		}
		c.mu.Unlock()
		for _, n := range nodes {
			n.Kill()
		}
		if t.Failed() {
			for _, n := range c.all {
				l := n.Log()
				f := filepath.Join(os.TempDir(), fmt.Sprintf("clustertest-%s-%d.log", n.ID, n.cmd.Process.Pid))
				_ = os.WriteFile(f, []byte(l), 0o644)
				t.Logf("node %s log (whole: %s), tail:\n%s", n.ID, f, l[max(0, len(l)-3000):])
			}
		}
	})
	return c
}

// Token mints a token for sub in room.
func (c *Cluster) Token(t testing.TB, sub, room string, role auth.Role) string {
	t.Helper()
	tok, _, err := c.Signer.Mint(auth.Grant{Identity: sub, Name: sub, Room: room, Role: role, CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Node is one serve process.
type Node struct {
	ID   string
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	c    *Cluster
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs node id (a new process; a node id may be started again after it exited) and
// waits until it serves.
func (c *Cluster) Start(id string) *Node {
	t := c.t
	t.Helper()
	data := filepath.Join(c.keys, "data-"+id)
	args := append([]string{"serve", "--migrate", "--addr", "127.0.0.1:0", "--media-addr", "127.0.0.1:0",
		"--node-name", id, "--drain-delay", "500ms", "--shutdown-timeout", "5s", "--trusted-proxy", "127.0.0.1/32"}, c.Args...)
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+c.dbURL,
		"SEALROOM_DATA="+data,
		"SEALROOM_TOKEN_KEY_FILE="+filepath.Join(c.keys, "token.pem"),
		"SEALROOM_DS_KEY_FILE="+filepath.Join(c.keys, "ds.pem"),
		"SEALROOM_AUDIT_KEY_FILE="+filepath.Join(c.keys, "audit.pem"),
		"SEALROOM_CLUSTER_LEASE=3s",
		"SEALROOM_LOG_LEVEL=info",
	)
	n := &Node{ID: id, c: c, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.err = cmd.Wait(); close(n.done) }()
	deadline := time.Now().Add(time.Minute)
	for n.URL == "" {
		sc := bufio.NewScanner(strings.NewReader(n.log.String()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "sealroom is serving on "); ok {
				n.URL = strings.TrimSpace(rest)
			}
		}
		if n.URL != "" {
			break
		}
		select {
		case <-n.done:
			t.Fatalf("node %s exited: %v\n%s", id, n.err, n.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not start:\n%s", id, n.log.String())
		}
	}
	n.Addr = strings.TrimPrefix(n.URL, "http://")
	c.mu.Lock()
	c.nodes[id] = n
	c.all = append(c.all, n)
	c.mu.Unlock()
	return n
}

// Node returns the running node id, or nil.
func (c *Cluster) Node(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Kill ends the process at once (SIGKILL): no drain, no goodbye, its lease lapses.
func (n *Node) Kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.forget()
}

// Term asks the process to drain and exit (SIGTERM) and waits until it has.
func (n *Node) Term() error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(time.Minute):
		n.Kill()
		return fmt.Errorf("node %s did not exit within a minute of SIGTERM", n.ID)
	}
	n.forget()
	return n.err
}

// Pause stops the process (SIGSTOP), as a VM stall or a long pause would: its sockets stay
// open, its lease lapses. Resume (SIGCONT) lets it go on.
func (n *Node) Pause() { _ = n.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (n *Node) Resume() { _ = n.cmd.Process.Signal(syscall.SIGCONT) }

// Exited is closed when the process has exited.
func (n *Node) Exited() <-chan struct{} { return n.done }

// Log is what the process wrote so far.
func (n *Node) Log() string { return n.log.String() }

func (n *Node) forget() {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.c.nodes[n.ID] == n {
		delete(n.c.nodes, n.ID)
	}
}

// Balancer returns the cluster's TCP load balancer (started on first use): each new
// connection goes to the next running node, skipping those that refuse it, as a load
// balancer in front of a deployment does.
func (c *Cluster) Balancer() *Balancer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lb == nil {
		c.lb = newBalancer(c.t, func() []string {
			c.mu.Lock()
			defer c.mu.Unlock()
			ids := make([]string, 0, len(c.nodes))
			for id := range c.nodes {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			out := make([]string, 0, len(ids))
			for _, id := range ids {
				out = append(out, c.nodes[id].Addr)
			}
			return out
		})
	}
	return c.lb
}

// Balancer is a round-robin TCP proxy.
type Balancer struct {
	ln       net.Listener
	backends func() []string
	mu       sync.Mutex
	next     int
	wg       sync.WaitGroup
	conns    map[net.Conn]struct{}
}

func newBalancer(t testing.TB, backends func() []string) *Balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Balancer{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	b.wg.Go(b.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// URL is the balancer's address as an http URL.
func (b *Balancer) URL() string { return "http://" + b.ln.Addr().String() }

func (b *Balancer) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		out := b.dial()
		if out == nil {
			_ = in.Close()
			continue
		}
		b.mu.Lock()
		b.conns[in], b.conns[out] = struct{}{}, struct{}{}
		b.mu.Unlock()
		b.wg.Go(func() { _, _ = io.Copy(out, in); _ = out.Close(); b.drop(out) })
		b.wg.Go(func() { _, _ = io.Copy(in, out); _ = in.Close(); b.drop(in) })
	}
}

// Cut resets every connection through the balancer, as a network blip on the clients'
// side would: they see their sockets die without a close.
func (b *Balancer) Cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

func (b *Balancer) drop(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

func (b *Balancer) dial() net.Conn {
	addrs := b.backends()
	if len(addrs) == 0 {
		return nil
	}
	b.mu.Lock()
	start := b.next
	b.next++
	b.mu.Unlock()
	for i := range addrs {
		a := addrs[(start+i)%len(addrs)]
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
		cancel()
		if err == nil {
			return conn
		}
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
