package keyservice

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// fuzzSeeds builds real messages to start the fuzzers from: a KeyPackage of "alice", and a
// commit message with its GroupInfo from a one-member group.
func fuzzSeeds(f *testing.F) (kp []byte, commit []byte) {
	f.Helper()
	cs, err := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	sign, _, _ := cs.GenerateSignatureKeyPair()
	now := time.Now()
	k, sec, err := mls.NewKeyPackage(cs, sign, mls.KeyPackageParams{Credential: mls.NewBasicCredential([]byte("alice")),
		Capabilities: mls.DefaultCapabilities(cs), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	msg, _ := mls.NewMLSMessage(k)
	kp, _ = mls.Marshal(msg)
	g, err := mls.NewGroup(cs, mls.NewGroupParams{GroupID: []byte("g"), KeyPackage: k, Secrets: sec, SignPriv: sign})
	if err != nil {
		f.Fatal(err)
	}
	res, err := g.Commit(mls.CommitOptions{ForcePath: true, RatchetTreeInWelcome: true})
	if err != nil {
		f.Fatal(err)
	}
	var d signaling.Commit
	d.Commit, _ = mls.Marshal(res.Commit)
	gi, _ := mls.NewMLSMessage(res.GroupInfo)
	d.GroupInfo, _ = mls.Marshal(gi)
	commit, _ = json.Marshal(d)
	return kp, commit
}

func FuzzDecodeCommit(f *testing.F) {
	_, commit := fuzzSeeds(f)
	seeds := [][]byte{commit, []byte(`{"commit":"AAE=","group_info":"AAE="}`), []byte(`{}`), []byte(`null`)}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := decodeCommit(raw)
		if err != nil {
			if err.Code != signaling.CodeBadMessage {
				t.Fatalf("code %q for undecodable input", err.Code)
			}
			return
		}
		if p.msg.PublicMessage.Content.Commit == nil || p.groupInfo == nil {
			t.Fatal("decoded commit without its parts")
		}
	})
}

func FuzzValidateKeyPackage(f *testing.F) {
	kp, _ := fuzzSeeds(f)
	seeds := [][]byte{kp, kp[:len(kp)/2], {0, 1, 0, 5}}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	cs, _ := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	s := &Service{cfg: Config{MaxKeyPackageLifetime: 30 * 24 * time.Hour}, cs: cs}
	m := Member{Subject: "alice"}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := s.validateKeyPackage(m, b, time.Now())
		if err != nil {
			return
		}
		var msg mls.MLSMessage
		if mls.Unmarshal(v.data, &msg) != nil || string(msg.KeyPackage.LeafNode.Credential.Identity) != "alice" || len(v.ref) == 0 {
			t.Fatal("accepted a KeyPackage that is not alice's")
		}
	})
}
