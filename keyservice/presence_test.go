package keyservice

import (
	"sync"
	"testing"
	"time"

	"github.com/sealroom/sealroom/server/signaling"
)

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) sink(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind.String()+":"+e.Participant.ID+":"+e.Reason)
	}
	return out
}

func TestPresence(t *testing.T) {
	ps := NewPresence()
	t0 := time.Unix(100, 0)
	var a, b, b2 recorder
	roster := ps.Join("r", signaling.Participant{ID: "a", Subject: "alice", JoinedAt: t0}, a.sink)
	if len(roster) != 1 {
		t.Fatalf("roster %v", roster)
	}
	roster = ps.Join("r", signaling.Participant{ID: "b", Subject: "bob", JoinedAt: t0.Add(time.Second)}, b.sink)
	if len(roster) != 2 || roster[0].ID != "a" || roster[1].ID != "b" {
		t.Fatalf("roster %v", roster)
	}
	if _, err := ps.Update("r", "b", true, false); err != nil {
		t.Fatal(err)
	}
	// Bob again from another device: the first connection is replaced.
	ps.Join("r", signaling.Participant{ID: "b2", Subject: "bob", JoinedAt: t0.Add(2 * time.Second)}, b2.sink)
	ps.Leave("r", "a", signaling.ReasonLeft)
	ps.Leave("r", "a", signaling.ReasonLeft) // twice is harmless

	want := []string{"joined:b:", "updated:b:", "left:b:replaced", "joined:b2:"}
	if got := a.kinds(); !equal(got, want) {
		t.Fatalf("alice saw %v, want %v", got, want)
	}
	if got := b.kinds(); !equal(got, []string{"updated:b:", "left:b:replaced"}) {
		t.Fatalf("bob's first connection saw %v", got)
	}
	if got := b2.kinds(); !equal(got, []string{"left:a:left"}) {
		t.Fatalf("bob's second connection saw %v", got)
	}
	if r := ps.Roster("r"); len(r) != 1 || r[0].ID != "b2" {
		t.Fatalf("final roster %v", r)
	}
	if _, err := ps.Update("r", "a", true, true); err != ErrNotInRoom {
		t.Fatalf("update after leave: %v", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
