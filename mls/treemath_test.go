package mls

import "testing"

type treeMathVector struct {
	NLeaves uint32    `json:"n_leaves"`
	NNodes  uint32    `json:"n_nodes"`
	Root    uint32    `json:"root"`
	Left    []*uint32 `json:"left"`
	Right   []*uint32 `json:"right"`
	Parent  []*uint32 `json:"parent"`
	Sibling []*uint32 `json:"sibling"`
}

func checkOpt(t *testing.T, what string, i int, got NodeIndex, ok bool, want *uint32) {
	t.Helper()
	switch {
	case want == nil && ok:
		t.Errorf("%s[%d] = %d, want none", what, i, got)
	case want != nil && !ok:
		t.Errorf("%s[%d] = none, want %d", what, i, *want)
	case want != nil && uint32(got) != *want:
		t.Errorf("%s[%d] = %d, want %d", what, i, got, *want)
	}
}

func TestTreeMathVectors(t *testing.T) {
	var vs []treeMathVector
	loadVectors(t, "tree-math.json", &vs)
	for _, v := range vs {
		if got := NodeWidth(v.NLeaves); got != v.NNodes {
			t.Errorf("n=%d: width %d want %d", v.NLeaves, got, v.NNodes)
		}
		if got := Root(v.NLeaves); uint32(got) != v.Root {
			t.Errorf("n=%d: root %d want %d", v.NLeaves, got, v.Root)
		}
		for i := range v.Left {
			x := NodeIndex(i)
			l, ok := x.Left()
			checkOpt(t, "left", i, l, ok, v.Left[i])
			r, ok := x.Right()
			checkOpt(t, "right", i, r, ok, v.Right[i])
			p, ok := x.Parent(v.NLeaves)
			checkOpt(t, "parent", i, p, ok, v.Parent[i])
			s, ok := x.Sibling(v.NLeaves)
			checkOpt(t, "sibling", i, s, ok, v.Sibling[i])
		}
	}
}

func TestDirectPathAndCopath(t *testing.T) {
	// Tree of 4 leaves: root 3, parents 1 and 5.
	dp := LeafIndex(0).NodeIndex().DirectPath(4)
	if len(dp) != 2 || dp[0] != 1 || dp[1] != 3 {
		t.Fatalf("direct path of leaf 0: %v", dp)
	}
	cp := LeafIndex(0).NodeIndex().Copath(4)
	if len(cp) != 2 || cp[0] != 2 || cp[1] != 5 {
		t.Fatalf("copath of leaf 0: %v", cp)
	}
	if !NodeIndex(3).IsAncestorOf(6) || NodeIndex(1).IsAncestorOf(4) {
		t.Fatal("IsAncestorOf")
	}
}
