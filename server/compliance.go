package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/server/auth"
)

// BreakGlassNotice tells the security team that someone used emergency access.
type BreakGlassNotice struct {
	Subject   string    `json:"sub"`
	Room      string    `json:"room"`
	Reason    string    `json:"reason"`
	TokenID   string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
	RequestID string    `json:"request_id"`
}

// Break-glass limits: the reason must say something, the grant must be short.
const (
	breakGlassMinReason  = 10
	breakGlassDefaultTTL = 10 * time.Minute
	breakGlassMaxTTL     = 15 * time.Minute
)

// caller is the audit identity of an authenticated request.
func caller(c echo.Context, role string) audit.Caller {
	return audit.Caller{Actor: claimsOf(c).Subject, Role: role, RequestID: requestID(c),
		SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

// requireAdmin admits tokens with the admin grant and, when the deployment requires it,
// a second factor (HIPAA §164.312(d)).
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cl := claimsOf(c)
		if !cl.Admin {
			return apiErr(CodeForbidden, "this needs the admin grant")
		}
		if s.cfg.RequireMFA && !cl.MFA() {
			return apiErr(CodeForbidden, "this needs a token issued after multi-factor authentication")
		}
		return next(c)
	}
}

func (s *Server) complianceRoutes() {
	admin := s.v1.Group("/admin", s.requireAdmin)
	admin.GET("/subjects/:subject/export", s.exportSubject)
	admin.POST("/subjects/:subject/erasure", s.eraseSubject)
	admin.POST("/subjects/:subject/legal-holds", s.placeHold)
	admin.DELETE("/legal-holds/:id", s.releaseHold)
	admin.POST("/revocations", s.revoke)
	admin.PUT("/rooms/:room/policy", s.setRoomPolicy)
	s.v1.POST("/break-glass", s.breakGlass)
}

