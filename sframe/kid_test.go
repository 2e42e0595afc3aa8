package sframe

import (
	"errors"
	"testing"
)

func TestKIDLayout(t *testing.T) {
	l := DefaultKIDLayout()
	kid, err := l.KID(1, 5, 19)
	if err != nil || kid != 1<<20+5<<4+3 {
		t.Fatalf("kid %d %v", kid, err)
	}
	if c, s, e := l.Split(kid); c != 1 || s != 5 || e != 3 {
		t.Fatalf("split %d %d %d", c, s, e)
	}
	if kid, _ := l.KID(0, 5, 3); kid != 83 {
		t.Fatalf("sender 5 epoch 3: %d", kid)
	}
	for _, tc := range []struct {
		l          KIDLayout
		ctx, s, ep uint64
	}{
		{l, 0, 1 << 16, 0},
		{l, 1 << 44, 0, 0},
		{KIDLayout{EpochBits: 0, SenderBits: 8}, 0, 0, 0},
		{KIDLayout{EpochBits: 8, SenderBits: 57}, 0, 0, 0},
		{KIDLayout{EpochBits: 8, SenderBits: 56}, 1, 0, 0},
	} {
		if _, err := tc.l.KID(tc.ctx, tc.s, tc.ep); !errors.Is(err, ErrKIDLayout) {
			t.Errorf("%+v ctx=%d s=%d: %v", tc.l, tc.ctx, tc.s, err)
		}
	}
	full := KIDLayout{EpochBits: 8, SenderBits: 56}
	kid, err = full.KID(0, 1<<55, 0x1ff)
	if err != nil || kid != 1<<63|0xff {
		t.Fatalf("full: %x %v", kid, err)
	}
	if c, s, e := full.Split(kid); c != 0 || s != 1<<55 || e != 0xff {
		t.Fatalf("full split")
	}
}
