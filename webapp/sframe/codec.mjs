// Codec-aware clear prefixes (twin of sframe/codec.go; docs/protocol.md "Media frames" is normative).
// For 'none', 'opus' and 'vp8' an encrypted frame is
//   [clear prefix][SFrame header][ciphertext][tag]
// with the clear prefix as SFrame metadata: none 0 bytes, opus 1 (TOC),
// vp8 10 on key frames (P bit of byte 0 clear, RFC 7741 §4.3) and 3 otherwise.
import { SFrameError, ErrorCode } from './errors.mjs';

export const Codec = Object.freeze({ NONE: 'none', OPUS: 'opus', VP8: 'vp8', H264: 'h264', AV1: 'av1' });

/** vp8KeyFrame reads the P bit of the (clear) first byte. */
export function vp8KeyFrame(frame) {
  return frame.length > 0 && (frame[0] & 0x01) === 0;
}

/** clearPrefixLen is the clear prefix length for the prefix layouts. */
export function clearPrefixLen(codec, frame) {
  let n;
  switch (codec) {
    case Codec.NONE:
      return 0;
    case Codec.OPUS:
      n = 1;
      break;
    case Codec.VP8:
      n = vp8KeyFrame(frame) ? 10 : 3;
      break;
    default:
      throw new SFrameError(ErrorCode.UNKNOWN_CODEC, String(codec));
  }
  if (frame.length < n) throw new SFrameError(ErrorCode.FRAME_TOO_SHORT, `${codec} frame of ${frame.length} bytes, prefix ${n}`);
  return n;
}