func (s *Server) exportSubject(c echo.Context) error {
	exp, err := s.subjects.Export(c.Request().Context(), caller(c, "admin"), c.Param("subject"))
	if err != nil {
		return complianceErr(err)
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="subject-export.json"`)
	return c.JSON(http.StatusOK, exp)
}

func (s *Server) eraseSubject(c echo.Context) error {
	res, err := s.subjects.Erase(c.Request().Context(), caller(c, "admin"), c.Param("subject"))
	if err != nil {
		return complianceErr(err)
	}
	return c.JSON(http.StatusOK, res)
}

type holdRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) placeHold(c echo.Context) error {
	var req holdRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Reason == "" {
		return apiErr(CodeBadRequest, "a legal hold needs a reason")
	}
	id, err := s.subjects.PlaceHold(c.Request().Context(), caller(c, "admin"), c.Param("subject"), req.Reason)
	if err != nil {
		return complianceErr(err)
	}
	return c.JSON(http.StatusCreated, map[string]int64{"id": id})
}

func (s *Server) releaseHold(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return apiErr(CodeBadRequest, "id must be a legal hold id")
	}
	if err := s.subjects.ReleaseHold(c.Request().Context(), caller(c, "admin"), id); err != nil {
		return complianceErr(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func complianceErr(err error) error {
	switch {
	case errors.Is(err, compliance.ErrLegalHold):
		return apiErr(CodeConflict, "the subject is under a legal hold; release it before erasing")
	case errors.Is(err, compliance.ErrInvalidSubject):
		return apiErr(CodeBadRequest, "invalid subject id")
	case errors.Is(err, compliance.ErrNoHold):
		return apiErr(CodeNotFound, "no such active legal hold")
	}
	return err
}

type breakGlassRequest struct {
	Room       string `json:"room"`
	Reason     string `json:"reason"`
	TTLSeconds int    `json:"ttl_seconds"`
}

type breakGlassResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// breakGlass is the emergency access procedure (HIPAA §164.312(a)(2)(ii)): a clinician,
// host or administrator who must reach a room without a grant for it gets a short-lived
// host token for that room. The reason is mandatory, the grant is recorded as a
// high-severity audit event before the token is issued (fail closed), and the security
// team is notified.
func (s *Server) breakGlass(c echo.Context) error {
	cl := claimsOf(c)
	if !cl.Admin && cl.Role != auth.RoleClinician && cl.Role != auth.RoleHost {
		return apiErr(CodeForbidden, "emergency access is for clinicians, hosts and administrators")
	}
	if cl.BreakGlass {
		return apiErr(CodeForbidden, "an emergency token cannot be used to break glass again")
	}
	var req breakGlassRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if len(req.Reason) < breakGlassMinReason {
		return apiErr(CodeBadRequest, "a reason of at least 10 characters is required")
	}
	ttl := breakGlassDefaultTTL
	if req.TTLSeconds != 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	if ttl <= 0 || ttl > breakGlassMaxTTL {
		return apiErr(CodeBadRequest, "ttl_seconds must be between 1 and 900")
	}
	g := auth.Grant{Identity: cl.Subject, Name: cl.Name, Room: req.Room, Role: auth.RoleHost,
		CanPublish: true, CanSubscribe: true, BreakGlass: true, AMR: cl.AMR}
	if err := auth.ValidateGrant(g); err != nil {
		return apiErr(CodeBadRequest, "room must be a valid room id")
	}
	token, jti, err := s.signer.Mint(g, ttl)
	if err != nil {
		return err
	}
	expires := time.Now().Add(ttl).UTC().Truncate(time.Second)
	ctx := c.Request().Context()
	if err := s.audit.Record(ctx, audit.Event{
		Actor: cl.Subject, ActorRole: string(cl.Role), Action: audit.ActionBreakGlassGranted, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetToken, ID: jti}, Room: req.Room, RequestID: requestID(c),
		Details:  map[string]string{"severity": "high", "ttl": ttl.String(), "expires_at": expires.Format(time.RFC3339)},
		Personal: audit.Personal{SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent(), Name: cl.Name, Text: req.Reason},
	}); err != nil {
		return err
	}
	s.log.Warn("BREAK-GLASS: emergency access granted", "request_id", requestID(c), "sub", cl.Subject, "room", req.Room, "jti", jti, "expires_at", expires)
	if s.notify != nil {
		n := BreakGlassNotice{Subject: cl.Subject, Room: req.Room, Reason: req.Reason, TokenID: jti, ExpiresAt: expires, RequestID: requestID(c)}
		// The hook must not hold the clinician up in an emergency.
		go func() {
			nctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.notify(nctx, n); err != nil {
				s.log.Error("break-glass notification failed", "request_id", n.RequestID, "err", err)
			}
		}()
	}
	return c.JSON(http.StatusCreated, breakGlassResponse{Token: token, ExpiresAt: expires})
}

// decodeBody reads a JSON body strictly: unknown fields and trailing data are refused.
func decodeBody(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return apiErr(CodeBadRequest, "the body must be a JSON object with the documented fields")
	}
	if dec.More() {
		return apiErr(CodeBadRequest, "trailing data after the JSON body")
	}
	return nil
}

type revokeRequest struct {
	TokenID string `json:"jti"`
	Subject string `json:"sub"`
}

// revoke refuses one token (jti with its sub) or every token of a subject issued until
// now (sub alone). Every server process applies it within RevocationRefresh; signaling
// connections using a revoked token are closed.
func (s *Server) revoke(c echo.Context) error {
	var req revokeRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Subject == "" || len(req.TokenID) > 128 || len(req.Subject) > 128 {
		return apiErr(CodeBadRequest, "sub is required; jti is optional (absent: every token of the subject)")
	}
	cl := claimsOf(c)
	target := audit.Target{Kind: audit.TargetUser, ID: req.Subject}
	if req.TokenID != "" {
		target = audit.Target{Kind: audit.TargetToken, ID: req.TokenID}
	}
	ctx := c.Request().Context()
	if err := s.audit.Record(ctx, audit.Event{
		Actor: cl.Subject, ActorRole: "admin", Action: audit.ActionTokenRevoked, Outcome: audit.OutcomeSuccess,
		Target: target, Subject: cl.Subject, RequestID: requestID(c),
		Details:  map[string]string{"sub": req.Subject},
		Personal: audit.Personal{SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()},
	}); err != nil {
		return err
	}
	var err error
	if req.TokenID != "" {
		err = s.revoked.RevokeToken(ctx, req.TokenID, req.Subject, cl.Subject)
	} else {
		err = s.revoked.RevokeSubject(ctx, req.Subject, cl.Subject)
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type policyRequest struct {
	NoticeVersion string `json:"notice_version"`
	NoticeURL     string `json:"notice_url"`
}

// setRoomPolicy makes a room ask every participant to accept a notice before joining.
func (s *Server) setRoomPolicy(c echo.Context) error {
	if s.consents == nil {
		return apiErr(CodeNotFound, "consent is not enabled on this server")
	}
	var req policyRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	err := s.consents.SetPolicy(c.Request().Context(), caller(c, "admin"),
		compliance.Policy{Room: c.Param("room"), NoticeVersion: req.NoticeVersion, NoticeURL: req.NoticeURL})
	if errors.Is(err, compliance.ErrInvalidPolicy) {
		return apiErr(CodeBadRequest, "room, notice_version (1-64 characters) and notice_url (at most 2048) must be valid")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
