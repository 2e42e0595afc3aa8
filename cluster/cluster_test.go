package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/cluster"
	"github.com/sealroom/sealroom/cluster/clustertest"
	"github.com/sealroom/sealroom/migrations/localpg"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest/netcut"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

const room = "ward-7"

// bot is one Go participant publishing synthetic media through the cluster's balancer.
type bot struct {
	name string
	c    *client.Client
	m    *client.Media
}

func join(t *testing.T, ctx context.Context, cl *clustertest.Cluster, url, name string) *bot {
	t.Helper()
	c := member(t, ctx, cl, url, name, 0)
	m, err := c.StartMedia(ctx, client.MediaConfig{LoopbackOnly: true})
	if err != nil {
		t.Fatalf("%s: media: %v", name, err)
	}
	return &bot{name: name, c: c, m: m}
}

// member dials the room as name through url (resumeWithin as client.Config's) and waits
// until it is in the group; its log goes to the test's.
func member(t *testing.T, ctx context.Context, cl *clustertest.Cluster, url, name string, resumeWithin time.Duration) *client.Client {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("bot", name)
	c, err := client.Dial(ctx, client.Config{URL: url, Token: cl.Token(t, name, room, auth.RoleParticipant), Log: log, ResumeWithin: resumeWithin})
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WaitJoined(ctx); err != nil {
		t.Fatalf("%s: join: %v", name, err)
	}
	return c
}

// testWriter sends the bots' logs to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// decrypted is how many frames b decrypted from each other bot.
func (b *bot) decrypted(others []*bot) map[string]uint64 {
	st := b.m.Stats()
	out := map[string]uint64{}
	for _, o := range others {
		if o == b {
			continue
		}
		src := st.Sources[o.c.ParticipantID()]
		out[o.name] = src.Video + src.Audio
	}
	return out
}

// everyoneDecryptsEveryone reports whether every bot decrypted both video and audio of
// every other since the counts in since (nil: ever).
func everyoneDecryptsEveryone(bots []*bot, since map[string]map[string]uint64) bool {
	for _, b := range bots {
		st := b.m.Stats()
		for _, o := range bots {
			if o == b {
				continue
			}
			src := st.Sources[o.c.ParticipantID()]
			if src.Video == 0 || src.Audio == 0 {
				return false
			}
			if since != nil && src.Video+src.Audio <= since[b.name][o.name]+10 {
				return false
			}
		}
	}
	return true
}

func snapshot(bots []*bot) map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	for _, b := range bots {
		out[b.name] = b.decrypted(bots)
	}
	return out
}

func owner(t *testing.T, ctx context.Context, pool *pgxpool.Pool) string {
	t.Helper()
	var id string
	if err := pool.QueryRow(ctx, `SELECT node_id FROM cluster_rooms WHERE room = $1`, room).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return cluster.NameOf(id) // the name clustertest started it under
}

