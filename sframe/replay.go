package sframe

// ReplayWindow is the number of counters below the highest accepted one that
// a receiver still accepts (once each) per KID.
//
// RFC 9605 §4.4 leaves replay protection to the application and allows
// counters to skip. This package keeps, per KID, the highest accepted counter
// and a bitmap of the ReplayWindow below it (the shape of RFC 4303 §3.4.3's
// anti-replay window): a counter already accepted, or older than the window, is
// refused with ErrReplay or ErrTooOld. A counter above the highest is accepted
// however far ahead it is: only a holder of the key can produce one that
// authenticates, and senders may skip counters (e.g. simulcast layers sharing a
// KID). The window moves only after a frame authenticates, so forged frames
// change nothing.
//
// One sender's key covers its audio and every simulcast layer of its video, so
// its counter advances some 150 times a second, while a receiver gets a video
// frame up to a second or more after the audio encrypted with it (a keyframe's
// reassembly, retransmissions over a congested link). 1024 counters are about
// seven seconds of that: a late frame is not refused as too old.
const ReplayWindow = 1024

const replayWords = ReplayWindow / 64

type replayWindow struct {
	top  uint64              // highest accepted counter
	bits [replayWords]uint64 // bit i set: counter top-i accepted
	used bool                // whether any counter was accepted
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
		*w = replayWindow{top: ctr, used: true}
		w.bits[0] = 1
		return
	}
	if ctr > w.top {
		w.shift(ctr - w.top)
		w.bits[0] |= 1
		w.top = ctr
		return
	}
	d := w.top - ctr
	w.bits[d/64] |= 1 << (d % 64)
}

// shift moves the bitmap s counters up: bit i becomes bit i+s.
func (w *replayWindow) shift(s uint64) {
	if s >= ReplayWindow {
		w.bits = [replayWords]uint64{}
		return
	}
	words, r := int(s/64), s%64
	for i := replayWords - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = w.bits[j] << r
			if r != 0 && j > 0 {
				v |= w.bits[j-1] >> (64 - r)
			}
		}
		w.bits[i] = v
	}
}
