package webapp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// firefoxPath is Debian's firefox-esr (Makefile browser-deps). Like Chromium, its absence
// fails the test in CI and skips it, loudly, elsewhere.
const firefoxPath = "/usr/bin/firefox-esr"

func needFirefox(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(firefoxPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("firefox-esr missing at %s (apt-get install -y firefox-esr): the browser test must run in CI", firefoxPath)
		}
		t.Skipf("SKIPPED LOUDLY: firefox-esr missing at %s; install it with apt-get install -y firefox-esr", firefoxPath)
	}
	if _, err := os.Stat("node_modules/puppeteer-core"); err != nil {
		t.Fatalf("puppeteer-core is not installed (cd webapp && npm ci): %v", err)
	}
}

// page is one tab of either browser, as the tests see it: script evaluated in it, its value
// returned as JSON.
type page interface {
	evalJSON(t *testing.T, expr string) json.RawMessage
}

// chromiumPage is a Chromium tab (chromedp).
type chromiumPage struct{ ctx context.Context }

func (p chromiumPage) evalJSON(t *testing.T, expr string) json.RawMessage {
	t.Helper()
	v := eval[any](t, p.ctx, expr)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("evaluate %q: %v", expr, err)
	}
	return b
}

// get evaluates expr in p and decodes its value into T.
func get[T any](t *testing.T, p page, expr string) T {
	t.Helper()
	var v T
	raw := p.evalJSON(t, expr)
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("evaluate %q: decode %s: %v", expr, raw, err)
	}
	return v
}

// firefox is one firefox-esr, headless, driven over WebDriver BiDi by firefox/driver.mjs
// (puppeteer-core): one request line out, one answer line back, in order.
type firefox struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	stale bool // a request timed out: its answer would be taken for the next one's
}

type firefoxAnswer struct {
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

func newFirefox(t *testing.T) *firefox {
	t.Helper()
	needFirefox(t)
	cmd := exec.Command("node", "firefox/driver.mjs")
	cmd.Env = append(os.Environ(), "SEALROOM_FIREFOX="+firefoxPath)
	cmd.Stderr = &prefixWriter{t: t, prefix: "firefox driver: "}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the firefox driver: %v", err)
	}
	f := &firefox{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	f.out.Buffer(make([]byte, 1<<20), 16<<20)
	t.Cleanup(func() {
		_ = in.Close() // the driver closes the browser and exits
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if _, err := f.answer(60 * time.Second); err != nil {
		t.Fatalf("start firefox-esr: %v", err)
	}
	return f
}

// prefixWriter passes the driver's stderr to the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, b)
	return len(b), nil
}

func (f *firefox) answer(timeout time.Duration) (json.RawMessage, error) {
	got := make(chan firefoxAnswer, 1)
	fail := make(chan error, 1)
	go func() {
		if !f.out.Scan() {
			fail <- fmt.Errorf("the driver ended: %v", f.out.Err())
			return
		}
		var a firefoxAnswer
		if err := json.Unmarshal(f.out.Bytes(), &a); err != nil {
			fail <- fmt.Errorf("driver answer %q: %w", f.out.Text(), err)
			return
		}
		got <- a
	}()
	select {
	case a := <-got:
		if !a.OK {
			return nil, fmt.Errorf("%s", a.Error)
		}
		return a.Value, nil
	case err := <-fail:
		return nil, err
	case <-time.After(timeout):
		f.stale = true
		return nil, fmt.Errorf("no answer in %v", timeout)
	}
}

func (f *firefox) do(t *testing.T, timeout time.Duration, req map[string]any) json.RawMessage {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale {
		t.Fatalf("firefox driver: an earlier request timed out")
	}
	b, _ := json.Marshal(req)
	if _, err := f.in.Write(append(b, '\n')); err != nil {
		t.Fatalf("firefox driver: %v", err)
	}
	v, err := f.answer(timeout)
	if err != nil {
		t.Fatalf("firefox %v: %v", req["op"], err)
	}
	return v
}

// firefoxPage is one Firefox tab.
type firefoxPage struct {
	f *firefox
	n int
}

func (p firefoxPage) evalJSON(t *testing.T, expr string) json.RawMessage {
	t.Helper()
	return p.f.do(t, 10*time.Second, map[string]any{"op": "eval", "page": p.n, "expr": expr})
}

func (p firefoxPage) close(t *testing.T) {
	t.Helper()
	p.f.do(t, 10*time.Second, map[string]any{"op": "close", "page": p.n})
}

// join opens url (an invite link) in a new Firefox tab and joins the meeting as a person
// does: wait for the device check, press "Join now", wait for the meeting view.
func (f *firefox) join(t *testing.T, url string) firefoxPage {
	t.Helper()
	var n int
	if err := json.Unmarshal(f.do(t, 30*time.Second, map[string]any{"op": "open", "url": url}), &n); err != nil {
		t.Fatal(err)
	}
	p := firefoxPage{f: f, n: n}
	enterPage(t, p)
	return p
}

// enterPage presses "Join now" once the device check let it, and waits for the meeting.
func enterPage(t *testing.T, p page) {
	t.Helper()
	browserPoll.Until(t, 30*time.Second, "the device check to enable Join now", func() bool {
		return get[bool](t, p, `(() => { const b = document.getElementById('enter'); return !!b && !b.disabled && !document.getElementById('check-view').hidden; })()`)
	})
	get[bool](t, p, `(() => { document.getElementById('enter').click(); return true; })()`)
	browserPoll.UntilOr(t, 30*time.Second, "the meeting view", func() bool {
		return get[bool](t, p, `!document.getElementById('meeting-view').hidden`)
	}, func() any {
		return string(p.evalJSON(t, `document.getElementById('status').textContent + ' | ' + document.getElementById('device-error').textContent`))
	})
}
