package interop_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// callTimeout bounds one driver request; the slowest (a join or commit in a
// group of a few members) takes milliseconds.
const callTimeout = 30 * time.Second

// request and response are the driver's newline-delimited JSON protocol
// (webapp/mls/interop/driver.mjs); []byte fields travel as standard base64.
type request struct {
	ID         int         `json:"id"`
	Op         string      `json:"op"`
	Name       string      `json:"name"`
	GroupID    []byte      `json:"group_id,omitempty"`
	Extensions []extension `json:"extensions,omitempty"`
	Welcome    []byte      `json:"welcome,omitempty"`
	Adds       [][]byte    `json:"adds,omitempty"`
	Removes    []uint32    `json:"removes,omitempty"`
	Message    []byte      `json:"message,omitempty"`
	Data       []byte      `json:"data,omitempty"`
}

type extension struct {
	Type string `json:"type"`
	Data []byte `json:"data"`
}

type response struct {
	ID                 int    `json:"id"`
	OK                 bool   `json:"ok"`
	Error              string `json:"error"`
	KeyPackage         []byte `json:"key_package"`
	Commit             []byte `json:"commit"`
	Welcome            []byte `json:"welcome"`
	Message            []byte `json:"message"`
	Data               []byte `json:"data"`
	Kind               string `json:"kind"`
	Epoch              uint64 `json:"epoch"`
	Leaf               uint32 `json:"leaf"`
	GroupID            []byte `json:"group_id"`
	EpochAuthenticator []byte `json:"epoch_authenticator"`
	Exporter           []byte `json:"exporter"`
	Active             bool   `json:"active"`
}

// driver is one node process holding any number of ts-mls members.
type driver struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *lockedBuffer
	next   int
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// moduleRoot walks up from the test's directory to go.mod.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// requireNode returns the node binary and the driver script, or fails (CI=true)
// or skips loudly when node or webapp/node_modules is missing.
func requireNode(tb testing.TB) (nodeBin, script string) {
	tb.Helper()
	root := moduleRoot(tb)
	script = filepath.Join(root, "webapp", "mls", "interop", "driver.mjs")
	nodeBin, err := exec.LookPath("node")
	var missing string
	switch {
	case err != nil:
		missing = "node is not on PATH"
	case !exists(filepath.Join(root, "webapp", "node_modules", "ts-mls", "package.json")):
		missing = "webapp/node_modules/ts-mls is missing (run: cd webapp && npm ci)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("ts-mls interop cannot run: %s", missing)
		}
		tb.Skipf("!!! ts-mls INTEROP NOT RUN: %s. CI=true makes this a failure. !!!", missing)
	}
	return nodeBin, script
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// startDriver starts node on driver.mjs; the process ends with the test.
func startDriver(tb testing.TB) *driver {
	tb.Helper()
	nodeBin, script := requireNode(tb)
	cmd := exec.Command(nodeBin, script)
	cmd.Dir = filepath.Dir(script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	d := &driver{cmd: cmd, stdin: stdin, lines: make(chan []byte, 1), stderr: &lockedBuffer{}}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start node: %v", err)
	}
	go func() {
		defer close(d.lines)
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				d.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		_ = d.stdin.Close() // node exits when its input ends
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("driver exited: %v; stderr: %s", err, d.stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			tb.Error("driver did not exit after its input closed")
		}
	})
	return d
}

// call sends one request and returns the driver's reply; a driver-side
// error is returned, a broken driver fails the test.
func (d *driver) call(tb testing.TB, req request) (*response, error) {
	tb.Helper()
	d.next++
	req.ID = d.next
	line, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.stdin.Write(append(line, '\n')); err != nil {
		tb.Fatalf("write to driver: %v; stderr: %s", err, d.stderr.String())
	}
	var out []byte
	select {
	case l, ok := <-d.lines:
		if !ok {
			tb.Fatalf("driver closed its output during %s; stderr: %s", req.Op, d.stderr.String())
		}
		out = l
	case <-time.After(callTimeout):
		_ = d.cmd.Process.Kill()
		tb.Fatalf("driver did not answer %s within %v", req.Op, callTimeout)
	}
	var resp response
	if err := json.Unmarshal(out, &resp); err != nil {
		tb.Fatalf("driver reply to %s is not JSON: %v", req.Op, err)
	}
	if resp.ID != req.ID {
		tb.Fatalf("driver answered request %d, want %d", resp.ID, req.ID)
	}
	if !resp.OK {
		return &resp, fmt.Errorf("ts-mls %s %s: %w", req.Op, req.Name, errors.New(resp.Error))
	}
	return &resp, nil
}

// must is call for requests that have to succeed.
func (d *driver) must(tb testing.TB, req request) *response {
	tb.Helper()
	resp, err := d.call(tb, req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}
