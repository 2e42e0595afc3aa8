package webapp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
	"github.com/sealroom/sealroom/webapp"
)

// TestBrowserAlarmOnUnannouncedLeaf: the server is the one party that can add a member to
// the room's MLS group, so the page compares the group (each leaf's credential) with who
// the server announces. Here a member is added to the group without ever being announced
// to the pages: it joins through a second server process on the same database, whose
// presence the first process does not share, exactly what a server that wanted to slip a
// listener in would do. Every browser member raises the alarm naming it, while the
// security code (which every member shares) cannot show it.
func TestBrowserAlarmOnUnannouncedLeaf(t *testing.T) {
	needChromium(t)
	assets, err := webapp.Assets()
	if err != nil {
		t.Fatalf("webapp: %v", err)
	}
	pool := pgtest.Pool(t)
	_, tokenKey, _ := ed25519.GenerateKey(rand.Reader)
	_, dsKey, _ := ed25519.GenerateKey(rand.Reader)
	start := func(withPages bool) *servertest.Stack {
		sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sfu.Close() })
		return servertest.Start(t, servertest.Options{Pool: pool, TokenKey: tokenKey, DSKey: dsKey,
			KeyService: func(cfg *keyservice.Config, _ *audit.Log) {
				cfg.SweepInterval, cfg.CommitTimeout, cfg.DisconnectTimeout = 100*time.Millisecond, 3*time.Second, -1
			},
			Deps: func(d *server.Deps) {
				d.Media = sfu
				if withPages {
					d.Assets = assets
				}
			}})
	}
	a, b := start(true), start(false)
	mint := func(sub string, role auth.Role) string {
		tok, _, err := a.Signer.Mint(auth.Grant{Identity: sub, Name: strings.ToUpper(sub), Room: testRoom, Role: role, CanPublish: true, CanSubscribe: true}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	browser := newBrowser(t)
	host := tab(t, browser, a.URL+"/join#token="+mint("dr-ada", auth.RoleHost))
	patient := tab(t, browser, a.URL+"/join#token="+mint("pat", auth.RoleParticipant))
	pages := map[string]context.Context{"host": host, "patient": patient}
	for name, p := range pages {
		browserPoll.Until(t, 30*time.Second, name+" to hold keys with the other", func() bool {
			return strings.Contains(eval[string](t, p, `document.getElementById('keyholders').textContent`), "dr-ada, pat") ||
				strings.Contains(eval[string](t, p, `document.getElementById('keyholders').textContent`), "pat, dr-ada")
		})
		if eval[bool](t, p, `!document.getElementById('alarm').hidden`) {
			t.Fatalf("%s's alarm before anything happened: %q", name, eval[string](t, p, `document.getElementById('alarm').textContent`))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ghost, err := client.Dial(ctx, client.Config{URL: b.URL, Token: mint("eve", auth.RoleParticipant)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ghost.Close() })
	if err := ghost.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	code := goCode(ghost.EpochAuthenticator())
	for name, p := range pages {
		browserPoll.UntilOr(t, 30*time.Second, name+"'s alarm naming eve", func() bool {
			return securityCodeOf(t, p) == code && eval[bool](t, p, `!document.getElementById('alarm').hidden`) &&
				strings.Contains(eval[string](t, p, `document.getElementById('alarm').textContent`), "eve holds this room's keys but was never announced")
		}, func() any {
			return eval[string](t, p, `document.getElementById('alarm').textContent + ' | ' + document.getElementById('keyholders').textContent`)
		})
		for _, li := range eval[[]string](t, p, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`) {
			if li == "eve" {
				t.Fatalf("%s's announced list shows eve: the test no longer hides her", name)
			}
		}
		t.Logf("%s: %s", name, eval[string](t, p, `document.getElementById('alarm').textContent`))
	}
}
