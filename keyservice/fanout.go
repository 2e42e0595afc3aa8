package keyservice

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/server/signaling"
)

// listen delivers the room events and chat of every process to this process's
// connections. Postgres delivers notifications in commit order on one connection, and
// this loop handles them one at a time, so each member sees a room's handshake messages
// in the order the room's transactions committed.
func (s *Service) listen(ctx context.Context, ready chan<- error) {
	first := true
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, func() {
			if first {
				first = false
				ready <- nil
			}
		})
		if first {
			ready <- err
			return
		}
		if ctx.Err() == nil {
			s.cfg.Log.Error("keyservice: listener lost; reconnecting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Service) listenOnce(ctx context.Context, subscribed func()) error {
	pc, err := s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A LISTEN connection must not go back to the pool still subscribed.
	defer func() { _ = pc.Conn().Close(context.Background()); pc.Release() }()
	conn := pc.Conn()
	if _, err := conn.Exec(ctx, `LISTEN ks_events`); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `LISTEN ks_chat`); err != nil {
		return err
	}
	subscribed()
	// Events committed while no listener was subscribed (a lost connection) are read
	// back from the queue, so members miss nothing.
	for room, last := range s.lastDelivered() {
		rows, err := conn.Query(ctx, `SELECT id FROM ks_events WHERE room = $1 AND id > $2 ORDER BY id`, room, last)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range ids {
			s.deliverEvent(ctx, strconv.FormatInt(id, 10)+" "+room)
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case "ks_events":
			s.deliverEvent(ctx, n.Payload)
		case "ks_chat":
			s.deliverChat(n.Payload)
		}
	}
}

func (s *Service) deliverEvent(ctx context.Context, payload string) {
	idStr, room, ok := strings.Cut(payload, " ")
	if !ok {
		return
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return
	}
	// A room's events are inserted under its lock, so their ids grow in commit order;
	// an id not above the last one delivered was caught up already.
	s.mu.Lock()
	if id <= s.lastByRoom[room] {
		s.mu.Unlock()
		return
	}
	s.lastByRoom[room] = id
	s.mu.Unlock()
	targets := s.localConns(room)
	if len(targets) == 0 {
		return
	}
	var typ string
	var recipient, exclude *string
	var data []byte
	err = s.cfg.Pool.QueryRow(ctx, `SELECT type, recipient, exclude, data FROM ks_events WHERE id = $1`, id).Scan(&typ, &recipient, &exclude, &data)
	if err != nil {
		if err != pgx.ErrNoRows {
			s.cfg.Log.Error("keyservice: read event", "err", err)
		}
		return
	}
	var removed signaling.Removed
	if typ == signaling.TypeRemoved {
		// Stored by this package (kick); a row that does not decode is a removal by
		// nobody in particular, and still a removal.
		_ = json.Unmarshal(data, &removed)
	}
	for _, lc := range targets {
		if recipient != nil && *recipient != lc.m.ConnID || exclude != nil && *exclude == lc.m.ConnID {
			continue
		}
		if typ == signaling.TypeRemoved {
			lc.conn.Removed(removed.By)
			continue
		}
		lc.conn.Send(typ, json.RawMessage(data))
	}
}

func (s *Service) deliverChat(payload string) {
	var c chatNotify
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return
	}
	out := signaling.ChatOut{From: c.From, Message: c.Message}
	for _, lc := range s.localConns(c.Room) {
		if lc.m.ConnID != c.Exclude {
			lc.conn.Send(signaling.TypeChat, out)
		}
	}
}

func (s *Service) localConns(room string) []*localConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*localConn, 0, len(s.local[room]))
	for _, lc := range s.local[room] {
		out = append(out, lc)
	}
	return out
}

// sweep runs in every process: it removes seats disconnected past the timeout, hands the
// commit duty on when a designated committer let its deadline pass, and prunes delivered
// events and spent KeyPackages. Rooms are claimed under their lock, so processes do not
// duplicate work.
func (s *Service) sweep(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.sweepOnce(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("keyservice: sweep", "err", err)
		}
	}
}

func (s *Service) sweepOnce(ctx context.Context) error {
	now := s.cfg.Now()
	judge := s.judgesNodes()
	// Rooms with a seat gone for the timeout: its connection dropped, or (judged by a
	// Settled node) its node's lease lapsed that long ago (loadSeats).
	rows, err := s.cfg.Pool.Query(ctx, `SELECT room FROM ks_seats WHERE disconnected_at <= $1
		UNION SELECT st.room FROM ks_seats st WHERE $3 AND st.disconnected_at IS NULL AND st.node_id <> ''
			AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.id = st.node_id AND n.lease_until > now() - make_interval(secs => $4))
		UNION SELECT room FROM ks_rooms WHERE committer_deadline <= $2 OR resync_until <= $2`,
		now.Add(-s.cfg.DisconnectTimeout), now, judge, s.cfg.DisconnectTimeout.Seconds())
	if err != nil {
		return err
	}
	rooms, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, room := range rooms {
		var out outcome
		err := s.inRoom(ctx, room, &out, func(tx pgx.Tx) error {
			rr, err := loadRoom(ctx, tx, room)
			if err != nil {
				return err
			}
			if rr == nil {
				// No group: the seats gone for the timeout just go (a first joiner whose
				// connection or node died before creating the group, say).
				seats, err := s.loadSeats(ctx, tx, room)
				if err != nil {
					return err
				}
				for _, st := range seats {
					if st.disconnected != nil && !now.Before(st.disconnected.Add(s.cfg.DisconnectTimeout)) {
						if _, err := tx.Exec(ctx, `DELETE FROM ks_seats WHERE room = $1 AND subject = $2 AND conn_id = $3`, room, st.subject, st.conn); err != nil {
							return internal("expire seat", err)
						}
					}
				}
				return nil
			}
			return s.reconcile(ctx, tx, rr, true, &out)
		})
		if err != nil && ctx.Err() == nil {
			// One room's failure must not hold the others' timeouts back.
			s.cfg.Log.Error("keyservice: sweep room", "room", room, "err", err)
		}
	}
	if _, err := s.cfg.Pool.Exec(ctx, `DELETE FROM ks_events WHERE created_at < $1`, now.Add(-5*time.Minute)); err != nil {
		return err
	}
	_, err = s.cfg.Pool.Exec(ctx, `DELETE FROM ks_keypackages WHERE not_after < $1 OR consumed_at < $2`, now, now.Add(-24*time.Hour))
	return err
}

// lastDelivered returns, for each room with connections here, the newest event id
// delivered to it.
func (s *Service) lastDelivered() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for room := range s.local {
		if id, ok := s.lastByRoom[room]; ok {
			out[room] = id
		}
	}
	return out
}
