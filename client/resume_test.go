package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/servertest"
	"github.com/sealroom/sealroom/server/servertest/netcut"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// The network between a participant and the server drops, ten times: each time the
// client resumes its session by itself (same participant, same MLS leaf, no Remove or
// Add), and gets, in order, what the room sent meanwhile (a chat, and a commit it applies).
func TestClientResumesAfterNetworkCut(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := f.dial(t, "alice")
	proxy := netcut.New(t, f.url[len("http://"):])
	bob := f.dialConfig(t, "bob", client.Config{URL: "http://" + proxy.Addr()})
	inOneEpoch(t, alice, bob)
	id := bob.ParticipantID()
	const offline = time.Second
	var back []time.Duration
	for i := range 10 {
		before, _ := alice.Epoch()
		proxy.Cut()
		// The room goes on while bob is away: alice says something and updates her keys.
		text := []byte("while you were away " + string(rune('0'+i)))
		if err := alice.SendChat(ctx, text); err != nil {
			t.Fatal(err)
		}
		if err := alice.Update(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(offline) // the network is down this long: the scenario, not a wait for an event
		proxy.Restore()
		restored := time.Now()
		poll.Until(t, 30*time.Second, "bob to resume and apply alice's update", func() bool {
			e, in := bob.Epoch()
			return in && e == before+1 && bob.Resumes() == int64(i+1)
		})
		back = append(back, time.Since(restored))
		select {
		case c := <-bob.Chats():
			if string(c.Text) != string(text) || c.From != "alice" {
				t.Fatalf("cut %d: bob got %q from %s", i+1, c.Text, c.From)
			}
		case <-ctx.Done():
			t.Fatalf("cut %d: the chat sent while bob was away never arrived", i+1)
		}
		if bob.ParticipantID() != id {
			t.Fatalf("cut %d: bob came back as %s, was %s", i+1, bob.ParticipantID(), id)
		}
		if e, _ := alice.Epoch(); e != before+1 {
			t.Fatalf("cut %d: the room moved %d epochs (a Remove and Add?), want exactly alice's update", i+1, e-before)
		}
	}
	if n := count(alice.Members(), "bob"); n != 1 {
		t.Fatalf("the group holds bob %d times", n)
	}
	slices.Sort(back)
	t.Logf("network back to session resumed and caught up, over %d cuts of %v: p50 %v, p99 %v",
		len(back), offline, back[len(back)/2].Round(time.Millisecond), back[len(back)-1].Round(time.Millisecond))
}

// The same participant joins again elsewhere while bob's network is down (another
// device): when bob's network returns, its resume is told the session was replaced and the
// client ends with ErrReplaced, not ErrSessionLost (after which a caller would dial anew
// and take the seat back). The newer connection keeps the seat, until bob joins once more
// while it is up: it ends with ErrReplaced too.
func TestClientResumeOfReplacedSession(t *testing.T) {
	f := newFixture(t)
	alice := f.dial(t, "alice")
	proxy := netcut.New(t, f.url[len("http://"):])
	bob := f.dialConfig(t, "bob", client.Config{URL: "http://" + proxy.Addr(), ResumeWithin: time.Minute})
	inOneEpoch(t, alice, bob)
	proxy.Cut()
	// bob again, on another device. The Go client does not replace its own earlier leaf
	// (resync): the server removes it and adds this one once the resync window (10 s)
	// has passed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other, err := client.Dial(ctx, client.Config{URL: f.url, Token: f.token(t, "bob")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	if err := other.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.Restore()
	select {
	case <-bob.Done():
	case <-time.After(time.Minute):
		t.Fatal("the replaced client did not end")
	}
	if err := bob.Err(); !errors.Is(err, client.ErrReplaced) {
		t.Fatalf("the replaced client ended with %v, want ErrReplaced", err)
	}
	if n := count(alice.Members(), "bob"); n != 1 {
		t.Fatalf("the group holds bob %d times", n)
	}
	if e, in := other.Epoch(); !in {
		t.Fatalf("the newer connection is out of the group (epoch %d)", e)
	}
	// bob joins once more, while the other connection is up: it ends with ErrReplaced too.
	third, err := client.Dial(ctx, client.Config{URL: f.url, Token: f.token(t, "bob")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = third.Close() })
	select {
	case <-other.Done():
	case <-ctx.Done():
		t.Fatal("the connection replaced while up did not end")
	}
	if err := other.Err(); !errors.Is(err, client.ErrReplaced) {
		t.Fatalf("the connection replaced while up ended with %v, want ErrReplaced", err)
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// A client left to its default resumes for as long as the server keeps its session, as
// ready announces: against a server whose grace is a second, a client whose network
// stays down ends with ErrSessionLost soon after that second, not after the 30 s it
// would try without the announcement (a longer grace, likewise, is not cut short).
func TestClientResumesForTheServersGrace(t *testing.T) {
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t), Server: func(c *server.Config) { c.SessionGrace = time.Second }})
	f := &fixture{url: st.URL, signer: st.Signer}
	alice := f.dial(t, "alice")
	proxy := netcut.New(t, f.url[len("http://"):])
	bob := f.dialConfig(t, "bob", client.Config{URL: "http://" + proxy.Addr()})
	inOneEpoch(t, alice, bob)
	proxy.Cut()
	select {
	case <-bob.Done():
	case <-time.After(15 * time.Second): // half the old fixed window: it must not be what ended it
		t.Fatal("the client still tries to resume a session the server dropped long ago")
	}
	if err := bob.Err(); !errors.Is(err, client.ErrSessionLost) {
		t.Fatalf("the client ended with %v, want ErrSessionLost", err)
	}
}
