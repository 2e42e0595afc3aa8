package client

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// A member updates its own leaf on its own, every UpdateInterval (short here): the other
// members see its leaf's encryption key replaced, with no change of membership.
func TestPeriodicUpdate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := testRoom(t, ctx)
	bob := dial("bob", Config{UpdateInterval: -1})                    // never updates by itself
	_ = dial("alice", Config{UpdateInterval: 300 * time.Millisecond}) // about three times a second
	// aliceKey is alice's leaf encryption key as bob's group has it.
	aliceKey := func() (key []byte, epoch uint64, members int) {
		done := make(chan struct{})
		bob.do(func() {
			defer close(done)
			if bob.group == nil {
				return
			}
			t := bob.group.Tree()
			for i := range t.LeafCount() {
				leaf := t.Leaf(mls.LeafIndex(i))
				if leaf == nil {
					continue
				}
				members++
				if string(leaf.Credential.Identity) == "alice" {
					key = bytes.Clone(leaf.EncryptionKey)
				}
			}
			epoch = bob.group.Epoch()
		})
		<-done
		return
	}
	poll.Until(t, 10*time.Second, "bob to hold alice's leaf", func() bool { k, _, _ := aliceKey(); return k != nil })
	first, e0, n0 := aliceKey()
	poll.Until(t, 10*time.Second, "alice's periodic update to reach bob", func() bool {
		k, e, n := aliceKey()
		return !bytes.Equal(k, first) && e > e0 && n == n0
	})
	_, e1, _ := aliceKey()
	t.Logf("alice's leaf key replaced by her own update: epoch %d -> %d, membership unchanged (%d)", e0, e1, n0)
}
