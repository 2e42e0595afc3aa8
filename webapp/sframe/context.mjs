// SFrameContext: keys by KID, per-KID monotonic counter, replay window
// (twin of sframe/context.go and sframe/frame.go).
//
// Ordering rules, as in Go: encrypt uses counters 0, 1, 2, ... per KID, and
// replacing a KID's key keeps its counter; decrypt refuses counters already
// accepted or older than the window and moves the window (or installs a key
// from a key source) only after the frame authenticated. Counters are
// reserved before any await, so concurrent calls never share a counter.
import { SFrameError, ErrorCode } from './errors.mjs';
import { suiteParams, DEFAULT_SUITE } from './suite.mjs';
import { encodeHeader, parseHeader, MAX_HEADER_LEN } from './header.mjs';
import { CipherKey, concat } from './cipher.mjs';
import { ReplayWindow } from './replay.mjs';
import { clearPrefixLen, Codec } from './codec.mjs';
import { encryptH264, decryptH264 } from './h264.mjs';
import { encryptAV1, decryptAV1 } from './av1.mjs';

const U64_MAX = (1n << 64n) - 1n;
const EMPTY = new Uint8Array(0);

/** asBytes accepts a Uint8Array, an ArrayBuffer (RTCEncodedFrame.data) or nothing (empty). */
function asBytes(x) {
  if (x === undefined || x === null) return EMPTY;
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError('sframe: expected bytes');
}

export class SFrameContext {
  #keys = new Map();

  constructor(suite = DEFAULT_SUITE) {
    suiteParams(suite);
    this.suite = suite;
    /** Optional key source: { baseKey(kid: bigint): Uint8Array | undefined } (MLSKeys). */
    this.source = null;
  }

  /** overhead is the most bytes encrypt adds (17-byte header plus tag). */
  get overhead() {
    return MAX_HEADER_LEN + suiteParams(this.suite).nt;
  }

  /** addKey derives sframe_key / sframe_salt for kid from baseKey (§4.4.2) and installs them. */
  async addKey(kid, baseKey) {
    kid = BigInt(kid);
    this.install(kid, await CipherKey.derive(this.suite, kid, baseKey));
  }

  /** install puts a derived key in place, keeping the KID's send counter. */
  install(kid, key) {
    const old = this.#keys.get(kid);
    old?.key.destroy();
    this.#keys.set(kid, { key, next: old?.next ?? 0n, spent: old?.spent ?? false, replay: new ReplayWindow() });
  }

  removeKey(kid) {
    kid = BigInt(kid);
    this.#keys.get(kid)?.key.destroy();
    this.#keys.delete(kid);
  }

  hasKey(kid) {
    return this.#keys.has(BigInt(kid));
  }

  /** kids lists the KIDs held. */
  kids() {
    return [...this.#keys.keys()];
  }

  close() {
    for (const kid of this.kids()) this.removeKey(kid);
  }

  /** setNextCounter is for tests that replay vectors with a given CTR. */
  setNextCounter(kid, ctr) {
    const ks = this.#keys.get(BigInt(kid));
    if (!ks) throw new SFrameError(ErrorCode.UNKNOWN_KID);
    ks.next = BigInt(ctr);
  }

  /**
   * encrypt returns header || ciphertext || tag of plaintext under kid and its
   * next counter, with metadata authenticated but not carried (§4.4.3).
   */
  async encrypt(kid, metadata, plaintext) {
    kid = BigInt(kid);
    metadata = asBytes(metadata);
    plaintext = asBytes(plaintext);
    const ks = this.#keys.get(kid);
    if (!ks) throw new SFrameError(ErrorCode.UNKNOWN_KID, undefined, { kid });
    if (ks.spent) throw new SFrameError(ErrorCode.COUNTER_EXHAUSTED, undefined, { kid });
    const ctr = ks.next;
    if (ctr === U64_MAX) ks.spent = true;
    else ks.next = ctr + 1n;
    const hdr = encodeHeader(kid, ctr);
    return concat(hdr, await ks.key.seal(ctr, hdr, metadata, plaintext));
  }

  /**
   * decrypt authenticates an SFrame ciphertext with metadata.
   * @returns {Promise<{plaintext: Uint8Array, header: {kid: bigint, ctr: bigint}}>}
   */
  async decrypt(metadata, sframe) {
    metadata = asBytes(metadata);
    sframe = asBytes(sframe);
    const h = parseHeader(sframe);
    const plaintext = await this.open(h, sframe.subarray(0, h.length), metadata, sframe.subarray(h.length));
    return { plaintext, header: { kid: h.kid, ctr: h.ctr } };
  }

  /** open decrypts ct under header h (encoded as hdr); used by the frame layouts. */
  async open(h, hdr, metadata, ct) {
    const info = { kid: h.kid, ctr: h.ctr };
    let ks = this.#keys.get(h.kid);
    let base;
    if (!ks) {
      base = this.source?.baseKey(h.kid);
      if (!base) throw new SFrameError(ErrorCode.UNKNOWN_KID, undefined, info);
      ks = { key: await CipherKey.derive(this.suite, h.kid, base), next: 0n, spent: false, replay: new ReplayWindow() };
    }
    const early = ks.replay.check(h.ctr);
    if (early) throw new SFrameError(early, undefined, info);
    let pt;
    try {
      pt = await ks.key.open(h.ctr, hdr, metadata, ct);
    } catch (e) {
      if (e instanceof SFrameError) throw new SFrameError(e.code, undefined, info);
      throw e;
    }
    if (base) {
      // Install the candidate only if the source still vouches for it and no
      // other call installed one meanwhile.
      const now = this.#keys.get(h.kid);
      if (now) ks = now;
      else if (this.source?.baseKey(h.kid) === base) this.#keys.set(h.kid, ks);
      else {
        pt.fill(0);
        throw new SFrameError(ErrorCode.UNKNOWN_KID, 'epoch dropped', info);
      }
    }
    // Re-check: another decrypt may have accepted this counter during the await.
    const late = ks.replay.check(h.ctr);
    if (late) {
      pt.fill(0);
      throw new SFrameError(late, undefined, info);
    }
    ks.replay.accept(h.ctr);
    return pt;
  }

  /** encryptFrame encrypts a media frame with the layout of codec (docs/protocol.md ("Media frames")). */
  async encryptFrame(kid, codec, frame) {
    frame = asBytes(frame);
    if (codec === Codec.H264) return encryptH264(this, kid, frame);
    if (codec === Codec.AV1) return encryptAV1(this, kid, frame);
    const n = clearPrefixLen(codec, frame);
    const prefix = frame.slice(0, n);
    return concat(prefix, await this.encrypt(kid, prefix, frame.subarray(n)));
  }

  /**
   * decryptFrame reverses encryptFrame.
   * @returns {Promise<{frame: Uint8Array, header: {kid: bigint, ctr: bigint}}>}
   */
  async decryptFrame(codec, data) {
    data = asBytes(data);
    if (codec === Codec.H264) return decryptH264(this, data);
    if (codec === Codec.AV1) return decryptAV1(this, data);
    const n = clearPrefixLen(codec, data);
    const prefix = data.slice(0, n);
    const { plaintext, header } = await this.decrypt(prefix, data.subarray(n));
    return { frame: concat(prefix, plaintext), header };
  }
}
