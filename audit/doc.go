// Package audit owns sealroom's tamper-evident audit log: the event model and its closed
// action vocabulary, the single-writer append path (hash chain, signed checkpoints, the
// local write-ahead spool used while Postgres is unreachable), verification, the auditor
// query API and retention by whole time partitions.
//
// It must never log or return personal data in clear outside Query, never update or
// delete a stored row (the database refuses anyway), and never acknowledge an event
// before it is durable in Postgres or fsync'd in the spool. The tables it owns are created
// by migrations/00100_audit.sql; README.md documents the encodings.
package audit
