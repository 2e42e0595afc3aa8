package client_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

type fixture struct {
	url    string
	signer *auth.Signer
}

// newFixture runs a real server with the Delivery Service on a fresh Postgres database;
// mods may add dependencies (the SFU).
func newFixture(t *testing.T, mods ...func(*server.Deps)) *fixture {
	t.Helper()
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t), Deps: func(d *server.Deps) {
		for _, mod := range mods {
			mod(d)
		}
	}})
	return &fixture{url: st.URL, signer: st.Signer}
}

func (f *fixture) token(t *testing.T, sub string) string {
	t.Helper()
	tok, _, err := f.signer.Mint(auth.Grant{Identity: sub, Room: "r", Role: auth.RoleParticipant, CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Error(err)
	}
	return tok
}

func (f *fixture) dial(t *testing.T, sub string) *client.Client {
	t.Helper()
	return f.dialConfig(t, sub, client.Config{})
}

// dialConfig dials as sub with cfg (the token, and the URL unless cfg names one, such as
// a proxy's, filled in) and waits to join.
func (f *fixture) dialConfig(t *testing.T, sub string, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfg.URL == "" {
		cfg.URL = f.url
	}
	cfg.Token = f.token(t, sub)
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// inOneEpoch waits until a and b hold the same MLS epoch.
func inOneEpoch(t *testing.T, a, b *client.Client) {
	t.Helper()
	poll.Until(t, 10*time.Second, "both in one epoch", func() bool {
		ea, _ := a.Epoch()
		eb, _ := b.Epoch()
		return ea == eb
	})
}

// Two participants share the epoch's SFrame keys: a frame one encrypts under its own KID,
// the other decrypts; chat goes through MLS.
func TestMembersShareKeysAndChat(t *testing.T) {
	f := newFixture(t)
	alice := f.dial(t, "alice")
	bob := f.dial(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ea, _ := alice.Epoch()
		eb, _ := bob.Epoch()
		ka, _ := alice.Keys().Epoch()
		if ea == 1 && eb == 1 && ka == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("members did not reach epoch 1")
		case <-time.After(5 * time.Millisecond):
		}
	}
	frame := []byte("a media frame")
	ct, err := alice.Keys().Encrypt(nil, nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	pt, _, err := bob.Keys().Decrypt(nil, nil, ct)
	if err != nil || !bytes.Equal(pt, frame) {
		t.Fatalf("bob cannot decrypt alice's frame: %v", err)
	}
	if err := bob.SendChat(ctx, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-alice.Chats():
		if m.From != "bob" || string(m.Text) != "hi" {
			t.Fatalf("alice got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("no chat")
	}
}

func TestDialRefusesBadToken(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, client.Config{URL: f.url, Token: "not-a-token"}); err == nil {
		t.Fatal("dial with a bad token succeeded")
	}
}

// With CommitBatch, the designated committer waits for a burst of joins to end and
// admits them with one commit: its epoch advances by exactly one, and both joiners
// start in that epoch.
func TestCommitBatchAdmitsJoinersInOneCommit(t *testing.T) {
	// Three seconds of quiet (at most six in all), ample for a join on a loaded machine,
	// with the server's commit timeout above that, so the duty is not handed to a joiner.
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t),
		KeyService: func(c *keyservice.Config, _ *audit.Log) { c.CommitTimeout = 30 * time.Second }})
	f := &fixture{url: st.URL, signer: st.Signer}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var commits atomic.Int32
	alice := f.dialConfig(t, "alice", client.Config{CommitBatch: 3 * time.Second,
		OnCommit: func(uint64, []byte) { commits.Add(1) }})
	e0, _ := alice.Epoch()

	// Carol comes a moment after bob: without batching, bob's commit would be merged
	// before her proposal arrives, and she would need a second one.
	joiners := make([]*client.Client, 2)
	errs := make(chan error, len(joiners))
	for i, sub := range []string{"bob", "carol"} {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		go func() {
			c, err := client.Dial(ctx, client.Config{URL: f.url, Token: f.token(t, sub)})
			if err == nil {
				joiners[i] = c
				err = c.WaitJoined(ctx)
			}
			errs <- err
		}()
	}
	for range joiners {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range joiners {
		t.Cleanup(func() { _ = c.Close() })
	}
	for {
		ea, _ := alice.Epoch()
		if ea > e0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("alice did not merge her commit")
		case <-time.After(5 * time.Millisecond):
		}
	}
	ea, _ := alice.Epoch()
	eb, _ := joiners[0].Epoch()
	ec, _ := joiners[1].Epoch()
	if ea != e0+1 || eb != e0+1 || ec != e0+1 || commits.Load() != 1 {
		t.Fatalf("epochs alice %d bob %d carol %d after %d commits, want all %d after one commit", ea, eb, ec, commits.Load(), e0+1)
	}
}
