// Package loadtest measures the SFU against a bare UDP forwarder on
// loopback: for N publishers and M subscribers it reports the server's CPU
// time per forwarded packet, packet loss, p50/p99 forwarding delay and peak
// RSS, for both, and their ratios.
//
// Each publisher sends what a camera and a microphone send through
// sealroom's clients (traffic.go): 720p-like VP8 at 30 frames/s, several
// RTP packets per frame, a keyframe every 2 s and on PLI, plus Opus at 50
// packets/s, every frame SFrame-encrypted (RFC 9605) with the clients'
// clear prefixes; optionally three simulcast layers. The bare forwarder
// gets the same packets without SRTP.
//
// The server side (the SFU, or the bare forwarder) runs in a child process
// so that getrusage measures it alone, not the clients' SRTP work. The
// child is the same executable started again with ChildEnv set; any main
// (the sealroom binary, a test binary's TestMain) must call ChildMain
// first thing when IsChild reports true. The parent drives the child over
// its stdin/stdout with JSON lines, which also exercises media's signaling
// API exactly as the WebSocket will.
//
// Subscribers identify every packet despite the SFU's rewriting of SSRC,
// sequence number and timestamp by the SFrame header at the start of each
// frame (sink.go), so loss and delay are per packet.
//
// Run it with the sealroom binary:
//
//	sealroom loadtest --scenarios 2x20,10x10 --runs 3
//
// Set SEALROOM_LOADTEST_CPUPROFILE=prefix to get a CPU profile of the
// server child over the measured window. docs/loadtest.md describes the
// method: what is counted and what is not.
//
// The package never leaves loopback and never stores payloads; every run
// is bounded in time (setup, warmup, window and drain each have a limit).
package loadtest
