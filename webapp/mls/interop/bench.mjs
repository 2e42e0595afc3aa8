// ts-mls 1.6.4 timings of the MLS operations sealroom's Go mls package benchmarks, for a
// side-by-side table (mls/interop/bench_test.go times the same operations in Go on the same
// group shape). Not part of the test suite. Run from the repository root:
//
//   node webapp/mls/interop/bench.mjs                 sizes 2, 16, 128, 1000
//   node webapp/mls/interop/bench.mjs 2 16 128        chosen sizes
//
// Group shape, the same on both sides: one creator adds the other N-1 members in one commit
// (what the Delivery Service's Add proposals lead to), a member at leaf 1 joins from the
// Welcome, then the creator commits once with an UpdatePath. The creator's copath nodes are
// still blank, so a path commit encrypts to every other leaf (RFC 9420 §7.6: the resolution of
// a blank node is its non-blank descendants): the worst case of a fresh meeting, N-1 HPKE
// encryptions per commit.
//
// Operations (ms/op; every message goes through encodeMlsMessage/decodeMlsMessage):
//   update commit, create  the creator commits with no proposals (ts-mls always adds a path)
//   update commit, process the member at leaf 1 processes that commit
//   add 1: commit          the creator commits one Add, Welcome with ratchet_tree extension
//   add 1: join            the joiner processes that Welcome (tree validation included)
//   add 1: total           the two above
//   app 1 KiB: protect     createApplicationMessage of 1024 bytes (PrivateMessage)
//   app 1 KiB: unprotect   the member at leaf 1 decrypts it
//   baseline Ed25519 sign  ts-mls's own signer on 1 KiB, to compare across machines
//
// Each operation is repeated from the same immutable ClientState, so every repetition does the
// same work. `consumed` secrets are deliberately not wiped here: the states are reused.
import { performance } from 'node:perf_hooks';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  emptyPskIndex,
  encodeMlsMessage,
  joinGroup,
  processMessage,
  acceptAll,
} from 'ts-mls';
import { keyPackage, suite } from '../harness.mjs';

const impl = await suite();
const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [2, 16, 128, 1000];
const payload = new Uint8Array(1024).fill(7);

/** wire encodes and decodes a message, as between two peers. */
const wire = (msg) => decodeMlsMessage(encodeMlsMessage(msg), 0)[0];

/** time runs fn (async) at least `min` times and until `budgetMs` has passed; returns ms/op. */
async function time(fn, { min = 3, budgetMs = 400 } = {}) {
  await fn(); // warm-up
  let n = 0;
  const start = performance.now();
  while (n < min || performance.now() - start < budgetMs) {
    await fn();
    n++;
    if (n >= 10000) break;
  }
  return (performance.now() - start) / n;
}

async function group(n) {
  const creatorKp = await keyPackage('m0', impl);
  let a = await createGroup(new TextEncoder().encode(`bench-${n}`), creatorKp.publicPackage, creatorKp.privatePackage, [], impl);
  const kps = [];
  for (let i = 1; i < n; i++) kps.push(await keyPackage(`m${i}`, impl));
  const res = await createCommit(
    { state: a, cipherSuite: impl },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: true,
      extraProposals: kps.map((kp) => ({ proposalType: 'add', add: { keyPackage: kp.publicPackage } })),
    },
  );
  a = res.newState;
  const welcome = wire({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome });
  let b = await joinGroup(welcome.welcome, kps[0].publicPackage, kps[0].privatePackage, emptyPskIndex, impl);
  const up = await createCommit({ state: a, cipherSuite: impl }, { wireAsPublicMessage: true });
  a = up.newState;
  b = (await processMessage(wire(up.commit), b, emptyPskIndex, acceptAll, impl)).newState;
  if (a.keySchedule.epochAuthenticator.toString() !== b.keySchedule.epochAuthenticator.toString()) throw new Error('setup disagrees');
  return { a, b };
}

async function measure(n) {
  const budgetMs = n >= 1000 ? 0 : 400;
  const min = n >= 1000 ? 2 : 3;
  const opt = { min, budgetMs };
  const t0 = performance.now();
  const { a, b } = await group(n);
  const setupMs = performance.now() - t0;
  const row = {};

  row['update commit, create'] = await time(async () => {
    encodeMlsMessage((await createCommit({ state: a, cipherSuite: impl }, { wireAsPublicMessage: true })).commit);
  }, opt);
  const commitBytes = encodeMlsMessage((await createCommit({ state: a, cipherSuite: impl }, { wireAsPublicMessage: true })).commit);
  row['update commit, process'] = await time(async () => {
    const out = await processMessage(decodeMlsMessage(commitBytes, 0)[0], b, emptyPskIndex, acceptAll, impl);
    if (out.kind !== 'newState') throw new Error('not a commit');
  }, opt);

  const joiner = await keyPackage('joiner', impl);
  const addOnce = async () => {
    const res = await createCommit(
      { state: a, cipherSuite: impl },
      { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: [{ proposalType: 'add', add: { keyPackage: joiner.publicPackage } }] },
    );
    encodeMlsMessage(res.commit);
    return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome });
  };
  row['add 1: commit'] = await time(addOnce, opt);
  const welcomeBytes = await addOnce();
  row['add 1: join'] = await time(async () => {
    await joinGroup(decodeMlsMessage(welcomeBytes, 0)[0].welcome, joiner.publicPackage, joiner.privatePackage, emptyPskIndex, impl);
  }, opt);
  row['add 1: total'] = row['add 1: commit'] + row['add 1: join'];

  const protect = async () => {
    const res = await createApplicationMessage(a, payload, impl);
    return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: res.privateMessage });
  };
  row['app 1 KiB: protect'] = await time(protect, opt);
  const appBytes = await protect();
  row['app 1 KiB: unprotect'] = await time(async () => {
    const out = await processMessage(decodeMlsMessage(appBytes, 0)[0], b, emptyPskIndex, acceptAll, impl);
    if (out.kind !== 'applicationMessage') throw new Error('not an application message');
  }, opt);

  row['baseline Ed25519 sign'] = await time(() => impl.signature.sign(a.signaturePrivateKey, payload), { min: 20, budgetMs: 200 });
  row['(setup, once)'] = setupMs;
  return row;
}

const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));

const results = {};
const started = performance.now();
for (const n of sizes) {
  process.stderr.write(`N=${n}...\n`);
  results[n] = await measure(n);
}
const ops = Object.keys(results[sizes[0]]);
const w = Math.max(...ops.map((o) => o.length));
console.log(`ts-mls 1.6.4, node ${process.version}, suite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, ms/op`);
console.log(['operation'.padEnd(w), ...sizes.map((n) => `N=${n}`.padStart(10))].join(' '));
for (const op of ops) console.log([op.padEnd(w), ...sizes.map((n) => fmt(results[n][op]).padStart(10))].join(' '));
console.log(`total ${(performance.now() - started) / 1000 | 0} s`);
