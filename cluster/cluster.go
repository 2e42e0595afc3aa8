// Package cluster lets several sealroom processes on one Postgres work as a cluster, with
// no other service: each node registers its addresses and load and renews a short lease;
// a room lives on one live node at a time, chosen at its first join by load; a node that
// drains or dies has its rooms placed again, and the participants resume there.
//
// Leases are granted and judged by the database's clock (now()), the one clock all nodes
// share, so a skewed node clock cannot make a live node look dead.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoNode means no live node may take a room now (all dead, draining, or the database
// unreachable): a join should be retried shortly.
var ErrNoNode = errors.New("cluster: no live node to place the room on")

// Config configures a Registry.
type Config struct {
	Pool *pgxpool.Pool
	// Name names this node for the operator; empty: "node". Each process is a node of
	// its own, whose ID is Name~incarnation: a restarted process is a new node, whose
	// predecessor's lease lapses (or ended at its clean exit) and whose sessions are
	// taken over like a dead node's, whatever name it had.
	Name string
	// APIURL is where the other nodes reach this node's HTTP API to forward a
	// participant's signaling to it (http://10.0.0.5:8080).
	APIURL string
	// MediaAddr is the SFU's address, for the operator's eyes (cluster status).
	MediaAddr string
	// Lease is how long a renewal keeps the node alive (default 4 s); Renew how often it
	// is renewed (default Lease/4).
	Lease time.Duration
	Renew time.Duration
	// Load reports the participants this node serves and LocalRooms the rooms it serves
	// them in; nil: none.
	Load       func() int
	LocalRooms func() []string
	// Lost is told the local rooms the cluster placed on another node while this one was
	// cut off from the database (its lease lapsed): their sessions must move there.
	Lost func(rooms []string)
	Log  *slog.Logger
}

// Registry is this node's membership of the cluster.
type Registry struct {
	cfg Config
	id  string

	// settledAt is when the lease was last renewed after a failure (or first): a node
	// judges others dead only once it has itself renewed steadily for a whole lease, so
	// after a database outage it gives the others the time to renew too.
	mu        sync.Mutex
	settledAt time.Time
	lastRenew time.Time
	renewing  bool
	draining  atomic.Bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg and returns a Registry; Start registers the node.
func New(cfg Config) (*Registry, error) {
	if cfg.Pool == nil {
		return nil, errors.New("cluster: Config.Pool is required")
	}
	if cfg.APIURL == "" {
		return nil, errors.New("cluster: Config.APIURL is required")
	}
	if cfg.Name == "" {
		cfg.Name = "node"
	}
	if strings.Contains(cfg.Name, "~") || len(cfg.Name) > 48 {
		return nil, errors.New("cluster: a node name has no ~ and at most 48 bytes")
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cluster: the API URL %q is not an http(s) URL", cfg.APIURL)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := cfg.Name + "~" + hex.EncodeToString(b)
	if cfg.Lease <= 0 {
		cfg.Lease = 4 * time.Second
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.Lease / 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, id: id}, nil
}

// NameOf is the name part of a node id (Name~incarnation).
func NameOf(id string) string {
	name, _, _ := strings.Cut(id, "~")
	return name
}

// Bind sets the hooks of Config (Load, LocalRooms, Lost) that need a server built with
// this Registry; call it before Start.
func (r *Registry) Bind(load func() int, rooms func() []string, lost func([]string)) {
	r.cfg.Load, r.cfg.LocalRooms, r.cfg.Lost = load, rooms, lost
}

// ID is this node's id.
func (r *Registry) ID() string { return r.id }

// Start registers the node (the first renewal must succeed) and keeps renewing its lease
// until Close.
func (r *Registry) Start(ctx context.Context) error {
	if err := r.renew(ctx); err != nil {
		return fmt.Errorf("cluster: register: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.wg.Go(func() { r.run(ctx) })
	return nil
}

// Close stops renewing and ends the node's lease now, marked as a clean exit (draining):
// the others need not wait for the lease to lapse, and the row keeps the time of the
// exit, from which the node's sessions stay adoptable for a while.
func (r *Registry) Close() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := r.cfg.Pool.Exec(ctx, `UPDATE cluster_nodes SET lease_until = now(), draining = true WHERE id = $1`, r.id)
	return err
}

func (r *Registry) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Renew)
	defer t.Stop()
	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.renew(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Log.Warn("cluster: lease not renewed", "node", r.id, "err", err)
			}
		case <-sweep.C:
			if err := r.sweep(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Log.Warn("cluster: sweep", "err", err)
			}
		}
	}
}

