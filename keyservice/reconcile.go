package keyservice

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// outcome collects what a room transaction decided, to audit once it committed.
type outcome struct {
	events []audit.Event
}

func (o *outcome) add(ev audit.Event) { o.events = append(o.events, ev) }

// seat records the member's grant for the room and reports whether the room has no
// group yet (the member is asked to create it). A subject a host barred is refused
// (audited as a denied room.join): the kicked flag below belongs to one connection and
// is reset here, the bar is what outlasts it.
func (s *Service) seat(ctx context.Context, m Member) (create bool, offer *signaling.Resync, err error) {
	var out outcome
	err = s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		if b, err := barred(ctx, tx, m.Room, m.Subject); err != nil {
			return err
		} else if b {
			return refuse(signaling.CodeBarred, "a host removed you from this room; only a host can readmit you")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ks_seats (room, subject, conn_id, role, node_id) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (room, subject) DO UPDATE SET conn_id = EXCLUDED.conn_id, role = EXCLUDED.role, node_id = EXCLUDED.node_id,
			joined_at = now(), disconnected_at = NULL, kicked = false`, m.Room, m.Subject, m.ConnID, m.Role, s.cfg.Node); err != nil {
			return internal("seat", err)
		}
		rr, err := loadRoom(ctx, tx, m.Room)
		if err != nil {
			return err
		}
		if rr == nil {
			create = true
			return nil
		}
		if err := s.reconcile(ctx, tx, rr, false, &out); err != nil {
			return err
		}
		offer, err = s.resyncOffer(ctx, tx, rr, m)
		return err
	})
	if ke, ok := err.(*Error); ok {
		s.audit(ctx, []audit.Event{{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionRoomJoin, Target: audit.Target{Kind: audit.TargetRoom, ID: m.Room},
			Room: m.Room, Outcome: audit.OutcomeDenied, RequestID: m.RequestID, Details: map[string]string{"reason": ke.Code}}})
	}
	return create, offer, err
}

// unseat ends the member's seat (or marks it disconnected) and proposes its removal.
func (s *Service) unseat(ctx context.Context, m Member, reason string) error {
	var out outcome
	err := s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		var err error
		if reason == signaling.ReasonDisconnected && s.cfg.DisconnectTimeout > 0 {
			_, err = tx.Exec(ctx, `UPDATE ks_seats SET disconnected_at = $4 WHERE room = $1 AND subject = $2 AND conn_id = $3 AND node_id = $5`,
				m.Room, m.Subject, m.ConnID, s.cfg.Now(), s.cfg.Node)
		} else {
			// Only this node's seat: the same connection may hold it on another node now
			// (its session moved there).
			_, err = tx.Exec(ctx, `DELETE FROM ks_seats WHERE room = $1 AND subject = $2 AND conn_id = $3 AND node_id = $4`,
				m.Room, m.Subject, m.ConnID, s.cfg.Node)
		}
		if err != nil {
			return internal("unseat", err)
		}
		// The connection's unused KeyPackages die with it (their private keys did).
		if _, err := tx.Exec(ctx, `DELETE FROM ks_keypackages WHERE subject = $1 AND conn_id = $2 AND consumed_at IS NULL`, m.Subject, m.ConnID); err != nil {
			return internal("drop KeyPackages", err)
		}
		rr, err := loadRoom(ctx, tx, m.Room)
		if err != nil || rr == nil {
			return err
		}
		return s.reconcile(ctx, tx, rr, false, &out)
	})
	return err
}

type pendingRow struct {
	kind    string
	subject string
	conn    string
	leaf    *int64
}

// reconcile brings the room's proposals in line with its seats: a Remove for every leaf
// whose connection is gone, kicked, replaced or disconnected past the timeout, an Add
// (consuming one KeyPackage) for every live seat without a leaf, then a designated
// committer for whatever is pending. It is idempotent and runs after every change.
// fallback passes the commit duty on when the committer's deadline has passed.
func (s *Service) reconcile(ctx context.Context, tx pgx.Tx, rr *roomRow, fallback bool, out *outcome) error {
	now := s.cfg.Now()
	seats, err := s.loadSeats(ctx, tx, rr.room)
	if err != nil {
		return err
	}
	bySub := map[string]*seatRow{}
	var live []*seatRow
	for i := range seats {
		st := &seats[i]
		if st.disconnected != nil && !now.Before(st.disconnected.Add(s.cfg.DisconnectTimeout)) {
			if _, err := tx.Exec(ctx, `DELETE FROM ks_seats WHERE room = $1 AND subject = $2 AND conn_id = $3`, rr.room, st.subject, st.conn); err != nil {
				return internal("expire seat", err)
			}
			continue
		}
		bySub[st.subject] = st
		if st.disconnected == nil && !st.kicked {
			live = append(live, st)
		}
	}
	rows, err := tx.Query(ctx, `SELECT kind, subject, conn_id, leaf FROM ks_proposals WHERE room = $1 AND epoch = $2`, rr.room, int64(rr.epoch))
	if err != nil {
		return internal("load proposals", err)
	}
	pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pendingRow, error) {
		var p pendingRow
		err := r.Scan(&p.kind, &p.subject, &p.conn, &p.leaf)
		return p, err
	})
	if err != nil {
		return internal("load proposals", err)
	}
	resyncing, until := s.resyncing(rr, bySub, now)
	if _, err := tx.Exec(ctx, `UPDATE ks_rooms SET resync_until = $2 WHERE room = $1`, rr.room, until); err != nil {
		return internal("resync window", err)
	}
	removing := map[uint32]bool{}
	adding := map[string]bool{}
	for _, p := range pending {
		if p.kind == "remove" && p.leaf != nil {
			removing[uint32(*p.leaf)] = true
		} else if p.kind == "add" {
			adding[p.conn] = true
		}
	}

	leaves := make([]uint32, 0, len(rr.roster))
	for l := range rr.roster {
		leaves = append(leaves, l)
	}
	slices.Sort(leaves)
	inRoster := map[string]bool{}
	var keepers []uint32 // leaves that stay and whose holder is connected
	var toRemove []uint32
	away := 0 // leaves that stay whose holder may still come back (disconnected, within the timeout)
	for _, l := range leaves {
		e := rr.roster[l]
		inRoster[e.Conn] = true
		st := bySub[e.Sub]
		if st == nil || st.conn != e.Conn || st.kicked {
			if !removing[l] && !resyncing[e.Sub] {
				toRemove = append(toRemove, l)
			}
			continue
		}
		if !removing[l] && st.disconnected == nil {
			keepers = append(keepers, l)
		} else if !removing[l] {
			away++
		}
	}
	if len(keepers) == 0 && away > 0 && s.cfg.Node != "" {
		// Everyone who could commit is away at once (their node died or drained): the
		// group waits for them to resume elsewhere, until the disconnect timeout.
		return s.designate(ctx, tx, rr, nil, 0, false, false, now)
	}
	if len(keepers) == 0 {
		// Nobody who could commit is left: the group ends with its last member, and the
		// first waiting seat starts a new one.
		return s.resetGroup(ctx, tx, rr, live, out)
	}

	issued := 0
	for _, l := range toRemove {
		e := rr.roster[l]
		p := &mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: mls.LeafIndex(l)}}
		leaf := int64(l)
		if err := s.propose(ctx, tx, rr, p, "remove", e.Sub, e.Conn, &leaf, nil); err != nil {
			return err
		}
		issued++
		out.add(audit.Event{Actor: "service:keyservice", Action: audit.ActionRoomLeave, Target: audit.Target{Kind: audit.TargetUser, ID: e.Sub},
			Room: rr.room, Outcome: audit.OutcomeSuccess, Details: map[string]string{"epoch": itoa(rr.epoch), "leaf": itoa(uint64(l)), "proposal": "remove"}})
	}
	for _, st := range live {
		if inRoster[st.conn] || adding[st.conn] || resyncing[st.subject] {
			continue
		}
		// Only this connection's KeyPackages: a client's private keys live as long as its
		// connection, so a KeyPackage of an earlier connection could never open a Welcome.
		var ref, data []byte
		err := tx.QueryRow(ctx, `UPDATE ks_keypackages SET consumed_at = now(), consumed_room = $2
			WHERE ref = (SELECT ref FROM ks_keypackages WHERE subject = $1 AND conn_id = $3 AND consumed_at IS NULL AND not_after > $4
				ORDER BY uploaded_at LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING ref, data`, st.subject, rr.room, st.conn, now).Scan(&ref, &data)
		if err == pgx.ErrNoRows {
			// Ask for more only from a connection that uploaded before and ran out; a new
			// connection's first upload is on its way.
			var uploaded bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ks_keypackages WHERE subject = $1 AND conn_id = $2)`,
				st.subject, st.conn).Scan(&uploaded); err != nil {
				return internal("KeyPackages", err)
			}
			if uploaded {
				if err := emit(ctx, tx, rr.room, signaling.TypeKeyPackageLow, st.conn, "", struct{}{}); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			return internal("consume KeyPackage", err)
		}
		var msg mls.MLSMessage
		if err := mls.Unmarshal(data, &msg); err != nil || msg.KeyPackage == nil {
			return internal("stored KeyPackage", err)
		}
		p := &mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *msg.KeyPackage}}
		if err := s.propose(ctx, tx, rr, p, "add", st.subject, st.conn, nil, ref); err != nil {
			return err
		}
		issued++
		out.add(audit.Event{Actor: "service:keyservice", Action: audit.ActionRoomJoin, Target: audit.Target{Kind: audit.TargetUser, ID: st.subject},
			Room: rr.room, Outcome: audit.OutcomeSuccess, Details: map[string]string{"epoch": itoa(rr.epoch), "proposal": "add", "keypackage": hexRef(ref)}})
	}
	return s.designate(ctx, tx, rr, keepers, len(pending)+issued, issued > 0, fallback, now)
}

