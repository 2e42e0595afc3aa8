package compliance

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
)

// subjectPattern is the token subject's shape (server/auth); anything else names nobody.
var subjectPattern = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)

// Subjects serves GDPR data subject rights from the data map: what the map says holds
// personal data about a subject is what gets exported and erased, so a table added with
// its map entry is covered without code changes.
type Subjects struct {
	pool  *pgxpool.Pool
	audit *audit.Log
	dm    *DataMap
	now   func() time.Time
}

// NewSubjects returns the subject-rights service.
func NewSubjects(pool *pgxpool.Pool, log *audit.Log, dm *DataMap) *Subjects {
	return &Subjects{pool: pool, audit: log, dm: dm, now: time.Now}
}

// Export is everything sealroom holds about one subject (GDPR Art. 15 access, Art. 20
// portability).
type Export struct {
	Subject     string                      `json:"subject"`
	GeneratedAt time.Time                   `json:"generated_at"`
	Tables      map[string][]map[string]any `json:"tables"`
	AuditEvents []ExportedEvent             `json:"audit_events"`
	// Retained explains what stays after erasure and why.
	Notes []string `json:"notes"`
}

// ExportedEvent is an audit event about the subject, personal fields decrypted.
type ExportedEvent struct {
	Seq      int64             `json:"seq"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"`
	Action   audit.Action      `json:"action"`
	Room     string            `json:"room,omitempty"`
	Outcome  audit.Outcome     `json:"outcome"`
	Details  map[string]string `json:"details,omitempty"`
	Personal *PersonalFields   `json:"personal,omitempty"`
	Erased   bool              `json:"erased"`
}

// PersonalFields are an audit event's decrypted personal data.
type PersonalFields struct {
	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Name      string `json:"name,omitempty"`
	Text      string `json:"text,omitempty"`
}

// Export gathers the subject's data. The request is audited (gdpr.export) before any
// data is read, and fails if it cannot be.
func (s *Subjects) Export(ctx context.Context, by audit.Caller, subject string) (*Export, error) {
	if !subjectPattern.MatchString(subject) {
		return nil, ErrInvalidSubject
	}
	if err := s.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionGDPRExport, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetUser, ID: subject}, RequestID: by.RequestID,
		Personal: audit.Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}); err != nil {
		return nil, fmt.Errorf("compliance: export not audited, refused: %w", err)
	}
	out := &Export{Subject: subject, GeneratedAt: s.now().UTC(), Tables: map[string][]map[string]any{}, AuditEvents: []ExportedEvent{},
		Notes: []string{
			"Media and chat are end-to-end encrypted and never stored by the server; there is none to export.",
			"Audit events keep their pseudonymous identifiers after erasure (GDPR Art. 17(3)(b), HIPAA §164.316 retention); their personal fields are destroyed.",
		}}
	for _, t := range s.dm.Tables {
		if !t.Personal() || t.SubjectColumn == "" || t.Table == "audit_events" {
			continue
		}
		rows, err := s.rowsOf(ctx, t, subject)
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			out.Tables[t.Table] = rows
		}
	}
	// Audit events come through the audit package, which decrypts personal fields.
	var after int64
	for {
		page, err := s.audit.Query(ctx, audit.Caller{Actor: by.Actor, Role: audit.RoleAdmin, RequestID: by.RequestID,
			SourceIP: by.SourceIP, UserAgent: by.UserAgent}, audit.Filter{Subject: subject, After: after, Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("compliance: export audit events: %w", err)
		}
		for _, r := range page.Records {
			ev := ExportedEvent{Seq: r.Seq, Time: r.Event.Time, Actor: r.Event.Actor, Action: r.Event.Action,
				Room: r.Event.Room, Outcome: r.Event.Outcome, Details: r.Event.Details, Erased: r.Erased}
			if p := r.Event.Personal; p != (audit.Personal{}) {
				ev.Personal = &PersonalFields{SourceIP: p.SourceIP, UserAgent: p.UserAgent, Name: p.Name, Text: p.Text}
			}
			out.AuditEvents = append(out.AuditEvents, ev)
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	return out, nil
}

// rowsOf reads one table's rows about subject, every column but secrets. Table and
// column names come from the compiled-in data map, never from the request.
func (s *Subjects) rowsOf(ctx context.Context, t Table, subject string) ([]map[string]any, error) {
	cols := make([]string, 0, len(t.Columns))
	for _, c := range t.Columns {
		if !c.Secret {
			cols = append(cols, pgx.Identifier{c.Name}.Sanitize())
		}
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = $1", strings.Join(cols, ", "), pgx.Identifier{t.Table}.Sanitize(),
		pgx.Identifier{t.SubjectColumn}.Sanitize())
	rows, err := s.pool.Query(ctx, q, subject)
	if err != nil {
		return nil, fmt.Errorf("compliance: export %s: %w", t.Table, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		return nil, fmt.Errorf("compliance: export %s: %w", t.Table, err)
	}
	return out, nil
}

// ErasureResult reports what Erase did.
type ErasureResult struct {
	Subject     string           `json:"subject"`
	Deleted     map[string]int64 `json:"deleted"`      // rows deleted per table
	Shredded    bool             `json:"shredded"`     // the audit key was destroyed by this call
	RetainedFor []string         `json:"retained_for"` // tables kept under a legal obligation
}

// Erase carries out GDPR Art. 17 for subject: rows of "delete" tables are deleted, the
// subject's audit key is destroyed ("crypto-shred": the chain stays valid), "retain"
// tables are kept. A legal hold refuses the erasure. The gdpr.erasure tombstone is
// recorded inside the same transaction's lifetime: if it cannot be recorded, nothing is
// deleted. The tombstone carries no personal data of the subject, so it stays readable.
func (s *Subjects) Erase(ctx context.Context, by audit.Caller, subject string) (*ErasureResult, error) {
	if !subjectPattern.MatchString(subject) {
		return nil, ErrInvalidSubject
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, fmt.Errorf("compliance: erase: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var held bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM subject_legal_holds WHERE subject = $1 AND released_at IS NULL)`,
		subject).Scan(&held); err != nil {
		return nil, fmt.Errorf("compliance: erase: %w", err)
	}
	if held {
		s.recordDenied(ctx, by, subject, "legal_hold")
		return nil, ErrLegalHold
	}
	res := &ErasureResult{Subject: subject, Deleted: map[string]int64{}, RetainedFor: []string{}}
	for _, t := range s.dm.Tables {
		if !t.Personal() || t.SubjectColumn == "" {
			continue
		}
		switch t.Erasure {
		case EraseDelete:
			tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = $1", pgx.Identifier{t.Table}.Sanitize(),
				pgx.Identifier{t.SubjectColumn}.Sanitize()), subject)
			if err != nil {
				return nil, fmt.Errorf("compliance: erase %s: %w", t.Table, err)
			}
			res.Deleted[t.Table] = tag.RowsAffected()
		case EraseRetain:
			res.RetainedFor = append(res.RetainedFor, t.Table)
		}
	}
	details := map[string]string{"crypto_shred": "audit"}
	for table, n := range res.Deleted {
		details["deleted."+table] = fmt.Sprint(n)
	}
	if err := s.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionGDPRErasure, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetUser, ID: subject}, RequestID: by.RequestID,
		Details: details, Personal: audit.Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}); err != nil {
		return nil, fmt.Errorf("compliance: erasure not audited, nothing erased: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("compliance: erase: %w", err)
	}
	// Shredding is idempotent: if this fails after the commit, erasing again finishes it.
	res.Shredded, err = audit.Shred(ctx, s.pool, subject)
	if err != nil {
		return nil, fmt.Errorf("compliance: rows deleted but the audit key was not destroyed (erase again to finish): %w", err)
	}
	return res, nil
}

