package keyservice

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// rosterEntry says who holds a leaf: the subject and the connection its KeyPackage was
// consumed for. A new connection of the same subject does not inherit the leaf (it holds
// none of the leaf's private keys), so the server removes it and adds the new one.
type rosterEntry struct {
	Sub  string `json:"sub"`
	Conn string `json:"conn"`
}

type roster map[uint32]rosterEntry

// roomRow is a room's group state as stored.
type roomRow struct {
	room        string
	groupID     []byte
	epoch       uint64
	senderIndex uint32
	groupInfo   []byte
	roster      roster
	lastCommit  []byte
	committer   *int64
	deadline    *time.Time
}

type seatRow struct {
	subject      string
	conn         string
	role         string
	joinedAt     time.Time
	disconnected *time.Time
	kicked       bool
}

// inRoom runs fn in a transaction that holds the room's advisory lock, so every change
// to one room (seats, proposals, commits) is serialised across all server processes.
// The epoch compare-and-set stays the guard of record (commit.go).
//
// The audit events fn collects in out are recorded before the transaction commits: if
// one cannot be recorded (and is not on the allow-list), nothing fn did is kept.
func (s *Service) inRoom(ctx context.Context, room string, out *outcome, fn func(tx pgx.Tx) error) error {
	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return internal("begin", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7200))`, room); err != nil {
		return internal("room lock", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	if s.cfg.Audit != nil {
		for _, ev := range out.events {
			if err := s.cfg.Audit.Record(context.WithoutCancel(ctx), ev); err != nil {
				return internal("audit "+string(ev.Action), err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return internal("commit", err)
	}
	return nil
}

func loadRoom(ctx context.Context, tx pgx.Tx, room string) (*roomRow, error) {
	rr := &roomRow{room: room}
	var rosterJSON []byte
	var epoch int64
	var sender int32
	err := tx.QueryRow(ctx, `SELECT group_id, epoch, sender_index, group_info, roster, last_commit, committer_leaf, committer_deadline
		FROM ks_rooms WHERE room = $1`, room).Scan(&rr.groupID, &epoch, &sender, &rr.groupInfo, &rosterJSON, &rr.lastCommit, &rr.committer, &rr.deadline)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, internal("load room", err)
	}
	rr.epoch, rr.senderIndex = uint64(epoch), uint32(sender)
	if err := json.Unmarshal(rosterJSON, &rr.roster); err != nil {
		return nil, internal("decode roster", err)
	}
	return rr, nil
}

// judgesNodes reports whether this process may count the seats of a node whose lease
// lapsed as disconnected: it runs in a cluster and is Settled.
func (s *Service) judgesNodes() bool {
	return s.cfg.Node != "" && s.cfg.Settled != nil && s.cfg.Settled()
}

// loadSeats reads the room's seats. In a cluster, a seat whose node's lease has lapsed
// counts as disconnected since the lease
// ended (a node gone from the registry: long ago), judged afresh at every load: a node
// that was only late to renew (a stall, a database blip) has its seats back once it renews,
// and nothing is removed for it unless it stays away for the disconnect timeout. Only a
// Settled node judges (after a database outage every lease looks lapsed at first).
func (s *Service) loadSeats(ctx context.Context, tx pgx.Tx, room string) ([]seatRow, error) {
	judge := s.judgesNodes()
	// The lapse is aged by the database's clock (now() - lease_until) and placed on this
	// process's clock ($3 - age), the one the disconnect timeout is counted on. A node gone
	// from the registry lapsed long ago (the epoch).
	rows, err := tx.Query(ctx, `SELECT st.subject, st.conn_id, st.role, st.joined_at,
			COALESCE(st.disconnected_at, CASE WHEN $2 AND st.node_id <> '' AND NOT EXISTS
				(SELECT 1 FROM cluster_nodes n WHERE n.id = st.node_id AND n.lease_until > now())
				THEN COALESCE($3::timestamptz - (now() - (SELECT n.lease_until FROM cluster_nodes n WHERE n.id = st.node_id)),
					'epoch'::timestamptz) END),
			st.kicked
		FROM ks_seats st WHERE st.room = $1 ORDER BY st.joined_at, st.subject`, room, judge, s.cfg.Now())
	if err != nil {
		return nil, internal("load seats", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seatRow, error) {
		var st seatRow
		err := r.Scan(&st.subject, &st.conn, &st.role, &st.joinedAt, &st.disconnected, &st.kicked)
		return st, err
	})
	if err != nil {
		return nil, internal("load seats", err)
	}
	return out, nil
}

// emit queues a message for the room's connections in every process: the row is read by
// each process's listener when the NOTIFY arrives, which Postgres delivers at commit and
// in commit order, so members see handshake messages in the order they were decided.
func emit(ctx context.Context, tx pgx.Tx, room, typ, recipient, exclude string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return internal("encode event", err)
	}
	var rcpt, excl *string
	if recipient != "" {
		rcpt = &recipient
	}
	if exclude != "" {
		excl = &exclude
	}
	_, err = tx.Exec(ctx, `WITH e AS (INSERT INTO ks_events (room, type, recipient, exclude, data) VALUES ($1, $2, $3, $4, $5) RETURNING id)
		SELECT pg_notify('ks_events', e.id::text || ' ' || $1) FROM e`, room, typ, rcpt, excl, b)
	if err != nil {
		return internal("emit", err)
	}
	return nil
}
