// Package compliance implements sealroom's GDPR and HIPAA obligations on the data the
// other packages keep in Postgres.
//
// Everything starts from the data map (datamap.json, [LoadDataMap]): every table and
// column, whether it holds personal data, why, on what legal basis, for how long and what
// erasure does to it. [CheckCoverage] compares the map with the live schema, and a test
// keeps the two equal, so a new column cannot escape the rights below.
//
//   - [RecordOfProcessing] renders the GDPR Art. 30 record from the map.
//   - [Subjects] serves the data subject rights from the map: [Subjects.Export] (Art. 15
//     access, Art. 20 portability), [Subjects.Erase] (Art. 17: rows deleted, the
//     subject's audit key destroyed so the hash chain stays valid), legal holds that
//     refuse erasure ([Subjects.PlaceHold]), and retention by category
//     ([Subjects.Purge]; [Subjects.RunRetention] also expires the audit log; Art. 5(1)(e)).
//   - [Consents] holds a room's participants at the door until they accept its notice
//     (Art. 7(1), e.g. a telehealth consent form).
//   - [BuildReport] reports each HIPAA §164.312 technical safeguard, the GDPR articles
//     above and Art. 32 with evidence read live from the deployment: the evidence is
//     gathered first, then every control is one row of a table that judges it, and a
//     control without evidence is a gap.
//
// Every export, erasure, hold, purge, consent and policy change is an audit event, and
// none of them happens when its event cannot be recorded. The package never stores
// media or chat content; it reads only what the other packages keep about people.
package compliance
