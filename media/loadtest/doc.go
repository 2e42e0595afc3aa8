// Package loadtest measures the SFU against a bare UDP forwarder on
// loopback: for N publishers and M subscribers it reports the server's CPU
// time per forwarded packet, packet loss and p50/p99 forwarding delay, for
// both, and their ratios.
//
// The server side (the SFU, or the bare forwarder) runs in a child process
// so that getrusage measures it alone, not the clients' SRTP work. The
// child is the same executable started again with ChildEnv set; any main
// (the sealroom binary, a test binary's TestMain) must call ChildMain
// first thing when IsChild reports true. The parent drives the child over
// its stdin/stdout with JSON lines, which also exercises media's signaling
// API exactly as the WebSocket will.
//
// Run it with the sealroom binary:
//
//	sealroom loadtest --scenarios 2x20,10x10 --duration 3s
//
// Set SEALROOM_LOADTEST_CPUPROFILE=prefix to get a CPU profile of the
// server child over the measured window.
//
// The package never leaves loopback and never stores payloads.
package loadtest
