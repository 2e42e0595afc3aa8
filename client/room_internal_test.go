package client

import (
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
)

// testRoom starts a whole server for the package's internal tests and returns a dial that
// joins room "r" as sub with cfg (URL and token filled in) and waits for membership.
func testRoom(t *testing.T, ctx context.Context) func(sub string, cfg Config) *Client {
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t)})
	return func(sub string, cfg Config) *Client {
		t.Helper()
		tok, _, err := st.Signer.Mint(auth.Grant{Identity: sub, Room: "r", Role: auth.RoleParticipant}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cfg.URL, cfg.Token = st.URL, tok
		c, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.WaitJoined(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
}
