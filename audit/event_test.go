package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestNormalizeRejects(t *testing.T) {
	ok := sampleEvent(1)
	for _, c := range []struct {
		field string
		mod   func(*Event)
	}{
		{"Actor", func(e *Event) { e.Actor = "" }},
		{"Action", func(e *Event) { e.Action = "room.teleport" }},
		{"Outcome", func(e *Event) { e.Outcome = "maybe" }},
		{"Target.Kind", func(e *Event) { e.Target.Kind = "planet" }},
		{"Target", func(e *Event) { e.Target = Target{ID: "x"} }},
		{"Room", func(e *Event) { e.Room = "a\x00b" }},
		{"Personal.Name", func(e *Event) { e.Personal.Name = "\xff\xfe" }},
		{"Personal.Text", func(e *Event) { e.Personal.Text = strings.Repeat("x", maxText+1) }},
		{"Details", func(e *Event) {
			e.Details = map[string]string{}
			for i := range maxDetails + 1 {
				e.Details[string(rune('a'+i%26))+strings.Repeat("k", i)] = "v"
			}
		}},
		{"Details key", func(e *Event) { e.Details = map[string]string{"": "v"} }},
		{"Time", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		ev := ok
		ev.Details = map[string]string{"epoch": "1"}
		c.mod(&ev)
		_, err := normalize(&ev, time.Now())
		var fe *FieldError
		if !errors.Is(err, ErrInvalidEvent) || !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, c.field) {
			t.Errorf("%s: err = %v", c.field, err)
		}
	}
	if _, err := normalize(&ok, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestVocabulary(t *testing.T) {
	seen := map[Action]bool{}
	for _, a := range Actions() {
		if !a.Valid() || seen[a] {
			t.Fatalf("%q invalid or repeated", a)
		}
		seen[a] = true
	}
	if Action("room.teleport").Valid() || ActionRoomJoin.FailOpen() || !ActionRoomLeave.FailOpen() {
		t.Fatal("vocabulary or allow-list wrong")
	}
}

// Record fails closed except for the allow-list; invalid events always fail.
func TestRecordFailClosed(t *testing.T) {
	l, err := New(Config{Pool: &pgxpool.Pool{}, SpoolDir: t.TempDir(), Key: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close() // never started: every append fails
	ctx := context.Background()
	join, leave := sampleEvent(1), sampleEvent(1)
	leave.Action = ActionRoomLeave
	if err := l.Record(ctx, join); !errors.Is(err, ErrClosed) {
		t.Fatalf("room.join: %v, want ErrClosed", err)
	}
	if err := l.Record(ctx, leave); err != nil {
		t.Fatalf("room.leave is fail-open: %v", err)
	}
	leave.Actor = ""
	if err := l.Record(ctx, leave); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("invalid room.leave: %v", err)
	}
}

func TestEncodeDetails(t *testing.T) {
	d := map[string]string{"b": "x\"y\\z\n\x01é", "a": "1", "<": ">&"}
	got := encodeDetails(d)
	want := `{"<":">&","a":"1","b":"x\"y\\z\n\u0001é"}`
	want = strings.Replace(want, `\n`, `\u000a`, 1)
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	back, err := decodeDetails(got)
	if err != nil || len(back) != 3 || back["b"] != d["b"] {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func FuzzEncodeDetails(f *testing.F) {
	seeds := [][2]string{{"epoch", "7"}, {"q\"", "\\\x1f"}, {"é", "\u2028"}}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		ev := sampleEvent(0)
		ev.Details = map[string]string{k: v, "fixed": "1"}
		e, err := normalize(&ev, time.Now())
		if err != nil {
			return // rejected input is fine; it must be typed
		}
		if !json.Valid([]byte(e.details)) {
			t.Fatalf("invalid JSON %q", e.details)
		}
		back, err := decodeDetails(e.details)
		if err != nil || back[k] != v || back["fixed"] != "1" {
			t.Fatalf("round trip of %q: %v %v", e.details, back, err)
		}
	})
}
