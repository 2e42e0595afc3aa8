// Package compliance implements GDPR rights (export, erasure by crypto-shredding,
// retention, the Art. 30 record) and the HIPAA §164.312 controls report, with evidence
// read live from the deployment.
//
// It must never store media or chat content; it reads only what the other packages
// keep about people.
//
// Built so far: the data map (datamap.json) with its schema coverage check, and the
// GDPR Art. 30 record rendered from it.
package compliance
