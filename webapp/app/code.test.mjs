// Unit tests of the page's pure helpers (node --test webapp/app/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { securityCode } from './code.js';
import { b64decode, b64encode } from './b64.js';

test('security code: first 30 bits of the authenticator, six groups of two digits', () => {
  assert.equal(securityCode(new Uint8Array(32)), '00 00 00 00 00 00');
  assert.equal(securityCode(new Uint8Array(32).fill(0xff)), '31 31 31 31 31 31');
  // Six 5-bit groups 1..6, then two bits that do not count.
  const bits = [1, 2, 3, 4, 5, 6].reduce((acc, v) => acc * 32 + v, 0) * 4;
  const a = Uint8Array.of(bits >>> 24, (bits >>> 16) & 0xff, (bits >>> 8) & 0xff, bits & 0xff, 9, 9);
  assert.equal(securityCode(a), '01 02 03 04 05 06');
  // Only the first 30 bits count.
  a[3] |= 3;
  a[4] = 0xff;
  assert.equal(securityCode(a), '01 02 03 04 05 06');
});

test('base64 is standard with padding and round-trips', () => {
  const b = Uint8Array.of(0xfb, 0xff, 0x00, 0x10);
  assert.equal(b64encode(b), Buffer.from(b).toString('base64'));
  assert.deepEqual(b64decode(b64encode(b)), b);
  const big = new Uint8Array(100_000).map((_, i) => i * 7);
  assert.deepEqual(b64decode(b64encode(big)), big);
});