// resyncing names the subjects whose live connection is not the one holding their leaf,
// seated less than ResyncWindow ago: such a member (a reloaded page, another device) may
// replace its own earlier leaf by an external commit (RFC 9420 §12.4.3.2), so meanwhile the
// leaf is not removed and the connection not added, and nobody sees the person twice. until
// is when the last window closes (nil when none is open).
func (s *Service) resyncing(rr *roomRow, bySub map[string]*seatRow, now time.Time) (map[string]bool, *time.Time) {
	out := map[string]bool{}
	var until *time.Time
	if s.cfg.ResyncWindow <= 0 {
		return out, nil
	}
	for _, e := range rr.roster {
		st := bySub[e.Sub]
		if st == nil || st.conn == e.Conn || st.disconnected != nil || st.kicked {
			continue
		}
		if end := st.joinedAt.Add(s.cfg.ResyncWindow); now.Before(end) {
			out[e.Sub] = true
			if until == nil || end.After(*until) {
				until = &end
			}
		}
	}
	return out, until
}

// resyncOffer is the GroupInfo a newly seated connection may replace its subject's earlier
// leaf with, or nil when it has none to replace (or the window is closed).
func (s *Service) resyncOffer(ctx context.Context, tx pgx.Tx, rr *roomRow, m Member) (*signaling.Resync, error) {
	seats, err := s.loadSeats(ctx, tx, rr.room)
	if err != nil {
		return nil, err
	}
	bySub := map[string]*seatRow{}
	for i := range seats {
		bySub[seats[i].subject] = &seats[i]
	}
	resyncing, _ := s.resyncing(rr, bySub, s.cfg.Now())
	if !resyncing[m.Subject] || bySub[m.Subject].conn != m.ConnID {
		return nil, nil
	}
	return &signaling.Resync{Epoch: rr.epoch, GroupInfo: rr.groupInfo}, nil
}

