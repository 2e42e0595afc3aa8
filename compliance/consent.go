package compliance

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
)

// Consent errors.
var (
	// ErrNoticeVersion means the participant accepted a notice version other than the
	// room's current one (it changed meanwhile, or the client is confused).
	ErrNoticeVersion = errors.New("compliance: that is not the room's current notice version")
	// ErrInvalidPolicy means a room policy's fields are malformed.
	ErrInvalidPolicy = errors.New("compliance: invalid room policy")
)

var roomPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Policy is what a room asks of its participants before they join.
type Policy struct {
	Room          string `json:"room"`
	NoticeVersion string `json:"notice_version"`
	NoticeURL     string `json:"notice_url,omitempty"`
}

// Consents records that participants accepted a room's notice before joining (for
// example a telehealth consent form), when the room asks for it.
type Consents struct {
	pool  *pgxpool.Pool
	audit *audit.Log
}

// NewConsents returns the consent service.
func NewConsents(pool *pgxpool.Pool, log *audit.Log) *Consents {
	return &Consents{pool: pool, audit: log}
}

// SetPolicy makes room require notice version (at notice URL) to be accepted.
func (c *Consents) SetPolicy(ctx context.Context, by audit.Caller, p Policy) error {
	if !roomPattern.MatchString(p.Room) || p.NoticeVersion == "" || len(p.NoticeVersion) > 64 || len(p.NoticeURL) > 2048 {
		return ErrInvalidPolicy
	}
	if err := c.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionConfigChanged, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetRoom, ID: p.Room}, Room: p.Room, RequestID: by.RequestID,
		Details: map[string]string{"setting": "consent_notice", "notice_version": p.NoticeVersion},
	}); err != nil {
		return fmt.Errorf("compliance: policy change not audited, not applied: %w", err)
	}
	_, err := c.pool.Exec(ctx, `INSERT INTO room_policies (room, notice_version, notice_url, updated_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (room) DO UPDATE SET notice_version = excluded.notice_version, notice_url = excluded.notice_url,
		updated_by = excluded.updated_by, updated_at = now()`, p.Room, p.NoticeVersion, p.NoticeURL, by.Actor)
	if err != nil {
		return fmt.Errorf("compliance: set policy: %w", err)
	}
	return nil
}

// Pending returns the room's policy when subject has not yet accepted its current notice
// version; ok is false when nothing is asked of the subject.
func (c *Consents) Pending(ctx context.Context, room, subject string) (p Policy, ok bool, err error) {
	err = c.pool.QueryRow(ctx, `SELECT p.room, p.notice_version, p.notice_url FROM room_policies p
		WHERE p.room = $1 AND NOT EXISTS (SELECT 1 FROM consents c
			WHERE c.room = p.room AND c.subject = $2 AND c.notice_version = p.notice_version)`, room, subject).
		Scan(&p.Room, &p.NoticeVersion, &p.NoticeURL)
	if errors.Is(err, pgx.ErrNoRows) {
		return Policy{}, false, nil
	}
	if err != nil {
		return Policy{}, false, fmt.Errorf("compliance: consent policy: %w", err)
	}
	return p, true, nil
}

// Accept records that by.Actor accepted version of room's notice. The acceptance is
// audited first; without the audit event it is not recorded (and the participant does
// not get in).
func (c *Consents) Accept(ctx context.Context, by audit.Caller, room, version string) error {
	p, pending, err := c.Pending(ctx, room, by.Actor)
	if err != nil {
		return err
	}
	if !pending {
		return nil
	}
	if version != p.NoticeVersion {
		return ErrNoticeVersion
	}
	if err := c.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionConsentRecorded, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetRoom, ID: room}, Room: room, RequestID: by.RequestID,
		Details:  map[string]string{"notice_version": version},
		Personal: audit.Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}); err != nil {
		return fmt.Errorf("compliance: consent not audited, not recorded: %w", err)
	}
	if _, err := c.pool.Exec(ctx, `INSERT INTO consents (room, subject, notice_version) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, room, by.Actor, version); err != nil {
		return fmt.Errorf("compliance: record consent: %w", err)
	}
	return nil
}
