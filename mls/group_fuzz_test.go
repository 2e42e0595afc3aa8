package mls

import (
	"bytes"
	"testing"
)

// FuzzGroupProcess feeds arbitrary messages to a member (joined from a
// passive-client vector) and to a Delivery Service view of the same group:
// neither may panic, and a rejected message must leave the member's epoch
// as it was.
func FuzzGroupProcess(f *testing.F) {
	var vs []passiveClientVector
	loadVectors(f, "passive-client-handling-commit.json", &vs)
	if len(vs) == 0 || len(vs[0].Epochs) == 0 {
		f.Fatal("empty seed corpus")
	}
	v := vs[0]
	cs, err := CipherSuiteByID(CipherSuiteID(v.CipherSuite))
	if err != nil {
		f.Fatal(err)
	}
	for _, ep := range v.Epochs {
		f.Add([]byte(ep.Commit))
		for _, p := range ep.Proposals {
			f.Add([]byte(p))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m MLSMessage
		if Unmarshal(b, &m) != nil {
			return
		}
		g := v.join(t, cs)
		defer g.Close()
		gi, err := g.GroupInfo(true)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := NewPublicGroup(cs, gi, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = ds.Process(&m)
		before := g.EpochAuthenticator()
		if _, err := g.Process(&m); err != nil && !bytes.Equal(before, g.EpochAuthenticator()) {
			t.Fatal("rejected message changed the epoch")
		}
	})
}
