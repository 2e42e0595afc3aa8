// Frame layouts (mirrors sframe/frame_test.go and sframe/h264_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SFrameContext, Suite, Codec, parseHeader } from './sframe.mjs';
import { escape, unescape, splitAnnexB } from './h264.mjs';
import { splitOBUs } from './av1.mjs';
import { testBaseKey } from './testutil.mjs';
import { sampleFrames } from './samples.mjs';

async function ctxWith(suite, kid) {
  const c = new SFrameContext(suite);
  await c.addKey(kid, testBaseKey(32));
  return c;
}

test('round trip, every suite and codec', async () => {
  for (const suite of Object.values(Suite)) {
    for (const [name, { codec, frame }] of Object.entries(sampleFrames())) {
      const tx = await ctxWith(suite, 300n);
      const rx = await ctxWith(suite, 300n);
      for (let i = 0n; i < 3n; i++) {
        const enc = await tx.encryptFrame(300n, codec, frame);
        const { frame: got, header } = await rx.decryptFrame(codec, enc);
        assert.deepEqual(got, frame, `${suite} ${name}`);
        assert.deepEqual(header, { kid: 300n, ctr: i });
      }
    }
  }
});

test('clear prefixes', async () => {
  const frames = sampleFrames();
  const tx = await ctxWith(4, 1n);
  for (const [name, n] of [['none', 0], ['opus', 1], ['vp8-key', 10], ['vp8-delta', 3]]) {
    const { codec, frame } = frames[name];
    const enc = await tx.encryptFrame(1n, codec, frame);
    assert.deepEqual(enc.subarray(0, n), frame.subarray(0, n), name);
    assert.equal(parseHeader(enc.subarray(n)).kid, 1n);
  }
});

test('tampering any byte fails with a typed error', async () => {
  for (const [name, { codec, frame }] of Object.entries(sampleFrames())) {
    const tx = await ctxWith(4, 9n);
    const rx = await ctxWith(4, 9n);
    const enc = await tx.encryptFrame(9n, codec, frame);
    const step = Math.max(1, Math.floor(enc.length / 97));
    for (let i = 0; i < enc.length; i += step) {
      const bad = enc.slice();
      bad[i] ^= 0x40;
      await assert.rejects(rx.decryptFrame(codec, bad), (e) => e.name === 'SFrameError' && typeof e.code === 'string', `${name} byte ${i}`);
    }
    await rx.decryptFrame(codec, enc);
  }
});

test('frame errors', async () => {
  const c = await ctxWith(4, 1n);
  const cases = [
    [Codec.OPUS, [], 'frame-too-short'],
    [Codec.VP8, [0x10, 1, 2], 'frame-too-short'],
    [Codec.VP8, [0x11, 1], 'frame-too-short'],
    [Codec.H264, [1, 2, 3], 'malformed-h264'],
    [Codec.H264, [0, 0, 1], 'malformed-h264'],
    [Codec.H264, [0, 0, 1, 0x67, 1, 2], 'malformed-h264'],
    [Codec.H264, [0, 0, 1, 0x74, 1], 'malformed-h264'],
    [Codec.AV1, [], 'malformed-av1'],
    [Codec.AV1, [0x80], 'malformed-av1'],
    [Codec.AV1, [0x12, 0x00], 'malformed-av1'],
    [Codec.AV1, [0x0a, 0x05, 1], 'malformed-av1'],
    [Codec.AV1, [0x0e], 'malformed-av1'],
    [Codec.AV1, [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 'malformed-av1'],
    [Codec.AV1, Array.from({ length: 4097 }, () => [0x0a, 0x00]).flat(), 'malformed-av1'],
    [Codec.H264, Array.from({ length: 4097 }, () => [0, 0, 1, 0x41, 0xe0, 0x55]).flat(), 'malformed-h264'],
    ['vp9', [1, 2, 3], 'unknown-codec'],
  ];
  for (const [codec, bytes, code] of cases) {
    await assert.rejects(c.encryptFrame(1n, codec, Uint8Array.from(bytes)), { code }, `${codec} ${bytes}`);
    await assert.rejects(c.decryptFrame(codec, Uint8Array.from(bytes)), { code }, `${codec} ${bytes}`);
  }
});

function emulates(b) {
  for (let i = 0; i + 2 < b.length; i++) if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] <= 2) return true;
  return false;
}