func (s *Subjects) recordDenied(ctx context.Context, by audit.Caller, subject, reason string) {
	_ = s.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionGDPRErasure, Outcome: audit.OutcomeDenied,
		Target: audit.Target{Kind: audit.TargetUser, ID: subject}, RequestID: by.RequestID,
		Details: map[string]string{"reason": reason}, Personal: audit.Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	})
}

// PlaceHold puts subject under a legal hold and returns its id.
func (s *Subjects) PlaceHold(ctx context.Context, by audit.Caller, subject, reason string) (int64, error) {
	if !subjectPattern.MatchString(subject) {
		return 0, ErrInvalidSubject
	}
	if reason == "" {
		return 0, errors.New("compliance: a legal hold needs a reason")
	}
	if err := s.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionLegalHoldPlaced, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetUser, ID: subject}, RequestID: by.RequestID,
		Personal: audit.Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent, Text: reason},
	}); err != nil {
		return 0, fmt.Errorf("compliance: legal hold not audited, not placed: %w", err)
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO subject_legal_holds (subject, reason, placed_by) VALUES ($1, $2, $3) RETURNING id`,
		subject, reason, by.Actor).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("compliance: legal hold: %w", err)
	}
	return id, nil
}

// ReleaseHold ends a legal hold.
func (s *Subjects) ReleaseHold(ctx context.Context, by audit.Caller, id int64) error {
	if err := s.audit.Record(ctx, audit.Event{
		Actor: by.Actor, ActorRole: by.Role, Action: audit.ActionLegalHoldReleased, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetUser, ID: fmt.Sprint(id)}, RequestID: by.RequestID,
		Details: map[string]string{"hold": fmt.Sprint(id)},
	}); err != nil {
		return fmt.Errorf("compliance: release not audited, hold kept: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE subject_legal_holds SET released_at = now() WHERE id = $1 AND released_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("compliance: release hold: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoHold
	}
	return nil
}
