package interop_test

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sealroom/sealroom/mls"
)

// room is one MLS group with Go and ts-mls members. Its operations are the
// Delivery Service's view: a handshake goes from its sender to every other
// member as bytes, and the room checks agreement after every epoch.
type room struct {
	tb      testing.TB
	cs      *mls.CipherSuite
	d       *driver
	members []member
	epoch   uint64
	names   map[string]int // per-kind counter for fresh names
	// senders picks who sends application messages after each commit;
	// every member when nil.
	senders func() []member
}

func newRoom(tb testing.TB, d *driver, creator member) *room {
	tb.Helper()
	r := &room{tb: tb, cs: suite(tb), d: d, members: []member{creator}, names: map[string]int{}}
	r.check()
	return r
}

// newJoiner makes a fresh Go or ts-mls joiner with a unique name.
func (r *room) newJoiner(kind string) joiner {
	r.tb.Helper()
	prefix := map[string]string{kindGo: "go", kindTS: "ts"}[kind]
	r.names[kind]++
	name := fmt.Sprintf("%s-%d", prefix, r.names[kind])
	if kind == kindGo {
		return newGoJoiner(r.tb, r.cs, name)
	}
	return newTSJoiner(r.tb, r.d, name)
}

// change is one commit: adds and removes sent by value, and the joiners
// and removed members of proposals already delivered (committed by
// reference, RFC 9420 §12.4).
type change struct {
	adds, pendingAdds       []joiner
	removes, pendingRemoves []member
	update                  bool
}

func (c change) String() string {
	var parts []string
	for _, j := range c.adds {
		parts = append(parts, "add "+j.name())
	}
	for _, j := range c.pendingAdds {
		parts = append(parts, "add "+j.name()+" (by reference)")
	}
	for _, m := range c.removes {
		parts = append(parts, "remove "+m.name())
	}
	for _, m := range c.pendingRemoves {
		parts = append(parts, "remove "+m.name()+" (by reference)")
	}
	if c.update || len(parts) == 0 {
		parts = append(parts, "update")
	}
	return fmt.Sprint(parts)
}

// commit has `by` commit c; every other member processes the commit, removed
// members learn they are out, joiners join from the Welcome. Then every
// member must be in the next epoch with the same authenticator and SFrame
// base key, and application messages must flow from every member to all.
func (r *room) commit(by member, c change) {
	r.tb.Helper()
	var adds [][]byte
	for _, j := range c.adds {
		adds = append(adds, j.keyPackage())
	}
	var removes []mls.LeafIndex
	for _, m := range c.removes {
		removes = append(removes, m.leaf(r.tb))
	}
	commit, welcome := by.commit(r.tb, adds, removes, c.update)
	r.checkShape(commit, c)
	joiners := append(slices.Clone(c.adds), c.pendingAdds...)
	if (welcome == nil) != (len(joiners) == 0) {
		r.tb.Fatalf("epoch %d, %s %s by %s: Welcome present=%v with %d joiners", r.epoch+1, by.kind(), c, by.name(), welcome != nil, len(joiners))
	}
	removed := append(slices.Clone(c.removes), c.pendingRemoves...)
	var next []member
	for _, m := range r.members {
		if m == by {
			next = append(next, m)
			continue
		}
		kind, _, err := m.process(r.tb, commit)
		if slices.Contains(removed, m) {
			// RFC 9420 §12.4.2: a removed member learns it from the commit, also when
			// an Add of the same commit refills its leaf (TestRemovedLeafRefilled).
			if !errors.Is(err, mls.ErrRemoved) && !errors.Is(err, errRemovedTS) {
				r.tb.Fatalf("epoch %d: %s %s, removed by %s's commit %s, got %v", r.epoch+1, m.kind(), m.name(), by.name(), c, err)
			}
			continue
		}
		if err != nil || kind != "commit" {
			r.tb.Fatalf("epoch %d: %s %s rejected %s %s's commit %s: %s %v", r.epoch+1, m.kind(), m.name(), by.kind(), by.name(), c, kind, err)
		}
		next = append(next, m)
	}
	for _, j := range joiners {
		next = append(next, j.join(r.tb, welcome))
	}
	for _, m := range removed {
		if tm, ok := m.(*tsMember); ok {
			r.d.must(r.tb, request{Op: "forget", Name: tm.nm})
		}
	}
	r.members = next
	r.epoch++
	r.check()
	r.chat()
}

// deliver hands an external proposal (the server's) to every member.
func (r *room) deliver(msg []byte) {
	r.tb.Helper()
	for _, m := range r.members {
		kind, _, err := m.process(r.tb, msg)
		if err != nil || kind != "proposal" {
			r.tb.Fatalf("epoch %d: %s %s rejected the external proposal: %s %v", r.epoch, m.kind(), m.name(), kind, err)
		}
	}
}

