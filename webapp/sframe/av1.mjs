// AV1 OBU-aware protection (twin of sframe/av1.go; docs/protocol.md, "av1: OBU-aware protection").
// OBU headers stay clear and sizes stay true, as the RTP packetizer reads them; temporal
// delimiters, tile lists and padding are dropped, as the packetizer drops them; all other
// payloads form one SFrame plaintext, whose header, ciphertext and tag are cut back into the
// OBUs, each written with has_size_field set and its new size.
import { SFrameError, ErrorCode } from './errors.mjs';
import { concat } from './cipher.mjs';
import { MAX_UNITS, sealShares, openShares } from './shares.mjs';

const EXTENSION_FLAG = 0x04;
const HAS_SIZE = 0x02;
const FORBIDDEN = 0x80;
const MAX_LEB128_BYTES = 8;

const obuType = (header) => (header >> 3) & 0x0f;
const dropped = (t) => t === 2 || t === 8 || t === 15;

/** readLEB128 reads an unsigned leb128 (AV1 §4.10.5) of at most 8 bytes; null when bad. */
function readLEB128(b, from) {
  let x = 0n;
  for (let i = 0; i < MAX_LEB128_BYTES && from + i < b.length; i++) {
    x |= BigInt(b[from + i] & 0x7f) << BigInt(7 * i);
    if ((b[from + i] & 0x80) === 0) {
      if (x > BigInt(b.length)) return null; // no payload can be longer than the frame
      return { v: Number(x), n: i + 1 };
    }
  }
  return null;
}

function leb128(v) {
  const out = [];
  for (;;) {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v === 0) {
      out.push(b);
      return Uint8Array.from(out);
    }
    out.push(b | 0x80);
  }
}

/** splitOBUs cuts a frame into OBUs {start, hdr, payload, end}, leaving out those the packetizer drops. */
export function splitOBUs(frame) {
  const obus = [];
  for (let pos = 0; pos < frame.length; ) {
    const h = frame[pos];
    if (h & FORBIDDEN) throw new SFrameError(ErrorCode.MALFORMED_AV1, `forbidden bit set in the OBU at offset ${pos}`);
    const o = { start: pos, hdr: pos + 1 + (h & EXTENSION_FLAG ? 1 : 0) };
    if (o.hdr > frame.length) throw new SFrameError(ErrorCode.MALFORMED_AV1, `OBU at offset ${pos} shorter than its header`);
    o.payload = o.hdr;
    o.end = frame.length;
    if (h & HAS_SIZE) {
      const s = readLEB128(frame, o.hdr);
      if (!s || o.hdr + s.n + s.v > frame.length) throw new SFrameError(ErrorCode.MALFORMED_AV1, `bad size of the OBU at offset ${pos}`);
      o.payload = o.hdr + s.n;
      o.end = o.payload + s.v;
    }
    if (!dropped(obuType(h))) {
      if (obus.length === MAX_UNITS) throw new SFrameError(ErrorCode.MALFORMED_AV1, `more than ${MAX_UNITS} OBUs`);
      obus.push(o);
    }
    pos = o.end;
  }
  if (obus.length === 0) throw new SFrameError(ErrorCode.MALFORMED_AV1, 'no OBU to protect');
  return obus;
}

function metadata(frame, obus, payloadLen) {
  const parts = [];
  obus.forEach((o, i) => {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, payloadLen(i));
    parts.push(Uint8Array.of(frame[o.start] | HAS_SIZE), frame.subarray(o.start + 1, o.hdr), len);
  });
  return concat(...parts);
}

function obuParts(frame, o, p) {
  return [Uint8Array.of(frame[o.start] | HAS_SIZE), frame.subarray(o.start + 1, o.hdr), leb128(p.length), p];
}

export async function encryptAV1(ctx, kid, frame) {
  frame = Uint8Array.from(frame);
  const obus = splitOBUs(frame);
  const lens = obus.map((o) => o.end - o.payload);
  const pt = concat(...obus.map((o) => frame.subarray(o.payload, o.end)));
  const shares = await sealShares(ctx, kid, metadata(frame, obus, (i) => lens[i]), pt, lens);
  return concat(...obus.flatMap((o, i) => obuParts(frame, o, shares[i])));
}

export async function decryptAV1(ctx, data) {
  data = Uint8Array.from(data);
  const obus = splitOBUs(data);
  const sf = concat(...obus.map((o) => data.subarray(o.payload, o.end)));
  const lens = obus.map((o) => o.end - o.payload);
  const { pt, header } = await openShares(ctx, sf, lens, 0, lens.length - 1, () => metadata(data, obus, (i) => lens[i]));
  const parts = [];
  let pos = 0;
  obus.forEach((o, i) => {
    parts.push(...obuParts(data, o, pt.subarray(pos, pos + lens[i])));
    pos += lens[i];
  });
  const frame = concat(...parts);
  pt.fill(0);
  return { frame, header };
}
