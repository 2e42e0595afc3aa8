// Package media is sealroom's selective forwarding unit (SFU).
//
// It owns one WebRTC PeerConnection per participant (pion/webrtc v4, SRTP
// from pion/srtp v3 underneath), the binding of every incoming SSRC to the
// transport that announced it, the fan-out of each published track to the
// participants allowed to receive it with per-subscriber SSRC, sequence
// number and timestamp rewriting, the RTCP loop (NACK retransmission cache
// downstream, rate-limited PLI/FIR upstream, transport-wide congestion
// control feedback feeding a per-subscriber bandwidth estimate, sender
// reports; towards publishers transport-wide feedback, NACKs and receiver
// reports), simulcast layer selection and the audio-only fallback. It uses
// no pion interceptor: forwarding runs on the goroutine that decrypted the
// packet, without an allocation, and docs/loadtest.md measures it.
//
// The payload of every RTP packet is SFrame ciphertext (RFC 9605). The
// package must never hold a media key, never try to decrypt a payload and
// never change a payload byte. The only payload bytes it reads are the clear
// codec bytes the SFrame transform leaves in front of the ciphertext: the
// RTP payload descriptor and the first byte of the codec payload header
// (VP8 keyframe bit, RFC 7741 §4.2/§4.3), the VP9 descriptor's first byte,
// and H.264 NAL unit headers (RFC 6184 §5.3).
//
// The package is driven by signaling through a small API: SFU.Join returns a
// Participant whose HandleMessage consumes the client's messages, and the
// signal callback given to Join carries the SFU's own messages (offers for
// renegotiation, audio-only notices). The message shapes are documented in
// docs/protocol.md ("Media negotiation"). The package never speaks to a network
// other than the one UDP socket it is given for media.
package media
