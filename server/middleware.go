package server

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/sealroom/sealroom/server/auth"
)

const (
	ctxRequestID = "sealroom.request_id"
	ctxClaims    = "sealroom.claims"
)

// A caller's request id is kept only when it cannot smuggle anything into a log line.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !requestIDPattern.MatchString(id) {
			id = uuid.NewString()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// recoverPanics turns a handler panic into a logged internal error; the stack goes to
// the log, never to the client.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("handler panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = apiErr(CodeInternal, "internal error")
			}
		}()
		return next(c)
	}
}

// accessLog writes one line per request. It logs the path without the query string
// (tokens never belong in URLs, but a careless client might put one there) and never
// logs headers or bodies.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote_ip", c.RealIP()),
		}
		if cl := claimsOf(c); cl != nil {
			attrs = append(attrs, slog.String("sub", cl.Subject))
		}
		s.log.LogAttrs(c.Request().Context(), level, "request", attrs...)
		return nil
	}
}

func secureHeaders() echo.MiddlewareFunc {
	sec := middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0", // the legacy auditor is gone or harmful; CSP does this job
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		HSTSMaxAge:            63072000,
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		ReferrerPolicy:        "no-referrer",
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := sec(next)
		return func(c echo.Context) error {
			hdr := c.Response().Header()
			hdr.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), geolocation=()")
			hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
			// API answers may carry personal or health data: no cache keeps them.
			hdr.Set("Cache-Control", "no-store")
			return h(c)
		}
	}
}

// authenticate admits only requests with a valid bearer token; nothing behind it runs
// otherwise.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			s.authDenied(c.Request().Context(), requestID(c), c.RealIP(), c.Request().UserAgent(), auth.ErrMissing)
			return auth.ErrMissing
		}
		claims, err := s.verifier.Verify(token)
		if err != nil {
			s.authDenied(c.Request().Context(), requestID(c), c.RealIP(), c.Request().UserAgent(), err)
			return err
		}
		c.Set(ctxClaims, claims)
		s.ids.seen(claims.Subject)
		return next(c)
	}
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// authReason names why authentication failed, for logs and metrics; ok is false when err
// is no authentication failure at all.
func authReason(err error) (reason string, ok bool) {
	switch {
	case errors.Is(err, auth.ErrMissing):
		return "missing", true
	case errors.Is(err, auth.ErrTooLarge):
		return "too_large", true
	case errors.Is(err, auth.ErrHeader):
		return "header", true
	case errors.Is(err, auth.ErrClaims):
		return "claims", true
	case errors.Is(err, auth.ErrRevoked):
		return "revoked", true
	case errors.Is(err, auth.ErrLifetime): // before ErrInvalid, which it also matches
		return "lifetime", true
	case errors.Is(err, auth.ErrInvalid):
		return "invalid", true
	}
	return "", false
}

// claimsOf returns the verified claims of an authenticated request, or nil. The claims
// are shared with the verifier's cache: read them, never modify them.
func claimsOf(c echo.Context) *auth.Claims {
	cl, _ := c.Get(ctxClaims).(*auth.Claims)
	return cl
}

type whoamiResponse struct {
	Subject      string    `json:"sub"`
	Name         string    `json:"name,omitempty"`
	Room         string    `json:"room,omitempty"`
	Role         auth.Role `json:"role,omitempty"`
	CanPublish   bool      `json:"can_publish"`
	CanSubscribe bool      `json:"can_subscribe"`
	Admin        bool      `json:"admin"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// whoami echoes the caller's verified grant, so a client can check its token.
func (s *Server) whoami(c echo.Context) error {
	cl := claimsOf(c)
	return c.JSON(200, whoamiResponse{
		Subject: cl.Subject, Name: cl.Name, Room: cl.Room, Role: cl.Role,
		CanPublish: cl.CanPublish, CanSubscribe: cl.CanSubscribe, Admin: cl.Admin,
		ExpiresAt: cl.ExpiresAt.Time,
	})
}
