package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
)

// Purged is what one purge removed from one table.
type Purged struct {
	Table  string `json:"table"`
	Months int    `json:"months"`
	Rows   int64  `json:"rows"`
}

// Purge deletes, for every table the data map gives a retention column, the rows older
// than their category's period (GDPR Art. 5(1)(e) storage limitation). months overrides
// a category's default period (from configuration). Each table's purge is recorded as
// retention.purged inside its transaction's lifetime: if the event cannot be recorded,
// nothing is deleted. The audit log's own retention is audit.Log.Expire.
func (s *Subjects) Purge(ctx context.Context, by audit.Caller, months map[string]int) ([]Purged, error) {
	var out []Purged
	for _, t := range s.dm.Tables {
		if t.RetentionColumn == "" {
			continue
		}
		n := s.dm.Retention[t.Retention].Months
		if m, ok := months[t.Retention]; ok {
			n = m
		}
		if n <= 0 {
			continue
		}
		p, err := s.purgeTable(ctx, by, t, n)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Subjects) purgeTable(ctx context.Context, by audit.Caller, t Table, months int) (Purged, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Purged{}, fmt.Errorf("compliance: purge %s: %w", t.Table, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s < $1", pgx.Identifier{t.Table}.Sanitize(),
		pgx.Identifier{t.RetentionColumn}.Sanitize()), s.now().AddDate(0, -months, 0))
	if err != nil {
		return Purged{}, fmt.Errorf("compliance: purge %s: %w", t.Table, err)
	}
	p := Purged{Table: t.Table, Months: months, Rows: tag.RowsAffected()}
	if err := s.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionRetentionPurged, Outcome: audit.OutcomeSuccess,
		RequestID: by.RequestID,
		Details:   map[string]string{"table": t.Table, "category": t.Retention, "months": fmt.Sprint(months), "rows": fmt.Sprint(p.Rows)},
	}); err != nil {
		return Purged{}, fmt.Errorf("compliance: purge of %s not audited, nothing deleted: %w", t.Table, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Purged{}, fmt.Errorf("compliance: purge %s: %w", t.Table, err)
	}
	return p, nil
}

// RunRetention purges on a schedule until ctx ends: non-audit categories through Purge
// and the audit log through its own Expire.
func (s *Subjects) RunRetention(ctx context.Context, every time.Duration, months map[string]int, onErr func(error)) {
	by := audit.Caller{Actor: "service:retention", Role: "service"}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Purge(ctx, by, months); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		if _, err := s.audit.Expire(ctx, by); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
