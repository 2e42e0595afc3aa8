// The page's MLS member (mls.js) against ts-mls members of the test harness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCommit, encodeMlsMessage } from 'ts-mls';
import { Member } from './mls.js';
import { b64encode } from './b64.js';
import { Room, suite } from '../mls/harness.mjs';

// A member that commits and loses the epoch to another member's commit (the Delivery
// Service answers stale_epoch) processes the winner's commit and reaches its epoch. Seen in
// the Firefox meeting before the fix: the losing commit had wiped the current epoch's
// init_secret, so the member refused the winner ("Could not verify confirmation tag") and
// stayed behind for good.
test('a commit that loses the epoch leaves the member able to process the winner', async () => {
  const impl = await suite();
  const room = await Room.create(impl, 'alice');
  await room.commit('alice', { add: ['bob'] });
  const epoch = room.epoch();
  const errors = [];
  const bob = new Member('bob', {
    send: async (type) => {
      if (type === 'commit') throw Object.assign(new Error('stale'), { code: 'stale_epoch' });
    },
    onEpoch: () => {},
    onError: (e) => errors.push(e),
    onChat: () => {},
  });
  bob.impl = impl;
  bob.state = room.members.get('bob');
  await bob.selfUpdate(); // loses the epoch
  assert.equal(bob.epoch(), epoch);
  const win = await createCommit({ state: room.members.get('alice'), cipherSuite: impl }, { wireAsPublicMessage: true, ratchetTreeExtension: true });
  await bob.mls({ epoch: String(epoch), message: b64encode(encodeMlsMessage(win.commit)) });
  assert.deepEqual(errors, []);
  assert.equal(bob.epoch(), epoch + 1n, "bob processed alice's commit");
});
