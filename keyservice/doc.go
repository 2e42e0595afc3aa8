// Package keyservice is the MLS Delivery Service: the KeyPackage directory, each room's
// public group state, commit ordering (one commit per epoch, decided by a compare-and-set
// in Postgres) and fan-out, and the server's role as MLS external sender.
//
// It validates handshake messages against the group's public state and the room's
// access list. It must never hold a group secret: no epoch secret, no exporter output,
// no application message plaintext ever passes through it. Chat is relayed, never
// stored.
//
// The parts, one file each: presence.go (who is connected, in-process), service.go
// (Service, the server.Rooms implementation, its Config and lifecycle), keypackages.go
// (upload and validation, RFC 9420 §10.1), group.go (a room's first group), reconcile.go
// (the server's Add and Remove proposals and the designated committer), commit.go
// (commit validation and the epoch compare-and-set), chat.go, kick.go, fanout.go
// (LISTEN/NOTIFY delivery across processes and the sweeper), store.go (rows and the
// per-room transaction). The tables are created by migrations/00200_keyservice.sql;
// docs/protocol.md ("MLS Delivery Service messages") documents the signaling messages.
package keyservice
