// Cipher suites of RFC 9605 §4.5 (twin of sframe/suite.go).
import { SFrameError, ErrorCode } from './errors.mjs';

export const Suite = Object.freeze({
  AES_128_CTR_HMAC_SHA256_80: 1,
  AES_128_CTR_HMAC_SHA256_64: 2,
  AES_128_CTR_HMAC_SHA256_32: 3,
  AES_128_GCM_SHA256_128: 4,
  AES_256_GCM_SHA512_128: 5,
});

/** sealroom's media suite (DESIGN.md §5). */
export const DEFAULT_SUITE = Suite.AES_128_GCM_SHA256_128;

/** AEAD.Nn: 12 bytes for every suite. */
export const NONCE_SIZE = 12;

const PARAMS = {
  1: { nk: 48, nka: 16, nt: 10, gcm: false, hash: 'SHA-256', hashLen: 32, name: 'AES_128_CTR_HMAC_SHA256_80' },
  2: { nk: 48, nka: 16, nt: 8, gcm: false, hash: 'SHA-256', hashLen: 32, name: 'AES_128_CTR_HMAC_SHA256_64' },
  3: { nk: 48, nka: 16, nt: 4, gcm: false, hash: 'SHA-256', hashLen: 32, name: 'AES_128_CTR_HMAC_SHA256_32' },
  4: { nk: 16, nka: 0, nt: 16, gcm: true, hash: 'SHA-256', hashLen: 32, name: 'AES_128_GCM_SHA256_128' },
  5: { nk: 32, nka: 0, nt: 16, gcm: true, hash: 'SHA-512', hashLen: 64, name: 'AES_256_GCM_SHA512_128' },
};

/** suiteParams returns the constants of RFC 9605 §4.5's table, or throws unknown-suite. */
export function suiteParams(suite) {
  const p = Object.hasOwn(PARAMS, suite) ? PARAMS[suite] : undefined;
  if (!p) throw new SFrameError(ErrorCode.UNKNOWN_SUITE, `0x${Number(suite).toString(16)}`);
  return p;
}
