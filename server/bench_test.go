package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// BenchmarkAuthenticatedRequest compares GET /v1/whoami with a valid bearer token (rate
// limits, verification and identity recording included) against the same handler mounted
// without authentication, in the same run. The ratio is reported as x-unauthenticated.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1e9, 1e9
	f := newFixture(b, cfg)
	token := f.token(b)
	f.srv.e.GET("/open/whoami", func(c echo.Context) error {
		c.Set(ctxClaims, mustClaims(b, f, token))
		return f.srv.whoami(c)
	})
	h := f.srv.Handler()
	run := func(path, token string) func(*testing.B) {
		return func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			req.RemoteAddr = "192.0.2.1:1"
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		}
	}
	// The framework calls each sub-benchmark with growing b.N; the last call is the
	// measured one, so baseNs ends up holding the baseline's final ns/op.
	var baseNs float64
	b.Run("unauthenticated", func(b *testing.B) {
		run("/open/whoami", "")(b)
		baseNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("authenticated", func(b *testing.B) {
		run("/v1/whoami", token)(b)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseNs, "x-unauthenticated")
	})
}

func mustClaims(b *testing.B, f *fixture, token string) any {
	c, err := f.srv.verifier.Verify(token)
	if err != nil {
		b.Fatal(err)
	}
	return c
}
