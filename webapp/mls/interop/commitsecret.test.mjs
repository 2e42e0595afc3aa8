// The commit secret when the committer's filtered direct path stops below a blank root
// (patches/ts-mls+1.6.4+003+commit-secret.patch; found by the Go interop, mls/interop).
//
// RFC 9420 §7.4: a committer generates one path secret per node of its *filtered* direct path;
// §12.4.1: "Define commit_secret as the value path_secret[n+1] derived from the last path secret
// value (path_secret[n]) derived for the UpdatePath." When the root's other child has an empty
// resolution (e.g. leaves 0 and 1 of 4 removed, leaf 2 commits), the root is not on the filtered
// direct path (§4.1.2) and stays blank. ts-mls 1.6.4 (getCommitSecret and updatePrivateKeyPath)
// walked on to the blank root and derived one path secret more, so its epoch secrets differed
// from every RFC implementation's (sealroom's Go mls: "invalid confirmation tag" both ways).
// The mlswg treekem vectors have no such case, so this pins it from the RFC formula: with the
// UpdatePath's n nodes and ts-mls's first secret s (path_secret[0] = DeriveSecret(s, "path")),
// commit_secret = DeriveSecret applied n+1 times to s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createCommit, emptyPskIndex, processMessage, acceptAll } from 'ts-mls';
import { deriveSecret } from 'ts-mls/crypto/kdf.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { Room, suite, wire, hex } from '../harness.mjs';

const PKG = new URL('../../node_modules/ts-mls/', import.meta.url);

// sha256 of the files patch 003 touches (patched.test.mjs pins those of patches 001 and 002).
const PATCHED = {
  'dist/src/pathSecrets.js': '0d29f544da72cd559554aa7c4421105fc78ab06337116480a4e1a92b43c5d8e7',
  'dist/src/processMessages.js': 'aab4c87fda04a6311b2ab972d5ea7f50ba6a9f076dd02286c240592539843c11',
};

test('patch 003 is applied (sha256 of the files it touches)', () => {
  for (const [file, want] of Object.entries(PATCHED)) {
    const got = createHash('sha256').update(readFileSync(new URL(file, PKG))).digest('hex');
    assert.equal(got, want, `${file} is not the patched ts-mls 1.6.4 file`);
  }
});

/**
 * commitWithSecrets has `committer` commit `proposals` while recording every random secret
 * ts-mls draws, and checks the new epoch against the RFC commit secret for each candidate.
 * Returns whether the RFC formula (n+1 derivations) explains the new epoch, and whether the
 * 1.6.4 formula (n+2) does.
 */
async function commitWithSecrets(room, committer, proposals) {
  const impl = room.impl;
  const drawn = [];
  const rng = impl.rng;
  const before = room.members.get(committer);
  impl.rng = {
    ...rng,
    randomBytes(n) {
      const b = rng.randomBytes(n);
      if (n === impl.kdf.size) drawn.push(b.slice());
      return b;
    },
  };
  let res;
  try {
    res = await createCommit({ state: before, cipherSuite: impl }, { extraProposals: proposals, wireAsPublicMessage: true });
  } finally {
    impl.rng = rng;
  }
  const n = res.commit.publicMessage.content.commit.path.nodes.length;
  const explains = async (steps) => {
    for (const s of drawn) {
      let secret = s;
      for (let i = 0; i < steps; i++) secret = await deriveSecret(secret, 'path', impl.kdf);
      const epoch = await initializeEpoch(before.keySchedule.initSecret, secret, res.newState.groupContext, new Uint8Array(impl.kdf.size), impl.kdf);
      if (hex(epoch.keySchedule.epochAuthenticator) === hex(res.newState.keySchedule.epochAuthenticator)) return true;
    }
    return false;
  };
  return { res, n, rfc: await explains(n + 1), v164: await explains(n + 2) };
}

test('commit secret: blank root above the filtered direct path (RFC 9420 §12.4.1)', async () => {
  const impl = await suite();
  const room = await Room.create(impl, 'm0');
  await room.commit('m0', { add: ['m1', 'm2', 'm3'] });
  const proposals = ['m0', 'm1'].map((name) => ({ proposalType: 'remove', remove: { removed: room.leafOf(name) } }));
  const { res, n, rfc, v164 } = await commitWithSecrets(room, 'm2', proposals);
  // Leaves 0 and 1 are gone: leaf 2's filtered direct path is its parent only, the root is blank.
  assert.equal(n, 1);
  assert.equal(res.newState.ratchetTree[3], undefined, 'root is blank');
  assert.ok(rfc, 'the new epoch is derived from DeriveSecret(last filtered path secret, "path")');
  assert.ok(!v164, 'ts-mls 1.6.4 derived one more path secret for the blank root');
  // The other member agrees.
  const out = await processMessage(wire(res.commit), room.members.get('m3'), emptyPskIndex, acceptAll, impl);
  assert.equal(hex(out.newState.keySchedule.epochAuthenticator), hex(res.newState.keySchedule.epochAuthenticator));
  assert.equal(out.newState.privatePath.privateKeys[3], undefined, 'no private key for the blank root');
});

test('commit secret: root on the filtered direct path (unchanged by the patch)', async () => {
  const impl = await suite();
  const room = await Room.create(impl, 'm0');
  await room.commit('m0', { add: ['m1', 'm2', 'm3'] });
  const { n, rfc } = await commitWithSecrets(room, 'm2', []);
  assert.equal(n, 2);
  assert.ok(rfc);
});