// renew extends the lease, publishes the load, and hands off any local room the cluster
// placed elsewhere meanwhile.
func (r *Registry) renew(ctx context.Context) error {
	load := 0
	if r.cfg.Load != nil {
		load = r.cfg.Load()
	}
	var local []string
	if r.cfg.LocalRooms != nil {
		local = r.cfg.LocalRooms()
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Lease)
	defer cancel()
	var lapsed bool
	err := r.cfg.Pool.QueryRow(ctx, `INSERT INTO cluster_nodes (id, api_url, media_addr, load, rooms, lease_until)
		VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
		ON CONFLICT (id) DO UPDATE SET api_url = EXCLUDED.api_url, media_addr = EXCLUDED.media_addr,
			load = EXCLUDED.load, rooms = EXCLUDED.rooms, lease_until = EXCLUDED.lease_until
		RETURNING COALESCE((SELECT lease_until < now() FROM cluster_nodes WHERE id = $1), false)`,
		r.id, r.cfg.APIURL, r.cfg.MediaAddr, load, len(local), r.cfg.Lease.Seconds()).Scan(&lapsed)
	r.mu.Lock()
	if err != nil {
		r.renewing = false
		r.mu.Unlock()
		return err
	}
	if !r.renewing || lapsed {
		r.renewing, r.settledAt = true, time.Now()
	}
	r.lastRenew = time.Now()
	r.mu.Unlock()
	if len(local) == 0 || r.cfg.Lost == nil {
		return nil
	}
	rows, err := r.cfg.Pool.Query(ctx, `SELECT room FROM cluster_rooms WHERE room = ANY($1) AND node_id <> $2`, local, r.id)
	if err != nil {
		return err
	}
	lost, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(lost) > 0 {
		r.cfg.Log.Warn("cluster: rooms placed elsewhere while this node was cut off; moving their sessions", "rooms", len(lost))
		r.cfg.Lost(lost)
	}
	return nil
}

// Settled reports whether this node has renewed its lease without a failure for at least
// one whole lease: only then may it judge another node dead (a node just back from a
// database outage would otherwise see every peer's lease lapsed before they renew).
func (r *Registry) Settled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A process that just woke from a stall has not renewed yet: it judges nobody.
	return r.renewing && time.Since(r.settledAt) >= r.cfg.Lease && time.Since(r.lastRenew) < r.cfg.Lease
}

// EndedSessionKept is how long the record of a session that ended stays in
// signal_sessions (the server tells a stale tab that proves it held the session that its
// seat went on elsewhere, on whichever node holds the room by then).
const EndedSessionKept = 12 * time.Hour

// sweep forgets what dead nodes left behind once nobody can use it: live sessions of a
// node dead (or gone) for longer than any resume could wait, records of sessions that
// ended EndedSessionKept ago, and nodes dead for ten minutes.
func (r *Registry) sweep(ctx context.Context) error {
	if !r.Settled() {
		return nil
	}
	if _, err := r.cfg.Pool.Exec(ctx, `DELETE FROM signal_sessions s WHERE s.ended_at IS NULL AND NOT EXISTS
		(SELECT 1 FROM cluster_nodes n WHERE n.id = s.node_id AND n.lease_until > now() - interval '2 minutes')`); err != nil {
		return err
	}
	if _, err := r.cfg.Pool.Exec(ctx, `DELETE FROM signal_sessions WHERE ended_at < now() - make_interval(secs => $1)`, EndedSessionKept.Seconds()); err != nil {
		return err
	}
	_, err := r.cfg.Pool.Exec(ctx, `DELETE FROM cluster_nodes WHERE lease_until < now() - interval '10 minutes'`)
	return err
}

// Node is a node as the registry knows it.
type Node struct {
	ID         string    `json:"id"`
	APIURL     string    `json:"api_url"`
	MediaAddr  string    `json:"media_addr"`
	Load       int       `json:"load"`
	Rooms      int       `json:"rooms"`
	Draining   bool      `json:"draining"`
	Live       bool      `json:"live"`
	StartedAt  time.Time `json:"started_at"`
	LeaseUntil time.Time `json:"lease_until"`
}

