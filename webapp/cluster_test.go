package webapp_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/cluster"
	"github.com/sealroom/sealroom/cluster/clustertest"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
)

// A cluster of four serve processes on one database, the room placed on w4: two Go
// participants join through w1 and w2 and a browser through w3; each is forwarded to the
// room's node and everyone decrypts everyone. Then w4 is killed (SIGKILL): the room is
// placed on a live node, every session moves there (the page starts a new
// PeerConnection with the same keys), and everyone decrypts everyone again.
func TestBrowserInCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const room = "ward-9"
	dbURL := pgtest.URL(t)
	cl := clustertest.New(t, dbURL)
	var nodes []*clustertest.Node
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		nodes = append(nodes, cl.Start(id))
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The operator's choice, so that the node killed below is nobody's way in.
	if _, err := pool.Exec(ctx, `INSERT INTO cluster_rooms (room, node_id) SELECT $1, id FROM cluster_nodes WHERE id LIKE 'w4~%'`, room); err != nil {
		t.Fatal(err)
	}
	rec, err := client.LoadRecording("../client/testdata/testsrc.ivf", "../client/testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	var bots []*client.Client
	var media []*client.Media
	for i, name := range []string{"alice", "bob"} {
		tok, _, err := cl.Signer.Mint(auth.Grant{Identity: name, Name: name, Room: room, Role: auth.RoleParticipant, CanPublish: true, CanSubscribe: true}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, client.Config{URL: nodes[i].URL, Token: tok})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.WaitJoined(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := c.StartMedia(ctx, client.MediaConfig{Recording: rec, LoopbackOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		bots, media = append(bots, c), append(media, m)
	}
	tok, _, err := cl.Signer.Mint(auth.Grant{Identity: "dr-ada", Name: "Dr Ada", Room: room, Role: auth.RoleHost, CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	page := tab(t, newBrowser(t), nodes[2].URL+"/join#token="+tok)
	pageID := eval[string](t, page, `window.sealroomMe()`)

	everyone := func(since map[string]uint64) bool {
		for i, c := range bots {
			if !brightFrom(t, page, c.ParticipantID()) {
				return false
			}
			st := media[i].Stats()
			for _, from := range []string{pageID, bots[1-i].ParticipantID()} {
				src := st.Sources[from]
				if src.Video == 0 || src.Audio == 0 || src.Video+src.Audio <= since[c.Subject()+from]+10 {
					return false
				}
			}
		}
		return true
	}
	counts := func() map[string]uint64 {
		out := map[string]uint64{}
		for i, c := range bots {
			st := media[i].Stats()
			for from, src := range st.Sources {
				out[c.Subject()+from] = src.Video + src.Audio
			}
		}
		return out
	}
	browserPoll.UntilOr(t, 60*time.Second, "everyone decrypting everyone through w1, w2 and w3", func() bool { return everyone(nil) },
		func() any { return mediaState(t, page) })
	var onNode string
	if err := pool.QueryRow(ctx, `SELECT node_id FROM cluster_rooms WHERE room = $1`, room).Scan(&onNode); err != nil || cluster.NameOf(onNode) != "w4" {
		t.Fatalf("room on %q (%v), want w4", onNode, err)
	}

	since := counts()
	nodes[3].Kill()
	killed := time.Now()
	browserPoll.UntilOr(t, 60*time.Second, "everyone decrypting everyone after the room's node died", func() bool {
		// The page's tiles are new after the move: every bot's video must be bright again.
		return everyone(since)
	}, func() any { return mediaState(t, page) })
	if err := pool.QueryRow(ctx, `SELECT node_id FROM cluster_rooms WHERE room = $1`, room).Scan(&onNode); err != nil || cluster.NameOf(onNode) == "w4" {
		t.Fatalf("room on %q (%v) after w4 died", onNode, err)
	}
	t.Logf("w4 killed: everyone (two Go participants, one Chromium) decrypting everyone again on %s after %v", onNode, time.Since(killed).Round(10*time.Millisecond))
}
