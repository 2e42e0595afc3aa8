package interop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sealroom/sealroom/mls"
)

// isTSRemovedLeafRefilled recognises a ts-mls 1.6.4 bug: a member removed by
// a commit that also adds a member does not learn it was removed.
//
// RFC 9420 §12.3 applies Removes before Adds, and an Add takes the leftmost
// blank leaf (§7.7), so the joiner can take the removed member's own leaf in
// the same commit. ts-mls decides "removed" by looking at its own leaf after
// all proposals are applied (applyProposals, src/clientState.ts:
// `selfRemoved = mutatedTree[leafToNodeIndex(ownLeaf)] === undefined`), finds
// the joiner's leaf there, believes it is still a member and then fails to
// decrypt the UpdatePath, which rightly excludes it (§7.5, §12.4.2), with an
// InternalError instead of reporting removedFromGroup. The fix is to decide it
// from the Remove proposals: `grouped.remove.some((p) => p.proposal.remove.removed
// === state.privatePath.leafIndex)`. The group itself is unaffected: every
// remaining member and the joiner agree; only the removed browser gets an
// error instead of "you were removed". sealroom's Go side reports
// mls.ErrRemoved in the same situation.
func isTSRemovedLeafRefilled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "No overlap between provided private keys and update path")
}

// TestTSMLSRemovedLeafRefilledBug pins the bug so the workaround in
// room.commit is dropped when ts-mls is fixed (or patched), and shows the Go
// side right in the mirror case: in a group of three, the creator removes
// leaf 1 and adds a member that takes leaf 1 in the same commit.
func TestTSMLSRemovedLeafRefilledBug(t *testing.T) {
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
			switch victimKind {
			case kindTS:
				if !isTSRemovedLeafRefilled(err) {
					t.Fatalf("ts-mls no longer fails this way (%v): drop the workaround in room.commit and this case", err)
				}
			case kindGo:
				if !errors.Is(err, mls.ErrRemoved) {
					t.Fatalf("Go removed member: %v, want mls.ErrRemoved", err)
				}
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
