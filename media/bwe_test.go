package media

import (
	"slices"
	"testing"
)

func TestAllocateAudioFirst(t *testing.T) {
	video := [][]int64{{100_000, 400_000, 1_500_000}, {150_000}}
	tests := []struct {
		name      string
		estimate  int64
		audio     int64
		wasPaused bool
		wantPause bool
		want      []int
	}{
		{"plenty", 10_000_000, 64_000, false, false, []int{2, 0}},
		{"middle layer", 1_000_000, 64_000, false, false, []int{1, 0}},
		{"lowest only", 340_000, 64_000, false, false, []int{0, 0}},
		{"audio eats the budget", 280_000, 64_000, false, true, nil},
		{"no resume without headroom", 330_000, 64_000, true, true, nil},
		{"resume with headroom", 400_000, 64_000, true, false, []int{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := allocate(tc.estimate, tc.audio, video, []int{-1, -1}, tc.wasPaused)
			if a.paused != tc.wantPause {
				t.Fatalf("paused = %v", a.paused)
			}
			if !a.paused && !slices.Equal(a.layer, tc.want) {
				t.Fatalf("layers %v want %v", a.layer, tc.want)
			}
		})
	}
	if a := allocate(0, 0, nil, nil, false); a.paused {
		t.Fatal("no video: nothing to pause")
	}
}

// A track moves up a layer only with headroom to spare, and down at once:
// an estimate near a layer's rate does not switch it every round.
func TestAllocateUpWithHeadroom(t *testing.T) {
	video := [][]int64{{100_000, 400_000, 1_500_000}}
	for _, tc := range []struct {
		share   int64
		current int
		want    int
	}{
		{420_000, 0, 0}, // 400k fits, but not with 20% to spare: stay
		{480_000, 0, 1}, // 400k * 1.2: move up
		{420_000, 1, 1}, // already there: stay while it fits
		{390_000, 1, 0}, // no longer fits: down at once
		{1_700_000, 1, 1},
		{1_800_000, 1, 2},
		{1_800_000, -1, 2},
		{1_500_000, -1, 2}, // nothing to hold on to: the highest that fits
	} {
		a := allocate(tc.share, 0, video, []int{tc.current}, false)
		if a.paused || a.layer[0] != tc.want {
			t.Errorf("share %d on layer %d: got layer %v (paused %v), want %d", tc.share, tc.current, a.layer, a.paused, tc.want)
		}
	}
}
