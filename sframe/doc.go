// Package sframe implements SFrame (RFC 9605): the end-to-end encryption of
// media frames that sealroom's browsers and Go clients apply before a frame
// reaches the SFU.
//
// It owns:
//   - the SFrame header (RFC 9605 §4.3) and the five cipher suites of the RFC
//     (§4.4, §4.5): AES_128_CTR_HMAC_SHA256_80/64/32, AES_128_GCM_SHA256_128
//     and AES_256_GCM_SHA512_128;
//   - key derivation from a base key and a KID (§4.4.2) and the per-frame
//     nonce (§4.4.3);
//   - a [Context] that holds keys by KID, encrypts with a per-KID monotonic
//     counter and decrypts by KID behind a replay window;
//   - MLS-based keys (§5.2) through the small [Exporter] interface, so this
//     package never imports the MLS package ([MLSKeys]);
//   - the codec-aware frame layout (clear codec bytes authenticated as
//     metadata, H.264 NAL-aware and AV1 OBU-aware protection), documented on [Codec] and in
//     docs/protocol.md ("Media frames").
//
// It must never log, print or return key material or plaintext in an error,
// never panic on bytes from the network, and never hand out plaintext of a
// frame that failed authentication. webapp/sframe is the JavaScript twin of
// this package and must produce the same bytes.
package sframe
