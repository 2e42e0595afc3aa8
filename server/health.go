package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz says the process is up. It touches nothing else, so a slow database never
// gets a healthy process restarted.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says this process should get traffic: not shutting down, database reachable,
// schema current.
func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return apiErr(CodeUnavailable, "shutting down")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
		return apiErr(CodeUnavailable, "database unreachable")
	}
	ok, err := s.migr.Current(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "readiness: migration status", "err", err)
		return apiErr(CodeUnavailable, "migration status unknown")
	}
	if !ok {
		return apiErr(CodeUnavailable, "migrations pending")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