func epochs(bots []*bot) []uint64 {
	var out []uint64
	for _, b := range bots {
		e, _ := b.c.Epoch()
		out = append(out, e)
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Three nodes on one database: participants joining one room through different nodes
// all land on the room's node and decrypt each other; then the room's node is killed
// (SIGKILL) five times mid-meeting, and each time every participant decrypts media
// again, through the room's new node, in the same MLS group (epochs only grow). A
// participant who does not come back after a kill leaves the group once the grace has
// passed, and the room does not wedge.
func TestClusterFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dbURL := pgtest.URL(t)
	cl := clustertest.New(t, dbURL)
	cl.Args = []string{"--session-grace", "15s"}
	for _, id := range []string{"n1", "n2", "n3"} {
		cl.Start(id)
	}
	lb := cl.Balancer()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// Through different nodes: the balancer hands each new connection to the next node
	// in turn, so alice, bob and carol come in through n1, n2 and n3; the room lives on
	// one of them and the others forward. Resumes go through the balancer too.
	var bots []*bot
	for _, name := range []string{"alice", "bob", "carol"} {
		bots = append(bots, join(t, ctx, cl, lb.URL(), name))
	}
	poll.Until(t, 30*time.Second, "everyone decrypting everyone through three nodes", func() bool {
		return everyoneDecryptsEveryone(bots, nil)
	})
	st, err := cluster.ReadStatus(ctx, pool)
	if err != nil || len(st.Nodes) != 3 || len(st.Rooms) != 1 {
		t.Fatalf("cluster status: %+v, %v", st, err)
	}
	t.Logf("room %s on %s; nodes %d", room, st.Rooms[0].Node, len(st.Nodes))

	var outages []time.Duration
	next := 4
	for kill := range 5 {
		before := epochs(bots)
		victim := owner(t, ctx, pool)
		since := snapshot(bots)
		cl.Node(victim).Kill()
		killed := time.Now()
		// A replacement keeps three nodes, as an orchestrator would.
		cl.Start(fmt.Sprintf("n%d", next))
		next++
		poll.Until(t, 60*time.Second, fmt.Sprintf("kill %d: everyone decrypting everyone again", kill+1), func() bool {
			return everyoneDecryptsEveryone(bots, since)
		})
		outages = append(outages, time.Since(killed))
		after := epochs(bots)
		for i := range bots {
			if after[i] < before[i] {
				t.Fatalf("kill %d: %s went from epoch %d back to %d", kill+1, bots[i].name, before[i], after[i])
			}
		}
		now := owner(t, ctx, pool)
		if now == victim {
			t.Fatalf("kill %d: the room is still placed on the dead node %s", kill+1, victim)
		}
		// The group goes on under the room's new node: a member's update commits, and
		// everyone follows to the next epoch.
		if err := bots[kill%len(bots)].c.Update(ctx); err != nil {
			t.Fatalf("kill %d: update after the move: %v", kill+1, err)
		}
		poll.Until(t, 20*time.Second, fmt.Sprintf("kill %d: everyone in the epoch after the update", kill+1), func() bool {
			e := epochs(bots)
			return e[0] == e[1] && e[1] == e[2] && e[0] == after[0]+1
		})
		t.Logf("kill %d of %s: media back after %v; room now on %s; epochs %v -> %v, then an update to %d", kill+1, victim, outages[kill].Round(10*time.Millisecond), now, before, after, after[0]+1)
	}
	t.Logf("outage after kill -9 of the room's node, %d kills: p50 %v, p99 %v", len(outages),
		percentile(outages, 0.5).Round(10*time.Millisecond), percentile(outages, 0.99).Round(10*time.Millisecond))

	// dave joins, then his node dies and he never comes back: once the grace has passed
	// his leaf is gone from the group and the others are in one epoch again.
	dave, err := client.Dial(ctx, client.Config{URL: lb.URL(), Token: cl.Token(t, "dave", room, auth.RoleParticipant), ResumeWithin: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer dave.Close()
	if err := dave.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	daveIn := func() bool {
		var roster json.RawMessage
		if err := pool.QueryRow(ctx, `SELECT roster FROM ks_rooms WHERE room = $1`, room).Scan(&roster); err != nil {
			t.Fatal(err)
		}
		var r map[string]struct{ Sub string }
		if err := json.Unmarshal(roster, &r); err != nil {
			t.Fatal(err)
		}
		for _, e := range r {
			if e.Sub == "dave" {
				return true
			}
		}
		return false
	}
	poll.Until(t, 30*time.Second, "dave in the group", daveIn)
	before := epochs(bots)
	cl.Node(owner(t, ctx, pool)).Kill()
	cl.Start(fmt.Sprintf("n%d", next))
	poll.Until(t, 90*time.Second, "dave's leaf removed after the grace, the others in one epoch", func() bool {
		if daveIn() {
			return false
		}
		e := epochs(bots)
		return e[0] == e[1] && e[1] == e[2] && e[0] > before[0]
	})
	since := snapshot(bots)
	poll.Until(t, 30*time.Second, "everyone decrypting everyone after dave left", func() bool {
		return everyoneDecryptsEveryone(bots, since)
	})
}

// A rolling restart: each node in turn gets SIGTERM (it drains: its rooms move, their
// clients resume on the room's new node) and a new process takes its place. The meeting
// never ends; the longest gap in decrypted frames per participant is reported.
func TestClusterRollingRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dbURL := pgtest.URL(t)
	cl := clustertest.New(t, dbURL)
	for _, id := range []string{"a1", "b1", "c1"} {
		cl.Start(id)
	}
	lb := cl.Balancer()
	var bots []*bot
	for _, name := range []string{"alice", "bob", "carol"} {
		bots = append(bots, join(t, ctx, cl, lb.URL(), name))
	}
	poll.Until(t, 30*time.Second, "everyone decrypting everyone", func() bool { return everyoneDecryptsEveryone(bots, nil) })

	// The gap watcher samples each bot's decrypted count; the longest time without a new
	// frame from every other participant is the gap.
	gaps := map[string]time.Duration{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, b := range bots {
		wg.Go(func() {
			last := b.decrypted(bots)
			lastAt := map[string]time.Time{}
			for n := range last {
				lastAt[n] = time.Now()
			}
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				now := b.decrypted(bots)
				for n, v := range now {
					if v > last[n] {
						last[n], lastAt[n] = v, time.Now()
					}
					mu.Lock()
					gaps[b.name] = max(gaps[b.name], time.Since(lastAt[n]))
					mu.Unlock()
				}
			}
		})
	}
	for i, id := range []string{"a1", "b1", "c1"} {
		if err := cl.Node(id).Term(); err != nil {
			t.Fatalf("SIGTERM %s: %v", id, err)
		}
		cl.Start(fmt.Sprintf("%c2", 'a'+i))
		since := snapshot(bots)
		poll.Until(t, 60*time.Second, "everyone decrypting everyone after restarting "+id, func() bool {
			return everyoneDecryptsEveryone(bots, since)
		})
	}
	close(stop)
	wg.Wait()
	for _, b := range bots {
		select {
		case <-b.c.Done():
			t.Fatalf("%s: the meeting ended for it", b.name)
		default:
		}
		t.Logf("%s: longest gap in decrypted frames over the rolling restart: %v", b.name, gaps[b.name].Round(10*time.Millisecond))
	}
}

// Postgres stops for 30 s under a running meeting on two nodes: media keeps flowing,
// a join fails with a clear retryable error, a session resumed meanwhile is audited
// (spooled, then written), and the cluster recovers by itself: the room stays where it
// was, and a join succeeds again.
func TestClusterSurvivesPostgresOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pg, err := localpg.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dbURL, err := pg.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	cl := clustertest.New(t, dbURL)
	for _, id := range []string{"p1", "p2"} {
		cl.Start(id)
	}
	lb := cl.Balancer()
	bots := []*bot{join(t, ctx, cl, lb.URL(), "alice"), join(t, ctx, cl, lb.URL(), "bob")}
	poll.Until(t, 30*time.Second, "everyone decrypting everyone", func() bool { return everyoneDecryptsEveryone(bots, nil) })
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	home := owner(t, ctx, pool)
	before := epochs(bots)
	pool.Close()

	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// A join is refused, in words a client can act on.
	_, err = client.Dial(ctx, client.Config{URL: lb.URL(), Token: cl.Token(t, "carol", room, auth.RoleParticipant)})
	var se *client.ServerError
	if !errors.As(err, &se) || !se.Retryable() {
		t.Fatalf("a join while Postgres is down: %v; want a retryable refusal", err)
	}
	t.Logf("join while Postgres is down: %v", err)
	// The clients' network blips: they resume on the room's node, which holds their
	// sessions and audits the resumes into its spool.
	lb.Cut()
	poll.Until(t, 25*time.Second, "alice and bob resumed while Postgres is down", func() bool {
		return bots[0].c.Resumes() == 1 && bots[1].c.Resumes() == 1
	})
	// Media keeps flowing through the outage: checked every 5 s for 30 s.
	for time.Since(down) < 30*time.Second {
		since := snapshot(bots)
		poll.Until(t, 5*time.Second, "media flowing while Postgres is down", func() bool { return everyoneDecryptsEveryone(bots, since) })
		time.Sleep(5*time.Second - time.Since(down)%(5*time.Second)) // the outage lasts 30 s: the scenario, not a wait
	}
	if _, err := pg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	pool, err = pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	poll.Until(t, 30*time.Second, "both nodes' leases renewed", func() bool {
		st, err := cluster.ReadStatus(ctx, pool)
		if err != nil || len(st.Nodes) != 2 {
			return false
		}
		for _, n := range st.Nodes {
			if !n.Live {
				return false
			}
		}
		return true
	})
	poll.Until(t, 30*time.Second, "the resume during the outage in the audit log", func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'auth.session_resumed' AND outcome = 'success'`).Scan(&n)
		return n >= 1
	})
	if now := owner(t, ctx, pool); now != home {
		t.Fatalf("the room moved from %s to %s over the outage", home, now)
	}
	carol, err := client.Dial(ctx, client.Config{URL: lb.URL(), Token: cl.Token(t, "carol", room, auth.RoleParticipant)})
	if err != nil {
		t.Fatalf("a join after the outage: %v", err)
	}
	defer carol.Close()
	if err := carol.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	after := epochs(bots)
	for i := range bots {
		if after[i] < before[i] {
			t.Fatalf("%s: epoch %d -> %d", bots[i].name, before[i], after[i])
		}
	}
	since := snapshot(bots)
	poll.Until(t, 30*time.Second, "media after the outage", func() bool { return everyoneDecryptsEveryone(bots, since) })
}

// The room's node stalls (SIGSTOP) for longer than its lease but shorter than the grace,
// as a VM pause would: the others see its lease lapse, yet once it runs again it renews,
// its members are its members still (nobody removed, no commit), and media flows on.
func TestClusterNodeStall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dbURL := pgtest.URL(t)
	cl := clustertest.New(t, dbURL)
	const grace = 8 * time.Second
	cl.Args = []string{"--session-grace", grace.String()}
	for _, id := range []string{"s1", "s2", "s3"} {
		cl.Start(id)
	}
	lb := cl.Balancer()
	var bots []*bot
	for _, name := range []string{"alice", "bob"} {
		bots = append(bots, join(t, ctx, cl, lb.URL(), name))
	}
	poll.Until(t, 30*time.Second, "everyone decrypting everyone", func() bool { return everyoneDecryptsEveryone(bots, nil) })
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	home := owner(t, ctx, pool)
	before := epochs(bots)
	node := cl.Node(home)
	node.Pause()
	stalled := time.Now()
	poll.Until(t, 20*time.Second, "the stalled node's lease lapsed", func() bool {
		st, err := cluster.ReadStatus(ctx, pool)
		if err != nil {
			return false
		}
		for _, n := range st.Nodes {
			if cluster.NameOf(n.ID) == home {
				return !n.Live
			}
		}
		return false
	})
	time.Sleep(time.Until(stalled.Add(5 * time.Second))) // the stall lasts 5 s: the scenario, not a wait
	node.Resume()
	// Past the grace as counted from the lease's lapse, nothing may have been removed.
	time.Sleep(time.Until(stalled.Add(grace + 6*time.Second))) // the window in which a removal would happen
	var members int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM jsonb_object_keys(roster)) FROM ks_rooms WHERE room = $1`, room).Scan(&members); err != nil {
		t.Fatal(err)
	}
	if members != len(bots) {
		t.Fatalf("after the stall the group has %d members, want %d", members, len(bots))
	}
	if after := epochs(bots); !slices.Equal(after, before) {
		t.Fatalf("epochs %v -> %v: the group changed over a stall", before, after)
	}
	if now := owner(t, ctx, pool); now != home {
		t.Fatalf("the room moved from %s to %s over a stall nobody resumed through", home, now)
	}
	since := snapshot(bots)
	poll.Until(t, 20*time.Second, "media after the stall", func() bool { return everyoneDecryptsEveryone(bots, since) })
}

// A stale connection after the room moved: bob's network drops, bob goes on from another
// device (the newer connection replaces the dropped session), then the room's node dies
// and the room moves; the newer connection resumes on the new node. When the first
// connection's network returns, its resume reaches a node that never held its session.
// The session's record says it ended and the resume proves it was its client, while bob
// is up in the room from the other device: it is told 4409 (ErrReplaced), as the node
// that held it would have said, instead of joining anew and taking the seat back.
func TestClusterStaleSessionAfterMove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dbURL := pgtest.URL(t)
	cl := clustertest.New(t, dbURL)
	cl.Args = []string{"--session-grace", "15s"}
	cl.Start("n1")
	cl.Start("n2")
	lb := cl.Balancer()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	alice := member(t, ctx, cl, lb.URL(), "alice", 0)
	proxy := netcut.New(t, strings.TrimPrefix(lb.URL(), "http://"))
	old := member(t, ctx, cl, "http://"+proxy.Addr(), "bob", 3*time.Minute)
	proxy.Cut()
	// bob again, on another device (the Go client does not replace its own earlier leaf:
	// the server removes it and adds this one after the resync window).
	other := member(t, ctx, cl, lb.URL(), "bob", 0)
	victim := owner(t, ctx, pool)
	cl.Node(victim).Kill()
	cl.Start("n3")
	poll.Until(t, 60*time.Second, "bob's newer connection resumed on the room's new node", func() bool {
		return other.Resumes() >= 1 && owner(t, ctx, pool) != victim
	})
	proxy.Restore()
	select {
	case <-old.Done():
	case <-ctx.Done():
		t.Fatal("the stale connection did not end")
	}
	if err := old.Err(); !errors.Is(err, client.ErrReplaced) {
		t.Fatalf("the stale connection ended with %v, want ErrReplaced", err)
	}
	poll.Until(t, 30*time.Second, "bob once in the group, from the newer connection", func() bool {
		_, in := other.Epoch()
		return in && slices.Equal(alice.Members(), other.Members()) && slices.Index(alice.Members(), "bob") >= 0 &&
			len(slices.DeleteFunc(slices.Clone(alice.Members()), func(m string) bool { return m != "bob" })) == 1
	})
	select {
	case <-other.Done():
		t.Fatalf("the newer connection ended: %v", other.Err())
	default:
	}
}
