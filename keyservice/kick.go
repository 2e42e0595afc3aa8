package keyservice

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/signaling"
)

// kick lets a host remove a participant: its seat is marked kicked, so the server
// proposes the Remove and never re-adds that connection, and its subject is barred from
// the room until a host readmits it. The bar, not the token, is what keeps the subject
// out: a fresh token, or the kicked one on a process that has not reloaded revocations
// yet, still reaches seat, which refuses it. The kicked member is told with "removed";
// ending its connection is signaling's job.
func (s *Service) kick(ctx context.Context, m Member, raw json.RawMessage) error {
	var d signaling.Kick
	if err := signaling.DecodeStrict(raw, &d); err != nil || d.Subject == "" {
		return refuse(signaling.CodeBadMessage, "kick needs sub")
	}
	deny := func(e *Error) error {
		s.audit(ctx, []audit.Event{{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomKick, Target: audit.Target{Kind: audit.TargetUser, ID: d.Subject},
			Room: m.Room, Outcome: audit.OutcomeDenied, RequestID: m.RequestID, Details: map[string]string{"reason": e.Code}}})
		return e
	}
	if m.Role != "host" {
		return deny(refuse(signaling.CodeForbidden, "only a host can remove participants"))
	}
	if d.Subject == m.Subject {
		// A host who barred itself could only come back through another host.
		return deny(refuse(signaling.CodeForbidden, "a host cannot remove itself: leave instead"))
	}
	var out outcome
	err := s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		if err := hostSeated(ctx, tx, m); err != nil {
			return err
		}
		var conn string
		err := tx.QueryRow(ctx, `UPDATE ks_seats SET kicked = true WHERE room = $1 AND subject = $2 RETURNING conn_id`, m.Room, d.Subject).Scan(&conn)
		if err == pgx.ErrNoRows {
			return refuse(signaling.CodeNotMember, "no such participant in the room")
		}
		if err != nil {
			return internal("kick", err)
		}
		// In the same transaction as the "removed" event: the kicked client learns of its
		// removal only after the bar is durable, so no redial can beat it.
		if _, err := tx.Exec(ctx, `INSERT INTO ks_room_bars (room, subject, barred_by) VALUES ($1, $2, $3)
			ON CONFLICT (room, subject) DO NOTHING`, m.Room, d.Subject, m.Subject); err != nil {
			return internal("bar", err)
		}
		out.add(audit.Event{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomKick, Target: audit.Target{Kind: audit.TargetUser, ID: d.Subject},
			Room: m.Room, Outcome: audit.OutcomeSuccess, RequestID: m.RequestID})
		if err := emit(ctx, tx, m.Room, signaling.TypeRemoved, conn, "", signaling.Removed{By: m.Subject}); err != nil {
			return err
		}
		rr, err := loadRoom(ctx, tx, m.Room)
		if err != nil || rr == nil {
			return err
		}
		return s.reconcile(ctx, tx, rr, false, &out)
	})
	if err != nil {
		if ke, ok := err.(*Error); ok {
			return deny(ke)
		}
		return err
	}
	return nil
}

// readmit lets a host lift the bar a kick put on a subject. The subject comes back with
// a new token (the kick revoked the one it used) and is seated like any joiner.
func (s *Service) readmit(ctx context.Context, m Member, raw json.RawMessage) error {
	var d signaling.Readmit
	if err := signaling.DecodeStrict(raw, &d); err != nil || d.Subject == "" {
		return refuse(signaling.CodeBadMessage, "readmit needs sub")
	}
	deny := func(e *Error) error {
		s.audit(ctx, []audit.Event{{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomReadmit, Target: audit.Target{Kind: audit.TargetUser, ID: d.Subject},
			Room: m.Room, Outcome: audit.OutcomeDenied, RequestID: m.RequestID, Details: map[string]string{"reason": e.Code}}})
		return e
	}
	if m.Role != "host" {
		return deny(refuse(signaling.CodeForbidden, "only a host can readmit participants"))
	}
	var out outcome
	err := s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		if err := hostSeated(ctx, tx, m); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM ks_room_bars WHERE room = $1 AND subject = $2`, m.Room, d.Subject)
		if err != nil {
			return internal("readmit", err)
		}
		if tag.RowsAffected() == 0 {
			return refuse(signaling.CodeNotMember, "that participant is not barred from the room")
		}
		out.add(audit.Event{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomReadmit, Target: audit.Target{Kind: audit.TargetUser, ID: d.Subject},
			Room: m.Room, Outcome: audit.OutcomeSuccess, RequestID: m.RequestID})
		return nil
	})
	if err != nil {
		if ke, ok := err.(*Error); ok {
			return deny(ke)
		}
		return err
	}
	return nil
}

// hostSeated refuses a host's kick or readmit from a connection that no longer holds
// its seat: a host another host just kicked still has a socket until signaling closes
// it, and must not use that moment to lift its own bar or retaliate.
func hostSeated(ctx context.Context, tx pgx.Tx, m Member) error {
	var live bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ks_seats WHERE room = $1 AND subject = $2 AND conn_id = $3 AND NOT kicked)`,
		m.Room, m.Subject, m.ConnID).Scan(&live); err != nil {
		return internal("check seat", err)
	}
	if !live {
		return refuse(signaling.CodeForbidden, "not seated in the room")
	}
	return nil
}

// barred reports whether a kick keeps subject out of room. It runs under the room's
// lock, which a kick holds while it writes the bar, so a connection seated at the moment
// of a kick is either refused here or marked kicked there.
func barred(ctx context.Context, tx pgx.Tx, room, subject string) (bool, error) {
	var b bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ks_room_bars WHERE room = $1 AND subject = $2)`, room, subject).Scan(&b); err != nil {
		return false, internal("check bar", err)
	}
	return b, nil
}
