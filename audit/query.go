package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Roles that may read the audit log.
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
)

// Caller is who asks: the authenticated user behind an auditor API request or a CLI
// command. Its fields become the actor of the audit.query event.
type Caller struct {
	Actor     string
	Role      string
	RequestID string
	SourceIP  string
	UserAgent string
}

// Filter selects events; empty fields match everything. Pages are in sequence order:
// pass the previous Page's Next as After to get the next one.
type Filter struct {
	Subject string
	Actor   string
	Action  Action
	Room    string
	// From and To bound the time the action happened (occurred), [From, To).
	From, To time.Time
	After    int64
	Limit    int // default 100, at most 1000
}

// Record is a stored event as an auditor sees it.
type Record struct {
	Seq       int64
	ChainedAt time.Time
	Event     Event
	// Erased means the subject's key was shredded: Event.Personal is empty for good.
	Erased bool
}

// Page is one page of results. Next is 0 on the last page.
type Page struct {
	Records []Record
	Next    int64
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

func (f *Filter) validate() error {
	switch {
	case f.Limit < 0 || f.Limit > maxLimit:
		return fmt.Errorf("%w: limit must be 0..%d", ErrInvalidFilter, maxLimit)
	case f.After < 0:
		return fmt.Errorf("%w: negative cursor", ErrInvalidFilter)
	case f.Action != "" && !f.Action.Valid():
		return fmt.Errorf("%w: unknown action", ErrInvalidFilter)
	case !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From):
		return fmt.Errorf("%w: To must be after From", ErrInvalidFilter)
	}
	for _, s := range []string{f.Subject, f.Actor, f.Room} {
		if err := checkText("filter", s, maxField); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidFilter, err)
		}
	}
	return nil
}

func (f *Filter) details() map[string]string {
	d := map[string]string{"limit": strconv.Itoa(f.Limit), "after": strconv.FormatInt(f.After, 10)}
	for k, v := range map[string]string{"subject": f.Subject, "actor": f.Actor,
		"action": string(f.Action), "room": f.Room} {
		if v != "" {
			d[k] = v
		}
	}
	if !f.From.IsZero() {
		d["from"] = f.From.UTC().Format(time.RFC3339Nano)
	}
	if !f.To.IsZero() {
		d["to"] = f.To.UTC().Format(time.RFC3339Nano)
	}
	return d
}

// Query returns one page of events for an admin or auditor, with personal data opened.
// The query is itself audited (audit.query, with the filter in Details) before any
// result is returned: if that event cannot be recorded, Query fails and returns nothing.
// A caller of any other role gets ErrForbidden, and that attempt is audited as denied.
func (l *Log) Query(ctx context.Context, by Caller, f Filter) (Page, error) {
	if err := f.validate(); err != nil {
		return Page{}, err
	}
	if f.Limit == 0 {
		f.Limit = defaultLimit
	}
	ev := Event{
		Actor: by.Actor, ActorRole: by.Role, Action: ActionAuditQuery,
		Target:    Target{Kind: TargetAuditLog},
		RequestID: by.RequestID,
		Details:   f.details(),
		Personal:  Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}
	if by.Role != RoleAdmin && by.Role != RoleAuditor {
		ev.Outcome = OutcomeDenied
		if err := l.Append(ctx, ev); err != nil {
			return Page{}, errors.Join(ErrForbidden, err)
		}
		return Page{}, ErrForbidden
	}
	page, qerr := l.query(ctx, &f)
	ev.Outcome = OutcomeSuccess
	if qerr != nil {
		ev.Outcome = OutcomeError
	} else {
		ev.Details["returned"] = strconv.Itoa(len(page.Records))
	}
	if err := l.Append(ctx, ev); err != nil {
		return Page{}, fmt.Errorf("audit: query not recorded, results withheld: %w", err)
	}
	return page, qerr
}

func (l *Log) query(ctx context.Context, f *Filter) (Page, error) {
	var where []string
	args := []any{f.After}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	where = append(where, "seq > $1")
	if f.Subject != "" {
		add("subject = $%d", f.Subject)
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if f.Action != "" {
		add("action = $%d", string(f.Action))
	}
	if f.Room != "" {
		add("room = $%d", f.Room)
	}
	if !f.From.IsZero() {
		add("occurred_at >= $%d", f.From)
		// Events are chained after they happen (allowing for clock skew), so older
		// partitions need not be read.
		add("chained_at >= $%d", f.From.Add(-dedupeWindow))
	}
	if !f.To.IsZero() {
		add("occurred_at < $%d", f.To)
	}
	args = append(args, f.Limit+1)
	sql := `SELECT seq, chained_at, id, occurred_at, actor, actor_role, action, target_kind, target_id,
		room, outcome, request_id, subject, details, personal FROM audit_events WHERE ` +
		strings.Join(where, " AND ") + fmt.Sprintf(" ORDER BY seq LIMIT $%d", len(args))
	rows, err := l.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit: query: %w", err)
	}
	defer rows.Close()
	var page Page
	var blobs [][]byte
	for rows.Next() {
		var r Record
		var id uuid.UUID
		var action, kind, outcome, details string
		var blob []byte
		if err := rows.Scan(&r.Seq, &r.ChainedAt, &id, &r.Event.Time, &r.Event.Actor, &r.Event.ActorRole,
			&action, &kind, &r.Event.Target.ID, &r.Event.Room, &outcome, &r.Event.RequestID,
			&r.Event.Subject, &details, &blob); err != nil {
			return Page{}, fmt.Errorf("audit: query: %w", err)
		}
		r.Event.ID = id
		r.Event.Action, r.Event.Target.Kind, r.Event.Outcome = Action(action), TargetKind(kind), Outcome(outcome)
		if details != "" {
			if r.Event.Details, err = decodeDetails(details); err != nil {
				return Page{}, err
			}
		}
		page.Records = append(page.Records, r)
		blobs = append(blobs, blob)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit: query: %w", err)
	}
	if len(page.Records) > f.Limit {
		page.Records, blobs = page.Records[:f.Limit], blobs[:f.Limit]
		page.Next = page.Records[f.Limit-1].Seq
	}
	if err := l.openAll(ctx, page.Records, blobs); err != nil {
		return Page{}, err
	}
	return page, nil
}

// openAll decrypts the personal data of records, fetching each subject's key once.
func (l *Log) openAll(ctx context.Context, recs []Record, blobs [][]byte) error {
	var subjects []string
	seen := map[string]bool{}
	for i := range recs {
		if s := recs[i].Event.Subject; len(blobs[i]) > 0 && !seen[s] {
			seen[s] = true
			subjects = append(subjects, s)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	keys := make(map[string][]byte, len(subjects))
	defer zeroKeys(keys)
	if err := selectKeys(ctx, l.pool, subjects, keys); err != nil {
		return err
	}
	for i := range recs {
		if len(blobs[i]) == 0 {
			continue
		}
		r := &recs[i]
		key := keys[r.Event.Subject]
		if key == nil {
			r.Erased = true
			continue
		}
		aead, err := sealAEAD(key)
		if err != nil {
			return fmt.Errorf("audit: query: %w", err)
		}
		if r.Event.Personal, err = openPersonal(aead, r.Event.ID, r.Event.Subject, blobs[i]); err != nil {
			return fmt.Errorf("audit: query: event %d: %w", r.Seq, err)
		}
	}
	return nil
}
