package interop_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/sealroom/sealroom/mls"
)

// BenchmarkGoMLS times, in Go, the operations webapp/mls/interop/bench.mjs
// times for ts-mls, on the same group shape: one creator adds N-1 members in
// one commit, the member at leaf 1 joins from the Welcome, the creator commits
// once with an UpdatePath. The creator's copath stays blank, so each path
// commit encrypts to every other leaf (RFC 9420 §7.6): a fresh meeting's worst
// case. Each figure is also reported against Ed25519 signing of 1 KiB measured
// in the same run (metric x-ed25519), as bench.mjs prints its own baseline.
//
//	go test ./mls/interop -run '^$' -bench GoMLS -benchtime 200ms
func BenchmarkGoMLS(b *testing.B) {
	cs := suite(b)
	payload := make([]byte, 1024)
	signPriv, _, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	var baseNs float64
	b.Run("baseline-ed25519-sign-1KiB", func(b *testing.B) {
		key := ed25519.NewKeyFromSeed(signPriv[:ed25519.SeedSize])
		for b.Loop() {
			ed25519.Sign(key, payload)
		}
		baseNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	ratio := func(b *testing.B) {
		if b.N > 0 && baseNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseNs, "x-ed25519")
		}
	}
	for _, n := range []int{2, 16, 128, 1000} {
		if testing.Short() && n > 128 {
			continue
		}
		a, m := benchGroup(b, cs, n)
		b.Run(fmt.Sprintf("N=%d/update-commit-create", n), func(b *testing.B) {
			for b.Loop() {
				res, err := a.Commit(mls.CommitOptions{ForcePath: true})
				if err != nil {
					b.Fatal(err)
				}
				encode(b, res.Commit)
				a.DiscardCommit()
			}
			ratio(b)
		})
		b.Run(fmt.Sprintf("N=%d/update-commit-process", n), func(b *testing.B) {
			// Each round needs a commit for the member's current epoch: the
			// creator makes and merges one with the timer stopped.
			for b.Loop() {
				b.StopTimer()
				res, err := a.Commit(mls.CommitOptions{ForcePath: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := a.MergeCommit(); err != nil {
					b.Fatal(err)
				}
				wire := encode(b, res.Commit)
				b.StartTimer()
				var msg mls.MLSMessage
				if err := mls.Unmarshal(wire, &msg); err != nil {
					b.Fatal(err)
				}
				if _, err := m.Process(&msg); err != nil {
					b.Fatal(err)
				}
			}
			ratio(b)
		})
		j := newGoJoiner(b, cs, "joiner")
		add := []*mls.Proposal{{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *j.kp}}}
		var welcome []byte
		b.Run(fmt.Sprintf("N=%d/add-1-commit", n), func(b *testing.B) {
			for b.Loop() {
				res, err := a.Commit(mls.CommitOptions{Proposals: add, RatchetTreeInWelcome: true})
				if err != nil {
					b.Fatal(err)
				}
				encode(b, res.Commit)
				welcome = encode(b, &mls.MLSMessage{Version: mls.ProtocolVersionMLS10, WireFormat: mls.WireFormatWelcome, Welcome: res.Welcome})
				a.DiscardCommit()
			}
			ratio(b)
		})
		b.Run(fmt.Sprintf("N=%d/add-1-join", n), func(b *testing.B) {
			for b.Loop() {
				var msg mls.MLSMessage
				if err := mls.Unmarshal(welcome, &msg); err != nil {
					b.Fatal(err)
				}
				g, err := mls.JoinFromWelcome(cs, msg.Welcome, mls.JoinParams{KeyPackage: j.kp, Secrets: j.sec, SignPriv: j.sign})
				if err != nil {
					b.Fatal(err)
				}
				g.Close()
			}
			ratio(b)
		})
		b.Run(fmt.Sprintf("N=%d/app-1KiB-protect", n), func(b *testing.B) {
			for b.Loop() {
				msg, err := a.EncryptApplication(payload, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				encode(b, msg)
			}
			ratio(b)
		})
		b.Run(fmt.Sprintf("N=%d/app-1KiB-unprotect", n), func(b *testing.B) {
			// A fresh epoch: protect above used more generations than the
			// receiver's forward window (RFC 9420 §9.1) would skip.
			res, err := a.Commit(mls.CommitOptions{ForcePath: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := a.MergeCommit(); err != nil {
				b.Fatal(err)
			}
			if _, err := m.Process(res.Commit); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				b.StopTimer()
				msg, err := a.EncryptApplication(payload, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				wire := encode(b, msg)
				b.StartTimer()
				var in mls.MLSMessage
				if err := mls.Unmarshal(wire, &in); err != nil {
					b.Fatal(err)
				}
				if _, err := m.Process(&in); err != nil {
					b.Fatal(err)
				}
			}
			ratio(b)
		})
	}
}

// benchGroup builds the shape described on BenchmarkGoMLS and returns the
// creator and the member at leaf 1.
func benchGroup(b *testing.B, cs *mls.CipherSuite, n int) (creator, member *mls.Group) {
	b.Helper()
	start := time.Now()
	a := newGoCreator(b, cs, "m0", fmt.Appendf(nil, "bench-%d", n), nil).g
	joiners := make([]*goJoiner, n-1)
	var adds []*mls.Proposal
	for i := range joiners {
		joiners[i] = newGoJoiner(b, cs, fmt.Sprintf("m%d", i+1))
		adds = append(adds, &mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *joiners[i].kp}})
	}
	res, err := a.Commit(mls.CommitOptions{Proposals: adds, RatchetTreeInWelcome: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.MergeCommit(); err != nil {
		b.Fatal(err)
	}
	m := joiners[0].join(b, encode(b, &mls.MLSMessage{Version: mls.ProtocolVersionMLS10, WireFormat: mls.WireFormatWelcome, Welcome: res.Welcome})).(*goMember).g
	res, err = a.Commit(mls.CommitOptions{ForcePath: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.MergeCommit(); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Process(res.Commit); err != nil {
		b.Fatal(err)
	}
	b.Logf("N=%d: group built in %v", n, time.Since(start).Round(time.Millisecond))
	return a, m
}
