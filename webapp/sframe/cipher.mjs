// Key derivation (RFC 9605 §4.4.2) and the AEADs of §4.4.3 / §4.5.1 on
// WebCrypto (twin of sframe/key.go). CryptoKeys are created non-extractable;
// derived raw bytes are wiped once imported.
import { SFrameError, ErrorCode } from './errors.mjs';
import { suiteParams, NONCE_SIZE } from './suite.mjs';

const subtle = globalThis.crypto.subtle;
const te = new TextEncoder();

/** The RFC leaves the base key length open; below 16 bytes is refused, as in Go. */
export const MIN_BASE_KEY_LEN = 16;

/** kdfLabel is prefix || KID (8 bytes) || cipher suite (2 bytes), big-endian (§4.4.2). */
export function kdfLabel(prefix, kid, suite) {
  const p = te.encode(prefix);
  const out = new Uint8Array(p.length + 10);
  out.set(p);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(p.length, BigInt(kid));
  dv.setUint16(p.length + 8, suite);
  return out;
}

export const KEY_LABEL_PREFIX = 'SFrame 1.0 Secret key ';
export const SALT_LABEL_PREFIX = 'SFrame 1.0 Secret salt ';

/**
 * deriveKeyMaterial is derive_key_salt(KID, base_key), RFC 9605 §4.4.2:
 * sframe_secret = HKDF-Extract("", base_key); sframe_key and sframe_salt by
 * HKDF-Expand. WebCrypto's HKDF does extract and expand in one call.
 * @returns {Promise<{key: Uint8Array, salt: Uint8Array}>}
 */
export async function deriveKeyMaterial(suite, kid, baseKey) {
  const p = suiteParams(suite);
  if (!(baseKey instanceof Uint8Array) || baseKey.length < MIN_BASE_KEY_LEN) {
    throw new SFrameError(ErrorCode.KEY_LENGTH, `base key of ${baseKey?.length} bytes, want at least ${MIN_BASE_KEY_LEN}`);
  }
  const ikm = await subtle.importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
  const expand = async (prefix, len) =>
    new Uint8Array(
      await subtle.deriveBits(
        { name: 'HKDF', hash: p.hash, salt: new Uint8Array(0), info: kdfLabel(prefix, kid, suite) },
        ikm,
        len * 8,
      ),
    );
  return { key: await expand(KEY_LABEL_PREFIX, p.nk), salt: await expand(SALT_LABEL_PREFIX, NONCE_SIZE) };
}

/**
 * CipherKey holds the per-KID cipher state: WebCrypto keys and the salt.
 */
export class CipherKey {
  /** fromMaterial imports sframe_key / sframe_salt; the caller may wipe them afterwards. */
  static async fromMaterial(suite, key, salt) {
    const p = suiteParams(suite);
    if (key.length !== p.nk || salt.length !== NONCE_SIZE) throw new SFrameError(ErrorCode.KEY_LENGTH);
    const k = new CipherKey();
    k.p = p;
    k.salt = Uint8Array.from(salt);
    if (p.gcm) {
      k.gcm = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
    } else {
      // §4.5.1 derive_subkeys: enc_key = sframe_key[..Nka], auth_key = sframe_key[Nka..].
      k.ctr = await subtle.importKey('raw', key.subarray(0, p.nka), 'AES-CTR', false, ['encrypt']);
      k.mac = await subtle.importKey('raw', key.subarray(p.nka), { name: 'HMAC', hash: p.hash }, false, ['sign']);
    }
    return k;
  }

  /** derive builds the key for kid from baseKey (§4.4.2). */
  static async derive(suite, kid, baseKey) {
    const m = await deriveKeyMaterial(suite, kid, baseKey);
    try {
      return await CipherKey.fromMaterial(suite, m.key, m.salt);
    } finally {
      m.key.fill(0);
      m.salt.fill(0);
    }
  }

  get tagSize() {
    return this.p.nt;
  }

  destroy() {
    this.salt?.fill(0);
    this.gcm = this.ctr = this.mac = undefined;
  }

  /** nonce is sframe_salt XOR CTR, big-endian in AEAD.Nn bytes (§4.4.3). */
  nonce(ctr) {
    const n = Uint8Array.from(this.salt);
    const dv = new DataView(n.buffer);
    dv.setBigUint64(4, dv.getBigUint64(4) ^ BigInt(ctr));
    return n;
  }

  /** seal returns ciphertext || tag of pt with aad = hdr || metadata. */
  async seal(ctr, hdr, metadata, pt) {
    const nonce = this.nonce(ctr);
    if (this.gcm) {
      return new Uint8Array(
        await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: concat(hdr, metadata), tagLength: 128 }, this.gcm, pt),
      );
    }
    const ct = await this.#ctrXor(nonce, pt);
    const tag = await this.#tag(nonce, hdr, metadata, ct);
    return concat(ct, tag);
  }

  /** open verifies and decrypts ct (ciphertext || tag); throws authentication or short-ciphertext. */
  async open(ctr, hdr, metadata, ct) {
    const nt = this.p.nt;
    if (ct.length < nt) throw new SFrameError(ErrorCode.SHORT_CIPHERTEXT);
    const nonce = this.nonce(ctr);
    if (this.gcm) {
      try {
        return new Uint8Array(
          await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: concat(hdr, metadata), tagLength: 128 }, this.gcm, ct),
        );
      } catch {
        throw new SFrameError(ErrorCode.AUTHENTICATION);
      }
    }
    const body = ct.subarray(0, ct.length - nt);
    const tag = await this.#tag(nonce, hdr, metadata, body);
    if (!constantTimeEqual(tag, ct.subarray(ct.length - nt))) throw new SFrameError(ErrorCode.AUTHENTICATION);
    return this.#ctrXor(nonce, body);
  }

  // AES-CTR with the initial counter nonce || 0x00000000 (§4.5.1); the whole
  // 128-bit block counts, as in Go's cipher.NewCTR.
  async #ctrXor(nonce, data) {
    const counter = new Uint8Array(16);
    counter.set(nonce);
    return new Uint8Array(await subtle.encrypt({ name: 'AES-CTR', counter, length: 128 }, this.ctr, data));
  }

  // compute_tag of §4.5.1 with aad = hdr || metadata:
  // HMAC(auth_key, len(aad) || len(ct) || Nt || nonce || aad || ct), truncated to Nt.
  async #tag(nonce, hdr, metadata, ct) {
    const lens = new Uint8Array(24);
    const dv = new DataView(lens.buffer);
    dv.setBigUint64(0, BigInt(hdr.length + metadata.length));
    dv.setBigUint64(8, BigInt(ct.length));
    dv.setBigUint64(16, BigInt(this.p.nt));
    const mac = await subtle.sign('HMAC', this.mac, concat(lens, nonce, hdr, metadata, ct));
    return new Uint8Array(mac, 0, this.p.nt);
  }
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function constantTimeEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
