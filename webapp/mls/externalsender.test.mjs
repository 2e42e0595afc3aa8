// The server as MLS external sender (DESIGN.md "How a meeting works" 3, RFC 9420 §12.1.8.1), with
// the external_senders extension in its RFC wire form, as the Go side writes it. ts-mls 1.6.4
// reads a bare ExternalSender instead of the vector; patches/ts-mls+1.6.4+002+external-senders.patch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createGroup,
  createGroupInfoWithExternalPub,
  decodeMlsMessage,
  encodeExternalSender,
  encodeMlsMessage,
  proposeExternal,
} from 'ts-mls';
import { Room, suite, keyPackage, externalSendersExtension, hex } from './harness.mjs';

const enc = new TextEncoder();
const basic = (name) => ({ credentialType: 'basic', identity: enc.encode(name) });

/** setup: a room whose external_senders lists a decoy at index 0 and the server at index 1. */
async function setup() {
  const impl = await suite();
  const server = await impl.signature.keygen();
  const decoy = await impl.signature.keygen();
  const ext = externalSendersExtension([
    { signaturePublicKey: decoy.publicKey, credential: basic('decoy') },
    { signaturePublicKey: server.publicKey, credential: basic('sealroom-server') },
  ]);
  const room = await Room.create(impl, 'alice', [ext]);
  await room.commit('alice', { add: ['bob', 'carol'] });
  return { impl, server, ext, room };
}

/** serverProposes is what the Delivery Service does: sign a proposal as external sender 1. */
async function serverProposes({ impl, server, room }, proposal) {
  const gi = await createGroupInfoWithExternalPub(room.members.get('alice'), [], impl);
  const msg = await proposeExternal(gi, proposal, server.publicKey, server.signKey, impl);
  assert.equal(msg.wireformat, 'mls_public_message');
  assert.deepEqual(msg.publicMessage.content.sender, { senderType: 'external', senderIndex: 1 });
  return encodeMlsMessage(msg);
}

test('external_senders in RFC 9420 wire form: the server adds and removes, members commit', async () => {
  const t = await setup();
  const { impl, room } = t;

  // Join: the server proposes Add for dave's KeyPackage, bob commits it, dave joins by Welcome.
  const dave = await keyPackage('dave', impl);
  await room.deliver(await serverProposes(t, { proposalType: 'add', add: { keyPackage: dave.publicPackage } }));
  assert.deepEqual(await room.commit('bob', { keyPackages: new Map([['dave', dave]]) }), ['dave']);

  // Leave: the server proposes Remove of carol, the newcomer commits it.
  await room.deliver(await serverProposes(t, { proposalType: 'remove', remove: { removed: room.leafOf('carol') } }));
  await room.commit('dave', { removedByProposal: ['carol'] });

  assert.deepEqual([...room.members.keys()].sort(), ['alice', 'bob', 'dave']);
  const all = await room.agreement();
  for (const name of Object.keys(all)) assert.deepEqual(all[name], all.alice, name);
  assert.equal(all.alice.epoch, 3n);
  // The extension bytes survive the Welcome unchanged: dave's GroupContext carries the RFC form.
  assert.equal(hex(room.members.get('dave').groupContext.extensions[0].extensionData), hex(t.ext.extensionData));
});

test('a proposal that claims the wrong external sender index is rejected and changes nothing', async () => {
  const t = await setup();
  const encoded = await serverProposes(t, { proposalType: 'remove', remove: { removed: t.room.leafOf('carol') } });
  const forged = decodeMlsMessage(encoded, 0)[0];
  forged.publicMessage.content.sender.senderIndex = 0; // the decoy's key does not verify it
  const before = new Map(t.room.members);
  await assert.rejects(t.room.deliver(encodeMlsMessage(forged)), { name: 'CryptoVerificationError', message: 'Signature invalid' });
  forged.publicMessage.content.sender.senderIndex = 7; // no such sender
  await assert.rejects(t.room.deliver(encodeMlsMessage(forged)), { name: 'ValidationError' });
  for (const [name, st] of before) {
    assert.equal(t.room.members.get(name), st, name);
    assert.deepEqual(st.unappliedProposals, {}, name);
  }
});

test('malformed external_senders extension data is refused', async () => {
  const impl = await suite();
  const kp = await keyPackage('alice', impl);
  const server = await impl.signature.keygen();
  const good = externalSendersExtension([{ signaturePublicKey: server.publicKey, credential: basic('s') }]).extensionData;
  const bare = encodeExternalSender({ signaturePublicKey: server.publicKey, credential: basic('s') });
  const cases = {
    truncated: good.subarray(0, good.length - 1),
    'trailing byte': new Uint8Array([...good, 0]),
    'bare ExternalSender without the vector (ts-mls 1.6.4 form)': bare,
    empty: new Uint8Array(0),
  };
  for (const [name, extensionData] of Object.entries(cases)) {
    await assert.rejects(
      createGroup(enc.encode('g'), kp.publicPackage, kp.privatePackage, [{ extensionType: 'external_senders', extensionData }], impl),
      undefined,
      name,
    );
  }
});
