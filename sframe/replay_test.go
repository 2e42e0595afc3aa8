package sframe

import (
	"math/rand/v2"
	"testing"
)

// TestReplayWindowModel compares the bitmap window with a set-based model.
func TestReplayWindowModel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var w replayWindow
	seen := map[uint64]bool{}
	var top uint64
	used := false
	for i := 0; i < 50000; i++ {
		var ctr uint64
		switch r.IntN(4) {
		case 0:
			ctr = top + uint64(r.IntN(3))
		case 1:
			ctr = top + uint64(r.IntN(1500))
		default:
			ctr = top - min(top, uint64(r.IntN(1100)))
		}
		want := error(nil)
		if used && ctr <= top {
			switch {
			case top-ctr >= ReplayWindow:
				want = ErrTooOld
			case seen[ctr]:
				want = ErrReplay
			}
		}
		if got := w.check(ctr); got != want {
			t.Fatalf("step %d ctr %d top %d: got %v want %v", i, ctr, top, got, want)
		}
		if want == nil {
			w.accept(ctr)
			seen[ctr] = true
			if !used || ctr > top {
				top = ctr
			}
			used = true
		}
	}
}