// offerResyncs sends the current GroupInfo to every connection whose resync window is
// open: after a commit, the GroupInfo it holds is stale.
func (s *Service) offerResyncs(ctx context.Context, tx pgx.Tx, rr *roomRow) error {
	seats, err := s.loadSeats(ctx, tx, rr.room)
	if err != nil {
		return err
	}
	bySub := map[string]*seatRow{}
	for i := range seats {
		bySub[seats[i].subject] = &seats[i]
	}
	resyncing, _ := s.resyncing(rr, bySub, s.cfg.Now())
	for sub := range resyncing {
		if err := emit(ctx, tx, rr.room, signaling.TypeResync, bySub[sub].conn, "", signaling.Resync{Epoch: rr.epoch, GroupInfo: rr.groupInfo}); err != nil {
			return err
		}
	}
	return nil
}

// designate picks the member that commits the server's proposals: the lowest connected
// leaf, or on fallback the next one after the member that let its deadline pass.
func (s *Service) designate(ctx context.Context, tx pgx.Tx, rr *roomRow, keepers []uint32, pending int, fresh, fallback bool, now time.Time) error {
	if pending == 0 {
		if rr.committer != nil {
			_, err := tx.Exec(ctx, `UPDATE ks_rooms SET committer_leaf = NULL, committer_deadline = NULL WHERE room = $1`, rr.room)
			if err != nil {
				return internal("clear committer", err)
			}
		}
		return nil
	}
	current := -1
	if rr.committer != nil {
		current = int(*rr.committer)
	}
	overdue := rr.deadline != nil && !now.Before(*rr.deadline)
	if current >= 0 && slices.Contains(keepers, uint32(current)) && !(fallback && overdue) {
		if fresh { // it must see the new proposals: ask again
			return emit(ctx, tx, rr.room, signaling.TypeCommitNeeded, rr.roster[uint32(current)].Conn, "", signaling.CommitNeeded{Epoch: rr.epoch})
		}
		return nil
	}
	next := keepers[0]
	if current >= 0 && fallback {
		for _, l := range keepers {
			if int(l) > current {
				next = l
				break
			}
		}
	}
	deadline := now.Add(s.cfg.CommitTimeout)
	if _, err := tx.Exec(ctx, `UPDATE ks_rooms SET committer_leaf = $2, committer_deadline = $3 WHERE room = $1`, rr.room, int64(next), deadline); err != nil {
		return internal("designate", err)
	}
	return emit(ctx, tx, rr.room, signaling.TypeCommitNeeded, rr.roster[next].Conn, "", signaling.CommitNeeded{Epoch: rr.epoch})
}

