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
	waitUntil(t, 20*time.Second, "a security code after consent", func() bool { return codePattern.MatchString(securityCodeOf(t, ctx)) })
	if roster := eval[string](t, ctx, `document.getElementById('participants').textContent`); !strings.Contains(roster, "Sam") {
		t.Fatalf("participant list after consent: %q", roster)
	}
}
