// RFC 9605 Appendix C vectors, from the same file as the Go tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVectors, hex, toHex } from './testutil.mjs';
import { encodeHeader, parseHeader } from './header.mjs';
import { suiteParams } from './suite.mjs';
import { CipherKey, deriveKeyMaterial, kdfLabel, KEY_LABEL_PREFIX, SALT_LABEL_PREFIX, concat } from './cipher.mjs';
import { SFrameContext } from './context.mjs';

const v = loadVectors();

test('header vectors', () => {
  for (const tc of v.header) {
    assert.equal(toHex(encodeHeader(tc.kid, tc.ctr)), tc.encoded, `encode kid=${tc.kid} ctr=${tc.ctr}`);
    const h = parseHeader(concat(hex(tc.encoded), Uint8Array.of(0xaa)));
    assert.deepEqual([h.kid, h.ctr, h.length], [tc.kid, tc.ctr, tc.encoded.length / 2]);
  }
});

test('aes_ctr_hmac vectors', async () => {
  for (const tc of v.aes_ctr_hmac) {
    const p = suiteParams(tc.cipher_suite);
    assert.equal(tc.key.slice(0, 2 * p.nka), tc.enc_key);
    assert.equal(tc.key.slice(2 * p.nka), tc.auth_key);
    // With the vector's nonce as salt and CTR 0 the nonce is the vector's.
    const k = await CipherKey.fromMaterial(tc.cipher_suite, hex(tc.key), hex(tc.nonce));
    const empty = new Uint8Array(0);
    const ct = await k.seal(0n, empty, hex(tc.aad), hex(tc.pt));
    assert.equal(toHex(ct), tc.ct, `suite ${tc.cipher_suite}`);
    assert.equal(toHex(await k.open(0n, empty, hex(tc.aad), hex(tc.ct))), tc.pt);
    const bad = hex(tc.ct);
    bad[bad.length - 1] ^= 1;
    await assert.rejects(k.open(0n, empty, hex(tc.aad), bad), { code: 'authentication' });
  }
});

async function hkdfExtract(hash, hashLen, ikm) {
  // HKDF-Extract with an empty salt is HMAC with HashLen zero bytes as key (RFC 5869 §2.2).
  const k = await crypto.subtle.importKey('raw', new Uint8Array(hashLen), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, ikm));
}

test('sframe vectors', async () => {
  for (const tc of v.sframe) {
    const suite = tc.cipher_suite;
    const p = suiteParams(suite);
    assert.equal(toHex(kdfLabel(KEY_LABEL_PREFIX, tc.kid, suite)), tc.sframe_key_label);
    assert.equal(toHex(kdfLabel(SALT_LABEL_PREFIX, tc.kid, suite)), tc.sframe_salt_label);
    assert.equal(toHex(await hkdfExtract(p.hash, p.hashLen, hex(tc.base_key))), tc.sframe_secret);
    const m = await deriveKeyMaterial(suite, tc.kid, hex(tc.base_key));
    assert.equal(toHex(m.key), tc.sframe_key, `sframe_key suite ${suite}`);
    assert.equal(toHex(m.salt), tc.sframe_salt);
    const k = await CipherKey.derive(suite, tc.kid, hex(tc.base_key));
    assert.equal(toHex(k.nonce(tc.ctr)), tc.nonce);
    assert.equal(toHex(concat(encodeHeader(tc.kid, tc.ctr), hex(tc.metadata))), tc.aad);

    const ctx = new SFrameContext(suite);
    await ctx.addKey(tc.kid, hex(tc.base_key));
    ctx.setNextCounter(tc.kid, tc.ctr);
    assert.equal(toHex(await ctx.encrypt(tc.kid, hex(tc.metadata), hex(tc.pt))), tc.ct, `ct suite ${suite}`);
    const { plaintext, header } = await ctx.decrypt(hex(tc.metadata), hex(tc.ct));
    assert.equal(toHex(plaintext), tc.pt);
    assert.deepEqual(header, { kid: tc.kid, ctr: tc.ctr });
  }
});
