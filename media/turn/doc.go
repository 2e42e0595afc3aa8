// Package turn is sealroom's embedded TURN server (RFC 8656) on
// pion/turn, for participants whose network blocks direct UDP to the SFU.
// Clients reach it over UDP, TCP or TLS (turn: and turns: URLs, for networks
// that let only TCP or only HTTPS-like traffic out); whatever the way in,
// the relay it allocates is UDP (RFC 6062's TCP allocations are refused).
//
// It owns the short-lived TURN credentials handed to clients with their
// room token (Credentials) and the relay policy: a relay may reach public
// unicast addresses only. Loopback, private, shared (CGNAT), link-local,
// multicast, unspecified and documentation ranges, and the cloud metadata
// addresses, are refused (PeerAllowed), so a TURN allocation can never be
// used to reach the server's own network.
//
// It must never log a token or a password; credentials carry a hash of
// the token, not the token.
package turn
