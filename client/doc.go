// Package client is the Go participant SDK: it authenticates on the signaling WebSocket,
// uploads KeyPackages, creates or joins the room's MLS group, follows the commits the
// Delivery Service orders (committing the server's proposals when asked), sends and
// receives MLS-protected chat, and keeps the SFrame keys of the current epoch
// (sframe.MLSKeys). The bot, the load tool and the end-to-end tests use it; the media
// plane (a pion peer) comes with the media issue.
//
// It holds its own member's secrets and must never send one to the server: only
// KeyPackages, PublicMessage handshakes, GroupInfos, Welcomes and PrivateMessages leave it.
package client
