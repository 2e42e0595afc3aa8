package interop_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/sealroom/sealroom/mls"
)

// randomEpochs is the length of each seeded random history.
const randomEpochs = 30

// TestInteropRandomHistories replays seeded random histories: random
// committers, 0-3 adds of either side, 0-2 removes, optional UpdatePath, and
// the server's external Add/Remove proposals committed by reference, in a
// group that lists the server in external_senders. A failure names its seed;
// INTEROP_SEEDS=n runs n seeds (default 4) for a longer hunt, from
// INTEROP_SEED_BASE (default 0).
func TestInteropRandomHistories(t *testing.T) {
	seeds := 4
	if s := os.Getenv("INTEROP_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("INTEROP_SEEDS=%q", s)
		}
		seeds = n
	}
	var base uint64
	if s := os.Getenv("INTEROP_SEED_BASE"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("INTEROP_SEED_BASE=%q", s)
		}
		base = n
	}
	for seed := base; seed < base+uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) { randomHistory(t, seed) })
	}
}

func randomHistory(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5ea1))
	cs := suite(t)
	d := startDriver(t)
	serverPriv, serverPub, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	senders := mls.ExternalSenders{{SignatureKey: serverPub, Credential: mls.NewBasicCredential([]byte("sealroom-server"))}}
	extData := encode(t, &senders)
	gid := fmt.Appendf(nil, "interop-random-%d", seed)
	var creator member
	if rng.IntN(2) == 0 {
		creator = newGoCreator(t, cs, "go-0", gid, mls.Extensions{{Type: mls.ExtensionTypeExternalSenders, Data: extData}})
	} else {
		creator = newTSCreator(t, d, "ts-0", gid, []extension{{Type: "external_senders", Data: extData}})
	}
	r := newRoom(t, d, creator)
	// One Go and one ts-mls member talk each epoch, to keep the run short.
	r.senders = func() []member {
		var out []member
		for _, k := range []string{kindGo, kindTS} {
			if pool := r.byKind(k); len(pool) > 0 {
				out = append(out, pool[rng.IntN(len(pool))])
			}
		}
		return out
	}
	kinds := []string{kindGo, kindTS}
	r.commit(creator, change{adds: []joiner{r.newJoiner(otherKind(creator.kind()))}})
	for r.epoch < randomEpochs {
		by := r.members[rng.IntN(len(r.members))]
		var c change
		if len(r.members) < maxRandomMembers(t) {
			for range rng.IntN(4) {
				c.adds = append(c.adds, r.newJoiner(kinds[rng.IntN(2)]))
			}
		}
		if rng.IntN(3) == 0 && len(r.members) > 3 {
			// The server proposes; `by` commits by reference, possibly with
			// inline proposals of its own.
			j := r.newJoiner(kinds[rng.IntN(2)])
			kp := decodeMessage(t, j.keyPackage(), mls.WireFormatKeyPackage).KeyPackage
			st := r.members[0].state(t)
			msg, err := mls.NewExternalProposal(cs, st.groupID, st.epoch, 0, &mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *kp}}, serverPriv)
			if err != nil {
				t.Fatal(err)
			}
			r.deliver(encode(t, msg))
			c.pendingAdds = []joiner{j}
			if gone := removable(r, by, kinds[rng.IntN(2)], 1); len(gone) == 1 {
				msg, err := mls.NewExternalProposal(cs, st.groupID, st.epoch, 0, &mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: gone[0].leaf(t)}}, serverPriv)
				if err != nil {
					t.Fatal(err)
				}
				r.deliver(encode(t, msg))
				c.pendingRemoves = gone
			}
		}
		if n := rng.IntN(3); n > 0 {
			for _, m := range removable(r, by, kinds[rng.IntN(2)], n) {
				if !containsMember(c.pendingRemoves, m) {
					c.removes = append(c.removes, m)
				}
			}
		}
		// ts-mls has no ForcePath: it sends a path only when required
		// (an empty commit or a remove, RFC 9420 §12.4).
		if len(c.adds)+len(c.pendingAdds)+len(c.removes)+len(c.pendingRemoves) == 0 {
			c.update = true
		} else if by.kind() == kindGo && len(c.removes)+len(c.pendingRemoves) == 0 {
			c.update = rng.IntN(2) == 0
		}
		r.commit(by, c)
		t.Logf("epoch %d: %s %s committed %s; members: %d Go, %d ts-mls", r.epoch, by.kind(), by.name(), c, len(r.byKind(kindGo)), len(r.byKind(kindTS)))
	}
}

// maxRandomMembers caps the random groups: 10, or INTEROP_MAX_MEMBERS.
func maxRandomMembers(t *testing.T) int {
	if s := os.Getenv("INTEROP_MAX_MEMBERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			t.Fatalf("INTEROP_MAX_MEMBERS=%q", s)
		}
		return n
	}
	return 10
}

func containsMember(ms []member, m member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}
