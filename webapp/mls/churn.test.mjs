// Joins after membership churn, with ts-mls alone: the case DESIGN.md lists as a known pitfall.
// ts-mls 1.6.4 rejects these valid Welcomes; patches/ts-mls+1.6.4+001+tree-validation.patch
// fixes it (README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createApplicationMessage,
  processMessage,
  emptyPskIndex,
  acceptAll,
  zeroOutUint8Array,
} from 'ts-mls';
import { Room, suite, wire } from './harness.mjs';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** assertAgreement checks every member is at the same epoch with the same secrets. */
async function assertAgreement(room, label) {
  const all = await room.agreement();
  const names = Object.keys(all);
  const first = all[names[0]];
  for (const name of names) assert.deepEqual(all[name], first, `${label}: ${name} disagrees with ${names[0]}`);
  return first;
}

/** assertChat has `from` send one application message that every other member decrypts. */
async function assertChat(room, from) {
  const impl = room.impl;
  const text = `hello from ${from} at epoch ${room.epoch()}`;
  const sent = await createApplicationMessage(room.members.get(from), enc.encode(text), impl);
  sent.consumed.forEach(zeroOutUint8Array);
  room.members.set(from, sent.newState);
  const msg = wire({ privateMessage: sent.privateMessage, wireformat: 'mls_private_message', version: 'mls10' });
  for (const [name, st] of room.members) {
    if (name === from) continue;
    const out = await processMessage(msg, st, emptyPskIndex, acceptAll, impl);
    assert.equal(out.kind, 'applicationMessage', `${name} did not get an application message`);
    assert.equal(dec.decode(out.message), text);
    out.consumed.forEach(zeroOutUint8Array);
    room.members.set(name, out.newState);
  }
}

test('two joiners accept the Welcome after leaves 1 and 4 were removed (DESIGN.md pitfall)', async () => {
  const impl = await suite();
  const room = await Room.create(impl, 'm0');
  await room.commit('m0', { add: ['m1', 'm2', 'm3', 'm4', 'm5'] });
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((l) => room.nameAt(l)), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);

  // Leaves 1 and 4 leave in one commit by leaf 0; their direct paths are blanked (§12.1.3).
  await room.commit('m0', { remove: ['m1', 'm4'] });
  // One commit by another member adds two: they take the blank leaves 1 and 4 (§12.1.1), are
  // unmerged at every non-blank parent on their paths, so the root lists both [1, 4] while the
  // parents below list only one of them. Unpatched ts-mls 1.6.4 wants all those lists equal.
  const joined = await room.commit('m2', { add: ['j1', 'j2'] });
  assert.deepEqual(joined, ['j1', 'j2']);
  assert.equal(room.nameAt(1), 'j1');
  assert.equal(room.nameAt(4), 'j2');

  const agreed = await assertAgreement(room, 'after the adding commit');
  assert.equal(agreed.epoch, 3n);
  assert.equal(room.members.size, 6);
  await assertChat(room, 'j1');
  await assertChat(room, 'm3');
});

test('the same churn with the removes in two commits, committed by different members', async () => {
  const impl = await suite();
  const room = await Room.create(impl, 'm0');
  await room.commit('m0', { add: ['m1', 'm2', 'm3', 'm4', 'm5'] });
  await room.commit('m3', { remove: ['m1'] });
  await room.commit('m5', { remove: ['m4'] });
  await room.commit('m0', { add: ['j1', 'j2'] });
  const agreed = await assertAgreement(room, 'after the adding commit');
  assert.equal(agreed.epoch, 4n);
  await assertChat(room, 'j2');
});

/** mulberry32: a tiny seeded PRNG so a failing history can be replayed from its seed. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAX_MEMBERS = 8;
const EPOCHS = 40;

for (const seed of [1, 2, 3, 4, 5]) {
  test(`random churn: ${EPOCHS} epochs of adds and removes among up to ${MAX_MEMBERS} members (seed ${seed})`, async () => {
    const impl = await suite();
    const rnd = mulberry32(seed);
    const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
    let next = 0;
    const room = await Room.create(impl, `p${next++}`);
    for (let e = 0; e < EPOCHS; e++) {
      const names = [...room.members.keys()];
      const committer = pick(names);
      const others = names.filter((n) => n !== committer);
      // Up to 3 removes (never the committer), up to 3 adds, at least one of either, within the cap.
      const remove = [];
      for (let k = Math.floor(rnd() * 4); k > 0 && others.length > 0; k--) {
        remove.push(others.splice(Math.floor(rnd() * others.length), 1)[0]);
      }
      const room4adds = MAX_MEMBERS - (names.length - remove.length);
      const add = [];
      for (let k = Math.min(Math.floor(rnd() * 4), room4adds); k > 0; k--) add.push(`p${next++}`);
      if (add.length === 0 && remove.length === 0) {
        if (room4adds > 0) add.push(`p${next++}`);
        else remove.push(pick(others));
      }
      const step = `seed ${seed} epoch ${e}: ${committer} adds [${add}] removes [${remove}]`;
      await assert.doesNotReject(room.commit(committer, { add, remove }), step);
      await assertAgreement(room, step);
      assert.ok(room.members.size <= MAX_MEMBERS);
    }
    assert.equal(room.epoch(), BigInt(EPOCHS));
    await assertChat(room, pick([...room.members.keys()]));
  });
}
