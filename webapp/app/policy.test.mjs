// The browser enforces the room's group policy on its own (policy.js; the same rules as
// keyservice/policy in Go): commits and proposals a hostile member or server could deliver
// straight to the page, bypassing the Delivery Service's checks, are refused and leave the
// page's group where it was; what an honest room does passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createCommit,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  emptyPskIndex,
  encodeMlsMessage,
  joinGroupExternal,
  processMessage,
  proposeExternal,
  createGroupInfoWithExternalPub,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { Room, suite, keyPackage, externalSendersExtension } from '../mls/harness.mjs';
import { roomPolicy } from './policy.js';

const enc = new TextEncoder();
const basic = (name) => ({ credentialType: 'basic', identity: enc.encode(name) });

async function setup() {
  const impl = await suite();
  const server = await impl.signature.keygen();
  const ext = externalSendersExtension([{ signaturePublicKey: server.publicKey, credential: basic('sealroom-server') }]);
  const room = await Room.create(impl, 'alice', [ext]);
  await room.commit('alice', { add: ['bob', 'carol'] }); // set-up only: the harness adds by value
  return { impl, server, room };
}

// deliverTo processes one encoded message at `who` under the room's policy, as the page does.
async function deliverTo(room, who, encoded) {
  const msg = decodeMlsMessage(encoded, 0)[0];
  const state = room.members.get(who);
  const violations = [];
  const out = await processMessage(msg, state, emptyPskIndex, roomPolicy(msg, state, (why) => violations.push(why)), room.impl);
  return { out, violations, before: state };
}

async function crafted(t, proposal) {
  const res = await createCommit({ state: t.room.members.get('alice'), cipherSuite: t.impl }, { wireAsPublicMessage: true, extraProposals: [proposal] });
  return encodeMlsMessage(res.commit);
}

test('the page refuses, on its own, what only a hostile member or server would deliver', async () => {
  const t = await setup();
  const ghost = await keyPackage('bob', t.impl); // a second leaf under bob's identity
  const cases = [
    ['a ghost Add by value', { proposalType: 'add', add: { keyPackage: ghost.publicPackage } }, /rule 1/],
    ['a Remove of carol by value', { proposalType: 'remove', remove: { removed: t.room.leafOf('carol') } }, /rule 1/],
    ['GroupContextExtensions dropping the server', { proposalType: 'group_context_extensions', groupContextExtensions: { extensions: [] } }, /rule 4/],
  ];
  for (const [name, proposal, rule] of cases) {
    const { out, violations, before } = await deliverTo(t.room, 'bob', await crafted(t, proposal));
    assert.equal(out.actionTaken, 'reject', name);
    assert.equal(out.newState, before, `${name} changed bob's state`);
    assert.match(violations.join(), rule, name);
  }

  // A stranger's external join replaces no leaf of its own.
  const gi = await createGroupInfoWithExternalPubAndRatchetTree(t.room.members.get('alice'), [], t.impl);
  const mallory = await keyPackage('mallory', t.impl);
  const join = await joinGroupExternal(gi, mallory.publicPackage, mallory.privatePackage, false, t.impl);
  const { out, violations } = await deliverTo(t.room, 'bob', encodeMlsMessage({ version: 'mls10', wireformat: 'mls_public_message', publicMessage: join.publicMessage }));
  assert.equal(out.actionTaken, 'reject');
  assert.match(violations.join(), /rule 3/);
});

test('the page accepts what an honest room does: the server\'s Remove by reference, a resync of one\'s own leaf', async () => {
  const t = await setup();
  const gi = await createGroupInfoWithExternalPub(t.room.members.get('alice'), [], t.impl);
  const remove = await proposeExternal(gi, { proposalType: 'remove', remove: { removed: t.room.leafOf('carol') } }, t.server.publicKey, t.server.signKey, t.impl);
  for (const who of ['alice', 'bob']) {
    const { out, violations } = await deliverTo(t.room, who, encodeMlsMessage(remove));
    assert.equal(out.actionTaken, 'accept', violations.join());
    t.room.members.set(who, out.newState);
  }
  t.room.members.delete('carol');
  const res = await createCommit({ state: t.room.members.get('alice'), cipherSuite: t.impl }, { wireAsPublicMessage: true });
  const { out, violations } = await deliverTo(t.room, 'bob', encodeMlsMessage(res.commit));
  assert.equal(out.actionTaken, 'accept', violations.join());
  assert.equal(out.newState.groupContext.epoch, res.newState.groupContext.epoch);
  t.room.members.set('bob', out.newState);
  t.room.members.set('alice', res.newState);

  // Bob reloads: his state is gone and he comes back by an external commit replacing his leaf.
  const gi2 = await createGroupInfoWithExternalPubAndRatchetTree(t.room.members.get('alice'), [], t.impl);
  const bob2 = await keyPackage('bob', t.impl);
  // A reloaded page has lost its signature key too: its former leaf is found by identity.
  const byIdentity = {
    ...defaultClientConfig,
    keyPackageEqualityConfig: {
      ...defaultClientConfig.keyPackageEqualityConfig,
      compareKeyPackageToLeafNode: (kp, leaf) => Buffer.compare(kp.leafNode.credential.identity, leaf.credential.identity) === 0,
    },
  };
  const resync = await joinGroupExternal(gi2, bob2.publicPackage, bob2.privatePackage, true, t.impl, undefined, byIdentity);
  const r = await deliverTo(t.room, 'alice', encodeMlsMessage({ version: 'mls10', wireformat: 'mls_public_message', publicMessage: resync.publicMessage }));
  assert.equal(r.out.actionTaken, 'accept', r.violations.join());
});
