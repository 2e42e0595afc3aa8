package interop_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sealroom/sealroom/mls"
)

// member is one participant of a test group, Go or ts-mls. Every message in
// and out is an encoded MLSMessage (RFC 9420 §6).
type member interface {
	name() string
	kind() string
	leaf(tb testing.TB) mls.LeafIndex
	// commit commits inline adds (KeyPackage MLSMessages) and removes plus
	// every pending proposal by reference, as a PublicMessage; update asks
	// for an UpdatePath even when none is required (ts-mls always sends one
	// on a commit without proposals). welcome is nil when nobody joins.
	commit(tb testing.TB, adds [][]byte, removes []mls.LeafIndex, update bool) (commit, welcome []byte)
	// process handles a commit, proposal or application message.
	process(tb testing.TB, msg []byte) (kind string, data []byte, err error)
	sendApp(tb testing.TB, data []byte) []byte
	state(tb testing.TB) memberState
}

// joiner is someone with a KeyPackage waiting for a Welcome.
type joiner interface {
	name() string
	kind() string
	keyPackage() []byte
	join(tb testing.TB, welcome []byte) member
}

// memberState is what all members must agree on at each epoch.
type memberState struct {
	epoch         uint64
	leaf          mls.LeafIndex
	groupID       []byte
	authenticator []byte // RFC 9420 §8.7
	sframeBaseKey []byte // RFC 9605 §5.2
}

const (
	kindGo = "go"
	kindTS = "ts-mls"
)

// RFC 9605 §5.2: base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk).
const (
	sframeLabel = "SFrame 1.0 Base Key"
	sframeNk    = 16
)

func suite(tb testing.TB) *mls.CipherSuite {
	tb.Helper()
	cs, err := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

func encode(tb testing.TB, v mls.WireStruct) []byte {
	tb.Helper()
	b, err := mls.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func decodeMessage(tb testing.TB, b []byte, wf mls.WireFormat) *mls.MLSMessage {
	tb.Helper()
	var m mls.MLSMessage
	if err := mls.Unmarshal(b, &m); err != nil {
		tb.Fatalf("decode MLSMessage: %v", err)
	}
	if m.WireFormat != wf {
		tb.Fatalf("wire format %d, want %d", m.WireFormat, wf)
	}
	return &m
}

// goJoiner and goMember are sealroom's Go MLS.
type goJoiner struct {
	cs    *mls.CipherSuite
	nm    string
	sign  []byte
	kp    *mls.KeyPackage
	sec   *mls.KeyPackageSecrets
	kpMsg []byte
}

func newGoJoiner(tb testing.TB, cs *mls.CipherSuite, name string) *goJoiner {
	tb.Helper()
	sign, _, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	kp, sec, err := mls.NewKeyPackage(cs, sign, mls.KeyPackageParams{
		Credential:   mls.NewBasicCredential([]byte(name)),
		Capabilities: mls.DefaultCapabilities(cs),
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	})
	if err != nil {
		tb.Fatal(err)
	}
	msg := encode(tb, &mls.MLSMessage{Version: mls.ProtocolVersionMLS10, WireFormat: mls.WireFormatKeyPackage, KeyPackage: kp})
	return &goJoiner{cs: cs, nm: name, sign: sign, kp: kp, sec: sec, kpMsg: msg}
}

func (j *goJoiner) name() string       { return j.nm }
func (j *goJoiner) kind() string       { return kindGo }
func (j *goJoiner) keyPackage() []byte { return j.kpMsg }

func (j *goJoiner) join(tb testing.TB, welcome []byte) member {
	tb.Helper()
	w := decodeMessage(tb, welcome, mls.WireFormatWelcome)
	g, err := mls.JoinFromWelcome(j.cs, w.Welcome, mls.JoinParams{KeyPackage: j.kp, Secrets: j.sec, SignPriv: j.sign})
	if err != nil {
		tb.Fatalf("Go %s rejected the Welcome: %v", j.nm, err)
	}
	j.sec.Zero()
	m := &goMember{nm: j.nm, g: g}
	tb.Cleanup(g.Close)
	return m
}

// newGoCreator makes a Go member that creates a group.
func newGoCreator(tb testing.TB, cs *mls.CipherSuite, name string, groupID []byte, exts mls.Extensions) *goMember {
	tb.Helper()
	j := newGoJoiner(tb, cs, name)
	g, err := mls.NewGroup(cs, mls.NewGroupParams{GroupID: groupID, Extensions: exts, KeyPackage: j.kp, Secrets: j.sec, SignPriv: j.sign})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return &goMember{nm: name, g: g}
}

type goMember struct {
	nm string
	g  *mls.Group
}

func (m *goMember) name() string                     { return m.nm }
func (m *goMember) kind() string                     { return kindGo }
func (m *goMember) leaf(tb testing.TB) mls.LeafIndex { return m.g.OwnLeaf() }

func (m *goMember) commit(tb testing.TB, adds [][]byte, removes []mls.LeafIndex, update bool) ([]byte, []byte) {
	tb.Helper()
	var props []*mls.Proposal
	for _, l := range removes {
		props = append(props, &mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: l}})
	}
	for _, a := range adds {
		kp := decodeMessage(tb, a, mls.WireFormatKeyPackage).KeyPackage
		props = append(props, &mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *kp}})
	}
	res, err := m.g.Commit(mls.CommitOptions{Proposals: props, ForcePath: update, WireFormat: mls.WireFormatPublicMessage, RatchetTreeInWelcome: true})
	if err != nil {
		tb.Fatalf("Go %s commit: %v", m.nm, err)
	}
	if err := m.g.MergeCommit(); err != nil {
		tb.Fatalf("Go %s merge: %v", m.nm, err)
	}
	if res.Commit.WireFormat != mls.WireFormatPublicMessage {
		tb.Fatalf("Go commit is wire format %d, want PublicMessage", res.Commit.WireFormat)
	}
	var welcome []byte
	if res.Welcome != nil {
		welcome = encode(tb, &mls.MLSMessage{Version: mls.ProtocolVersionMLS10, WireFormat: mls.WireFormatWelcome, Welcome: res.Welcome})
	}
	return encode(tb, res.Commit), welcome
}

