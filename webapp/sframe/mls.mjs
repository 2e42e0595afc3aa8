// MLS-based SFrame keys, RFC 9605 §5.2 (twin of sframe/mls.go):
//   base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)
//   KID = (context << (S + E)) + (sender_index << E) + (epoch mod 2^E)
// The exporter is any object with async export(label, context, length).
import { SFrameError, ErrorCode } from './errors.mjs';
import { DEFAULT_SUITE, suiteParams } from './suite.mjs';
import { SFrameContext } from './context.mjs';
import { CipherKey } from './cipher.mjs';

export const MLS_BASE_KEY_LABEL = 'SFrame 1.0 Base Key';
export const DEFAULT_EPOCH_BITS = 4;
export const DEFAULT_SENDER_BITS = 16;
export const DEFAULT_GRACE_MS = 10_000;

export class KIDLayout {
  constructor(epochBits = DEFAULT_EPOCH_BITS, senderBits = DEFAULT_SENDER_BITS) {
    if (epochBits < 1 || epochBits > 63 || senderBits < 0 || epochBits + senderBits > 64) {
      throw new SFrameError(ErrorCode.KID_LAYOUT, `E=${epochBits} S=${senderBits}`);
    }
    this.epochBits = epochBits;
    this.senderBits = senderBits;
    this.mask = (1n << BigInt(epochBits)) - 1n;
  }

  kid(context, senderIndex, epoch) {
    context = BigInt(context);
    senderIndex = BigInt(senderIndex);
    const E = BigInt(this.epochBits);
    const S = BigInt(this.senderBits);
    if (senderIndex < 0n || senderIndex >> S !== 0n) {
      throw new SFrameError(ErrorCode.KID_LAYOUT, `sender index ${senderIndex} needs more than ${S} bits`);
    }
    const shift = S + E;
    if (context < 0n || (context !== 0n && (shift >= 64n || context >> (64n - shift) !== 0n))) {
      throw new SFrameError(ErrorCode.KID_LAYOUT, `context ${context} does not fit above ${shift} bits`);
    }
    return (context << shift) | (senderIndex << E) | (BigInt(epoch) & this.mask);
  }

  /** split returns {context, senderIndex, epochBits} of a KID. */
  split(kid) {
    kid = BigInt(kid);
    const E = BigInt(this.epochBits);
    const S = BigInt(this.senderBits);
    const rest = kid >> E;
    return { context: rest >> S, senderIndex: rest & ((1n << S) - 1n), epochBits: kid & this.mask };
  }
}

/**
 * MLSKeys keys an SFrameContext from an MLS group: this member encrypts under
 * its own KID of the current epoch; frames of any sender of the current
 * epoch, and of each earlier one during its grace period (from the next
 * epoch's install), decrypt: a sender a few commits behind in quick churn
 * loses nothing. Same ordering rules as Go's MLSKeys: epochs only move
 * forward; an epoch whose low E bits equal the new one's is dropped at once.
 */
export class MLSKeys {
  constructor({ suite = DEFAULT_SUITE, layout = new KIDLayout(), context = 0n, graceMs = DEFAULT_GRACE_MS, now = () => Date.now() } = {}) {
    suiteParams(suite);
    layout.kid(context, 0n, 0n);
    this.layout = layout;
    this.context = BigInt(context);
    this.graceMs = graceMs;
    this.now = now;
    this.ctx = new SFrameContext(suite);
    this.ctx.source = { baseKey: (kid) => this.#baseKey(kid) };
    this.cur = null;
    this.prev = []; // earlier epochs {epoch, base, until} in their grace period, oldest first
    this.selfKID = null;
  }

  /** setEpoch exports the epoch's base key and derives this member's sending key. */
  async setEpoch(epoch, senderIndex, exporter) {
    epoch = BigInt(epoch);
    const suite = this.ctx.suite;
    const nk = suiteParams(suite).nk;
    const kid = this.layout.kid(this.context, senderIndex, epoch);
    let base;
    try {
      base = await exporter.export(MLS_BASE_KEY_LABEL, new Uint8Array(0), nk);
    } catch (e) {
      throw new SFrameError(ErrorCode.EXPORTER, String(e?.message ?? e));
    }
    if (!(base instanceof Uint8Array) || base.length !== nk) {
      base?.fill?.(0);
      throw new SFrameError(ErrorCode.EXPORTER, `${base?.length} bytes, want ${nk}`);
    }
    base = Uint8Array.from(base);
    const key = await CipherKey.derive(suite, kid, base);
    // State changes happen synchronously from here on.
    if (this.cur && epoch <= this.cur.epoch) {
      key.destroy();
      base.fill(0);
      throw new SFrameError(ErrorCode.STALE_EPOCH, `${epoch}, current ${this.cur.epoch}`);
    }
    const mask = this.layout.mask;
    // An earlier epoch is kept while it is at most 2^E - 3 behind: its low bits are then
    // neither the new epoch's nor those of the next two, whose frames must read as a key
    // on its way (unknown KID), not as a held epoch's (a stale key and replay window).
    const kept = (e) => epoch - e.epoch <= mask - 2n;
    this.prev = this.prev.filter((e) => {
      if (kept(e)) return true;
      this.#drop(e);
      return false;
    });
    if (this.cur) {
      if (!kept(this.cur) || this.graceMs < 0) this.#drop(this.cur);
      else this.prev.push({ ...this.cur, until: this.now() + this.graceMs });
    }
    this.#dropBits(epoch & mask);
    this.cur = { epoch, base };
    this.selfKID = kid;
    this.ctx.install(kid, key);
  }

  #drop(e) {
    this.#dropBits(e.epoch & this.layout.mask);
    e.base.fill(0);
  }

  #dropBits(bits) {
    for (const kid of this.ctx.kids()) if ((kid & this.layout.mask) === bits) this.ctx.removeKey(kid);
  }

  #expire() {
    if (!this.prev.length) return;
    const t = this.now();
    this.prev = this.prev.filter((e) => {
      if (t < e.until) return true;
      this.#drop(e);
      return false;
    });
  }

  #baseKey(kid) {
    const bits = kid & this.layout.mask;
    if (this.cur && (this.cur.epoch & this.layout.mask) === bits) return this.cur.base;
    const t = this.now();
    return this.prev.find((e) => (e.epoch & this.layout.mask) === bits && t < e.until)?.base;
  }

  #self() {
    if (!this.cur) throw new SFrameError(ErrorCode.NO_EPOCH);
    return this.selfKID;
  }

  kid() {
    return this.#self();
  }

  epoch() {
    if (!this.cur) throw new SFrameError(ErrorCode.NO_EPOCH);
    return this.cur.epoch;
  }

  async encrypt(metadata, plaintext) {
    return this.ctx.encrypt(this.#self(), metadata, plaintext);
  }

  async decrypt(metadata, sframe) {
    this.#expire();
    return this.ctx.decrypt(metadata, sframe);
  }

  async encryptFrame(codec, frame) {
    return this.ctx.encryptFrame(this.#self(), codec, frame);
  }

  async decryptFrame(codec, data) {
    this.#expire();
    return this.ctx.decryptFrame(codec, data);
  }

  close() {
    for (const e of [this.cur, ...this.prev]) e?.base.fill(0);
    this.cur = null;
    this.prev = [];
    this.ctx.close();
  }
}
