// SFrame header, RFC 9605 §4.3 (twin of sframe/header.go).
//
//   0 1 2 3 4 5 6 7
//  +-+-+-+-+-+-+-+-+---------------------------------+
//  |X|  K  |Y|  C  |   KID (0-8 B)   |  CTR (0-8 B)  |
//  +-+-+-+-+-+-+-+-+---------------------------------+
//
// KID and CTR are BigInt (they reach 2^64-1). Encoding is minimal; parsing
// rejects non-minimal fields like the Go side.
import { SFrameError, ErrorCode } from './errors.mjs';

export const MAX_HEADER_LEN = 17;
const U64_MAX = (1n << 64n) - 1n;

function byteLen(v) {
  let n = 1;
  while (v > 0xffn) {
    v >>= 8n;
    n++;
  }
  return n;
}

function toU64(v, what) {
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`sframe: ${what} out of range`);
  return b;
}

/** headerLength returns the encoded length of the header for kid and ctr. */
export function headerLength(kid, ctr) {
  kid = toU64(kid, 'KID');
  ctr = toU64(ctr, 'CTR');
  return 1 + (kid >= 8n ? byteLen(kid) : 0) + (ctr >= 8n ? byteLen(ctr) : 0);
}

/** encodeHeader returns the minimal encoding of (kid, ctr). */
export function encodeHeader(kid, ctr) {
  kid = toU64(kid, 'KID');
  ctr = toU64(ctr, 'CTR');
  const out = new Uint8Array(headerLength(kid, ctr));
  let cfg = 0;
  let pos = 1;
  const put = (v, n) => {
    for (let i = n - 1; i >= 0; i--) out[pos++] = Number((v >> BigInt(8 * i)) & 0xffn);
  };
  if (kid < 8n) {
    cfg = Number(kid) << 4;
  } else {
    const kl = byteLen(kid);
    cfg = 0x80 | ((kl - 1) << 4);
    put(kid, kl);
  }
  if (ctr < 8n) {
    cfg |= Number(ctr);
  } else {
    const cl = byteLen(ctr);
    cfg |= 0x08 | (cl - 1);
    put(ctr, cl);
  }
  out[0] = cfg;
  return out;
}

function readUint(b, field) {
  if (b[0] === 0 || (b.length === 1 && b[0] < 8)) {
    throw new SFrameError(ErrorCode.NON_MINIMAL_HEADER, `${field} field`, { field });
  }
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/**
 * parseHeader decodes the header at the start of b.
 * @returns {{kid: bigint, ctr: bigint, length: number}}
 */
export function parseHeader(b) {
  if (b.length < 1) throw new SFrameError(ErrorCode.TRUNCATED_HEADER, 'config field', { field: 'config' });
  const cfg = b[0];
  let n = 1;
  let kid;
  let ctr;
  if ((cfg & 0x80) === 0) {
    kid = BigInt((cfg >> 4) & 0x07);
  } else {
    const kl = ((cfg >> 4) & 0x07) + 1;
    if (b.length < n + kl) throw new SFrameError(ErrorCode.TRUNCATED_HEADER, 'KID field', { field: 'KID' });
    kid = readUint(b.subarray(n, n + kl), 'KID');
    n += kl;
  }
  if ((cfg & 0x08) === 0) {
    ctr = BigInt(cfg & 0x07);
  } else {
    const cl = (cfg & 0x07) + 1;
    if (b.length < n + cl) throw new SFrameError(ErrorCode.TRUNCATED_HEADER, 'CTR field', { field: 'CTR' });
    ctr = readUint(b.subarray(n, n + cl), 'CTR');
    n += cl;
  }
  return { kid, ctr, length: n };
}
