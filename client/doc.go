// Package client is the Go participant SDK: it authenticates on the signaling WebSocket,
// uploads KeyPackages, creates or joins the room's MLS group, follows the commits the
// Delivery Service orders (committing the server's proposals when asked, optionally
// batching a burst of them into one commit), sends and
// receives MLS-protected chat, and keeps the SFrame keys of the current epoch
// (sframe.MLSKeys). Its media plane (StartMedia) is one pion PeerConnection with the SFU,
// negotiated over the same signaling connection as the impolite peer: it publishes
// synthetic VP8 and Opus frames, or a recorded clip (LoadRecording) a browser can render,
// SFrame-encrypted under the member's current KID (a key frame after every key switch),
// and reassembles, decrypts and counts every other
// participant's frames, holding those of an epoch it has not reached until the commit
// arrives. RunBot (`sealroom bot`), the load tool and the end-to-end tests use it.
//
// It holds its own member's secrets and must never send one to the server: only
// KeyPackages, PublicMessage handshakes, GroupInfos, Welcomes, PrivateMessages and
// SFrame ciphertext (with the clear codec bytes of docs/protocol.md) leave it. It never
// logs or prints a key, a token or a frame's plaintext.
package client
