// The mlswg passive-client vectors (testdata/README.md) through the patched ts-mls: joining
// Welcomes and following commits made by other MLS implementations still works, with the same
// epoch authenticators, so the patches did not break interoperability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acceptAll, decodeMlsMessage, joinGroup, makePskIndex, processMessage } from 'ts-mls';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { suite, hex } from './harness.mjs';

const DIR = process.env.MLS_TEST_VECTORS ?? join(fileURLToPath(new URL('.', import.meta.url)), 'testdata');
const bytes = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const message = (s) => decodeMlsMessage(bytes(s), 0)[0];

function load(name) {
  const cases = JSON.parse(readFileSync(join(DIR, name), 'utf8')).filter((c) => c.cipher_suite === 1);
  assert.ok(cases.length > 0, `${name}: no suite-1 case`);
  return cases;
}

/** passiveClient joins by the case's Welcome and follows its epochs, checking each authenticator. */
async function passiveClient(impl, c) {
  const keyPackage = message(c.key_package).keyPackage;
  const privateKeys = {
    initPrivateKey: bytes(c.init_priv),
    hpkePrivateKey: bytes(c.encryption_priv),
    signaturePrivateKey: bytes(c.signature_priv),
  };
  const psks = Object.fromEntries(c.external_psks.map((p) => [Buffer.from(p.psk_id, 'hex').toString('base64'), bytes(p.psk)]));
  const tree = c.ratchet_tree ? decodeRatchetTree(bytes(c.ratchet_tree), 0)[0] : undefined;
  let state = await joinGroup(message(c.welcome).welcome, keyPackage, privateKeys, makePskIndex(undefined, psks), impl, tree);
  assert.equal(hex(state.keySchedule.epochAuthenticator), c.initial_epoch_authenticator, 'after the Welcome');
  for (const [i, epoch] of c.epochs.entries()) {
    for (const m of [...epoch.proposals, epoch.commit]) {
      const out = await processMessage(message(m), state, makePskIndex(state, psks), acceptAll, impl);
      assert.equal(out.kind, 'newState');
      state = out.newState;
    }
    assert.equal(hex(state.keySchedule.epochAuthenticator), epoch.epoch_authenticator, `epoch ${i}`);
  }
}

for (const name of ['passive-client-welcome.json', 'passive-client-handling-commit.json', 'passive-client-random.json']) {
  test(`mlswg ${name}, suite 1`, async (t) => {
    const impl = await suite();
    for (const [i, c] of load(name).entries()) {
      await t.test(`case ${i} (${c.epochs.length} epochs)`, () => passiveClient(impl, c));
    }
  });
}
