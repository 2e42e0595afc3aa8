// Package client is the Go participant SDK: signaling, an MLS member, SFrame keys and a
// pion peer connection. The bot, the load tool and the end-to-end tests use it.
//
// It holds its own member's secrets and must never send one to the server.
//
// Not built yet: see the key service and media plane issues.
package client
