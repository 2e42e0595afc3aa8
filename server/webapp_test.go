package server

import (
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
)

func TestWebappRoutes(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	f.srv.assets = fstest.MapFS{
		"index.html": {Data: []byte("<!doctype html><title>sealroom</title>")},
		"app.js":     {Data: []byte("console.log(1)")},
	}
	f.srv.webappRoutes()
	h := f.srv.Handler()
	for _, p := range []string{"/", "/join", "/room/visit-1"} {
		rec := do(h, "GET", p, "", nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<title>sealroom</title>") {
			t.Fatalf("%s: %d %q", p, rec.Code, rec.Body.String())
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("%s: CSP %q", p, csp)
		}
	}
	if rec := do(h, "GET", "/app.js", "", nil); rec.Code != 200 || rec.Body.String() != "console.log(1)" {
		t.Fatalf("/app.js: %d", rec.Code)
	}
	if rec := do(h, "GET", "/missing.js", "", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("/missing.js: %d", rec.Code)
	}
	if rec := do(h, "GET", "/../../etc/passwd", "", nil); rec.Code >= 500 || strings.Contains(rec.Body.String(), "root:") {
		t.Fatalf("traversal: %d", rec.Code)
	}
	// API routes still win over the client.
	if rec := do(h, "GET", "/healthz", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "ok") {
		t.Fatalf("/healthz: %d", rec.Code)
	}
	if rec := do(h, "GET", "/v1/whoami", "", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("/v1/whoami: %d", rec.Code)
	}
}