// propose signs p as the room's external sender for the current epoch, stores it as
// pending and sends it to the room.
func (s *Service) propose(ctx context.Context, tx pgx.Tx, rr *roomRow, p *mls.Proposal, kind, subject, conn string, leaf *int64, kpRef []byte) error {
	msg, err := mls.NewExternalProposal(s.cs, rr.groupID, rr.epoch, rr.senderIndex, p, s.cfg.SignerKey.Seed())
	if err != nil {
		return internal("external proposal", err)
	}
	ref, err := mls.ProposalRef(s.cs, msg.PublicMessage.AuthenticatedContent())
	if err != nil {
		return internal("proposal ref", err)
	}
	b, err := mls.Marshal(msg)
	if err != nil {
		return internal("encode proposal", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ks_proposals (room, epoch, ref, kind, subject, conn_id, leaf, kp_ref, message)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, rr.room, int64(rr.epoch), ref, kind, subject, conn, leaf, kpRef, b); err != nil {
		return internal("store proposal", err)
	}
	return emit(ctx, tx, rr.room, signaling.TypeHandshake, "", "", signaling.Handshake{Epoch: rr.epoch, Message: b})
}

// resetGroup drops a group nobody connected belongs to any more and asks the first
// waiting seat, if any, to create a new one. KeyPackages consumed for it stay consumed.
func (s *Service) resetGroup(ctx context.Context, tx pgx.Tx, rr *roomRow, live []*seatRow, out *outcome) error {
	if _, err := tx.Exec(ctx, `DELETE FROM ks_proposals WHERE room = $1`, rr.room); err != nil {
		return internal("reset proposals", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM ks_rooms WHERE room = $1`, rr.room); err != nil {
		return internal("reset room", err)
	}
	for _, e := range rr.roster {
		out.add(audit.Event{Actor: "service:keyservice", Action: audit.ActionRoomLeave, Target: audit.Target{Kind: audit.TargetUser, ID: e.Sub},
			Room: rr.room, Outcome: audit.OutcomeSuccess, Details: map[string]string{"epoch": itoa(rr.epoch), "group": "ended"}})
	}
	if len(live) == 0 {
		return nil
	}
	return emit(ctx, tx, rr.room, signaling.TypeGroupCreate, live[0].conn, "", s.groupCreate(rr.room))
}

func marshalRoster(r roster) ([]byte, error) { return json.Marshal(r) }
