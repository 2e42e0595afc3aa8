package keyservice_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

func TestCreateJoinChatLeave(t *testing.T) {
	h := newHarness(t, harnessOpts{audit: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.joined(ctx, 0, "bob", client.Config{})
	poll.Until(t, 10*time.Second, "same epoch", func() bool {
		ea, _ := alice.Epoch()
		eb, _ := bob.Epoch()
		return ea == eb && ea == 1
	})
	if !bytes.Equal(alice.EpochAuthenticator(), bob.EpochAuthenticator()) {
		t.Fatal("epoch authenticators differ")
	}
	if err := alice.SendChat(ctx, []byte("hello bob")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-bob.Chats():
		if m.From != "alice" || string(m.Text) != "hello bob" {
			t.Fatalf("bob got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("no chat")
	}
	// Chat is relayed, never stored: no event row carries it.
	var chats int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM ks_events WHERE type = 'chat'`).Scan(&chats); err != nil || chats != 0 {
		t.Fatalf("%d chat rows stored (%v)", chats, err)
	}
	if err := bob.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "alice alone at epoch 2", func() bool {
		e, _ := alice.Epoch()
		return e == 2
	})
}
