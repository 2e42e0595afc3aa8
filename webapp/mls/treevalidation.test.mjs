// The patched ratchet-tree check (patches/ts-mls+1.6.4+001+tree-validation.patch) loosens only
// what RFC 9420 §12.4.3.1 allows: trees that break the unmerged_leaves rules are still rejected,
// with the check's own error, before any hash is looked at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCommit, joinGroup, emptyPskIndex, zeroOutUint8Array } from 'ts-mls';
import { validateRatchetTree } from 'ts-mls/clientState.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { Room, suite, keyPackage, wire } from './harness.mjs';

const MISSING_INTERMEDIATE = 'non-blank intermediate node must list leaf node in its unmerged_leaves';
const NOT_A_DESCENDANT = 'Unmerged leaf did not represent a non-blank descendant leaf node';

/**
 * churnedTree builds the DESIGN.md case: 6 members, leaves 1 and 4 removed, one adds-only commit
 * (no UpdatePath) adding j1 and j2 at leaves 1 and 4. The Welcome carries no ratchet_tree
 * extension, so the joiner takes the tree out of band, the way a Delivery Service could hand it
 * over, and a tampered tree reaches validateRatchetTree instead of failing the GroupInfo signature.
 */
async function churnedTree() {
  const impl = await suite();
  const room = await Room.create(impl, 'm0');
  await room.commit('m0', { add: ['m1', 'm2', 'm3', 'm4', 'm5'] });
  await room.commit('m0', { remove: ['m1', 'm4'] });
  const j1 = await keyPackage('j1', impl);
  const j2 = await keyPackage('j2', impl);
  const res = await createCommit(
    { state: room.members.get('m2'), cipherSuite: impl },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: false,
      extraProposals: [j1, j2].map((kp) => ({ proposalType: 'add', add: { keyPackage: kp.publicPackage } })),
    },
  );
  res.consumed.forEach(zeroOutUint8Array);
  const welcome = wire({ welcome: res.welcome, wireformat: 'mls_welcome', version: 'mls10' }).welcome;
  return { impl, state: res.newState, tree: res.newState.ratchetTree, welcome, j1 };
}

/** unmerged returns the unmerged_leaves of parent node `node`, or undefined if it is blank. */
function unmerged(tree, node) {
  return tree[node]?.parent.unmergedLeaves;
}

/** validate runs the patched check on `tree` against its own tree hash, isolating the check. */
async function validate({ impl, state }, tree) {
  const cfg = state.clientConfig;
  return validateRatchetTree(tree, state.groupContext, cfg.lifetimeConfig, cfg.authService, await treeHashRoot(tree, impl.hash), impl);
}

test('the churned tree has the shape the pitfall needs', async () => {
  const t = await churnedTree();
  // Node 3 (on m0's filtered direct path, refreshed by the remove commit) lists only leaf 1; the
  // root lists both joiners; nodes 1, 9 and 11 are blank; a blank node lists nothing.
  // Unpatched ts-mls compared node 3's [1] with the root's [1, 4] and refused the Welcome.
  assert.equal(t.tree[1], undefined);
  assert.deepEqual(unmerged(t.tree, 3), [1]);
  assert.deepEqual(unmerged(t.tree, 7), [1, 4]);
  assert.equal(t.tree[9], undefined);
  assert.equal(t.tree[11], undefined);
  assert.equal(await validate(t, t.tree), undefined);
  const joined = await joinGroup(t.welcome, t.j1.publicPackage, t.j1.privatePackage, emptyPskIndex, t.impl, t.tree);
  assert.equal(joined.groupContext.epoch, t.state.groupContext.epoch);
});

test('rejected: a non-blank node between the leaf and the listing node does not list the leaf', async () => {
  const t = await churnedTree();
  const bad = structuredClone(t.tree);
  // The root (7) lists leaf 1, node 3 sits between leaf 1 and the root and is non-blank.
  bad[3].parent.unmergedLeaves = [];
  const err = await validate(t, bad);
  assert.equal(err?.message, MISSING_INTERMEDIATE);

  // The same tree handed to a joiner out of band is refused, by this check.
  await assert.rejects(
    joinGroup(t.welcome, t.j1.publicPackage, t.j1.privatePackage, emptyPskIndex, t.impl, bad),
    { message: MISSING_INTERMEDIATE },
  );
});

test('rejected: an unmerged leaf that is not a descendant of the listing node', async () => {
  const t = await churnedTree();
  const bad = structuredClone(t.tree);
  bad[3].parent.unmergedLeaves = [1, 5]; // leaf 5 (m5, non-blank) lies under node 11, not node 3
  assert.equal((await validate(t, bad))?.message, NOT_A_DESCENDANT);
});

test('rejected: an unmerged leaf that is blank', async () => {
  const t = await churnedTree();
  const bad = structuredClone(t.tree);
  bad[2] = undefined; // blank leaf 1 while nodes 1, 3 and 7 still list it
  assert.equal((await validate(t, bad))?.message, NOT_A_DESCENDANT);
});

test('accepted: a node above the listing node need not list the leaf (RFC 9420 §12.4.3.1)', async () => {
  const t = await churnedTree();
  const ok = structuredClone(t.tree);
  // Leaf 1 listed at node 3 only: the root is above every node that lists it, so §12.4.3.1 puts
  // no requirement on it. (The tree hash no longer matches the GroupInfo; validate() checks the
  // tree against its own hash to look at this rule alone.)
  ok[7].parent.unmergedLeaves = [4];
  assert.equal(await validate(t, ok), undefined);
});
