// SFrameContext: counters, replay window and bad input (mirrors sframe/context_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SFrameContext, Suite, parseHeader, SFrameError, REPLAY_WINDOW } from './sframe.mjs';
import { testBaseKey } from './testutil.mjs';
import { concat } from './cipher.mjs';

const ALL_SUITES = Object.values(Suite);
const te = new TextEncoder();

async function ctxWith(suite, ...kids) {
  const c = new SFrameContext(suite);
  for (const kid of kids) await c.addKey(kid, testBaseKey(suite <= 3 ? 48 : suite === 5 ? 32 : 16));
  return c;
}

test('bad input gives a typed error and changes nothing', async () => {
  for (const suite of ALL_SUITES) {
    const tx = await ctxWith(suite, 1000n);
    const rx = await ctxWith(suite, 1000n);
    const md = te.encode('meta');
    const pt = te.encode('hello media frame');
    const ct = await tx.encrypt(1000n, md, pt);
    const nt = suite === 1 ? 10 : suite === 2 ? 8 : suite === 3 ? 4 : 16;
    const wrongTag = ct.slice();
    wrongTag[wrongTag.length - 1] ^= 1;
    const unknown = await (await ctxWith(suite, 7n)).encrypt(7n, md, pt);
    const cases = [
      ['empty', new Uint8Array(0), md, 'truncated-header'],
      ['truncated KID', Uint8Array.of(0x90, 0x03), md, 'truncated-header'],
      ['truncated CTR', Uint8Array.of(0x99, 0x03, 0xe8, 0x01), md, 'truncated-header'],
      ['non-minimal KID', Uint8Array.of(0x80, 0x05, 0x00), md, 'non-minimal-header'],
      ['leading zero KID', Uint8Array.of(0x90, 0x00, 0x09, 0x00), md, 'non-minimal-header'],
      ['non-minimal CTR', Uint8Array.of(0x08, 0x07), md, 'non-minimal-header'],
      ['leading zero CTR', concat(Uint8Array.of(0x0f), new Uint8Array(8)), md, 'non-minimal-header'],
      ['unknown KID', unknown, md, 'unknown-kid'],
      ['wrong tag', wrongTag, md, 'authentication'],
      ['wrong metadata', ct, te.encode('metA'), 'authentication'],
      ['shorter than tag', ct.subarray(0, 3 + nt - 1), md, 'short-ciphertext'],
    ];
    for (const [name, input, meta, code] of cases) {
      await assert.rejects(rx.decrypt(meta, input), (e) => e instanceof SFrameError && e.code === code, `${suite} ${name}`);
    }
    const { plaintext } = await rx.decrypt(md, ct);
    assert.deepEqual(plaintext, pt);
    await assert.rejects(rx.decrypt(md, ct), { code: 'replay', kid: 1000n, ctr: 0n });
  }
});

test('replay window', async () => {
  const tx = await ctxWith(4, 3n);
  const rx = await ctxWith(4, 3n);
  const frames = [];
  const w = Number(REPLAY_WINDOW);
  for (let i = 0; i < w + 172; i++) frames.push(await tx.encrypt(3n, new Uint8Array(0), Uint8Array.of(i & 0xff)));
  for (const i of [10, 5, 9, w + 72, 73, w + 71]) await rx.decrypt(new Uint8Array(0), frames[i]);
  const want = [[w + 72, 'replay'], [73, 'replay'], [74, null], [74, 'replay'], [72, 'too-old'], [10, 'too-old'], [w + 171, null], [171, 'too-old'], [172, null]];
  for (const [i, code] of want) {
    if (code) await assert.rejects(rx.decrypt(new Uint8Array(0), frames[i]), { code }, `frame ${i}`);
    else await rx.decrypt(new Uint8Array(0), frames[i]);
  }
});

test('concurrent decrypts of one frame: only one wins', async () => {
  const tx = await ctxWith(4, 3n);
  const rx = await ctxWith(4, 3n);
  const f = await tx.encrypt(3n, new Uint8Array(0), Uint8Array.of(1, 2, 3));
  const results = await Promise.allSettled([rx.decrypt(new Uint8Array(0), f), rx.decrypt(new Uint8Array(0), f)]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
});

test('counters per KID, kept across re-add, exhaustion', async () => {
  const c = await ctxWith(4, 1n, 2n);
  for (let want = 0n; want < 3n; want++) {
    for (const kid of [1n, 2n]) {
      const h = parseHeader(await c.encrypt(kid, new Uint8Array(0), new Uint8Array(0)));
      assert.deepEqual([h.kid, h.ctr], [kid, want]);
    }
  }
  await c.addKey(1n, testBaseKey(16));
  assert.equal(parseHeader(await c.encrypt(1n, new Uint8Array(0), new Uint8Array(0))).ctr, 3n);
  c.setNextCounter(2n, (1n << 64n) - 1n);
  await c.encrypt(2n, new Uint8Array(0), new Uint8Array(0));
  await assert.rejects(c.encrypt(2n, new Uint8Array(0), new Uint8Array(0)), { code: 'counter-exhausted' });
  c.removeKey(1n);
  await assert.rejects(c.encrypt(1n, new Uint8Array(0), new Uint8Array(0)), { code: 'unknown-kid' });
  assert.throws(() => new SFrameContext(6), { code: 'unknown-suite' });
  await assert.rejects(c.addKey(9n, new Uint8Array(8)), { code: 'key-length' });
});

test('far-future counter accepted, then older ones too old', async () => {
  const tx = await ctxWith(4, 8n);
  const rx = await ctxWith(4, 8n);
  const none = new Uint8Array(0);
  const early = await tx.encrypt(8n, none, Uint8Array.of(1));
  tx.setNextCounter(8n, 1n << 40n);
  await rx.decrypt(none, await tx.encrypt(8n, none, Uint8Array.of(2)));
  await assert.rejects(rx.decrypt(none, early), { code: 'too-old' });
});
