package keyservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// TestKickBarsSubject: a kick keeps the subject out of the room on every process of the
// database, whatever token it brings, until a host readmits it; only a host may readmit,
// and every step is audited.
func TestKickBarsSubject(t *testing.T) {
	h := newHarness(t, harnessOpts{procs: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host := h.joined(ctx, 0, "hana", client.Config{Token: h.token("hana", auth.RoleHost)})
	bobToken, bobJTI, err := h.signer.Mint(auth.Grant{Identity: "bob", Name: "bob", Room: h.room, Role: auth.RoleParticipant,
		CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob := h.joined(ctx, 0, "bob", client.Config{Token: bobToken})
	carol := h.joined(ctx, 1, "carol", client.Config{})
	converge(t, h, []participant{{host, "hana"}, {bob, "bob"}, {carol, "carol"}}, "three members")

	var se *client.ServerError
	if err := host.Readmit(ctx, "bob"); !errors.As(err, &se) || se.Code != signaling.CodeNotMember {
		t.Fatalf("readmit of a subject nobody barred: %v", err)
	}
	if err := host.Kick(ctx, "hana"); !errors.As(err, &se) || se.Code != signaling.CodeForbidden {
		t.Fatalf("a host kicking itself: %v", err)
	}
	if err := host.Kick(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	converge(t, h, []participant{{host, "hana"}, {carol, "carol"}}, "bob kicked")
	select {
	case <-bob.Done():
	case <-ctx.Done():
		t.Fatal("the server kept the removed participant's connection open")
	}

	// The kicked token: refused at auth by the process that revoked it (the revocation
	// happens before the socket closes), and by the bar on a process that has not
	// reloaded revocations yet; the harness's processes never reload, so process 1 stands
	// for any node inside the reload window.
	if k := h.knock(t, 0, bobToken); k.status != signaling.CloseUnauthorized || k.ready {
		t.Fatalf("the kicked token on its own process: %+v", k)
	}
	claims := &auth.Claims{}
	claims.ID, claims.Subject = bobJTI, "bob"
	want := barredKnock
	if h.procs[1].rev.Revoked(claims) {
		want = func(k knock) bool { return k.status == signaling.CloseUnauthorized && !k.ready }
	}
	if k := h.knock(t, 1, bobToken); !want(k) {
		t.Fatalf("the kicked token on another process: %+v", k)
	}
	// Fresh tokens: the subject, not the token, is barred, on every process.
	for p := range h.procs {
		if k := h.knock(t, p, h.token("bob", auth.RoleParticipant)); !barredKnock(k) {
			t.Fatalf("a fresh token of the kicked subject on process %d: %+v", p, k)
		}
	}
	again := h.dial(1, "bob", client.Config{})
	var refused *client.ServerError
	if err := again.WaitJoined(ctx); !errors.As(err, &refused) || refused.Code != signaling.CodeBarred {
		t.Fatalf("the Go client of a barred subject: %v, want the server's barred refusal", err)
	}

	if err := carol.Readmit(ctx, "bob"); !errors.As(err, &se) || se.Code != signaling.CodeForbidden {
		t.Fatalf("readmit by a participant: %v", err)
	}
	if k := h.knock(t, 0, h.token("bob", auth.RoleParticipant)); !barredKnock(k) {
		t.Fatalf("after a participant's readmit: %+v", k)
	}
	if err := host.Readmit(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	back := h.joined(ctx, 1, "bob", client.Config{})
	converge(t, h, []participant{{host, "hana"}, {carol, "carol"}, {back, "bob"}}, "bob readmitted")

	// A readmitted subject is not immune: the next kick bars it again.
	if err := host.Kick(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	converge(t, h, []participant{{host, "hana"}, {carol, "carol"}}, "bob kicked again")
	if k := h.knock(t, 0, h.token("bob", auth.RoleParticipant)); !barredKnock(k) {
		t.Fatalf("after the second kick: %+v", k)
	}

	r0, r1 := h.procs[0].audit, h.procs[1].audit
	if got := r0.denied(audit.ActionRoomReadmit); !slices.Equal(got, []string{signaling.CodeNotMember}) {
		t.Errorf("host's refused readmit audited: %v", got)
	}
	if got := r1.denied(audit.ActionRoomReadmit); !slices.Equal(got, []string{signaling.CodeForbidden}) {
		t.Errorf("participant's readmit audited: %v", got)
	}
	if n := r0.count(audit.ActionRoomReadmit, audit.OutcomeSuccess, "hana", "bob"); n != 1 {
		t.Errorf("readmits audited: %d", n)
	}
	if got := r0.denied(audit.ActionRoomKick); !slices.Equal(got, []string{signaling.CodeForbidden}) {
		t.Errorf("self-kick audited: %v", got)
	}
	for p, rec := range []*recorder{r0, r1} {
		if got := rec.denied(audit.ActionRoomJoin); len(got) == 0 || slices.ContainsFunc(got, func(r string) bool { return r != signaling.CodeBarred }) {
			t.Errorf("process %d audited refused joins: %v", p, got)
		}
	}
}

// count returns how many events of action with outcome actor recorded about target.
func (r *recorder) count(action audit.Action, outcome audit.Outcome, actor, target string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.evs {
		if ev.Action == action && ev.Outcome == outcome && ev.Actor == actor && ev.Target.ID == target {
			n++
		}
	}
	return n
}

// knock is what a connection attempt saw until the server closed it.
type knock struct {
	ready  bool
	types  []string
	codes  []string
	status websocket.StatusCode
}

// barredKnock: seated in presence (ready), refused by the Delivery Service with barred,
// closed as a removal, and nothing of the group or the SFU on the way.
func barredKnock(k knock) bool {
	for _, typ := range k.types {
		switch typ {
		case signaling.TypeGroupCreate, signaling.TypeWelcome, signaling.TypeCommitNeeded, signaling.TypeMedia:
			return false
		}
	}
	return k.ready && slices.Equal(k.codes, []string{signaling.CodeBarred}) && k.status == signaling.CloseRemoved
}

// knock authenticates on process p with token and reads until the server closes. It
// never uploads a KeyPackage, so a connection the server admits stays open and the
// attempt fails the test at its deadline.
func (h *harness) knock(t *testing.T, p int, token string) knock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.procs[p].ts.URL, "http")+"/v1/signal", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	b, err := signaling.Encode(signaling.TypeAuth, "", signaling.Auth{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	var k knock
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if k.status = websocket.CloseStatus(err); k.status == -1 {
				t.Fatalf("knock on process %d: not closed by the server: %v (so far %+v)", p, err, k)
			}
			return k
		}
		var e env
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("non-JSON from server: %q", b)
		}
		k.types = append(k.types, e.Type)
		switch e.Type {
		case signaling.TypeReady:
			k.ready = true
		case signaling.TypeError:
			var d signaling.Error
			_ = json.Unmarshal(e.Data, &d)
			k.codes = append(k.codes, d.Code)
		}
	}
}
