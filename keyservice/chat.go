package keyservice

import (
	"context"
	"encoding/json"

	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// chatNotify is a chat message on its way to the other processes. It travels only in the
// NOTIFY payload: chat content is never stored (DESIGN §9).
type chatNotify struct {
	Room    string `json:"room"`
	Exclude string `json:"exclude"`
	From    string `json:"from"`
	Message []byte `json:"message"`
}

// chat relays an MLS application message. The server cannot read it; it checks only that
// it is a PrivateMessage of the room's group, of the current epoch, from a connection
// that holds a leaf, and small enough for the relay.
func (s *Service) chat(ctx context.Context, m Member, raw json.RawMessage) error {
	var d signaling.ChatIn
	if err := signaling.DecodeStrict(raw, &d); err != nil || len(d.Message) == 0 {
		return refuse(signaling.CodeBadMessage, "chat needs message")
	}
	if len(d.Message) > s.cfg.MaxChat {
		return refuse(signaling.CodeTooLarge, "chat message too large")
	}
	var msg mls.MLSMessage
	if err := mls.Unmarshal(d.Message, &msg); err != nil || msg.WireFormat != mls.WireFormatPrivateMessage || msg.PrivateMessage == nil ||
		msg.PrivateMessage.ContentType != mls.ContentTypeApplication {
		return refuse(signaling.CodeBadMessage, "chat must be an MLS PrivateMessage with application content")
	}
	var epoch int64
	var groupID []byte
	var member bool
	err := s.cfg.Pool.QueryRow(ctx, `SELECT epoch, group_id, EXISTS (SELECT 1 FROM jsonb_each(roster) r WHERE r.value->>'conn' = $2)
		FROM ks_rooms WHERE room = $1`, m.Room, m.ConnID).Scan(&epoch, &groupID, &member)
	if err != nil {
		return refuse(signaling.CodeNoGroup, "the room has no group")
	}
	if !member {
		return refuse(signaling.CodeNotMember, "only members of the group can chat")
	}
	pm := msg.PrivateMessage
	switch {
	case string(pm.GroupID) != string(groupID) || pm.Epoch < uint64(epoch):
		return refuse(signaling.CodeStaleEpoch, "chat for a closed epoch")
	case pm.Epoch > uint64(epoch):
		return refuse(signaling.CodeFutureEpoch, "chat for an epoch not reached yet")
	}
	b, err := json.Marshal(chatNotify{Room: m.Room, Exclude: m.ConnID, From: m.Subject, Message: d.Message})
	if err != nil {
		return internal("encode chat", err)
	}
	if _, err := s.cfg.Pool.Exec(ctx, `SELECT pg_notify('ks_chat', $1)`, string(b)); err != nil {
		return internal("relay chat", err)
	}
	return nil
}
