// Package mls implements the wire format and the cryptographic core of the
// Messaging Layer Security protocol (RFC 9420) for sealroom: TLS presentation
// language codec, cipher suites, labeled crypto helpers, tree math, key
// schedule, secret tree, message framing and protection, and the
// KeyPackage/LeafNode/GroupInfo/Welcome wire structures.
//
// The package owns MLS wire structs and MLS key derivation. It is usable in two
// roles: a group member holding epoch secrets, and the Delivery Service, which
// holds none and only decodes messages, verifies signatures and validates
// KeyPackages and LeafNodes. Functions that need no group secret never take one.
//
// The package must never log, print or include in an error a key, a secret or
// a plaintext, and must never panic on bytes from the network: every decoder
// bounds its allocations by the input length and returns a typed error.
//
// Layers, bottom up: the codec ([Marshal], [Unmarshal], one file per wire
// struct), [CipherSuite] and the labeled helpers, tree math, the key
// schedule, the secret tree, message protection, the public [RatchetTree]
// with TreeKEM, and two group state machines: [Group] for a member (create,
// join from a Welcome, commit, process) and [PublicGroup] for the Delivery
// Service, which follows a room's public state from PublicMessage handshakes
// without any secret.
//
// No exported identifier hands out a group secret: the epoch secrets, the
// secret tree, the private keys of the tree and the functions that derive
// or take them are unexported, and only a [Group] holds them. What leaves a
// Group is MLS-Exporter output ([Group.Export]), the epoch authenticator
// ([Group.EpochAuthenticator]) and the state blob of [Group.MarshalState].
// The caller's own keys (its signature key, [KeyPackageSecrets]) are the
// caller's to keep.
//
// A client that lost its state rejoins by external commit ([JoinExternal],
// RFC 9420 §12.4.3.2), which members and the [PublicGroup] accept; a member
// persists its state with [Group.MarshalState] and [RestoreGroup]. That
// blob holds the group's secrets: the caller stores it encrypted. ReInit is
// not implemented.
//
// Cipher suite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) is implemented;
// other suites plug in through [CipherSuiteByID].
package mls
