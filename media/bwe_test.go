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
			a := allocate(tc.estimate, tc.audio, video, tc.wasPaused)
			if a.paused != tc.wantPause {
				t.Fatalf("paused = %v", a.paused)
			}
			if !a.paused && !slices.Equal(a.layer, tc.want) {
				t.Fatalf("layers %v want %v", a.layer, tc.want)
			}
		})
	}
	if a := allocate(0, 0, nil, false); a.paused {
		t.Fatal("no video: nothing to pause")
	}
}
