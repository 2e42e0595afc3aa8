// Typed errors of the SFrame twin of Go's sframe package (sframe/errors.go).
// Each code matches one Go sentinel; messages never carry keys or plaintext.

export const ErrorCode = Object.freeze({
  UNKNOWN_SUITE: 'unknown-suite', // ErrUnknownSuite
  KEY_LENGTH: 'key-length', // ErrKeyLength
  TRUNCATED_HEADER: 'truncated-header', // ErrTruncatedHeader
  NON_MINIMAL_HEADER: 'non-minimal-header', // ErrNonMinimalHeader
  SHORT_CIPHERTEXT: 'short-ciphertext', // ErrShortCiphertext
  AUTHENTICATION: 'authentication', // ErrAuthentication
  UNKNOWN_KID: 'unknown-kid', // ErrUnknownKID
  REPLAY: 'replay', // ErrReplay
  TOO_OLD: 'too-old', // ErrTooOld
  COUNTER_EXHAUSTED: 'counter-exhausted', // ErrCounterExhausted
  UNKNOWN_CODEC: 'unknown-codec', // ErrUnknownCodec
  FRAME_TOO_SHORT: 'frame-too-short', // ErrFrameTooShort
  MALFORMED_H264: 'malformed-h264', // ErrMalformedH264
  MALFORMED_AV1: 'malformed-av1', // ErrMalformedAV1
  KID_LAYOUT: 'kid-layout', // ErrKIDLayout
  STALE_EPOCH: 'stale-epoch', // ErrStaleEpoch
  NO_EPOCH: 'no-epoch', // ErrNoEpoch
  EXPORTER: 'exporter', // ErrExporter
});

/** SFrameError is the only error type this module throws on bad input. */
export class SFrameError extends Error {
  /**
   * @param {string} code one of ErrorCode
   * @param {string} [detail] non-secret detail
   * @param {{kid?: bigint, ctr?: bigint, field?: string}} [info] unauthenticated header values, for diagnostics
   */
  constructor(code, detail, info = {}) {
    super(detail ? `sframe: ${code}: ${detail}` : `sframe: ${code}`);
    this.name = 'SFrameError';
    this.code = code;
    Object.assign(this, info);
  }
}
