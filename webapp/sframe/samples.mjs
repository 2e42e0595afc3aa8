// Sample frames for the tests (test-only; shapes as in sframe/testhelpers_test.go).
import { Codec } from './codec.mjs';

export function sampleFrames() {
  let s = 12345;
  const rnd = (n) =>
    Uint8Array.from({ length: n }, () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s >>> 24;
    });
  const cat = (...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));
  return {
    none: { codec: Codec.NONE, frame: rnd(1200) },
    opus: { codec: Codec.OPUS, frame: cat([0x78], rnd(90)) },
    'vp8-key': { codec: Codec.VP8, frame: cat([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01], rnd(300)) },
    'vp8-delta': { codec: Codec.VP8, frame: cat([0x31, 0x05, 0x00], rnd(120)) },
    h264: {
      codec: Codec.H264,
      frame: cat(
        [0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8],
        [0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80],
        [0, 0, 1, 0x06, 0x05, 0x01, 0xff],
        [0, 0, 0, 1, 0x65],
        rnd(700),
        [0, 0, 0, 0, 0, 3, 0, 0, 2, 0x88, 0],
        [0, 0, 1, 0x41, 0x9a, 0, 0, 0, 0], // slice header prefix: first_mb 0, slice_type 5, pps 0
      ),
    },
    // OBUs: sequence header (11 bytes), frame header (5), frame with an extension byte (700).
    av1: { codec: Codec.AV1, frame: cat([0x0a, 0x0b], rnd(11), [0x1a, 0x05], rnd(5), [0x36, 0x28, 0xbc, 0x05], rnd(700)) },
  };
}
