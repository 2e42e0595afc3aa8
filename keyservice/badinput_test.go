package keyservice_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/mls"
)

// TestBadInput sends what a broken or malicious member might: each is refused with its
// own code, changes nothing stored, and leaves a denied audit event.
func TestBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{audit: true})
	alice := h.raw(t, 0, "alice", "participant")
	alice.create()
	countKPs := func() int {
		var n int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM ks_keypackages`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	epochIs := func(want uint64) {
		t.Helper()
		if e, _, _, _ := h.dbState(); e != want {
			t.Fatalf("stored epoch %d, want %d", e, want)
		}
	}

	// KeyPackages.
	kp := alice.keyPackage("alice")
	if code := alice.request("keypackages", map[string][][]byte{"keypackages": {kp}}); code != "" {
		t.Fatalf("upload: %s", code)
	}
	for _, c := range []struct {
		name, want string
		data       string
	}{
		{"reused", "keypackage_reused", `{"keypackages":["` + b64(kp) + `"]}`},
		{"other identity", "identity_mismatch", `{"keypackages":["` + b64(alice.keyPackage("mallory")) + `"]}`},
		{"not base64", "bad_message", `{"keypackages":["!!"]}`},
		{"not a KeyPackage", "bad_message", `{"keypackages":["AAEC"]}`},
		{"unknown field", "bad_message", `{"keypackages":[],"x":1}`},
		{"not JSON", "bad_message", `"x"`},
	} {
		if got := alice.requestRaw("keypackages", c.data); got != c.want {
			t.Errorf("keypackages %s: code %q, want %q", c.name, got, c.want)
		}
	}
	now := time.Now()
	for _, c := range []struct {
		name   string
		nb, na time.Time
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-time.Hour)},
		{"not yet valid", now.Add(time.Hour), now.Add(48 * time.Hour)},
		{"lives too long", now.Add(-time.Hour), now.Add(90 * 24 * time.Hour)},
	} {
		kp := alice.keyPackageLife("alice", c.nb, c.na)
		if got := alice.request("keypackages", map[string][][]byte{"keypackages": {kp}}); got != "invalid_keypackage" {
			t.Errorf("KeyPackage %s: code %q", c.name, got)
		}
	}
	batch := func(n int) [][]byte {
		var out [][]byte
		for range n {
			out = append(out, alice.keyPackage("alice"))
		}
		return out
	}
	if got := alice.request("keypackages", map[string][][]byte{"keypackages": batch(17)}); got != "too_large" {
		t.Errorf("17 KeyPackages in one message: %q", got)
	}
	if got := alice.request("keypackages", map[string][][]byte{"keypackages": batch(16)}); got != "" {
		t.Fatalf("16 KeyPackages: %q", got)
	}
	if got := alice.request("keypackages", map[string][][]byte{"keypackages": batch(16)}); got != "keypackage_quota" {
		t.Errorf("above the quota: %q", got)
	}
	if n := countKPs(); n != 17 {
		t.Fatalf("%d KeyPackages stored, want 17", n)
	}

	// Commits at epoch 0, alice alone.
	mallory := alice.keyPackage("mallory")
	var mkp mls.MLSMessage
	if err := mls.Unmarshal(mallory, &mkp); err != nil {
		t.Fatal(err)
	}
	add, _ := alice.commit(&mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *mkp.KeyPackage}})
	alice.group.DiscardCommit()
	// An Add by value breaks the room's policy before the grant is even looked at.
	if got := alice.request("commit", add); got != "forbidden_commit" {
		t.Errorf("add by value, without grant: %q", got)
	}
	epochIs(0)

	good, msg := alice.commit()
	future := tamper(t, msg, func(m *mls.PublicMessage) { m.Content.Epoch++ })
	forged := tamper(t, msg, func(m *mls.PublicMessage) { m.Auth.Signature[3] ^= 1 })
	for name, c := range map[string]struct {
		commit []byte
		want   string
	}{
		"future epoch":     {future, "future_epoch"},
		"forged signature": {forged, "invalid_signature"},
		"not MLS":          {[]byte{1, 2, 3}, "bad_message"},
	} {
		bad := good
		bad.Commit = c.commit
		if got := alice.request("commit", bad); got != c.want {
			t.Errorf("%s: code %q, want %q", name, got, c.want)
		}
	}
	epochIs(0)
	if got := alice.requestRaw("commit", `{"commit":"!!","group_info":""}`); got != "bad_message" {
		t.Errorf("invalid JSON payload: %q", got)
	}
	badGI := good
	badGI.GroupInfo = add.GroupInfo
	if got := alice.request("commit", badGI); got != "invalid_group_info" {
		t.Errorf("mismatched GroupInfo: %q", got)
	}
	if got := alice.request("commit", good); got != "" {
		t.Fatalf("good commit: %q", got)
	}
	if err := alice.group.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	epochIs(1)
	if got := alice.request("commit", good); got != "replayed_commit" {
		t.Errorf("replay: %q", got)
	}
	stale := good
	stale.Commit = forged
	if got := alice.request("commit", stale); got != "stale_epoch" {
		t.Errorf("stale epoch: %q", got)
	}
	epochIs(1)

	// Bob joins: the server proposes his Add; a commit without it is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob := h.dial(0, "bob", client.Config{})
	addBob := alice.nextHandshake()
	alice.take("commit_needed")
	omit, _ := alice.commit()
	alice.group.DiscardCommit()
	if got := alice.request("commit", omit); got != "missing_proposals" {
		t.Errorf("commit omitting the server's Add: %q", got)
	}
	alice.apply(addBob)
	withBob, _ := alice.commit()
	if got := alice.request("commit", withBob); got != "" {
		t.Fatalf("commit adding bob: %q", got)
	}
	if err := alice.group.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	epochIs(2)

	// Bob leaves: a commit that omits the server's Remove is refused.
	if err := bob.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	removeBob := alice.nextHandshake()
	omit, _ = alice.commit()
	alice.group.DiscardCommit()
	if got := alice.request("commit", omit); got != "missing_proposals" {
		t.Errorf("commit omitting the server's Remove: %q", got)
	}
	epochIs(2)
	alice.apply(removeBob)
	withRemove, _ := alice.commit()
	if got := alice.request("commit", withRemove); got != "" {
		t.Fatalf("commit removing bob: %q", got)
	}
	epochIs(3)

	// A 2 MB message: signaling closes the connection (1009) before anyone reads it. The
	// server may close before the client has written it all (it refuses the frame by its
	// header): the write may then fail, and the close is what counts.
	eve := h.raw(t, 0, "eve", "participant")
	eve.sendRawMayBeRefused([]byte(`{"v":1,"type":"chat","data":{"message":"` + strings.Repeat("A", 2<<20) + `"}}`))
	if e := eve.takeFunc("close", func(e env) bool { return e.Type == "closed" }); e.Type != "closed" || eve.closed != websocket.StatusMessageTooBig {
		t.Errorf("2 MB message: close %d, want 1009", eve.closed)
	}
	epochIs(3)

	rec := h.procs[0].audit
	wantCommit := []string{"forbidden_commit", "future_epoch", "invalid_signature", "bad_message", "bad_message", "invalid_group_info", "replayed_commit", "stale_epoch", "missing_proposals", "missing_proposals"}
	gotCommit := rec.denied(audit.ActionCommitRejected)
	slices.Sort(wantCommit)
	slices.Sort(gotCommit)
	if !slices.Equal(gotCommit, wantCommit) {
		t.Errorf("commit denials audited %v, want %v", gotCommit, wantCommit)
	}
	wantKP := []string{"keypackage_reused", "identity_mismatch", "bad_message", "bad_message", "bad_message", "bad_message",
		"invalid_keypackage", "invalid_keypackage", "invalid_keypackage", "too_large", "keypackage_quota"}
	if got := rec.denied(audit.ActionKeyPackageUpload); !slices.Equal(got, wantKP) {
		t.Errorf("KeyPackage denials audited %v, want %v", got, wantKP)
	}
}

func tamper(t *testing.T, m *mls.MLSMessage, f func(*mls.PublicMessage)) []byte {
	t.Helper()
	b, err := mls.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c mls.MLSMessage
	if err := mls.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	f(c.PublicMessage)
	out, err := mls.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
