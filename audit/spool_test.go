package audit

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
)

func spoolEntries(t testing.TB, n int) []entry {
	t.Helper()
	out := make([]entry, n)
	for i := range out {
		ev := sampleEvent(i)
		ev.ID = uuid.Must(uuid.NewV7())
		e, err := normalize(&ev, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.givenID = true // what decoding sets
		e.force = false
		out[i] = e
	}
	return out
}

func TestSpoolRoundTripAndDrain(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := openSpool(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	want := spoolEntries(t, 25)
	if err := s.append(want[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.append(want[10:]); err != nil {
		t.Fatal(err)
	}
	if _, err := openSpool(dir, log); !errors.Is(err, ErrSpoolLocked) {
		t.Fatalf("second open: %v, want ErrSpoolLocked", err)
	}
	s.close()

	// Reopening finds everything, in order; draining in pieces empties it.
	s, err = openSpool(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if d := s.depth.Load(); d != int64(len(want)) {
		t.Fatalf("recovered depth %d, want %d", d, len(want))
	}
	var got []entry
	for s.pending() {
		part, next, err := s.read(7)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
		if err := s.advance(next, len(part)); err != nil {
			t.Fatal(err)
		}
		if d := s.depth.Load(); d != int64(len(want)-len(got)) {
			t.Fatalf("depth %d after draining %d of %d", d, len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: got %+v want %+v", i, got[i], want[i])
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "audit.spool")); err != nil || fi.Size() != int64(len(spoolMagic)) {
		t.Fatalf("drained spool not cut back: %v %v", fi.Size(), err)
	}
}

// A write torn by a crash (never acknowledged) is cut off at recovery; what precedes it
// survives, and the cut bytes are kept aside.
func TestSpoolTornTail(t *testing.T) {
	for _, cut := range []int{1, 5, 9, 40} {
		dir := t.TempDir()
		log := slog.New(slog.DiscardHandler)
		s, err := openSpool(dir, log)
		if err != nil {
			t.Fatal(err)
		}
		want := spoolEntries(t, 3)
		if err := s.append(want[:2]); err != nil {
			t.Fatal(err)
		}
		good := s.size
		if err := s.append(want[2:]); err != nil {
			t.Fatal(err)
		}
		s.close()
		path := filepath.Join(dir, "audit.spool")
		if err := os.Truncate(path, good+int64(cut)); err != nil {
			t.Fatal(err)
		}
		s, err = openSpool(dir, log)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := s.read(10)
		s.close()
		if err != nil || len(got) != 2 || got[1] != want[1] {
			t.Fatalf("cut %d: %d entries, %v", cut, len(got), err)
		}
		torn, _ := filepath.Glob(filepath.Join(dir, "audit.spool.torn-*"))
		if len(torn) != 1 {
			t.Fatalf("cut %d: torn tail not kept: %v", cut, torn)
		}
	}
}

// A record whose checksum fails is never decoded, and a payload that decodes must
// still be a valid event.
func TestSpoolRejectsCorruption(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := openSpool(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append(spoolEntries(t, 2)); err != nil {
		t.Fatal(err)
	}
	s.close()
	path := filepath.Join(dir, "audit.spool")
	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 0x40 // inside the second record's payload
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.read(10)
	s.close()
	if err != nil || len(got) != 1 {
		t.Fatalf("after corrupting the last record: %d entries, %v", len(got), err)
	}

	e := spoolEntries(t, 1)[0]
	e.action = "room.teleport"
	if _, err := decodeSpoolPayload(appendSpoolPayload(nil, &e)); !errors.Is(err, ErrBadSpoolRecord) || !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("invalid event in the spool: %v", err)
	}
}

// FuzzSpoolPayload: any bytes either fail with ErrBadSpoolRecord or decode to a valid
// entry that re-encodes to the same bytes.
func FuzzSpoolPayload(f *testing.F) {
	seeds := 0
	for _, e := range spoolEntries(f, 3) {
		f.Add(appendSpoolPayload(nil, &e))
		seeds++
	}
	f.Add([]byte{spoolPayloadVersion})
	f.Add([]byte{})
	seeds += 2
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := decodeSpoolPayload(p)
		if err != nil {
			if !errors.Is(err, ErrBadSpoolRecord) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := e.validate(); err != nil {
			t.Fatalf("decoded an invalid entry: %v", err)
		}
		if again := appendSpoolPayload(nil, &e); !bytes.Equal(again, p) {
			t.Fatalf("round trip changed the payload")
		}
	})
}