// check asserts that every member is in the room's epoch with the same
// epoch authenticator and SFrame base key; values are never printed.
func (r *room) check() {
	r.tb.Helper()
	first := r.members[0].state(r.tb)
	if first.epoch != r.epoch {
		r.tb.Fatalf("%s is at epoch %d, want %d", r.members[0].name(), first.epoch, r.epoch)
	}
	if len(first.authenticator) != r.cs.HashLength() || len(first.sframeBaseKey) != sframeNk {
		r.tb.Fatalf("%s: authenticator %d bytes, base key %d bytes", r.members[0].name(), len(first.authenticator), len(first.sframeBaseKey))
	}
	leaves := map[mls.LeafIndex]string{}
	for _, m := range r.members {
		s := first
		if m != r.members[0] {
			s = m.state(r.tb)
		}
		if s.epoch != first.epoch {
			r.tb.Fatalf("%s %s is at epoch %d, %s at %d", m.kind(), m.name(), s.epoch, r.members[0].name(), first.epoch)
		}
		if !bytes.Equal(s.groupID, first.groupID) {
			r.tb.Fatalf("%s %s is in another group", m.kind(), m.name())
		}
		if subtle.ConstantTimeCompare(s.authenticator, first.authenticator) != 1 {
			r.tb.Fatalf("epoch %d: %s %s and %s %s disagree on the epoch authenticator", s.epoch, m.kind(), m.name(), r.members[0].kind(), r.members[0].name())
		}
		if subtle.ConstantTimeCompare(s.sframeBaseKey, first.sframeBaseKey) != 1 {
			r.tb.Fatalf("epoch %d: %s %s and %s %s disagree on the SFrame base key", s.epoch, m.kind(), m.name(), r.members[0].kind(), r.members[0].name())
		}
		if other, dup := leaves[s.leaf]; dup {
			r.tb.Fatalf("%s and %s both hold leaf %d", other, m.name(), s.leaf)
		}
		leaves[s.leaf] = m.name()
	}
}

// chat has every member (or those r.senders picks) send one application
// message (PrivateMessage) that every other member decrypts to the same text.
func (r *room) chat() {
	r.tb.Helper()
	from := r.members
	if r.senders != nil {
		from = r.senders()
	}
	for _, from := range from {
		text := fmt.Appendf(nil, "epoch %d: hello from %s %s", r.epoch, from.kind(), from.name())
		msg := from.sendApp(r.tb, text)
		for _, to := range r.members {
			if to == from {
				continue
			}
			kind, got, err := to.process(r.tb, msg)
			if err != nil || kind != "application" {
				r.tb.Fatalf("epoch %d: %s %s cannot read %s %s's message: %s %v", r.epoch, to.kind(), to.name(), from.kind(), from.name(), kind, err)
			}
			if !bytes.Equal(got, text) {
				r.tb.Fatalf("epoch %d: %s %s read another text from %s %s", r.epoch, to.kind(), to.name(), from.kind(), from.name())
			}
		}
	}
}

// byKind returns the members of one kind, in room order.
func (r *room) byKind(kind string) []member {
	var out []member
	for _, m := range r.members {
		if m.kind() == kind {
			out = append(out, m)
		}
	}
	return out
}

// checkShape decodes a commit as the Delivery Service would and checks it
// is what was asked for: a PublicMessage (DESIGN.md), new proposals inline
// and delivered ones by reference (RFC 9420 §12.4), an UpdatePath for an
// update or a remove (§12.4: Remove requires one), and none on an adds-only
// commit, which is what makes the churn case leave unmerged leaves.
func (r *room) checkShape(commit []byte, c change) {
	r.tb.Helper()
	pm := decodeMessage(r.tb, commit, mls.WireFormatPublicMessage).PublicMessage
	if pm.Content.ContentType != mls.ContentTypeCommit || pm.Content.Commit == nil {
		r.tb.Fatalf("epoch %d: the commit message carries content type %d", r.epoch+1, pm.Content.ContentType)
	}
	var inline, refs int
	for _, p := range pm.Content.Commit.Proposals {
		if p.Type == mls.ProposalOrRefTypeProposal {
			inline++
		} else {
			refs++
		}
	}
	if inline != len(c.adds)+len(c.removes) || refs != len(c.pendingAdds)+len(c.pendingRemoves) {
		r.tb.Fatalf("epoch %d: commit %s has %d inline proposals and %d references", r.epoch+1, c, inline, refs)
	}
	needPath := c.update || len(c.removes)+len(c.pendingRemoves) > 0
	if hasPath := pm.Content.Commit.Path != nil; hasPath != needPath {
		r.tb.Fatalf("epoch %d: commit %s has UpdatePath=%v, want %v", r.epoch+1, c, hasPath, needPath)
	}
}
