// The SFrame worker's hold for keys on their way (worker.js), driven the way the page drives
// it: epoch and clear messages, RTCRtpScriptTransform events with encoded frames. A sender
// that moves to the next epoch first loses no frame at a member that is a moment behind; the
// hold is bounded; frames without keys never reach the decoder; key frames follow key changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MLSKeys, Codec } from '../sframe/sframe.mjs';
import { createWorker, Reason } from './worker.js';

const base = (epoch) => Uint8Array.from({ length: 16 }, (_, i) => (epoch * 31 + i * 7) & 0xff);
const exporter = (epoch) => ({ export: async () => base(epoch) });

// newWorker runs the worker on a stand-in scope.
function newWorker(limits) {
  const scope = { posted: [], postMessage: (m) => scope.posted.push(m) };
  createWorker(scope, limits);
  const send = (data) => scope.onmessage({ data });
  return {
    scope,
    epoch: (epoch, leaf = 0) => send({ type: 'epoch', epoch, leaf, baseKey: base(epoch) }),
    clear: () => send({ type: 'clear' }),
    async stats() {
      await send({ type: 'stats' });
      return scope.posted.filter((m) => m.type === 'stats').at(-1).stats;
    },
    // track adds a remote (decode) or local (encode) track: push frames in, read what comes out.
    track(side, kind = 'video', id = 'peer') {
      let ctl;
      const readable = new ReadableStream({ start: (c) => (ctl = c) });
      const out = [];
      const writable = new WritableStream({ write: (f) => out.push(f) });
      const t = {
        readable,
        writable,
        options: { side, kind, id },
        requests: 0,
        generated: 0,
        sendKeyFrameRequest: async () => t.requests++,
        generateKeyFrame: async () => t.generated++,
      };
      scope.onrtctransform({ transformer: t });
      return { t, out, push: (f) => ctl.enqueue(f), end: () => ctl.close() };
    },
  };
}

// vp8 is a plaintext VP8 frame: a key frame has the P bit (bit 0 of byte 0) clear and a
// 10-byte clear prefix. n tells frames apart.
function vp8(n, key = false) {
  const f = new Uint8Array(40);
  f[0] = key ? 0x10 : 0x11;
  f.set([0x9d, 0x01, 0x2a], 3);
  new DataView(f.buffer).setUint32(20, n);
  return f;
}
const numberOf = (frame) => new DataView(frame.data).getUint32(20);

// sender is another member: it encrypts frames under its leaf's KID of its epoch.
async function sender(epoch, leaf = 1) {
  const keys = new MLSKeys();
  await keys.setEpoch(epoch, leaf, exporter(epoch));
  let n = 0;
  return {
    keys,
    to: (e) => keys.setEpoch(e, leaf, exporter(e)),
    async frame(key = false) {
      const plain = vp8(++n, key);
      return { data: (await keys.encryptFrame(Codec.VP8, plain)).buffer, type: key ? 'key' : 'delta', n };
    },
  };
}

