package webapp_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/server/auth"
)

// TestBrowserChurn is DESIGN.md's ts-mls pitfall in real browsers: in a room of six, the
// members at leaves 1 and 4 leave (one commit), then two new browser participants are
// admitted by one commit; they take the blank leaves 1 and 4 and are unmerged at different
// parents, the tree ts-mls 1.6.4 rejects unpatched (webapp/mls/README.md). Both must join,
// show the room's code and decrypt the others' video and chat.
func TestBrowserChurn(t *testing.T) {
	needChromium(t)
	// The committer below waits for the proposals each step expects; the duty must not
	// pass to another member meanwhile, however slowly a browser starts.
	srv := startServer(t, func(c *keyservice.Config) { c.CommitTimeout = time.Minute })
	browser := newBrowser(t)
	const room = "churn"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The Go member at leaf 0 creates the group and is the designated committer; it
	// commits once as many proposals are pending as the step expects (expect), so that
	// leaves and joins the test makes together are committed together, whatever the
	// timing.
	var expect atomic.Int32
	expect.Store(1)
	gate := func(pending int) bool { return pending >= int(expect.Load()) }
	dial := func(sub string, gate func(int) bool) *client.Client {
		t.Helper()
		c, err := client.Dial(ctx, client.Config{URL: srv.url, Token: srv.roomToken(t, room, sub, sub, auth.RoleParticipant), CommitWhen: gate})
		if err != nil {
			t.Fatalf("%s: %v", sub, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.WaitJoined(ctx); err != nil {
			t.Fatalf("%s joining: %v", sub, err)
		}
		return c
	}
	committer := dial("go-0", gate)
	epochIs := func(c *client.Client, want uint64) func() bool {
		return func() bool { e, in := c.Epoch(); return in && e == want }
	}
	next := func(c *client.Client) uint64 { e, _ := c.Epoch(); return e + 1 }

	// Leaves 1..5: Go, browser, Go, Go, Go, each admitted before the next arrives so the
	// leaf order is the joining order.
	leaver1 := dial("go-1", nil)
	browserPoll.Until(t, 20*time.Second, "go-1 in the committer's epoch", epochIs(committer, 1))
	want := next(committer)
	host := tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, "dr-churn", "Dr Churn", auth.RoleHost))
	browserPoll.Until(t, 20*time.Second, "the browser at leaf 2", func() bool {
		return epochIs(committer, want)() && securityCodeOf(t, host) == goCode(committer.EpochAuthenticator())
	})
	var stay []*client.Client
	for _, sub := range []string{"go-3", "go-4", "go-5"} {
		want := next(committer)
		stay = append(stay, dial(sub, nil))
		browserPoll.Until(t, 20*time.Second, sub+" in the committer's epoch", epochIs(committer, want))
	}
	leaver4 := stay[1]
	browserPoll.Until(t, 20*time.Second, "six members at the browser", func() bool {
		return securityCodeOf(t, host) == goCode(committer.EpochAuthenticator())
	})

	// Leaves 1 and 4 go, removed by one commit.
	expect.Store(2)
	before, _ := committer.Epoch()
	for _, c := range []*client.Client{leaver1, leaver4} {
		if err := c.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	browserPoll.Until(t, 20*time.Second, "the Removes committed", func() bool {
		e, _ := committer.Epoch()
		return e > before && securityCodeOf(t, host) == goCode(committer.EpochAuthenticator())
	})
	afterRemoves, _ := committer.Epoch()
	if afterRemoves != before+1 {
		t.Fatalf("the two leaves took %d commits (epoch %d -> %d), want one", afterRemoves-before, before, afterRemoves)
	}

	// Two new browser participants arrive together; one commit admits both.
	j1 := tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, "patient-j1", "Jo", auth.RoleParticipant))
	j2 := tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, "patient-j2", "Jay", auth.RoleParticipant))
	browserPoll.UntilOr(t, 30*time.Second, "both joiners in the group with the room's code", func() bool {
		code := goCode(committer.EpochAuthenticator())
		return securityCodeOf(t, j1) == code && securityCodeOf(t, j2) == code && securityCodeOf(t, host) == code
	}, func() any {
		e, _ := committer.Epoch()
		return fmt.Sprintf("committer epoch %d (after removes %d); codes host %q j1 %q j2 %q; j1 status %q, j2 status %q", e, afterRemoves,
			securityCodeOf(t, host), securityCodeOf(t, j1), securityCodeOf(t, j2),
			eval[string](t, j1, `document.getElementById('status').textContent`), eval[string](t, j2, `document.getElementById('status').textContent`))
	})
	if e, _ := committer.Epoch(); e != afterRemoves+1 {
		t.Fatalf("the two joiners took %d commits (epoch %d -> %d), want one", e-afterRemoves, afterRemoves, e)
	}
	t.Logf("both joiners admitted by one commit (epoch %d -> %d), code %s", afterRemoves, afterRemoves+1, securityCodeOf(t, j1))
	// Frames sent before a joiner had its keys cannot be decrypted (and are not shown),
	// some of them arriving after this; from here on nothing else may fail.
	joined := map[string]workerStats{"j1": statsOf(t, j1), "j2": statsOf(t, j2)}

	// They decrypt: each renders the host's video and the other joiner's, and reads chat.
	ids := map[string]string{}
	for name, p := range map[string]context.Context{"host": host, "j1": j1, "j2": j2} {
		ids[name] = eval[string](t, p, `window.sealroomMe()`)
	}
	for _, c := range []struct {
		name  string
		page  context.Context
		froms []string
	}{{"j1", j1, []string{"host", "j2"}}, {"j2", j2, []string{"host", "j1"}}, {"host", host, []string{"j1", "j2"}}} {
		for _, from := range c.froms {
			browserPoll.UntilOr(t, 30*time.Second, fmt.Sprintf("%s to render %s's decrypted video", c.name, from),
				func() bool { return brightFrom(t, c.page, ids[from]) },
				func() any { return mediaState(t, c.page) })
		}
	}
	sendChat(t, j2, "hello after churn")
	browserPoll.Until(t, 10*time.Second, "j1 and the host to read j2's chat", func() bool {
		return strings.Contains(chatText(t, j1), "hello after churn") && strings.Contains(chatText(t, host), "hello after churn")
	})
	expectChat(t, committer, "patient-j2", "hello after churn")
	for name, p := range map[string]context.Context{"j1": j1, "j2": j2} {
		s, j := statsOf(t, p), joined[name]
		t.Logf("%s's worker: before its keys %.0f frames not decryptable %v; since joining %.0f video frames decrypted, %.0f failed %v",
			name, j.Failed, j.Failures, s.Video.Decrypted-j.Video.Decrypted, s.Failed-j.Failed, s.Failures)
		if n := failedAfterKeys(s.Failures) - failedAfterKeys(j.Failures); n != 0 {
			t.Errorf("%s failed to decrypt %.0f frames after joining: %v", name, n, s.Failures)
		}
	}
}
