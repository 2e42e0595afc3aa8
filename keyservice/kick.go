package keyservice

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/signaling"
)

// kick lets a host remove a participant: its seat is marked kicked, so the server
// proposes the Remove and never re-adds that connection. The kicked member is told with
// "removed"; ending its connection is signaling's job.
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
	var out outcome
	err := s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		var conn string
		err := tx.QueryRow(ctx, `UPDATE ks_seats SET kicked = true WHERE room = $1 AND subject = $2 RETURNING conn_id`, m.Room, d.Subject).Scan(&conn)
		if err == pgx.ErrNoRows {
			return refuse(signaling.CodeNotMember, "no such participant in the room")
		}
		if err != nil {
			return internal("kick", err)
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
