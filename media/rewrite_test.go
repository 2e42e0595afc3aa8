package media

import "testing"

func TestRewriterContinuityAcrossSwitch(t *testing.T) {
	r := newRewriter(1000, 5000, 90000)
	r.anchor(40000, 123456, 0)
	var last uint16
	for i := range uint16(5) {
		s, ts, ok := r.rewrite(40000+i, 123456+3000*uint32(i), int64(i)*33e6)
		if !ok {
			t.Fatalf("packet %d refused", i)
		}
		if s != 1000+i || ts != 5000+3000*uint32(i) {
			t.Fatalf("packet %d: got seq %d ts %d", i, s, ts)
		}
		last = s
	}
	// Switch to another source with unrelated numbering 100 ms later.
	r.anchor(7, 99, 4*33e6+100e6)
	s, ts, ok := r.rewrite(7, 99, 4*33e6+100e6)
	if !ok || s != last+1 {
		t.Fatalf("after switch: seq %d ok %v, want %d", s, ok, last+1)
	}
	if want := uint32(5000 + 4*3000 + 9000); ts != want {
		t.Fatalf("after switch: ts %d want %d", ts, want)
	}
	// A packet of the new source older than the anchor would reuse a
	// sequence number of the old source.
	if _, _, ok := r.rewrite(6, 0, 0); ok {
		t.Fatal("packet before anchor forwarded")
	}
	// Reordered packets keep their relative order.
	s9, _, _ := r.rewrite(9, 99, 0)
	s8, _, _ := r.rewrite(8, 99, 0)
	if s9 != last+3 || s8 != last+2 {
		t.Fatalf("reorder: got %d %d", s8, s9)
	}
}

func TestRewriterWrap(t *testing.T) {
	r := newRewriter(65535, 0xffffffff, 48000)
	r.anchor(65534, 10, 0)
	a, _, _ := r.rewrite(65534, 10, 0)
	b, _, _ := r.rewrite(65535, 970, 0)
	c, _, ok := r.rewrite(0, 1930, 0)
	if a != 65535 || b != 0 || c != 1 || !ok {
		t.Fatalf("wrap: %d %d %d %v", a, b, c, ok)
	}
	r.unanchor()
	if _, _, ok := r.rewrite(1, 0, 0); ok {
		t.Fatal("forwarded while unanchored")
	}
}
