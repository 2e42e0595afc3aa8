// SFrame (RFC 9605) for the browser worker: the JavaScript twin of Go's
// sealroom/sframe package, on WebCrypto, producing the same bytes.
// It must never log keys or plaintext; errors are SFrameError with a code.
export { SFrameError, ErrorCode } from './errors.mjs';
export { Suite, DEFAULT_SUITE, suiteParams } from './suite.mjs';
export { encodeHeader, parseHeader, headerLength, MAX_HEADER_LEN } from './header.mjs';
export { SFrameContext } from './context.mjs';
export { Codec, vp8KeyFrame } from './codec.mjs';
export { REPLAY_WINDOW } from './replay.mjs';
export { KIDLayout, MLSKeys, MLS_BASE_KEY_LABEL, DEFAULT_EPOCH_BITS, DEFAULT_SENDER_BITS, DEFAULT_GRACE_MS } from './mls.mjs';
