package servertest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// failLogLines bounds what a test server keeps of its log: the end of a run is what
// explains a failure, and a long run must not grow without bound.
const failLogLines = 400

// failLog keeps the last lines a server logged and prints them only if the test
// fails: a passing run stays quiet, and a failure in CI, where nobody can attach to
// the server, says what the server saw. The server logs no keys, tokens or plaintext.
type failLog struct {
	mu    sync.Mutex
	lines []string
	lost  int
}

// Write takes one record (slog's handlers write each record in one call).
func (l *failLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == failLogLines {
		l.lines = append(l.lines[:0], l.lines[1:]...)
		l.lost++
	}
	l.lines = append(l.lines, line)
	return len(p), nil
}

// Logger is a logger for a server under test whose records are printed
// with the test's output if, and only if, the test fails.
func Logger(t testing.TB) *slog.Logger {
	l := &failLog{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Logf("the server's log (%d earlier lines not kept):\n%s", l.lost, strings.Join(l.lines, "\n"))
	})
	return slog.New(slog.NewTextHandler(l, nil))
}