func (m *goMember) process(tb testing.TB, msg []byte) (string, []byte, error) {
	tb.Helper()
	var in mls.MLSMessage
	if err := mls.Unmarshal(msg, &in); err != nil {
		return "", nil, err
	}
	r, err := m.g.Process(&in)
	switch {
	case err != nil:
		return "", nil, err
	case r.NewEpoch:
		return "commit", nil, nil
	case r.Content != nil && r.Content.Content.ContentType == mls.ContentTypeApplication:
		return "application", r.ApplicationData, nil
	default:
		return "proposal", nil, nil
	}
}

func (m *goMember) sendApp(tb testing.TB, data []byte) []byte {
	tb.Helper()
	msg, err := m.g.EncryptApplication(data, nil, 0)
	if err != nil {
		tb.Fatalf("Go %s encrypt: %v", m.nm, err)
	}
	if msg.WireFormat != mls.WireFormatPrivateMessage {
		tb.Fatalf("application message is wire format %d", msg.WireFormat)
	}
	return encode(tb, msg)
}

func (m *goMember) state(tb testing.TB) memberState {
	tb.Helper()
	key, err := m.g.Export(sframeLabel, nil, sframeNk)
	if err != nil {
		tb.Fatal(err)
	}
	return memberState{
		epoch: m.g.Epoch(), leaf: m.g.OwnLeaf(), groupID: m.g.Context().GroupID,
		authenticator: m.g.EpochAuthenticator(), sframeBaseKey: key,
	}
}

// tsJoiner and tsMember live in the node driver.
type tsJoiner struct {
	d     *driver
	nm    string
	kpMsg []byte
}

func newTSJoiner(tb testing.TB, d *driver, name string) *tsJoiner {
	tb.Helper()
	r := d.must(tb, request{Op: "new_key_package", Name: name})
	return &tsJoiner{d: d, nm: name, kpMsg: r.KeyPackage}
}

func (j *tsJoiner) name() string       { return j.nm }
func (j *tsJoiner) kind() string       { return kindTS }
func (j *tsJoiner) keyPackage() []byte { return j.kpMsg }

func (j *tsJoiner) join(tb testing.TB, welcome []byte) member {
	tb.Helper()
	if _, err := j.d.call(tb, request{Op: "join", Name: j.nm, Welcome: welcome}); err != nil {
		tb.Fatalf("ts-mls %s rejected the Welcome: %v", j.nm, err)
	}
	return &tsMember{d: j.d, nm: j.nm}
}

func newTSCreator(tb testing.TB, d *driver, name string, groupID []byte, exts []extension) *tsMember {
	tb.Helper()
	d.must(tb, request{Op: "create_group", Name: name, GroupID: groupID, Extensions: exts})
	return &tsMember{d: d, nm: name}
}

type tsMember struct {
	d  *driver
	nm string
}

func (m *tsMember) name() string { return m.nm }
func (m *tsMember) kind() string { return kindTS }

func (m *tsMember) leaf(tb testing.TB) mls.LeafIndex { return m.state(tb).leaf }

func (m *tsMember) commit(tb testing.TB, adds [][]byte, removes []mls.LeafIndex, _ bool) ([]byte, []byte) {
	tb.Helper()
	req := request{Op: "commit", Name: m.nm, Adds: adds}
	for _, l := range removes {
		req.Removes = append(req.Removes, uint32(l))
	}
	r := m.d.must(tb, req)
	decodeMessage(tb, r.Commit, mls.WireFormatPublicMessage)
	return r.Commit, r.Welcome
}

func (m *tsMember) process(tb testing.TB, msg []byte) (string, []byte, error) {
	tb.Helper()
	r, err := m.d.call(tb, request{Op: "process", Name: m.nm, Message: msg})
	if err != nil {
		return "", nil, err
	}
	if !r.Active {
		return r.Kind, r.Data, errRemovedTS
	}
	return r.Kind, r.Data, nil
}

// errRemovedTS is how a ts-mls member reports that a commit removed it.
var errRemovedTS = errors.New("ts-mls: removed from the group")

func (m *tsMember) sendApp(tb testing.TB, data []byte) []byte {
	tb.Helper()
	r := m.d.must(tb, request{Op: "send_app", Name: m.nm, Data: data})
	decodeMessage(tb, r.Message, mls.WireFormatPrivateMessage)
	return r.Message
}

func (m *tsMember) state(tb testing.TB) memberState {
	tb.Helper()
	r := m.d.must(tb, request{Op: "state", Name: m.nm})
	return memberState{
		epoch: r.Epoch, leaf: mls.LeafIndex(r.Leaf), groupID: r.GroupID,
		authenticator: r.EpochAuthenticator, sframeBaseKey: r.Exporter,
	}
}
