package interop_test

import (
	"testing"

	"github.com/sealroom/sealroom/mls"
)

// TestInteropExternalSender is DESIGN.md's room flow: the server is the
// group's external sender (RFC 9420 §12.1.8.1), its key in the
// external_senders extension in the RFC wire form as Go's mls.ExternalSenders
// encodes it. The server (Go, mls.NewExternalProposal) proposes an Add and a
// Remove; every member stores both; one member commits them by reference
// (§12.4), alternately a ts-mls and a Go member, and everyone else follows.
// A proposal signed with another key is refused by both sides and changes
// nothing.
func TestInteropExternalSender(t *testing.T) {
	for _, creatorKind := range []string{kindGo, kindTS} {
		t.Run("created-by-"+creatorKind, func(t *testing.T) { externalSender(t, creatorKind) })
	}
}

func externalSender(t *testing.T, creatorKind string) {
	cs := suite(t)
	d := startDriver(t)
	serverPriv, serverPub, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	// Index 0 is a decoy, so a wrong sender_index cannot pass by accident.
	decoyPriv, decoyPub, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	senders := mls.ExternalSenders{
		{SignatureKey: decoyPub, Credential: mls.NewBasicCredential([]byte("decoy"))},
		{SignatureKey: serverPub, Credential: mls.NewBasicCredential([]byte("sealroom-server"))},
	}
	const serverIndex = 1
	extData := encode(t, &senders)

	gid := []byte("interop-external-sender")
	var creator member
	if creatorKind == kindGo {
		creator = newGoCreator(t, cs, "go-0", gid, mls.Extensions{{Type: mls.ExtensionTypeExternalSenders, Data: extData}})
	} else {
		creator = newTSCreator(t, d, "ts-0", gid, []extension{{Type: "external_senders", Data: extData}})
	}
	r := newRoom(t, d, creator)
	other := otherKind(creatorKind)
	r.commit(creator, change{adds: []joiner{r.newJoiner(other), r.newJoiner(creatorKind), r.newJoiner(other)}})

	propose := func(p *mls.Proposal, index uint32, signPriv []byte) []byte {
		t.Helper()
		st := r.members[0].state(t)
		msg, err := mls.NewExternalProposal(cs, st.groupID, st.epoch, index, p, signPriv)
		if err != nil {
			t.Fatal(err)
		}
		return encode(t, msg)
	}
	rounds := []struct{ committer, add, remove string }{
		{committer: kindTS, add: kindGo, remove: kindGo},
		{committer: kindGo, add: kindTS, remove: kindTS},
		{committer: kindTS, add: kindTS, remove: kindGo},
		{committer: kindGo, add: kindGo, remove: kindTS},
	}
	for _, rd := range rounds {
		by := r.byKind(rd.committer)[0]
		j := r.newJoiner(rd.add)
		gone := removable(r, by, rd.remove, 1)
		if len(gone) != 1 || gone[0].kind() != rd.remove {
			t.Fatalf("epoch %d: no %s member to remove", r.epoch, rd.remove)
		}
		kp := decodeMessage(t, j.keyPackage(), mls.WireFormatKeyPackage).KeyPackage
		add := &mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *kp}}
		remove := &mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: gone[0].leaf(t)}}

		// Signed by the decoy's key but claiming the server's index, or the
		// server's signature under the decoy's index: refused everywhere.
		for _, forged := range [][]byte{propose(remove, serverIndex, decoyPriv), propose(remove, 0, serverPriv)} {
			for _, m := range r.members {
				if _, _, err := m.process(t, forged); err == nil {
					t.Fatalf("epoch %d: %s %s accepted a forged external proposal", r.epoch, m.kind(), m.name())
				}
			}
		}
		r.deliver(propose(add, serverIndex, serverPriv))
		r.deliver(propose(remove, serverIndex, serverPriv))
		r.commit(by, change{pendingAdds: []joiner{j}, pendingRemoves: gone})
		t.Logf("epoch %d: server proposed add %s and remove %s; %s %s committed them by reference", r.epoch, j.name(), gone[0].name(), by.kind(), by.name())
	}
}
