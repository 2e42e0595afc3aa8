// Per-KID anti-replay window (twin of sframe/replay.go): the highest accepted
// counter and a bitmap of the REPLAY_WINDOW below it (1024: one sender's audio and all its
// simulcast layers share the counter, so it moves some 150 times a second, and a video frame
// may arrive a second after the audio encrypted with it). Counters above the highest are
// accepted however far ahead; the window moves only after authentication.
import { ErrorCode } from './errors.mjs';

export const REPLAY_WINDOW = 1024n;
const MASK = (1n << REPLAY_WINDOW) - 1n;

export class ReplayWindow {
  top = 0n;
  bits = 0n; // bit i set: counter top-i accepted
  used = false;

  /** check returns null if ctr may be accepted, else an ErrorCode. */
  check(ctr) {
    if (!this.used || ctr > this.top) return null;
    const d = this.top - ctr;
    if (d >= REPLAY_WINDOW) return ErrorCode.TOO_OLD;
    if ((this.bits >> d) & 1n) return ErrorCode.REPLAY;
    return null;
  }

  /** accept records ctr; check must have passed. */
  accept(ctr) {
    if (!this.used) {
      this.used = true;
      this.top = ctr;
      this.bits = 1n;
      return;
    }
    if (ctr > this.top) {
      const s = ctr - this.top;
      this.bits = s >= REPLAY_WINDOW ? 1n : ((this.bits << s) | 1n) & MASK;
      this.top = ctr;
      return;
    }
    this.bits |= 1n << (this.top - ctr);
  }
}
