// Test helpers shared by the *.test.mjs files (not part of the runtime module).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** vectorsPath is sframe/testdata's copy, or SFRAME_TEST_VECTORS (same format). */
export function vectorsPath() {
  return process.env.SFRAME_TEST_VECTORS || fileURLToPath(new URL('../../sframe/testdata/rfc9605-test-vectors.json', import.meta.url));
}

/** loadVectors parses the RFC 9605 JSON vectors with kid and ctr as BigInt. */
export function loadVectors() {
  const text = readFileSync(vectorsPath(), 'utf8').replace(/"(kid|ctr)"\s*:\s*(\d+)/g, '"$1":"$2"');
  const v = JSON.parse(text);
  for (const list of [v.header ?? [], v.sframe ?? []]) {
    for (const e of list) {
      e.kid = BigInt(e.kid);
      e.ctr = BigInt(e.ctr);
    }
  }
  if ((v.header?.length ?? 0) + (v.aes_ctr_hmac?.length ?? 0) + (v.sframe?.length ?? 0) === 0) {
    throw new Error(`${vectorsPath()}: no vectors`);
  }
  return v;
}

export function testBaseKey(n) {
  return Uint8Array.from({ length: n }, (_, i) => (0xa0 + i) & 0xff);
}
