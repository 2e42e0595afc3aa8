package client_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// scrape reads the server's /metrics as Prometheus would: series (name with its
// labels, as written) to value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sealroom_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The metrics of the SFU, the Delivery Service, the audit log and TURN, scraped
// from /metrics before, during and after a two-person meeting, move with it.
func TestMetricsMoveWithAMeeting(t *testing.T) {
	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	turnConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay, err := turn.New(turn.Config{Conn: turnConn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	f := newFixture(t, func(d *server.Deps) {
		d.Media, d.TURN, d.TURNURLs = sfu, relay, []string{"turn:" + turnConn.LocalAddr().String() + "?transport=udp"}
	})

	const (
		participants = "sealroom_sfu_participants"
		tracks       = "sealroom_sfu_tracks"
		forwarded    = "sealroom_sfu_forwarded_packets_total"
		unbound      = `sealroom_sfu_dropped_packets_total{reason="unbound_transport"}`
		accepted     = "sealroom_ds_commits_accepted_total"
		latency      = "sealroom_ds_epoch_commit_latency_seconds_count"
		spool        = "sealroom_audit_spool_events"
		checkpoint   = "sealroom_audit_checkpoint_age_seconds"
		allocations  = "sealroom_turn_allocations_total"
		refused      = "sealroom_turn_permissions_refused_total"
	)
	before := scrape(t, f.url)
	for _, s := range []string{participants, tracks, forwarded, unbound, accepted, latency, spool, allocations, refused,
		"sealroom_sfu_layer_switches_total", `sealroom_sfu_nack_packets_total{result="retransmitted"}`} {
		if _, ok := before[s]; !ok {
			t.Errorf("no series %s before the meeting", s)
		}
	}
	if before[participants] != 0 || before[forwarded] != 0 || before[accepted] != 0 {
		t.Fatalf("a meeting before the meeting: %v", before)
	}

	// Bob's join makes the server propose his Add and ask alice to commit it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cs []*client.Client
	for _, name := range []string{"alice", "bob"} {
		c := f.dial(t, name)
		m, err := c.StartMedia(ctx, client.MediaConfig{LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s: StartMedia: %v", name, err)
		}
		t.Cleanup(m.Close)
		cs = append(cs, c)
	}
	var during map[string]float64
	poll.UntilOr(t, 20*time.Second, "both participants and their tracks forwarded", func() bool {
		during = scrape(t, f.url)
		return during[participants] == 2 && during[tracks] >= 2 && during[forwarded] >= 100
	}, func() any { return during })
	poll.Until(t, 5*time.Second, "bob's Add committed and timed", func() bool {
		during = scrape(t, f.url)
		return during[accepted] >= 1 && during[latency] >= 1
	})

	// RTP from an address bound to no participant: dropped, by reason.
	stray, err := net.DialUDP("udp4", nil, sfu.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	rtp := []byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9}
	poll.Until(t, 5*time.Second, "a stray RTP packet counted as unbound", func() bool {
		_, _ = stray.Write(rtp) // UDP may lose one even on loopback
		return scrape(t, f.url)[unbound] >= 1
	})

	// A relay, and a permission towards a private address the relay policy refuses.
	creds, err := relay.Credentials(turn.Grant{TokenID: "jti-metrics", Subject: "alice", IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tc, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: turnConn.LocalAddr().String(), Conn: pc,
		Username: creds.Username, Password: creds.Password, Realm: "sealroom", RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Listen(); err != nil {
		t.Fatal(err)
	}
	rc, err := tc.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer rc.Close()
	if err := tc.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9}); err == nil {
		t.Fatal("permission to a private peer granted")
	}

	// The meeting ends.
	for _, c := range cs {
		if err := c.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var after map[string]float64
	poll.UntilOr(t, 10*time.Second, "the SFU empty", func() bool {
		after = scrape(t, f.url)
		return after[participants] == 0 && after[tracks] == 0
	}, func() any { return after })
	for _, s := range []string{forwarded, accepted, latency} {
		if after[s] < during[s] {
			t.Errorf("%s went back from %v to %v", s, during[s], after[s])
		}
	}
	// A refused CreatePermission the client resent (its RTO is 100 ms) counts once per
	// copy the server read.
	if after[allocations] != before[allocations]+1 || after[refused] <= before[refused] {
		t.Errorf("TURN: allocations %v -> %v, refused permissions %v -> %v", before[allocations], after[allocations], before[refused], after[refused])
	}
	if age, ok := after[checkpoint]; !ok || age < 0 {
		t.Errorf("audit checkpoint age %v %v after a meeting's audited events", age, ok)
	}
	if after[spool] != 0 {
		t.Errorf("%v audit events spooled with Postgres up", after[spool])
	}
	t.Logf("during the meeting: %d participants, %d tracks, %d packets forwarded, %d commits accepted (%d timed); after: %d TURN allocations, %d permissions refused, checkpoint age %.1f s",
		int(during[participants]), int(during[tracks]), int(during[forwarded]), int(during[accepted]), int(during[latency]),
		int(after[allocations]), int(after[refused]), after[checkpoint])
}
