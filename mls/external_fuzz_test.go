package mls

import (
	"bytes"
	"testing"
)

// FuzzExternalCommit feeds mutations of a genuine external commit to a
// member (joined from a passive-client vector) and to a Delivery Service
// view of the same group: neither may panic, and a rejected message leaves
// the member's state byte for byte as it was.
func FuzzExternalCommit(f *testing.F) {
	var vs []passiveClientVector
	loadVectors(f, "passive-client-handling-commit.json", &vs)
	if len(vs) == 0 {
		f.Fatal("empty seed corpus")
	}
	v := vs[0]
	cs, err := CipherSuiteByID(CipherSuiteID(v.CipherSuite))
	if err != nil {
		f.Fatal(err)
	}
	g := v.join(f, cs)
	gi, err := g.GroupInfo(true)
	if err != nil {
		f.Fatal(err)
	}
	g.Close()
	out := newTestMember(f, cs, "joiner")
	_, res, err := JoinExternal(cs, gi, nil, ExternalJoinParams{SignPriv: out.sign, Credential: out.kp.LeafNode.Credential})
	if err != nil {
		f.Fatal(err)
	}
	seed, err := Marshal(res.Commit)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m MLSMessage
		if Unmarshal(b, &m) != nil {
			return
		}
		g := v.join(t, cs)
		defer g.Close()
		ds, err := NewPublicGroup(cs, gi, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = ds.Process(&m)
		before, err := g.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Process(&m)
		if err != nil && bytes.Equal(b, seed) {
			t.Fatalf("genuine external commit rejected: %v", err)
		}
		if err != nil {
			after, _ := g.MarshalState()
			if !bytes.Equal(before, after) {
				t.Fatal("rejected message changed the state")
			}
		}
	})
}
