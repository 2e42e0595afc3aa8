// The browser runs ts-mls exactly as pinned and patched (README.md): 1.6.4 from the npm registry
// plus patches/*.patch, applied by `npm ci` (postinstall: patch-package). If this fails, the
// patches were not applied (npm ci --ignore-scripts?) or ts-mls is not 1.6.4: the churn and
// external-sender tests would then fail too, with a less obvious message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const PKG = new URL('../node_modules/ts-mls/', import.meta.url);

// sha256 of each file the patches touch, after both patches applied to ts-mls 1.6.4.
const PATCHED = {
  'dist/src/clientState.js': '54b0488b70a372e87c3d76f9212dc9af5c61375d68121b6daf1b7ac59a256327',
  'dist/src/externalProposal.js': 'f519749842a679bff80bbff4ad5a7cb8d8c876f5b411ad692d99ebf569de4907',
  'dist/src/externalSender.js': '1597a7043d640980e8a01d0863903486dddf1b464e31bce183199ccb8d7fe74c',
  'dist/src/publicMessage.js': '42b8f6fece242324b28b773b09d3f42fe0ef34de0ae528793993b18382c89cf0',
  'dist/src/pathSecrets.js': '0d29f544da72cd559554aa7c4421105fc78ab06337116480a4e1a92b43c5d8e7',
  'dist/src/processMessages.js': 'aab4c87fda04a6311b2ab972d5ea7f50ba6a9f076dd02286c240592539843c11',
};

test('ts-mls is the pinned 1.6.4 with the sealroom patches applied', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', PKG), 'utf8'));
  assert.equal(pkg.version, '1.6.4');
  for (const [file, want] of Object.entries(PATCHED)) {
    const got = createHash('sha256').update(readFileSync(new URL(file, PKG))).digest('hex');
    assert.equal(got, want, `${file} is not the patched ts-mls 1.6.4 file`);
  }
});
