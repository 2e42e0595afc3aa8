package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// readWitness reads the witness file at path and fails the test on any error.
func readWitness(tb testing.TB, path string) []Checkpoint {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w, err := ReadWitness(f)
	if err != nil {
		tb.Fatal(err)
	}
	if len(w.Torn) > 0 {
		tb.Fatalf("torn lines %v", w.Torn)
	}
	return w.Checkpoints
}

func seqs(cps []Checkpoint) []int64 {
	out := make([]int64, len(cps))
	for i := range cps {
		out[i] = cps[i].Seq
	}
	return out
}

func mustVerifyWitness(tb testing.TB, pool *pgxpool.Pool, pub ed25519.PublicKey, cps []Checkpoint) WitnessReport {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := VerifyWitness(ctx, pool, pub, cps)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// rewindTip points audit_tip at row seq and its checkpoint, as an attacker covering a
// truncation would.
const rewindTip = `UPDATE audit_tip SET seq = $1, hash = (SELECT hash FROM audit_events WHERE seq = $1),
	checkpoint_seq = $1, checkpoint_at = (SELECT signed_at FROM audit_checkpoints WHERE seq = $1)`

// The two attacks of the issue, done as a DBA with triggers off: each leaves a database
// that plain Verify accepts, and each is caught against the witness at the first bad
// sequence number.
func TestWitnessCatchesTruncation(t *testing.T) {
	type finding struct {
		kind error
		seq  int64
	}
	cases := []struct {
		name     string
		attack   func(t *testing.T, pool *pgxpool.Pool, key ed25519.PrivateKey, path string)
		firstBad int64
		want     []finding
	}{{
		// Attack 1: the rows after the last signed head are deleted and the tip
		// rewound to it. Before the witness, Close left rows 51..55 unsigned, so this
		// took two statements and passed `audit verify`. Now the tail is signed within
		// CheckpointInterval and at Close (the checkpoint at 55), so the attacker must
		// delete that checkpoint too to get the same state past plain Verify; the
		// witness kept it.
		name: "tail after the last signed head",
		attack: func(t *testing.T, pool *pgxpool.Pool, _ ed25519.PrivateKey, _ string) {
			superExec(t, pool, `DELETE FROM audit_events WHERE seq > 50`)
			superExec(t, pool, `DELETE FROM audit_checkpoints WHERE seq > 50`)
			superExec(t, pool, rewindTip, 50)
		},
		firstBad: 51,
		want: []finding{{ErrWitnessTruncated, 51}, {ErrWitnessTipRewound, 51},
			{ErrWitnessCheckpointDeleted, 55}},
	}, {
		// Attack 2: deeper, with the newest checkpoints deleted too. Plain Verify
		// starts from what the database still holds and accepts it.
		name: "deeper, newest checkpoints deleted",
		attack: func(t *testing.T, pool *pgxpool.Pool, _ ed25519.PrivateKey, _ string) {
			superExec(t, pool, `DELETE FROM audit_events WHERE seq > 30`)
			superExec(t, pool, `DELETE FROM audit_checkpoints WHERE seq > 30`)
			superExec(t, pool, rewindTip, 30)
		},
		firstBad: 31,
		want: []finding{{ErrWitnessTruncated, 31}, {ErrWitnessTipRewound, 31},
			{ErrWitnessCheckpointDeleted, 40}},
	}, {
		// Attack 2, then the server keeps going: rows 41..55 are chained again with
		// other contents and signed again, so the chain is as long as before and the
		// tip is not behind. The rows at the witnessed heads 50 and 55 differ.
		name: "rewound and appended again",
		attack: func(t *testing.T, pool *pgxpool.Pool, key ed25519.PrivateKey, path string) {
			superExec(t, pool, `DELETE FROM audit_events WHERE seq > 40`)
			superExec(t, pool, `DELETE FROM audit_checkpoints WHERE seq > 40`)
			superExec(t, pool, rewindTip, 40)
			l := startLog(t, pool, key, func(c *Config) { c.WitnessPath = path })
			for i := range 15 {
				ev := sampleEvent(i)
				ev.Actor = "mallory"
				if err := l.Append(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		},
		firstBad: 41,
		want:     []finding{{ErrWitnessTruncated, 41}, {ErrWitnessCheckpointDeleted, 50}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			key := testKey(t)
			pub := key.Public().(ed25519.PublicKey)
			path := filepath.Join(t.TempDir(), "witness.jsonl")
			l := startLog(t, pool, key, func(c *Config) { c.WitnessPath = path })
			appendN(t, l, 55)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got := seqs(readWitness(t, path)); !slices.Equal(got, []int64{10, 20, 30, 40, 50, 55}) {
				t.Fatalf("witnessed %v, want every 10 and the tail at Close", got)
			}
			if rep := mustVerifyWitness(t, pool, pub, readWitness(t, path)); !rep.OK() || rep.Verified != 6 {
				t.Fatalf("before the attack: %+v", rep)
			}

			c.attack(t, pool, key, path)

			// The hole: the database alone still verifies.
			if rep := mustVerify(t, pool, pub); !rep.OK {
				t.Fatalf("plain Verify caught it (the attack is not the one described): %+v", rep)
			}
			rep := mustVerifyWitness(t, pool, pub, readWitness(t, path))
			if rep.OK() || rep.FirstBad() != c.firstBad {
				t.Fatalf("FirstBad %d, want %d; %v", rep.FirstBad(), c.firstBad, rep.Err())
			}
			var got []finding
			for _, p := range rep.Problems {
				got = append(got, finding{p.Kind, p.Seq})
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("findings %v, want %v", rep.Problems, c.want)
			}
			err := rep.Err()
			for _, f := range c.want {
				var we *WitnessError
				if !errors.Is(err, f.kind) || !errors.As(err, &we) {
					t.Fatalf("Err() = %v, does not match %v", err, f.kind)
				}
			}
		})
	}
}

// A log that nobody touched verifies against its witness, across restarts that append
// to the same file, with duplicated records (a retried append) and torn lines.
func TestWitnessUntouched(t *testing.T) {
	pool := pgtest.Pool(t)
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "witness.jsonl")
	for range 2 {
		l := startLog(t, pool, key, func(c *Config) { c.WitnessPath = path })
		appendN(t, l, 25)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Witnessed != 3 || st.WitnessFailures != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
	cps := readWitness(t, path)
	if got := seqs(cps); !slices.Equal(got, []int64{10, 20, 25, 35, 45, 50}) {
		t.Fatalf("witnessed %v", got)
	}
	rep := mustVerifyWitness(t, pool, pub, append(cps, cps[2]))
	if !rep.OK() || rep.Witnessed != 7 || rep.Verified != 7 || rep.Latest.Seq != 50 {
		t.Fatalf("%+v: %v", rep, rep.Err())
	}
	if db := mustVerify(t, pool, pub); db.SignedHead != rep.Latest {
		t.Fatalf("witness latest %+v, database signed head %+v", rep.Latest, db.SignedHead)
	}

	// A crash mid-line leaves a torn tail; the next writer starts a new line.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"v":1,"seq":6`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l := startLog(t, pool, key, func(c *Config) { c.WitnessPath = path })
	appendN(t, l, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := ReadWitness(f)
	if err != nil || !slices.Equal(w.Torn, []int{7}) || len(w.Checkpoints) != 7 {
		t.Fatalf("torn %v, %d records, %v", w.Torn, len(w.Checkpoints), err)
	}
	if rep := mustVerifyWitness(t, pool, pub, w.Checkpoints); !rep.OK() || rep.Latest.Seq != 51 {
		t.Fatalf("%+v: %v", rep, rep.Err())
	}
}

// A witness record that does not verify under the audit key is reported and not used.
func TestWitnessForgedRecord(t *testing.T) {
	pool := pgtest.Pool(t)
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "witness.jsonl")
	l := startLog(t, pool, key, func(c *Config) { c.WitnessPath = path })
	appendN(t, l, 30)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cps := readWitness(t, path)
	// A forged record claiming a longer chain: it would read as truncation if trusted.
	forged := cps[2]
	forged.Seq = 1000
	rep := mustVerifyWitness(t, pool, pub, append(cps, forged))
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != ErrWitnessSignature || rep.FirstBad() != 1000 ||
		rep.Verified != 3 || rep.Latest.Seq != 30 {
		t.Fatalf("%+v: %v", rep, rep.Err())
	}
	// Another key's witness: nothing verifies.
	rep = mustVerifyWitness(t, pool, testKey(t).Public().(ed25519.PublicKey), cps)
	if !errors.Is(rep.Err(), ErrWitnessSignature) || rep.Verified != 0 || rep.FirstBad() != 10 {
		t.Fatalf("%+v: %v", rep, rep.Err())
	}
}

// Rows and partitions removed by retention are not truncation: the checkpoints stay,
// and the expiry record bridges the gap.
func TestWitnessAfterExpiry(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "witness.jsonl")
	var clock atomic.Int64
	clock.Store(time.Date(2019, 1, 15, 12, 0, 0, 0, time.UTC).UnixMicro())
	l := startLog(t, pool, key, func(c *Config) {
		c.WitnessPath = path
		c.Now = func() time.Time { return time.UnixMicro(clock.Load()) }
	})
	appendN(t, l, 15) // 1..15, January 2019
	clock.Store(time.Now().UnixMicro())
	appendN(t, l, 5) // 16..20, now
	if n, err := l.Expire(ctx, Caller{Actor: "admin-1", Role: RoleAdmin}); err != nil || n < 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, pool, pub); !rep.OK || rep.FirstSeq != 16 {
		t.Fatalf("%+v", rep)
	}
	cps := readWitness(t, path)
	if cps[0].Seq > 15 {
		t.Fatalf("no witnessed checkpoint in the expired month: %v", seqs(cps))
	}
	if rep := mustVerifyWitness(t, pool, pub, cps); !rep.OK() {
		t.Fatalf("%+v: %v", rep, rep.Err())
	}
}

// handWriter is a Log's writer driven by hand: no goroutine and no timer, on a clock
// the test moves. Checkpoints it signs wait in the (not running) pump's queue.
type handWriter struct {
	l     *Log
	w     *writer
	clock atomic.Int64
	t0    time.Time
}

func newHandWriter(t *testing.T, pool *pgxpool.Pool) *handWriter {
	t.Helper()
	h := &handWriter{t0: time.Now().Add(time.Hour).Truncate(time.Second)}
	h.at(0)
	l, err := New(Config{Pool: pool, SpoolDir: t.TempDir(), Key: testKey(t), CheckpointEvery: 1000,
		Now: func() time.Time { return time.UnixMicro(h.clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	l.pump = newPump(&memWitness{}, l.log, time.Hour)
	sp, err := openSpool(l.cfg.SpoolDir, l.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.close)
	h.l, h.w = l, newWriter(l, sp)
	return h
}

// at sets the clock to t0+d.
func (h *handWriter) at(d time.Duration) { h.clock.Store(h.t0.Add(d).UnixMicro()) }

// chain commits one event as the writer would for a batch, then does its housekeeping.
func (h *handWriter) chain(t *testing.T) {
	t.Helper()
	e, err := normalize(&Event{Actor: "a", Action: ActionRoomJoin, Outcome: OutcomeSuccess}, h.l.now())
	if err != nil {
		t.Fatal(err)
	}
	entries := []entry{e}
	if err := h.w.assignIDs(entries); err != nil {
		t.Fatal(err)
	}
	if err := h.w.commit(entries, false, nil); err != nil {
		t.Fatal(err)
	}
	h.w.housekeeping()
}

// witnessed returns the sequence numbers of the checkpoints queued for the witness.
func (h *handWriter) witnessed() []int64 {
	h.l.pump.mu.Lock()
	defer h.l.pump.mu.Unlock()
	return seqs(h.l.pump.pending)
}

// While events flow, a checkpoint is signed (and handed to the witness) once
// CheckpointInterval has passed since the last one, whatever the count; when they stop,
// the tick signs the tail within one interval.
func TestCheckpointCadence(t *testing.T) {
	h := newHandWriter(t, pgtest.Pool(t))
	if h.l.cfg.CheckpointInterval != 10*time.Second {
		t.Fatalf("default interval %s, want 10s", h.l.cfg.CheckpointInterval)
	}
	h.chain(t) // seq 1: signed, the first checkpoint since the migration an hour "ago"
	h.at(4 * time.Second)
	h.chain(t) // 2
	h.at(9 * time.Second)
	h.chain(t) // 3: within the interval of the checkpoint at 1
	if got := h.witnessed(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("before 10 s: %v", got)
	}
	h.at(10 * time.Second)
	h.chain(t) // 4: signed
	h.at(15 * time.Second)
	h.chain(t) // 5
	h.at(20 * time.Second)
	h.chain(t) // 6: signed
	if got := h.witnessed(); !slices.Equal(got, []int64{1, 4, 6}) {
		t.Fatalf("events flowing: %v, want [1 4 6]", got)
	}
	h.at(21 * time.Second)
	h.chain(t) // 7, then events stop
	h.at(29 * time.Second)
	h.w.housekeeping()
	if got := h.witnessed(); !slices.Equal(got, []int64{1, 4, 6}) {
		t.Fatalf("before the tick: %v", got)
	}
	h.at(30 * time.Second)
	h.w.housekeeping() // the tick signs 7
	h.at(40 * time.Second)
	h.w.housekeeping() // nothing unsigned: no checkpoint
	if got := h.witnessed(); !slices.Equal(got, []int64{1, 4, 6, 7}) {
		t.Fatalf("idle: %v, want [1 4 6 7]", got)
	}
	h.l.pump.mu.Lock()
	at := h.l.pump.pending[1].SignedAt
	h.l.pump.mu.Unlock()
	if !at.Equal(h.t0.Add(10 * time.Second)) {
		t.Fatalf("checkpoint at 4 signed at %v", at)
	}
}

// memWitness records appends; the first fail calls fail, and failed (when not nil) is
// closed at the first failure.
type memWitness struct {
	mu     sync.Mutex
	fail   int
	failed chan struct{}
	got    []Checkpoint
}

func (m *memWitness) Append(cps []Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		if m.failed != nil {
			close(m.failed)
			m.failed = nil
		}
		return errors.New("witness unreachable")
	}
	m.got = append(m.got, cps...)
	return nil
}

// A failing witness blocks nothing: events are acknowledged, checkpoints wait and are
// delivered in order once it answers (at the latest at Close).
func TestWitnessFailureRetried(t *testing.T) {
	pool := pgtest.Pool(t)
	key := testKey(t)
	failed := make(chan struct{})
	sink := &memWitness{fail: 1 << 30, failed: failed}
	l := startLog(t, pool, key, func(c *Config) { c.witness = sink })
	appendN(t, l, 35)
	<-failed // the pump tried the checkpoint at 10 at least once
	sink.mu.Lock()
	sink.fail = 0
	sink.mu.Unlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := seqs(sink.got); !slices.Equal(got, []int64{10, 20, 30, 35}) {
		t.Fatalf("witnessed %v", got)
	}
	st := l.Stats()
	if st.Committed != 35 || st.Witnessed != 4 || st.WitnessFailures == 0 || st.WitnessDropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	if rep := mustVerifyWitness(t, pool, key.Public().(ed25519.PublicKey), sink.got); !rep.OK() {
		t.Fatalf("%v", rep.Err())
	}
}

// The limit, pinned: rows chained after the newest witnessed checkpoint and removed
// before the next one is signed leave no trace in the witness. The window is at most
// about one CheckpointInterval (10 s by default) of events; README "Witness".
func TestWitnessWindow(t *testing.T) {
	pool := pgtest.Pool(t)
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "witness.jsonl")
	l := startLog(t, pool, key, func(c *Config) {
		c.WitnessPath = path
		c.CheckpointInterval = time.Hour
	})
	appendN(t, l, 55) // 51..55 not signed yet
	superExec(t, pool, `DELETE FROM audit_events WHERE seq > 50`)
	superExec(t, pool, rewindTip, 50)
	if err := l.Close(); err != nil { // nothing left to sign at Close
		t.Fatal(err)
	}
	if rep := mustVerify(t, pool, pub); !rep.OK {
		t.Fatalf("%+v", rep)
	}
	if rep := mustVerifyWitness(t, pool, pub, readWitness(t, path)); !rep.OK() || rep.Latest.Seq != 50 {
		t.Fatalf("%+v: %v", rep, rep.Err())
	}
}

func TestReadWitness(t *testing.T) {
	c := Checkpoint{Seq: 7, SignedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
		Signature: make([]byte, ed25519.SignatureSize)}
	c.Head[0], c.KeyID[7], c.Signature[63] = 0xab, 0x01, 0xff
	good := string(appendWitnessLine(nil, &c))
	w, err := ReadWitness(strings.NewReader("\n" + good + good + `{"v":1,"se` + "\n" + good))
	if err != nil || len(w.Checkpoints) != 3 || !slices.Equal(w.Torn, []int{4}) || !w.Checkpoints[0].equal(&c) {
		t.Fatalf("%+v, %v", w, err)
	}
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(good, `"v":1`, `"v":1,"x":2`, 1),
		"uppercase hex": strings.Replace(good, `"head":"ab`, `"head":"AB`, 1),
		"short head":    strings.Replace(good, `"head":"ab`, `"head":"`, 1),
		"no seq":        strings.Replace(good, `"seq":7,`, ``, 1),
		"zero seq":      strings.Replace(good, `"seq":7`, `"seq":0`, 1),
		"version 2":     strings.Replace(good, `"v":1`, `"v":2`, 1),
		"milliseconds":  strings.Replace(good, `.123456Z`, `.123Z`, 1),
		"offset":        strings.Replace(good, `12:00:00.123456Z`, `13:00:00.123456+01:00`, 1),
		"two objects":   strings.TrimSuffix(good, "\n") + "{}\n",
		"null":          "null\n",
		"array":         "[1]\n",
	} {
		_, err := ReadWitness(strings.NewReader(good + bad))
		var le *WitnessLineError
		if !errors.Is(err, ErrBadWitnessLine) || !errors.As(err, &le) || le.Line != 2 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadWitness(strings.NewReader(strings.Repeat("x", 2*maxWitnessLine))); !errors.Is(err, ErrBadWitnessLine) {
		t.Errorf("overlong line: %v", err)
	}
}

// Any input: no panic; whatever parses re-encodes to a line that parses to the same
// record, byte for byte the canonical form.
func FuzzWitnessLine(f *testing.F) {
	c := Checkpoint{Seq: 1 << 40, SignedAt: time.Date(2026, 3, 1, 12, 0, 0, 999999000, time.UTC),
		Signature: make([]byte, ed25519.SignatureSize)}
	c.Head[31], c.KeyID[0] = 0x10, 0xfe
	good := appendWitnessLine(nil, &c)
	seeds := []string{
		string(good),
		strings.TrimSuffix(string(good), "\n"),
		string(good[:len(good)/2]),
		`{"v":1,"seq":1,"head":"","signed_at":"","key_id":"","signature":""}`,
		`{"v":1,"seq":-1}`,
		`{"seq":1e3}`,
		`null`, `[]`, `"x"`, ``, "{}\x00",
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := parseWitnessLine(line)
		if err != nil {
			return
		}
		enc := appendWitnessLine(nil, &c)
		c2, err := parseWitnessLine(enc[:len(enc)-1])
		if err != nil {
			t.Fatalf("re-encoded record does not parse: %v\n%s", err, enc)
		}
		if !c2.equal(&c) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", c, c2)
		}
		if enc2 := appendWitnessLine(nil, &c2); string(enc2) != string(enc) {
			t.Fatalf("encoding not canonical:\n%s%s", enc, enc2)
		}
	})
}
