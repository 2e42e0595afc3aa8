// H.264 NAL-aware protection (twin of sframe/h264.go; docs/protocol.md, "h264: NAL-aware protection").
// Start codes and NAL headers stay clear; SPS/PPS and other non-picture NAL
// units stay whole in the clear; all other payloads form one SFrame
// plaintext, whose header, ciphertext and tag are cut back into the NAL
// units and escaped so no start code is emulated.
import { SFrameError, ErrorCode } from './errors.mjs';
import { concat } from './cipher.mjs';
import { MAX_UNITS, sealShares, openShares } from './shares.mjs';

const CLEAR_TYPES = new Set([7, 8, 9, 10, 11, 12, 13, 15]);

function nalHeaderLen(t) {
  return t === 14 || t === 20 || t === 21 ? 4 : 1;
}

/**
 * slicePrefixLen is how many payload bytes of a coded slice (NAL types 1 and 5) stay clear:
 * those holding first_mb_in_slice, slice_type and pic_parameter_set_id (H.264 §7.3.3,
 * Exp-Golomb), as Go's slicePrefixLen; -1 when they do not end within p.
 */
export function slicePrefixLen(p) {
  let pos = 0;
  const bit = () => (pos < 8 * p.length ? (p[pos >> 3] >> (7 - (pos++ & 7))) & 1 : -1);
  for (let f = 0; f < 3; f++) {
    let zeros = 0;
    for (;;) {
      const b = bit();
      if (b < 0 || zeros > 31) return -1;
      if (b === 1) break;
      zeros++;
    }
    for (let i = 0; i < zeros; i++) if (bit() < 0) return -1;
  }
  return (pos + 7) >> 3;
}

function indexOfStartCode(b, from) {
  for (let i = from; i + 2 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) return i;
  }
  return -1;
}

/** splitAnnexB cuts a frame into NAL units {sc, start, hdr, end, clear}, as Go's splitAnnexB. */
export function splitAnnexB(frame) {
  let sc;
  if (frame.length >= 3 && frame[0] === 0 && frame[1] === 0 && frame[2] === 1) sc = 3;
  else if (frame.length >= 4 && frame[0] === 0 && frame[1] === 0 && frame[2] === 0 && frame[3] === 1) sc = 4;
  else throw new SFrameError(ErrorCode.MALFORMED_H264, 'no start code at offset 0');
  const nals = [];
  let begin = 0;
  let start = sc;
  for (;;) {
    let end = frame.length;
    const next = indexOfStartCode(frame, start);
    if (next >= 0) {
      end = next;
      if (end > start && frame[end - 1] === 0) end--;
    }
    if (end <= start) throw new SFrameError(ErrorCode.MALFORMED_H264, `empty NAL unit at offset ${start}`);
    const t = frame[start] & 0x1f;
    const hdr = start + nalHeaderLen(t);
    if (hdr > end) throw new SFrameError(ErrorCode.MALFORMED_H264, `NAL unit at offset ${start} shorter than its header`);
    let clearTo = hdr;
    if (t === 1 || t === 5) {
      const k = slicePrefixLen(frame.subarray(hdr, end));
      if (k < 0) throw new SFrameError(ErrorCode.MALFORMED_H264, `coded slice at offset ${start} without a readable slice header`);
      clearTo += k;
    }
    if (nals.length === MAX_UNITS) throw new SFrameError(ErrorCode.MALFORMED_H264, `more than ${MAX_UNITS} NAL units`);
    nals.push({ sc: begin, start, hdr: clearTo, end, clear: CLEAR_TYPES.has(t) });
    if (next < 0) return nals;
    begin = end;
    start = next + 3;
  }
}

function metadata(frame, nals, payloadLen) {
  const parts = [];
  nals.forEach((n, i) => {
    parts.push(frame.subarray(n.sc, n.clear ? n.end : n.hdr));
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, n.clear ? 0 : payloadLen(i));
    parts.push(len);
  });
  return concat(...parts);
}

function trailingZeros(b) {
  let z = 0;
  for (let i = b.length - 1; i >= 0 && z < 2 && b[i] === 0; i--) z++;
  return z;
}

/** escape appends src (payload after NAL header hdr) with emulation prevention and the 0x03 trailer. */
export function escape(hdr, src) {
  const out = [];
  let zeros = trailingZeros(hdr);
  for (const b of src) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  const last = src.length > 0 ? src[src.length - 1] : hdr[hdr.length - 1];
  if (last === 0 || last === 3) out.push(3);
  return Uint8Array.from(out);
}

/** unescape reverses escape. */
export function unescape(hdr, esc) {
  const n = esc.length;
  if (n > 0 && esc[n - 1] === 3) {
    const prev = n >= 2 ? esc[n - 2] : hdr[hdr.length - 1];
    if (prev === 0 || prev === 3) esc = esc.subarray(0, n - 1);
  }
  const out = [];
  let zeros = trailingZeros(hdr);
  for (const b of esc) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

export async function encryptH264(ctx, kid, frame) {
  frame = Uint8Array.from(frame);
  const nals = splitAnnexB(frame);
  const prot = nals.filter((n) => !n.clear);
  if (prot.length === 0) throw new SFrameError(ErrorCode.MALFORMED_H264, 'no NAL unit to protect');
  const pt = concat(...prot.map((n) => frame.subarray(n.hdr, n.end)));
  const md = metadata(frame, nals, (i) => nals[i].end - nals[i].hdr);
  const shares = await sealShares(ctx, kid, md, pt, prot.map((n) => n.end - n.hdr));
  const parts = [];
  let k = 0;
  for (const n of nals) {
    if (n.clear) {
      parts.push(frame.subarray(n.sc, n.end));
      continue;
    }
    parts.push(frame.subarray(n.sc, n.hdr));
    parts.push(escape(frame.subarray(n.start, n.hdr), shares[k++]));
  }
  return concat(...parts);
}

export async function decryptH264(ctx, data) {
  data = Uint8Array.from(data);
  const nals = splitAnnexB(data);
  const pieces = [];
  const lens = new Array(nals.length).fill(0);
  let first = -1;
  let last = -1;
  nals.forEach((n, i) => {
    if (n.clear) return;
    const hdr = data.subarray(n.start, n.hdr);
    const esc = data.subarray(n.hdr, n.end);
    const u = unescape(hdr, esc);
    // Only the escaping escape() produces is accepted, so each SFrame has exactly one H.264 form.
    const again = escape(hdr, u);
    if (again.length !== esc.length || again.some((b, j) => b !== esc[j])) {
      throw new SFrameError(ErrorCode.MALFORMED_H264, `non-canonical escaping in NAL unit at offset ${n.start}`);
    }
    pieces.push(u);
    lens[i] = u.length;
    if (first < 0) first = i;
    last = i;
  });
  if (first < 0) throw new SFrameError(ErrorCode.MALFORMED_H264, 'no protected NAL unit');
  const { pt, header } = await openShares(ctx, concat(...pieces), lens, first, last, () => metadata(data, nals, (i) => lens[i]));
  const parts = [];
  let pos = 0;
  nals.forEach((n, i) => {
    if (n.clear) {
      parts.push(data.subarray(n.sc, n.end));
      return;
    }
    parts.push(data.subarray(n.sc, n.hdr));
    parts.push(pt.subarray(pos, pos + lens[i]));
    pos += lens[i];
  });
  const frame = concat(...parts);
  pt.fill(0);
  return { frame, header };
}