// Place returns the node room lives on, placing it first when it has none, or when its
// node is dead or draining: on the live node with the least load. A node that is not
// Settled moves a room only from a node that exited cleanly (Close) or is unknown, not
// from one whose lease merely looks lapsed.
func (r *Registry) Place(ctx context.Context, room string) (Node, error) {
	var id string
	err := r.cfg.Pool.QueryRow(ctx, `WITH cand AS (
			SELECT id FROM cluster_nodes WHERE lease_until > now() AND NOT draining
			ORDER BY load, random() LIMIT 1)
		INSERT INTO cluster_rooms (room, node_id) SELECT $1, id FROM cand
		ON CONFLICT (room) DO UPDATE SET node_id = EXCLUDED.node_id, placed_at = now(),
			generation = cluster_rooms.generation + 1
		WHERE cluster_rooms.node_id <> EXCLUDED.node_id AND NOT EXISTS (SELECT 1 FROM cluster_nodes n
				WHERE n.id = cluster_rooms.node_id AND n.lease_until > now() AND NOT n.draining)
			AND ($2 OR NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.id = cluster_rooms.node_id AND NOT (n.draining AND n.lease_until <= now())))
		RETURNING node_id`, room, r.Settled()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = r.cfg.Pool.QueryRow(ctx, `SELECT node_id FROM cluster_rooms WHERE room = $1`, room).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return Node{}, ErrNoNode
		}
	} else if err == nil {
		// Placed now: its load grows before its next renewal says so, so that a burst of
		// new rooms spreads.
		_, _ = r.cfg.Pool.Exec(ctx, `UPDATE cluster_nodes SET load = load + 1 WHERE id = $1`, id)
	}
	if err != nil {
		return Node{}, fmt.Errorf("%w: %w", ErrNoNode, err)
	}
	if id == r.id {
		return Node{ID: id, APIURL: r.cfg.APIURL, Live: true}, nil
	}
	n, err := r.node(ctx, id)
	if err != nil {
		return Node{}, fmt.Errorf("%w: %w", ErrNoNode, err)
	}
	return n, nil
}

func (r *Registry) node(ctx context.Context, id string) (Node, error) {
	var n Node
	err := r.cfg.Pool.QueryRow(ctx, `SELECT id, api_url, media_addr, load, rooms, draining, lease_until > now(), started_at, lease_until
		FROM cluster_nodes WHERE id = $1`, id).Scan(&n.ID, &n.APIURL, &n.MediaAddr, &n.Load, &n.Rooms, &n.Draining, &n.Live, &n.StartedAt, &n.LeaseUntil)
	return n, err
}

// Drain stops new placements on this node and places its rooms on the other live nodes
// (least loaded first). It returns the rooms it moved; with no other node they stay.
func (r *Registry) Drain(ctx context.Context) ([]string, error) {
	r.draining.Store(true)
	if _, err := r.cfg.Pool.Exec(ctx, `UPDATE cluster_nodes SET draining = true WHERE id = $1`, r.id); err != nil {
		return nil, err
	}
	rows, err := r.cfg.Pool.Query(ctx, `SELECT room FROM cluster_rooms WHERE node_id = $1`, r.id)
	if err != nil {
		return nil, err
	}
	rooms, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var moved []string
	for _, room := range rooms {
		var to string
		err := r.cfg.Pool.QueryRow(ctx, `WITH cand AS (
				SELECT id FROM cluster_nodes WHERE lease_until > now() AND NOT draining AND id <> $2
				ORDER BY load, random() LIMIT 1)
			UPDATE cluster_rooms SET node_id = cand.id, placed_at = now(), generation = generation + 1
			FROM cand WHERE room = $1 AND node_id = $2 RETURNING node_id`, room, r.id).Scan(&to)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return moved, err
		}
		// Its load grows before its next renewal says so, so the next room goes elsewhere.
		if _, err := r.cfg.Pool.Exec(ctx, `UPDATE cluster_nodes SET load = load + 1 WHERE id = $1`, to); err != nil {
			return moved, err
		}
		moved = append(moved, room)
	}
	return moved, nil
}

// Draining reports whether Drain was called.
func (r *Registry) Draining() bool { return r.draining.Load() }

// Placement is where a room lives.
type Placement struct {
	Room       string    `json:"room"`
	Node       string    `json:"node"`
	PlacedAt   time.Time `json:"placed_at"`
	Generation int64     `json:"generation"`
	Sessions   int       `json:"sessions"`
}

// Status is the cluster as the database sees it.
type Status struct {
	Nodes []Node      `json:"nodes"`
	Rooms []Placement `json:"rooms"`
}

// ReadStatus reads the nodes, their leases and the rooms' placements (with the sessions
// recorded in each).
func ReadStatus(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (Status, error) {
	var st Status
	rows, err := q.Query(ctx, `SELECT id, api_url, media_addr, load, rooms, draining, lease_until > now(), started_at, lease_until
		FROM cluster_nodes ORDER BY started_at, id`)
	if err != nil {
		return st, err
	}
	st.Nodes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Node, error) {
		var n Node
		err := row.Scan(&n.ID, &n.APIURL, &n.MediaAddr, &n.Load, &n.Rooms, &n.Draining, &n.Live, &n.StartedAt, &n.LeaseUntil)
		return n, err
	})
	if err != nil {
		return st, err
	}
	rows, err = q.Query(ctx, `SELECT r.room, r.node_id, r.placed_at, r.generation,
			(SELECT count(*) FROM signal_sessions s WHERE s.room = r.room AND s.ended_at IS NULL)
		FROM cluster_rooms r ORDER BY r.room`)
	if err != nil {
		return st, err
	}
	st.Rooms, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Placement, error) {
		var p Placement
		err := row.Scan(&p.Room, &p.Node, &p.PlacedAt, &p.Generation, &p.Sessions)
		return p, err
	})
	return st, err
}
