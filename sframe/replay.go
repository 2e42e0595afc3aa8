package sframe

// ReplayWindow is the number of counters below the highest accepted one that
// a receiver still accepts (once each) per KID.
//
// RFC 9605 §4.4 leaves replay protection to the application and allows
// counters to skip. This package keeps, per KID, the highest accepted counter
// and a bitmap of the 128 below it (the shape of RFC 4303 §3.4.3's anti-replay
// window): a counter already accepted, or older than the window, is refused
// with ErrReplay or ErrTooOld. A counter above the highest is accepted however
// far ahead it is: only a holder of the key can produce one that authenticates,
// and senders may skip counters (e.g. simulcast layers sharing a KID). The
// window moves only after a frame authenticates, so forged frames change nothing.
const ReplayWindow = 128

type replayWindow struct {
	top  uint64    // highest accepted counter
	bits [2]uint64 // bit i set: counter top-i accepted
	used bool      // whether any counter was accepted
}

// check reports whether ctr may be accepted, without changing the window.
func (w *replayWindow) check(ctr uint64) error {
	if !w.used || ctr > w.top {
		return nil
	}
	d := w.top - ctr
	if d >= ReplayWindow {
		return ErrTooOld
	}
	if w.bits[d/64]&(1<<(d%64)) != 0 {
		return ErrReplay
	}
	return nil
}

// accept records ctr; check must have passed.
func (w *replayWindow) accept(ctr uint64) {
	if !w.used {
		*w = replayWindow{top: ctr, bits: [2]uint64{1, 0}, used: true}
		return
	}
	if ctr > w.top {
		s := ctr - w.top
		switch {
		case s >= 128:
			w.bits = [2]uint64{0, 0}
		case s >= 64:
			w.bits = [2]uint64{0, w.bits[0] << (s - 64)}
		default:
			w.bits = [2]uint64{w.bits[0] << s, w.bits[1]<<s | w.bits[0]>>(64-s)}
		}
		w.bits[0] |= 1
		w.top = ctr
		return
	}
	d := w.top - ctr
	w.bits[d/64] |= 1 << (d % 64)
}