test('H.264 escaping round trip', () => {
  const alphabet = [0, 0, 0, 1, 2, 3, 3, 0xff];
  const headers = [[0x65], [0x41], [0x00], [0x03], [0x6e, 0, 0, 0], [0x74, 0x80, 0, 3]].map((h) => Uint8Array.from(h));
  let seed = 7;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 20000; i++) {
    const src = Uint8Array.from({ length: rnd(12) }, () => alphabet[rnd(alphabet.length)]);
    const hdr = headers[rnd(headers.length)];
    const esc = escape(hdr, src);
    const nal = Uint8Array.from([...hdr, ...esc]);
    assert.ok(!emulates(nal.subarray(Math.max(0, hdr.length - 2))), `emulation ${hdr} ${src}`);
    assert.notEqual(nal[nal.length - 1], 0);
    assert.deepEqual(unescape(hdr, esc), src);
  }
});

test('H.264 layout keeps NAL structure', async () => {
  const { frame } = sampleFrames().h264;
  const input = splitAnnexB(frame);
  const c = await ctxWith(4, 5n);
  for (let i = 0; i < 50; i++) {
    const enc = await c.encryptFrame(5n, Codec.H264, frame);
    const out = splitAnnexB(enc);
    assert.equal(out.length, input.length);
    input.forEach((a, j) => {
      const b = out[j];
      assert.deepEqual(enc.subarray(b.sc, b.hdr), frame.subarray(a.sc, a.hdr));
      if (a.clear) assert.deepEqual(enc.subarray(b.sc, b.end), frame.subarray(a.sc, a.end));
      else assert.ok(!emulates(enc.subarray(b.hdr - 1, b.end)));
    });
  }
});

test('AV1 layout keeps OBU structure, drops what the packetizer drops, writes sizes anew', async () => {
  const { frame } = sampleFrames().av1;
  const input = splitOBUs(frame);
  const c = await ctxWith(4, 5n);
  for (let i = 0; i < 20; i++) {
    const enc = await c.encryptFrame(5n, Codec.AV1, frame);
    const out = splitOBUs(enc);
    assert.equal(out.length, input.length);
    assert.equal(out[out.length - 1].end, enc.length);
    input.forEach((a, j) => assert.deepEqual(enc.subarray(out[j].start, out[j].hdr), frame.subarray(a.start, a.hdr)));
  }
  // Temporal delimiter, a 2-byte size, padding, and a last OBU without a size field.
  const odd = Uint8Array.from([0x12, 0x00, 0x0a, 0x83, 0x00, 1, 2, 3, 0x7a, 0x01, 0xee, 0x30, 9, 8, 7, 6]);
  const rx = await ctxWith(4, 5n);
  const { frame: got } = await rx.decryptFrame(Codec.AV1, await c.encryptFrame(5n, Codec.AV1, odd));
  assert.deepEqual(got, Uint8Array.from([0x0a, 0x03, 1, 2, 3, 0x32, 0x04, 9, 8, 7, 6]));
});

test('random and mutated input: only SFrameError, never another exception', async () => {
  let seed = 99;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const frames = sampleFrames();
  for (const codec of [...Object.values(Codec), 'bogus']) {
    const tx = await ctxWith(4, 1n);
    const genuine = await tx.encryptFrame(1n, codec === 'bogus' ? Codec.NONE : codec, frames[codec === Codec.VP8 ? 'vp8-key' : codec === 'bogus' ? 'none' : codec].frame);
    for (let i = 0; i < 300; i++) {
      let input;
      switch (rnd(3)) {
        case 0:
          input = Uint8Array.from({ length: rnd(64) }, () => [0, 1, 3, 0x80, 0x99, 0xff][rnd(6)]);
          break;
        case 1:
          input = genuine.subarray(0, rnd(genuine.length));
          break;
        default:
          input = genuine.slice();
          for (let k = 0; k < 1 + rnd(4); k++) input[rnd(input.length)] = rnd(256);
      }
      const rx = await ctxWith(4, 1n);
      try {
        const { frame } = await rx.decryptFrame(codec, input);
        assert.deepEqual(input, genuine, 'only the genuine frame may decrypt');
        assert.ok(frame.length > 0);
      } catch (e) {
        assert.equal(e.name, 'SFrameError', `${codec}: ${e}`);
      }
    }
  }
});

test('accepts ArrayBuffer input (RTCEncodedFrame.data)', async () => {
  const { frame } = sampleFrames()['vp8-key'];
  const tx = await ctxWith(4, 2n);
  const rx = await ctxWith(4, 2n);
  const enc = await tx.encryptFrame(2n, Codec.VP8, frame.slice().buffer);
  const { frame: got } = await rx.decryptFrame(Codec.VP8, enc.buffer);
  assert.deepEqual(got, frame);
});
