// Package keyservice is the MLS Delivery Service: the KeyPackage directory, each room's
// public group state, commit ordering (one commit per epoch, decided by a compare-and-set
// in Postgres) and fan-out, and the server's role as MLS external sender.
//
// It validates handshake messages against the group's public state and the room's
// access list. It must never hold a group secret: no epoch secret, no exporter output,
// no application message plaintext ever passes through it.
//
// Built so far: in-process presence (who is connected to which room). The MLS parts
// come with the key service issue.
package keyservice
