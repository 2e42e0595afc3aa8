package keyservice

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/keyservice/policy"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// groupInit stores the group a room's first member created (RFC 9420 §11): its epoch-0
// GroupInfo with the ratchet tree, one leaf holding the creator's own identity, and the
// server listed in external_senders so it can propose Adds and Removes (§12.1.8.1).
// A concurrent creator loses the INSERT and is added to the winner's group instead.
func (s *Service) groupInit(ctx context.Context, m Member, raw json.RawMessage) error {
	var d signaling.GroupInit
	if err := signaling.DecodeStrict(raw, &d); err != nil || len(d.GroupInfo) == 0 {
		return s.rejectInit(ctx, m, refuse(signaling.CodeBadMessage, "group_init needs group_info"))
	}
	var msg mls.MLSMessage
	if err := mls.Unmarshal(d.GroupInfo, &msg); err != nil || msg.GroupInfo == nil {
		return s.rejectInit(ctx, m, refuse(signaling.CodeBadMessage, "group_info is not an MLSMessage GroupInfo"))
	}
	gi := msg.GroupInfo
	pg, err := mls.NewPublicGroup(s.cs, gi, nil, s.cfg.Now)
	if err == nil {
		pg.SetPolicy(policy.Room{})
	}
	if err != nil {
		return s.rejectInit(ctx, m, refuse(signaling.CodeInvalidGroupInfo, "the GroupInfo or its ratchet tree does not validate"))
	}
	creator := pg.Tree().Leaf(0)
	if gi.GroupContext.Epoch != 0 || pg.Tree().LeafCount() != 1 || creator == nil {
		return s.rejectInit(ctx, m, refuse(signaling.CodeInvalidGroupInfo, "a new group has epoch 0 and only its creator"))
	}
	if creator.Credential.Type != mls.CredentialTypeBasic || string(creator.Credential.Identity) != m.Subject {
		return s.rejectInit(ctx, m, refuse(signaling.CodeIdentityMismatch, "the creator's identity must be the token's subject"))
	}
	senderIndex, ok := s.externalSenderIndex(gi.GroupContext.Extensions)
	if !ok {
		return s.rejectInit(ctx, m, refuse(signaling.CodeInvalidGroupInfo, "the group must list the server's key in external_senders"))
	}
	rosterJSON, err := marshalRoster(roster{0: {Sub: m.Subject, Conn: m.ConnID}})
	if err != nil {
		return internal("encode roster", err)
	}
	var out outcome
	err = s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ks_seats WHERE room = $1 AND subject = $2 AND conn_id = $3
			AND disconnected_at IS NULL AND NOT kicked)`, m.Room, m.Subject, m.ConnID).Scan(&live); err != nil {
			return internal("check seat", err)
		}
		if !live {
			return refuse(signaling.CodeForbidden, "not seated in the room")
		}
		tag, err := tx.Exec(ctx, `INSERT INTO ks_rooms (room, group_id, epoch, sender_index, group_info, roster)
			VALUES ($1, $2, 0, $3, $4, $5) ON CONFLICT (room) DO NOTHING`, m.Room, gi.GroupContext.GroupID, int32(senderIndex), d.GroupInfo, rosterJSON)
		if err != nil {
			return internal("create group", err)
		}
		if tag.RowsAffected() == 0 {
			return refuse(signaling.CodeGroupExists, "another member created the room's group first: you will be added")
		}
		out.add(audit.Event{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomJoin, Target: audit.Target{Kind: audit.TargetRoom, ID: m.Room},
			Room: m.Room, Outcome: audit.OutcomeSuccess, RequestID: m.RequestID, Details: map[string]string{"epoch": "0", "created": "true"}})
		rr, err := loadRoom(ctx, tx, m.Room)
		if err != nil {
			return err
		}
		return s.reconcile(ctx, tx, rr, false, &out)
	})
	if err != nil {
		if ke, ok := err.(*Error); ok {
			return s.rejectInit(ctx, m, ke)
		}
		return err
	}
	s.keepView(&roomRow{room: m.Room, groupID: gi.GroupContext.GroupID}, 0, pg)
	return nil
}

func (s *Service) externalSenderIndex(exts mls.Extensions) (uint32, bool) {
	data, ok := exts.Find(mls.ExtensionTypeExternalSenders)
	if !ok {
		return 0, false
	}
	var senders mls.ExternalSenders
	if err := mls.Unmarshal(data, &senders); err != nil {
		return 0, false
	}
	for i, es := range senders {
		if bytes.Equal(es.SignatureKey, s.pub) {
			return uint32(i), true
		}
	}
	return 0, false
}

func (s *Service) rejectInit(ctx context.Context, m Member, e *Error) error {
	s.audit(ctx, []audit.Event{{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomJoin, Target: audit.Target{Kind: audit.TargetRoom, ID: m.Room},
		Room: m.Room, Outcome: audit.OutcomeDenied, RequestID: m.RequestID, Details: map[string]string{"reason": e.Code, "step": "group_init"}}})
	return e
}
