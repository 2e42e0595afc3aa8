package keyservice_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/auth"
)

// rawMember speaks signaling and MLS by hand, so tests can send what a correct client
// never would.
type rawMember struct {
	t       *testing.T
	ws      *websocket.Conn
	cs      *mls.CipherSuite
	sub     string
	sign    []byte
	group   *mls.Group
	backlog []env
	closed  websocket.StatusCode
	nextID  int
}

type env struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

func (h *harness) raw(t *testing.T, p int, sub, role string) *rawMember {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.procs[p].ts.URL, "http")+"/v1/signal", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(4 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	cs, _ := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	sign, _, _ := cs.GenerateSignatureKeyPair()
	r := &rawMember{t: t, ws: ws, cs: cs, sub: sub, sign: sign}
	r.send("auth", "", map[string]string{"token": h.token(sub, auth.Role(role))})
	r.take("ready")
	return r
}

func (r *rawMember) send(typ, id string, data any) {
	r.t.Helper()
	e := env{V: 1, Type: typ, ID: id}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			r.t.Fatal(err)
		}
		e.Data = b
	}
	b, _ := json.Marshal(e)
	r.sendRaw(b)
}

func (r *rawMember) sendRaw(b []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageText, b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// sendRawMayBeRefused writes b, which the server may refuse before it has all of it
// (too large): a write cut short by the server's close is no error here, and the close
// frame it sent before is still there to read.
func (r *rawMember) sendRawMayBeRefused(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.ws.Write(ctx, websocket.MessageText, b)
}

// takeFunc returns the first message (backlog first) that match accepts; others wait in
// the backlog.
func (r *rawMember) takeFunc(what string, match func(env) bool) env {
	r.t.Helper()
	for i, e := range r.backlog {
		if match(e) {
			r.backlog = append(r.backlog[:i], r.backlog[i+1:]...)
			return e
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := r.ws.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != -1 {
				r.closed = st
				return env{Type: "closed"}
			}
			r.t.Fatalf("waiting for %s: %v", what, err)
		}
		var e env
		if err := json.Unmarshal(b, &e); err != nil {
			r.t.Fatalf("non-JSON from server: %q", b)
		}
		if match(e) {
			return e
		}
		r.backlog = append(r.backlog, e)
	}
}

func (r *rawMember) take(typ string) env {
	r.t.Helper()
	return r.takeFunc(typ, func(e env) bool { return e.Type == typ })
}

// request sends a message with an id and returns the error code of the answer ("" for ack).
func (r *rawMember) request(typ string, data any) string {
	r.t.Helper()
	r.nextID++
	id := "r" + itoa(r.nextID)
	r.send(typ, id, data)
	return r.answer(id)
}

func (r *rawMember) requestRaw(typ string, data string) string {
	r.t.Helper()
	r.nextID++
	id := "r" + itoa(r.nextID)
	r.sendRaw([]byte(`{"v":1,"type":"` + typ + `","id":"` + id + `","data":` + data + `}`))
	return r.answer(id)
}

func (r *rawMember) answer(id string) string {
	r.t.Helper()
	e := r.takeFunc("answer "+id, func(e env) bool { return e.ID == id && (e.Type == "ack" || e.Type == "error") })
	if e.Type == "ack" {
		return ""
	}
	var d struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Code
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func (r *rawMember) keyPackage(identity string) []byte {
	r.t.Helper()
	now := time.Now()
	return r.keyPackageLife(identity, now.Add(-time.Hour), now.Add(24*time.Hour))
}

func (r *rawMember) keyPackageLife(identity string, notBefore, notAfter time.Time) []byte {
	r.t.Helper()
	sign := r.sign
	if identity != r.sub {
		sign, _, _ = r.cs.GenerateSignatureKeyPair()
	}
	kp, _, err := mls.NewKeyPackage(r.cs, sign, mls.KeyPackageParams{Credential: mls.NewBasicCredential([]byte(identity)),
		Capabilities: mls.DefaultCapabilities(r.cs), NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		r.t.Fatal(err)
	}
	return marshalMsg(r.t, kp)
}

func marshalMsg(t *testing.T, body mls.WireStruct) []byte {
	t.Helper()
	msg, err := mls.NewMLSMessage(body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mls.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// create answers group_create with a fresh group listing the server as external sender.
func (r *rawMember) create() {
	r.t.Helper()
	var d struct {
		GroupID        []byte `json:"group_id"`
		ExternalSender struct {
			SignatureKey []byte `json:"signature_key"`
			Identity     string `json:"identity"`
		} `json:"external_sender"`
	}
	if err := json.Unmarshal(r.take("group_create").Data, &d); err != nil {
		r.t.Fatal(err)
	}
	now := time.Now()
	kp, sec, err := mls.NewKeyPackage(r.cs, r.sign, mls.KeyPackageParams{Credential: mls.NewBasicCredential([]byte(r.sub)),
		Capabilities: mls.DefaultCapabilities(r.cs), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		r.t.Fatal(err)
	}
	senders := mls.ExternalSenders{{SignatureKey: d.ExternalSender.SignatureKey, Credential: mls.NewBasicCredential([]byte(d.ExternalSender.Identity))}}
	ext, _ := mls.Marshal(&senders)
	r.group, err = mls.NewGroup(r.cs, mls.NewGroupParams{GroupID: d.GroupID, KeyPackage: kp, Secrets: sec, SignPriv: r.sign,
		Extensions: mls.Extensions{{Type: mls.ExtensionTypeExternalSenders, Data: ext}}})
	if err != nil {
		r.t.Fatal(err)
	}
	gi, err := r.group.GroupInfo(true)
	if err != nil {
		r.t.Fatal(err)
	}
	if code := r.request("group_init", map[string][]byte{"group_info": marshalMsg(r.t, gi)}); code != "" {
		r.t.Fatalf("group_init: %s", code)
	}
}

type commitMsg struct {
	Commit    []byte `json:"commit"`
	GroupInfo []byte `json:"group_info"`
	Welcome   []byte `json:"welcome,omitempty"`
}

// commit builds (but does not merge) a commit over the group's pending proposals and
// extra, and returns it ready to send along with its decoded form.
func (r *rawMember) commit(extra ...*mls.Proposal) (commitMsg, *mls.MLSMessage) {
	r.t.Helper()
	res, err := r.group.Commit(mls.CommitOptions{Proposals: extra, ForcePath: true, RatchetTreeInWelcome: true})
	if err != nil {
		r.t.Fatal(err)
	}
	c := commitMsg{GroupInfo: marshalMsg(r.t, res.GroupInfo)}
	c.Commit, _ = mls.Marshal(res.Commit)
	if res.Welcome != nil {
		c.Welcome = marshalMsg(r.t, res.Welcome)
	}
	return c, res.Commit
}

// processHandshakes applies the server's handshake messages waiting in the backlog.
func (r *rawMember) nextHandshake() []byte {
	r.t.Helper()
	var d struct {
		Message []byte `json:"message"`
	}
	if err := json.Unmarshal(r.take("mls").Data, &d); err != nil {
		r.t.Fatal(err)
	}
	return d.Message
}

func (r *rawMember) apply(b []byte) {
	r.t.Helper()
	var m mls.MLSMessage
	if err := mls.Unmarshal(b, &m); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.group.Process(&m); err != nil {
		r.t.Fatalf("process: %v", err)
	}
}
