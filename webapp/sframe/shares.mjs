// The SFrame of a frame cut into shares (twin of sframe/shares.go), for the layouts that
// protect several payloads of one frame under one SFrame (H.264, AV1): the first share
// begins with the SFrame header, each has its payload's length of ciphertext, the last ends
// with the tag.
import { SFrameError, ErrorCode } from './errors.mjs';
import { parseHeader } from './header.mjs';
import { suiteParams } from './suite.mjs';

// MAX_UNITS bounds the NAL units or OBUs of one frame, as Go's maxUnits: encoders write a
// few, or a few per slice or tile; thousands are an attack on the metadata's size.
export const MAX_UNITS = 4096;

/** sealShares encrypts pt (the payloads joined, of lengths lens) with metadata md and cuts the SFrame into shares; pt is wiped. */
export async function sealShares(ctx, kid, md, pt, lens) {
  const sf = await ctx.encrypt(kid, md, pt);
  const hl = sf.length - pt.length - suiteParams(ctx.suite).nt;
  pt.fill(0);
  const shares = [];
  let pos = 0;
  lens.forEach((l, i) => {
    if (i === 0) l += hl;
    if (i === lens.length - 1) l = sf.length - pos;
    shares.push(sf.subarray(pos, pos + l));
    pos += l;
  });
  return shares;
}

/**
 * openShares opens sf, the shares joined, whose lengths are lens; the share at first begins
 * with the SFrame header, the one at last ends with the tag. lens becomes each share's
 * plaintext length, which metadata() may then read.
 * @returns {Promise<{pt: Uint8Array, header: {kid: bigint, ctr: bigint}}>}
 */
export async function openShares(ctx, sf, lens, first, last, metadata) {
  const h = parseHeader(sf);
  lens[first] -= h.length;
  lens[last] -= suiteParams(ctx.suite).nt;
  if (lens.some((l) => l < 0)) throw new SFrameError(ErrorCode.SHORT_CIPHERTEXT, undefined, { kid: h.kid, ctr: h.ctr });
  const pt = await ctx.open(h, sf.subarray(0, h.length), metadata(), sf.subarray(h.length));
  return { pt, header: { kid: h.kid, ctr: h.ctr } };
}
