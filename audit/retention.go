package audit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultRetentionMonths is HIPAA's six years (§164.316(b)(2)(i)).
const DefaultRetentionMonths = 72

// Retention reads the configured retention period, in months.
func Retention(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var months int
	err := pool.QueryRow(ctx, `SELECT (extract(year FROM retention) * 12 + extract(month FROM retention))::int
		FROM audit_settings`).Scan(&months)
	if err != nil {
		return 0, fmt.Errorf("audit: retention: %w", err)
	}
	return months, nil
}

// SetRetention changes the retention period (at least one month). The change is audited
// as config.changed before it is made; it fails closed.
func (l *Log) SetRetention(ctx context.Context, by Caller, months int) error {
	if months < 1 || months > 1200 {
		return fmt.Errorf("%w: retention must be 1..1200 months", ErrConfig)
	}
	old, err := Retention(ctx, l.pool)
	if err != nil {
		return err
	}
	if err := l.Append(ctx, Event{
		Actor: by.Actor, ActorRole: by.Role, Action: ActionConfigChanged, Outcome: OutcomeSuccess,
		Target: Target{Kind: TargetConfig, ID: "audit.retention_months"}, RequestID: by.RequestID,
		Details:  map[string]string{"old": strconv.Itoa(old), "new": strconv.Itoa(months)},
		Personal: Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}); err != nil {
		return err
	}
	if _, err := l.pool.Exec(ctx, `UPDATE audit_settings SET retention = make_interval(months => $1)`, months); err != nil {
		return fmt.Errorf("audit: set retention: %w", err)
	}
	return nil
}

// Expire drops, oldest first, every month partition that ended more than the retention
// period ago and overlaps no active legal hold, and records audit.expired. What it drops
// is listed in audit_expiries (with the last hash before the new start of the chain), so
// Verify still checks the remaining log end to end.
func (l *Log) Expire(ctx context.Context, by Caller) (int, error) {
	var n int
	if err := l.pool.QueryRow(ctx, `SELECT audit_expire(now())`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: expire: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	err := l.Append(ctx, Event{
		Actor: by.Actor, ActorRole: by.Role, Action: ActionAuditExpired, Outcome: OutcomeSuccess,
		Target: Target{Kind: TargetAuditLog}, RequestID: by.RequestID,
		Details: map[string]string{"partitions": strconv.Itoa(n)},
	})
	return n, err
}

// LegalHold is an active or released hold.
type LegalHold struct {
	ID         int64
	Reason     string
	From, To   time.Time
	CreatedBy  string
	CreatedAt  time.Time
	ReleasedAt *time.Time
}

// PlaceLegalHold keeps every partition overlapping [from, to) from expiring until the
// hold is released. The reason is free text and is stored in the hold (for the people
// who manage holds), not in the audit event.
func (l *Log) PlaceLegalHold(ctx context.Context, by Caller, reason string, from, to time.Time) (int64, error) {
	if reason == "" || !to.After(from) {
		return 0, fmt.Errorf("%w: a legal hold needs a reason and a non-empty range", ErrConfig)
	}
	if err := checkText("reason", reason, maxText); err != nil {
		return 0, err
	}
	var id int64
	if err := l.pool.QueryRow(ctx, `INSERT INTO audit_legal_holds (reason, from_time, until_time, created_by)
		VALUES ($1, $2, $3, $4) RETURNING id`, reason, from, to, by.Actor).Scan(&id); err != nil {
		return 0, fmt.Errorf("audit: legal hold: %w", err)
	}
	err := l.Append(ctx, Event{
		Actor: by.Actor, ActorRole: by.Role, Action: ActionLegalHoldPlaced, Outcome: OutcomeSuccess,
		Target: Target{Kind: TargetAuditLog, ID: strconv.FormatInt(id, 10)}, RequestID: by.RequestID,
		Details:  map[string]string{"from": from.UTC().Format(time.RFC3339), "to": to.UTC().Format(time.RFC3339)},
		Personal: Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent, Text: reason},
	})
	return id, err
}

// ReleaseLegalHold ends a hold; the partitions it kept expire on the next Expire. The
// release is audited first and fails closed.
func (l *Log) ReleaseLegalHold(ctx context.Context, by Caller, id int64) error {
	if err := l.Append(ctx, Event{
		Actor: by.Actor, ActorRole: by.Role, Action: ActionLegalHoldReleased, Outcome: OutcomeSuccess,
		Target: Target{Kind: TargetAuditLog, ID: strconv.FormatInt(id, 10)}, RequestID: by.RequestID,
		Personal: Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}); err != nil {
		return err
	}
	tag, err := l.pool.Exec(ctx, `UPDATE audit_legal_holds SET released_at = now() WHERE id = $1 AND released_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("audit: release legal hold: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoLegalHold
	}
	return nil
}
