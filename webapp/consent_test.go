package webapp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/server/auth"
)

// TestBrowserConsent: in a room that asks for a notice, the patient sees the notice link and
// an Accept button first, and joins (security code shown) only after accepting.
func TestBrowserConsent(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	const room, notice = "visit-consent", "https://clinic.example/notice-v3"
	if err := srv.consents.SetPolicy(context.Background(), audit.Caller{Actor: "admin", Role: "admin"},
		compliance.Policy{Room: room, NoticeVersion: "v3", NoticeURL: notice}); err != nil {
		t.Fatalf("room policy: %v", err)
	}
	browser := newBrowser(t)
	ctx, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	url := srv.url + "/join#token=" + srv.roomToken(t, room, "patient-9", "Sam", auth.RoleParticipant)
	run(t, ctx, "open the invite", chromedp.Navigate(url), chromedp.WaitEnabled(chromedp.CSS("#enter")), press("#enter"),
		chromedp.WaitVisible(chromedp.CSS("#consent-view")))
	if href := eval[string](t, ctx, `document.getElementById('notice-link').href`); href != notice {
		t.Fatalf("notice link %q, want %q", href, notice)
	}
	if !eval[bool](t, ctx, `document.getElementById('meeting-view').hidden`) {
		t.Fatal("the meeting is shown before the notice was accepted")
	}
	run(t, ctx, "accept", press("#accept"), chromedp.WaitVisible(chromedp.CSS("#meeting-view")))
	browserPoll.Until(t, 20*time.Second, "a security code after consent", func() bool { return codePattern.MatchString(securityCodeOf(t, ctx)) })
	if roster := eval[string](t, ctx, `document.getElementById('participants').textContent`); !strings.Contains(roster, "Sam") {
		t.Fatalf("participant list after consent: %q", roster)
	}
}

// TestBrowserRefresh: five minutes before the access code expires the page says so and
// offers to continue with a new code; a new code from the organiser extends the session
// (signaling refresh) and a code for someone else is refused.
func TestBrowserRefresh(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	mint := func(sub string, ttl time.Duration) string {
		tok, _, err := srv.signer.Mint(auth.Grant{Identity: sub, Name: "Sam", Room: testRoom, Role: auth.RoleParticipant, CanPublish: true, CanSubscribe: true}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	page := tab(t, browser, srv.url+"/join#token="+mint("patient-r", 4*time.Minute))
	browserPoll.Until(t, 10*time.Second, "the expiry notice", func() bool {
		return !eval[bool](t, page, `document.getElementById('expiry').hidden`)
	})
	if text := eval[string](t, page, `document.getElementById('expiry-text').textContent`); !strings.Contains(text, "access ends at") {
		t.Fatalf("expiry notice: %q", text)
	}
	refresh := func(token string) {
		t.Helper()
		run(t, page, "paste a new code", chromedp.SetValue(chromedp.CSS("#refresh-token"), token), press("#refresh-form button"))
	}
	refresh(mint("someone-else", time.Hour))
	browserPoll.Until(t, 10*time.Second, "the other person's code refused", func() bool {
		return strings.Contains(eval[string](t, page, `document.getElementById('status').textContent`), "not accepted (unauthorized)")
	})
	// The new code's own expiry counts from then on: another short one keeps the notice,
	// a long one puts it away.
	refresh(mint("patient-r", 4*time.Minute+30*time.Second))
	browserPoll.Until(t, 10*time.Second, "the notice for the new short code", func() bool {
		return strings.Contains(eval[string](t, page, `document.getElementById('status').textContent`), "Access extended") &&
			!eval[bool](t, page, `document.getElementById('expiry').hidden`)
	})
	refresh(mint("patient-r", time.Hour))
	browserPoll.Until(t, 10*time.Second, "the session extended", func() bool {
		return eval[bool](t, page, `document.getElementById('expiry').hidden`)
	})
}

// TestBrowserResumeAfterRefresh: a page whose first code has expired since it was
// extended with a new one resumes its session under the new code when its connection
// drops (before, it presented the expired first code, was refused 4401, and forgot the new
// code). The first code's short life is the scenario, not a wait for an event.
func TestBrowserResumeAfterRefresh(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	mint := func(ttl time.Duration) string {
		tok, _, err := srv.signer.Mint(auth.Grant{Identity: "patient-s", Name: "Sam", Room: testRoom, Role: auth.RoleParticipant, CanPublish: true, CanSubscribe: true}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const short = 6 * time.Second
	page := tab(t, browser, srv.url+"/join#token="+mint(short))
	expired := time.Now().Add(short + time.Second)
	status := func() string { return eval[string](t, page, `document.getElementById('status').textContent`) }
	run(t, page, "paste a new code", chromedp.SetValue(chromedp.CSS("#refresh-token"), mint(time.Hour)), press("#refresh-form button"))
	browserPoll.Until(t, 10*time.Second, "the session extended", func() bool { return strings.Contains(status(), "Access extended") })
	browserPoll.Until(t, 2*short, "the first code to expire", func() bool { return time.Now().After(expired) })
	before := eval[float64](t, page, `window.sealroomResumes()`)
	eval[any](t, page, `(window.sealroomDropSignal(false), true)`)
	browserPoll.UntilOr(t, 15*time.Second, "the session resumed under the new code", func() bool {
		return eval[float64](t, page, `window.sealroomResumes()`) > before && status() == "Reconnected."
	}, func() any { return status() })
}
