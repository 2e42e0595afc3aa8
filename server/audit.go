package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sealroom/sealroom/audit"
)

// anonymousActor is the audit actor of a request that never proved who it is.
const anonymousActor = "anonymous"

// authDenied counts, logs and audits a refused authentication. auth.denied is on the
// audit allow-list: the request is refused whether or not the event lands.
func (s *Server) authDenied(ctx context.Context, reqID, ip, userAgent string, err error) {
	reason, ok := authReason(err)
	if !ok {
		reason = "invalid"
	}
	s.metrics.authFailures.WithLabelValues(reason).Inc()
	s.log.InfoContext(ctx, "authentication failed", "request_id", reqID, "reason", reason, "remote_ip", ip)
	if aerr := s.audit.Record(ctx, audit.Event{
		Actor: anonymousActor, Action: audit.ActionAuthDenied, Outcome: audit.OutcomeDenied,
		RequestID: reqID, Details: map[string]string{"reason": reason},
		Personal: audit.Personal{SourceIP: ip, UserAgent: userAgent},
	}); aerr != nil {
		s.log.ErrorContext(ctx, "audit: auth denied", "request_id", reqID, "err", aerr)
	}
}

type auditRecord struct {
	Seq       int64             `json:"seq"`
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"`
	ChainedAt time.Time         `json:"chained_at"`
	Actor     string            `json:"actor"`
	ActorRole string            `json:"actor_role,omitempty"`
	Action    audit.Action      `json:"action"`
	Target    *auditTarget      `json:"target,omitempty"`
	Room      string            `json:"room,omitempty"`
	Outcome   audit.Outcome     `json:"outcome"`
	RequestID string            `json:"request_id,omitempty"`
	Subject   string            `json:"subject"`
	Details   map[string]string `json:"details,omitempty"`
	Personal  *auditPersonal    `json:"personal,omitempty"`
	Erased    bool              `json:"erased"`
}

type auditTarget struct {
	Kind audit.TargetKind `json:"kind"`
	ID   string           `json:"id"`
}

type auditPersonal struct {
	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Name      string `json:"name,omitempty"`
	Text      string `json:"text,omitempty"`
}

type auditPage struct {
	Events []auditRecord `json:"events"`
	Next   int64         `json:"next,omitempty"`
}

// auditEvents is the auditors' query API. The audit package records the query itself
// as an audit event before answering (fail closed).
func (s *Server) auditEvents(c echo.Context) error {
	cl := claimsOf(c)
	if !cl.Admin && !cl.Auditor {
		if err := s.audit.Record(c.Request().Context(), audit.Event{
			Actor: cl.Subject, ActorRole: string(cl.Role), Action: audit.ActionAuditQuery, Outcome: audit.OutcomeDenied,
			RequestID: requestID(c), Personal: audit.Personal{SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()},
		}); err != nil {
			s.log.ErrorContext(c.Request().Context(), "audit: denied audit query", "request_id", requestID(c), "err", err)
		}
		return apiErr(CodeForbidden, "reading the audit log needs the admin or auditor grant")
	}
	q := c.QueryParams()
	f := audit.Filter{Subject: q.Get("subject"), Actor: q.Get("actor"), Room: q.Get("room"), Action: audit.Action(q.Get("action"))}
	if f.Action != "" && !f.Action.Valid() {
		return apiErr(CodeBadRequest, "unknown action")
	}
	var err error
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" || err != nil {
			return time.Time{}
		}
		var t time.Time
		t, err = time.Parse(time.RFC3339, v)
		return t
	}
	f.From, f.To = parseTime("from"), parseTime("to")
	if err != nil {
		return apiErr(CodeBadRequest, "from and to must be RFC 3339 times")
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseInt(v, 10, 64); err != nil || f.After < 0 {
			return apiErr(CodeBadRequest, "after must be a sequence number")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return apiErr(CodeBadRequest, "limit must be between 1 and 1000")
		}
	}
	role := "auditor"
	if cl.Admin {
		role = "admin"
	}
	page, err := s.audit.Query(c.Request().Context(), audit.Caller{
		Actor: cl.Subject, Role: role, RequestID: requestID(c), SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent(),
	}, f)
	if err != nil {
		return err
	}
	out := auditPage{Events: make([]auditRecord, 0, len(page.Records)), Next: page.Next}
	for _, r := range page.Records {
		ev := r.Event
		rec := auditRecord{
			Seq: r.Seq, ID: ev.ID.String(), Time: ev.Time, ChainedAt: r.ChainedAt, Actor: ev.Actor, ActorRole: ev.ActorRole,
			Action: ev.Action, Room: ev.Room, Outcome: ev.Outcome, RequestID: ev.RequestID, Subject: ev.Subject,
			Details: ev.Details, Erased: r.Erased,
		}
		if ev.Target.Kind != audit.TargetNone {
			rec.Target = &auditTarget{Kind: ev.Target.Kind, ID: ev.Target.ID}
		}
		if p := ev.Personal; p != (audit.Personal{}) {
			rec.Personal = &auditPersonal{SourceIP: p.SourceIP, UserAgent: p.UserAgent, Name: p.Name, Text: p.Text}
		}
		out.Events = append(out.Events, rec)
	}
	return c.JSON(http.StatusOK, out)
}
