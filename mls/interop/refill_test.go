package interop_test

import (
	"errors"
	"testing"

	"github.com/sealroom/sealroom/mls"
)

// TestRemovedLeafRefilled: in a group of three, the creator removes leaf 1 and
// adds a member that takes leaf 1 in the same commit (RFC 9420 §12.3 applies
// Removes before Adds, an Add takes the leftmost blank leaf, §7.7). The
// removed member must learn it was removed, on both sides.
//
// ts-mls 1.6.4 decided "removed" from its own leaf after all proposals
// (applyProposals in clientState.js), found the joiner there, and failed to
// decrypt the UpdatePath that rightly excludes it ("No overlap between
// provided private keys and update path"). webapp/mls/patches/
// ts-mls+1.6.4+004+removed-leaf-refilled.patch decides it from the Removes.
func TestRemovedLeafRefilled(t *testing.T) {
	for _, victimKind := range []string{kindTS, kindGo} {
		t.Run("removed-"+victimKind, func(t *testing.T) {
			d := startDriver(t)
			var creator member
			gid := []byte("interop-refill")
			if victimKind == kindTS {
				creator = newGoCreator(t, suite(t), "go-0", gid, nil)
			} else {
				creator = newTSCreator(t, d, "ts-0", gid, nil)
			}
			r := newRoom(t, d, creator)
			r.commit(creator, change{adds: []joiner{r.newJoiner(victimKind), r.newJoiner(creator.kind())}})
			victim, bystander := r.members[1], r.members[2]
			if victim.leaf(t) != 1 {
				t.Fatalf("victim at leaf %d", victim.leaf(t))
			}
			j := r.newJoiner(victimKind)
			commit, welcome := creator.commit(t, [][]byte{j.keyPackage()}, []mls.LeafIndex{1}, false)
			_, _, err := victim.process(t, commit)
			if !errors.Is(err, mls.ErrRemoved) && !errors.Is(err, errRemovedTS) {
				t.Fatalf("%s removed member: %v, want removed", victimKind, err)
			}
			if kind, _, err := bystander.process(t, commit); err != nil || kind != "commit" {
				t.Fatalf("bystander: %s %v", kind, err)
			}
			joined := j.join(t, welcome)
			if joined.leaf(t) != 1 {
				t.Fatalf("joiner at leaf %d, want the removed member's leaf 1", joined.leaf(t))
			}
			r.members = []member{creator, bystander, joined}
			r.epoch++
			r.check()
			r.chat()
		})
	}
}
