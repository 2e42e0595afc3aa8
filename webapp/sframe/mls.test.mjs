// MLS-based keys (mirrors sframe/mls_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MLSKeys, KIDLayout, Codec } from './sframe.mjs';

// fakeExporter stands in for an MLS epoch's exporter (a keyed function of group, epoch, label).
function fakeExporter(group, epoch, { fail = false, short = false } = {}) {
  return {
    async export(label, context, length) {
      if (fail) throw new Error('exporter down');
      const k = await crypto.subtle.importKey('raw', new TextEncoder().encode(group), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const msg = new TextEncoder().encode(`${epoch}|${label}|${context.length}`);
      let out = new Uint8Array(await crypto.subtle.sign('HMAC', k, msg));
      while (out.length < length) out = Uint8Array.from([...out, ...out]);
      return out.slice(0, short ? length - 1 : length);
    },
  };
}

test('KID layout', () => {
  const l = new KIDLayout();
  const kid = l.kid(1n, 5n, 19n);
  assert.equal(kid, (1n << 20n) + (5n << 4n) + 3n);
  assert.deepEqual(l.split(kid), { context: 1n, senderIndex: 5n, epochBits: 3n });
  assert.equal(l.kid(0n, 5n, 3n), 83n);
  assert.throws(() => l.kid(0n, 1n << 16n, 0n), { code: 'kid-layout' });
  assert.throws(() => l.kid(1n << 44n, 0n, 0n), { code: 'kid-layout' });
  assert.throws(() => new KIDLayout(0, 8), { code: 'kid-layout' });
  assert.throws(() => new KIDLayout(8, 57), { code: 'kid-layout' });
  const full = new KIDLayout(8, 56);
  assert.throws(() => full.kid(1n, 0n, 0n), { code: 'kid-layout' });
  assert.equal(full.kid(0n, 1n << 55n, 0x1ffn), (1n << 63n) | 0xffn);
});

test('epochs, grace period and expiry', async () => {
  let t = 1_000_000;
  const now = () => t;
  const alice = new MLSKeys({ graceMs: 5000, now });
  const bob = new MLSKeys({ graceMs: 5000, now });
  const frame = Uint8Array.from([0x78, ...new TextEncoder().encode('opus'.repeat(20))]);
  await assert.rejects(alice.encryptFrame(Codec.OPUS, frame), { code: 'no-epoch' });
  await alice.setEpoch(7n, 0, fakeExporter('g', 7));
  await bob.setEpoch(7n, 1, fakeExporter('g', 7));
  const a7 = await alice.encryptFrame(Codec.OPUS, frame);
  const b7 = await bob.encryptFrame(Codec.OPUS, frame);
  const r1 = await bob.decryptFrame(Codec.OPUS, a7);
  assert.deepEqual(r1.frame, frame);
  assert.equal(bob.layout.split(r1.header.kid).senderIndex, 0n);
  const r2 = await alice.decryptFrame(Codec.OPUS, b7);
  assert.equal(alice.layout.split(r2.header.kid).senderIndex, 1n);

  await bob.setEpoch(8n, 1, fakeExporter('g', 8));
  const a7b = await alice.encryptFrame(Codec.OPUS, frame);
  await bob.decryptFrame(Codec.OPUS, a7b);
  await alice.setEpoch(8n, 0, fakeExporter('g', 8));
  await bob.decryptFrame(Codec.OPUS, await alice.encryptFrame(Codec.OPUS, frame));
  assert.equal(bob.epoch(), 8n);
  await assert.rejects(bob.setEpoch(8n, 1, fakeExporter('g', 8)), { code: 'stale-epoch' });
  t += 6000;
  await assert.rejects(bob.decryptFrame(Codec.OPUS, a7b), { code: 'unknown-kid' });
});

async function encryptAt(cfg, epoch, leaf) {
  const m = new MLSKeys(cfg);
  await m.setEpoch(epoch, leaf, fakeExporter('g', Number(epoch)));
  return m.encrypt(new Uint8Array(0), new TextEncoder().encode('frame'));
}

test('epoch collision drops the old epoch at once', async () => {
  const cfg = { layout: new KIDLayout(2, 8), graceMs: 3_600_000 };
  const rx = new MLSKeys(cfg);
  const none = new Uint8Array(0);
  await rx.setEpoch(1n, 3, fakeExporter('g', 1));
  await rx.decrypt(none, await encryptAt(cfg, 1n, 0));
  await rx.setEpoch(5n, 3, fakeExporter('g', 5));
  await assert.rejects(rx.decrypt(none, await encryptAt(cfg, 1n, 0)), { code: 'authentication' });
  await rx.decrypt(none, await encryptAt(cfg, 5n, 0));
  await rx.setEpoch(6n, 3, fakeExporter('g', 6));
  await rx.decrypt(none, await encryptAt(cfg, 5n, 1));
  // With E = 2, epoch 5's low bits are those of 9, two after 7: installing 7 drops 5.
  await rx.setEpoch(7n, 3, fakeExporter('g', 7));
  await assert.rejects(rx.decrypt(none, await encryptAt(cfg, 5n, 2)));
  await rx.decrypt(none, await encryptAt(cfg, 6n, 2));
  rx.close();
  assert.throws(() => rx.kid(), { code: 'no-epoch' });
});

test('exporter and layout errors; forged frames install nothing', async () => {
  const m = new MLSKeys();
  await assert.rejects(m.setEpoch(1n, 0, fakeExporter('g', 1, { fail: true })), { code: 'exporter' });
  await assert.rejects(m.setEpoch(1n, 0, fakeExporter('g', 1, { short: true })), { code: 'exporter' });
  await assert.rejects(m.setEpoch(1n, 1 << 16, fakeExporter('g', 1)), { code: 'kid-layout' });
  assert.throws(() => new MLSKeys({ suite: 99 }), { code: 'unknown-suite' });
  await m.setEpoch(2n, 0, fakeExporter('g', 2));
  const forged = Uint8Array.from([0x80, 0x13, 0xaa, 0xbb, ...new Uint8Array(16)]);
  await assert.rejects(m.decrypt(new Uint8Array(0), forged), { code: 'unknown-kid' });
  forged[1] = 0x12;
  await assert.rejects(m.decrypt(new Uint8Array(0), forged), { code: 'authentication' });
  assert.equal(m.ctx.hasKey(0x12n), false);
});

test('quick churn: frames of epochs two and three behind still decrypt in their grace period', async () => {
  let t = 1_000_000;
  const now = () => t;
  const rx = new MLSKeys({ graceMs: 5000, now });
  const none = new Uint8Array(0);
  for (const e of [4n, 5n, 6n, 7n]) await rx.setEpoch(e, 3, fakeExporter('g', Number(e)));
  // A sender still at epoch 5 or 4 (two commits in a second): its frames decrypt.
  await rx.decrypt(none, await encryptAt({}, 5n, 0));
  await rx.decrypt(none, await encryptAt({}, 4n, 1));
  t += 5001;
  await assert.rejects(rx.decrypt(none, await encryptAt({}, 5n, 2)), { code: 'unknown-kid' });
  await rx.decrypt(none, await encryptAt({}, 7n, 0));
});