async function until(what, cond, ms = 3000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('frames of the next epoch wait for its key, then decrypt in order', async () => {
  const w = newWorker();
  await w.epoch(1);
  const rx = w.track('decode');
  const alice = await sender(1);
  for (let i = 0; i < 3; i++) rx.push(await alice.frame(i === 0));
  await until('the epoch-1 frames', () => rx.out.length === 3);

  // Alice's commit is accepted; she switches first and sends a key frame and deltas.
  await alice.to(2);
  for (let i = 0; i < 5; i++) rx.push(await alice.frame(i === 0));
  await until('five frames held', async () => (await w.stats()).hold.holding === 5);
  assert.equal(rx.out.length, 3, 'nothing of epoch 2 reaches the decoder without its key');

  await w.epoch(2); // this member processed the commit
  await until('the held frames', () => rx.out.length === 8);
  assert.deepEqual(rx.out.map(numberOf), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(new Uint8Array(rx.out[3].data), vp8(4, true), 'the held key frame decrypted');
  const s = await w.stats();
  assert.equal(s.failed, 0);
  assert.equal(s.missingKey, 0);
  assert.deepEqual(s.failures, {});
  assert.equal(s.hold.released, 5);
  assert.equal(s.hold.holding, 0);
  assert.deepEqual(s.peers.peer.video, { decrypted: 8, dropped: 0, epoch: 2, holding: 0 });
});

test('a member two commits behind holds frames until both are processed', async () => {
  const w = newWorker();
  await w.epoch(14);
  const rx = w.track('decode', 'audio', 'bob');
  const bob = await sender(14);
  const opus = async () => ({ data: (await bob.keys.encryptFrame(Codec.OPUS, Uint8Array.of(0x78, 1, 2, 3))).buffer });
  rx.push(await opus());
  await bob.to(15);
  rx.push(await opus());
  await bob.to(16); // epoch bits wrap: 16 & 15 = 0
  rx.push(await opus());
  await until('two held', async () => (await w.stats()).hold.holding === 2);
  await w.epoch(15);
  await until('the epoch-15 frame', () => rx.out.length === 2);
  await w.epoch(16);
  await until('the epoch-16 frame', () => rx.out.length === 3);
  const s = await w.stats();
  assert.equal(s.failed, 0);
  assert.equal(s.peers.bob.audio.epoch, 0);
});

test('before the Welcome, frames wait; those of epochs before the join are never ours', async () => {
  const w = newWorker();
  const rx = w.track('decode');
  const carol = await sender(4);
  rx.push(await carol.frame(true)); // sent before the commit that adds this member
  await carol.to(5);
  rx.push(await carol.frame(true));
  rx.push(await carol.frame());
  await until('three held', async () => (await w.stats()).hold.holding === 3);
  await w.epoch(5, 2); // the Welcome
  await until('the epoch-5 frames', () => rx.out.length === 2);
  assert.deepEqual(rx.out.map(numberOf), [2, 3]);
  const s = await w.stats();
  assert.deepEqual(s.failures, { [Reason.BEFORE_JOIN]: 1 });
  assert.equal(s.missingKey, 0);
});

test('the hold is bounded in time: a key that never comes', async () => {
  const w = newWorker({ holdMs: 80 });
  await w.epoch(1);
  const rx = w.track('decode');
  const dave = await sender(1);
  await dave.to(2); // an epoch this member never reaches (it is being removed, say)
  rx.push(await dave.frame(true));
  rx.push(await dave.frame());
  await until('both dropped after the hold', async () => (await w.stats()).failed === 2);
  const s = await w.stats();
  assert.deepEqual(s.failures, { [Reason.HELD_TOO_LONG]: 2 });
  assert.equal(s.missingKey, 2);
  assert.equal(s.hold.holding, 0);
  assert.equal(rx.out.length, 0);

  // A KID of an epoch far ahead is no commit on its way: dropped at once, not held.
  const eve = await sender(9);
  rx.push(await eve.frame(true));
  await until('the far-future frame dropped', async () => (await w.stats()).failures['unknown-kid'] === 1);
  assert.equal((await w.stats()).hold.holding, 0);
  assert.equal(rx.out.length, 0);
});

test('the hold is bounded in frames and bytes: the oldest go', async () => {
  const w = newWorker({ holdFrames: 4 });
  await w.epoch(1);
  const rx = w.track('decode');
  const frank = await sender(2);
  for (let i = 0; i < 10; i++) rx.push(await frank.frame(i === 0));
  await until('six pushed out', async () => (await w.stats()).failures[Reason.HOLD_FULL] === 6);
  assert.equal((await w.stats()).hold.holding, 4);
  await w.epoch(2);
  await until('the newest four', () => rx.out.length === 4);
  assert.deepEqual(rx.out.map(numberOf), [7, 8, 9, 10]);

  const small = newWorker({ holdBytes: 130 }); // two 58-byte encrypted frames fit, not three
  await small.epoch(1);
  const rx2 = small.track('decode');
  const gina = await sender(2);
  for (let i = 0; i < 3; i++) rx2.push(await gina.frame());
  await until('one pushed out', async () => (await small.stats()).failures[Reason.HOLD_FULL] === 1);
  assert.equal((await small.stats()).hold.holding, 2);
  await small.epoch(2);
  await until('the two that fit', () => rx2.out.length === 2);

  // All receivers together: two senders' frames share one bound.
  const shared = newWorker({ holdTotalBytes: 130 });
  await shared.epoch(1);
  const [ra, rb] = [shared.track('decode', 'video', 'a'), shared.track('decode', 'video', 'b')];
  const [ka, kb] = [await sender(2, 1), await sender(2, 2)];
  ra.push(await ka.frame());
  ra.push(await ka.frame());
  await until('two held for a', async () => (await shared.stats()).hold.holding === 2);
  rb.push(await kb.frame()); // b has nothing of its own to push out: its frame goes
  await until("b's frame dropped", async () => (await shared.stats()).failures[Reason.HOLD_FULL] === 1);
  await shared.epoch(2);
  await until("a's frames", () => ra.out.length === 2);
  assert.equal(rb.out.length, 0);
});

test('no plaintext path: forged, tampered and malformed frames and frames after leaving never reach the decoder', async () => {
  const w = newWorker();
  await w.epoch(3);
  const rx = w.track('decode');
  const hank = await sender(3);
  const good = await hank.frame(true);
  const tampered = new Uint8Array(good.data.slice(0));
  tampered[tampered.length - 1] ^= 1;
  rx.push({ data: tampered.buffer, type: 'key' });
  rx.push({ data: Uint8Array.of(0x11, 0, 0).buffer, type: 'delta' }); // no SFrame header at all
  rx.push({ data: vp8(99, true).buffer, type: 'key' }); // plaintext posing as a frame
  await until('three dropped', async () => (await w.stats()).failed === 3);
  assert.equal(rx.out.length, 0);
  const s = await w.stats();
  assert.equal(s.failures.authentication, 1);
  assert.equal(s.missingKey, 0, 'none of these is a missing key');

  rx.push(await hank.frame());
  await until('a good frame', () => rx.out.length === 1);
  await w.clear(); // removed from the group
  rx.push(await hank.frame());
  await until('dropped after leaving', async () => (await w.stats()).failures[Reason.NOT_MEMBER] === 1);
  assert.equal(rx.out.length, 1);
});

test('key frames follow key changes: generated after our switch, asked for on a new sender key', async () => {
  const w = newWorker();
  const tx = w.track('encode', 'video', 'self');
  tx.push({ data: vp8(1, true).buffer, type: 'key' });
  await until('the frame without keys dropped', async () => (await w.stats()).encodeFailures['no-epoch'] === 1);
  assert.equal(tx.out.length, 0, 'nothing is sent before this member has keys');

  await w.epoch(1);
  assert.equal(tx.t.generated, 1, 'a key frame after the switch');
  tx.push({ data: vp8(2, true).buffer, type: 'key' });
  await until('an encrypted frame', () => tx.out.length === 1);
  const peer = new MLSKeys();
  await peer.setEpoch(1, 1, exporter(1));
  assert.deepEqual((await peer.decryptFrame(Codec.VP8, new Uint8Array(tx.out[0].data))).frame, vp8(2, true));

  const rx = w.track('decode');
  const ivan = await sender(1);
  rx.push(await ivan.frame(true));
  await until('a key frame', () => rx.out.length === 1);
  assert.equal(rx.t.requests, 0, 'started on a key frame: nothing to ask');
  await ivan.to(2);
  await w.epoch(2);
  assert.equal(tx.t.generated, 2);
  rx.push(await ivan.frame()); // a delta frame under Ivan's new key: ask for a key frame
  await until('the delta frame', () => rx.out.length === 2);
  assert.equal(rx.t.requests, 1);
  const s = await w.stats();
  assert.equal(s.keyFrames.generated, 2);
  assert.equal(s.keyFrames.requested, 1);

  // A transformer without generateKeyFrame (Chromium's) is counted; its receivers ask.
  delete tx.t.generateKeyFrame;
  await w.epoch(3);
  assert.equal((await w.stats()).keyFrames.generateUnavailable, 1);
});

test('a track that ends waits for its held frames', async () => {
  const w = newWorker();
  await w.epoch(1);
  const rx = w.track('decode');
  const jo = await sender(2);
  rx.push(await jo.frame(true));
  rx.end();
  await until('held', async () => (await w.stats()).hold.holding === 1);
  await w.epoch(2);
  await until('released', () => rx.out.length === 1);
  assert.equal((await w.stats()).failed, 0);
});

test('the layout follows the negotiated codec of each frame: mimeType, else payloadType, never a constant', async () => {
  const { layoutOf, annexB4 } = await import('./worker.js');
  assert.equal(layoutOf('video/VP8'), Codec.VP8);
  assert.equal(layoutOf('video/H264'), Codec.H264);
  assert.equal(layoutOf('video/VP9'), Codec.NONE);
  assert.equal(layoutOf('audio/opus'), Codec.OPUS);
  assert.equal(layoutOf('video/AV1'), Codec.AV1);
  assert.equal(layoutOf('video/H265'), null);
  assert.deepEqual(annexB4(Uint8Array.of(0, 0, 1, 0x65, 7, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x41)), Uint8Array.of(0, 0, 0, 1, 0x65, 7, 0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x41));

  const w = newWorker();
  await w.epoch(1);
  const tx = w.track('encode', 'video', 'self');
  const h264 = Uint8Array.of(0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0, 0, 1, 0x65, 0x88, 0x84, 0x21, 0xa0);
  const withMeta = (data, md) => ({ data: data.buffer, type: 'key', getMetadata: () => md });
  tx.push(withMeta(h264, { mimeType: 'video/H264' }));
  // Firefox's frames name the payload type only: the page tells the worker what it means.
  w.scope.onmessage({ data: { type: 'codecs', codecs: [{ payloadType: 98, mimeType: 'video/VP9' }] } });
  const vp9 = Uint8Array.of(0x82, 0x49, 0x83, 0x42, 0, 1, 2, 3);
  tx.push(withMeta(vp9, { payloadType: 98 }));
  tx.push(withMeta(vp9, { mimeType: 'video/H265' }));
  await until('two frames out, the H.265 one dropped', async () => tx.out.length === 2 && (await w.stats()).encodeFailures['unsupported-codec'] === 1);
  const peer = new MLSKeys();
  await peer.setEpoch(1, 1, exporter(1));
  const h = (await peer.decryptFrame(Codec.H264, new Uint8Array(tx.out[0].data))).frame;
  assert.deepEqual(h, annexB4(h264), 'H.264 under its NAL-aware layout, with 4-byte start codes');
  assert.deepEqual(new Uint8Array(tx.out[0].data).subarray(0, 4), Uint8Array.of(0, 0, 0, 1), 'start code clear');
  assert.deepEqual((await peer.decryptFrame(Codec.NONE, new Uint8Array(tx.out[1].data))).frame, vp9, 'VP9 wholly protected');
  const s = await w.stats();
  assert.deepEqual(s.layouts.encode, { 'video/h264': 1, 'video/vp9': 1 });

  // The receiving side reads the same metadata.
  const rx = w.track('decode');
  const other = new MLSKeys();
  await other.setEpoch(1, 2, exporter(1));
  const enc = await other.encryptFrame(Codec.H264, annexB4(h264));
  rx.push(withMeta(enc, { mimeType: 'video/H264' }));
  await until('decrypted', () => rx.out.length === 1);
  assert.deepEqual(new Uint8Array(rx.out[0].data), annexB4(h264));
  // An H.264 frame read with VP8's layout (a constant) fails: the layout matters.
  rx.push(withMeta(await other.encryptFrame(Codec.H264, annexB4(h264)), { mimeType: 'video/VP8' }));
  await until('dropped', async () => (await w.stats()).failed === 1);
});
