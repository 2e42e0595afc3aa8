// Test-only: ts-mls 1.6.4 members driven over stdin/stdout, so sealroom's Go MLS (mls/interop)
// can run a group with them. Not shipped to the browser.
//
// Protocol: one JSON object per line each way, bytes as standard base64. Every request carries
// `id` and `op`; the reply echoes `id` with `ok: true` and the op's fields, or `ok: false` and
// `error`. Requests are handled strictly in order. MLS messages cross as encoded MLSMessage
// (RFC 9420 §6), so both sides really parse each other's wire format. A failed op keeps the
// member's previous state, like a client would.
//
//   new_key_package {name}                         -> {key_package}    (a fresh joiner, basic credential "name")
//   create_group    {name, group_id, extensions?}  -> {}               (extensions: [{type: "external_senders", data}])
//   join            {name, welcome}                -> {epoch, leaf}    (ratchet tree from the GroupInfo extension)
//   commit          {name, adds?, removes?}        -> {commit, welcome?, epoch}
//   process         {name, message}                -> {kind: "commit"|"proposal"|"application", data?, epoch, active}
//   send_app        {name, data}                   -> {message}
//   state           {name}                         -> {epoch, leaf, group_id, epoch_authenticator, exporter, active}
//   forget          {name}                         -> {}
//
// Every commit is a PublicMessage carrying adds and removes by value; pending proposals received
// earlier (the server's, as external sender) are included by reference by ts-mls itself. A
// commit without proposals is ts-mls's "update": it always carries an UpdatePath (§12.4).
// Application messages are PrivateMessages. The exporter is the SFrame base key,
// MLS-Exporter("SFrame 1.0 Base Key", "", 16) (RFC 9605 §5.2).
//
// Secrets never leave this process except the two values the test compares (the epoch
// authenticator and the exporter output), and nothing is logged.
import readline from 'node:readline';
import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  emptyPskIndex,
  encodeMlsMessage,
  joinGroup,
  processMessage,
  zeroOutUint8Array,
} from 'ts-mls';
import { keyPackage, sframeBaseKey, suite } from '../harness.mjs';

const impl = await suite();

/** members: name -> { state?: ClientState, kp?: { publicPackage, privatePackage } } */
const members = new Map();

const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => {
  if (typeof s !== 'string') throw new Error('expected base64 bytes');
  return new Uint8Array(Buffer.from(s, 'base64'));
};

/** decode parses a whole MLSMessage of the expected wire format; trailing bytes are an error. */
function decode(s, ...wireformats) {
  const bytes = unb64(s);
  const out = decodeMlsMessage(bytes, 0);
  if (out === undefined) throw new Error('cannot decode MLSMessage');
  const [msg, used] = out;
  if (used !== bytes.length) throw new Error(`MLSMessage has ${bytes.length - used} trailing bytes`);
  if (!wireformats.includes(msg.wireformat)) throw new Error(`got ${msg.wireformat}, want ${wireformats.join('|')}`);
  return msg;
}

function member(name) {
  const m = members.get(name);
  if (m === undefined) throw new Error(`no member ${name}`);
  return m;
}

function active(name) {
  const m = member(name);
  if (m.state === undefined) throw new Error(`${name} is not in a group`);
  return m;
}

const wipe = (consumed) => consumed?.forEach(zeroOutUint8Array);

const ops = {
  async new_key_package({ name }) {
    const kp = await keyPackage(name, impl);
    members.set(name, { kp });
    return { key_package: b64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage })) };
  },

  async create_group({ name, group_id, extensions = [] }) {
    const kp = await keyPackage(name, impl);
    const exts = extensions.map((e) => ({ extensionType: e.type, extensionData: unb64(e.data) }));
    const state = await createGroup(unb64(group_id), kp.publicPackage, kp.privatePackage, exts, impl);
    members.set(name, { state });
    return {};
  },

  async join({ name, welcome }) {
    const m = member(name);
    if (m.kp === undefined) throw new Error(`${name} has no KeyPackage`);
    const w = decode(welcome, 'mls_welcome');
    m.state = await joinGroup(w.welcome, m.kp.publicPackage, m.kp.privatePackage, emptyPskIndex, impl);
    m.kp = undefined; // single use (RFC 9420 §16.8)
    return { epoch: Number(m.state.groupContext.epoch), leaf: m.state.privatePath.leafIndex };
  },

  async commit({ name, adds = [], removes = [] }) {
    const m = active(name);
    const proposals = [
      ...removes.map((leaf) => ({ proposalType: 'remove', remove: { removed: leaf } })),
      ...adds.map((kp) => ({ proposalType: 'add', add: { keyPackage: decode(kp, 'mls_key_package').keyPackage } })),
    ];
    const res = await createCommit(
      { state: m.state, cipherSuite: impl },
      { extraProposals: proposals, wireAsPublicMessage: true, ratchetTreeExtension: true },
    );
    wipe(res.consumed);
    m.state = res.newState;
    const out = { commit: b64(encodeMlsMessage(res.commit)), epoch: Number(m.state.groupContext.epoch) };
    if (res.welcome !== undefined) {
      out.welcome = b64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome }));
    }
    return out;
  },

  async process({ name, message }) {
    const m = active(name);
    const msg = decode(message, 'mls_public_message', 'mls_private_message');
    const res = await processMessage(msg, m.state, emptyPskIndex, acceptAll, impl);
    wipe(res.consumed);
    const before = m.state.groupContext.epoch;
    m.state = res.newState;
    const out = { epoch: Number(m.state.groupContext.epoch), active: m.state.groupActiveState.kind === 'active' };
    if (res.kind === 'applicationMessage') return { ...out, kind: 'application', data: b64(res.message) };
    return { ...out, kind: m.state.groupContext.epoch !== before ? 'commit' : 'proposal' };
  },

  async send_app({ name, data }) {
    const m = active(name);
    const res = await createApplicationMessage(m.state, unb64(data), impl);
    wipe(res.consumed);
    m.state = res.newState;
    return { message: b64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: res.privateMessage })) };
  },

  async state({ name }) {
    const st = active(name).state;
    return {
      epoch: Number(st.groupContext.epoch),
      leaf: st.privatePath.leafIndex,
      group_id: b64(st.groupContext.groupId),
      epoch_authenticator: b64(st.keySchedule.epochAuthenticator),
      exporter: b64(await sframeBaseKey(st, impl)),
      active: st.groupActiveState.kind === 'active',
    };
  },

  async forget({ name }) {
    members.delete(name);
    return {};
  },
};

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return { id: null, ok: false, error: 'request is not JSON' };
  }
  const op = Object.hasOwn(ops, req.op) ? ops[req.op] : undefined;
  if (op === undefined) return { id: req.id, ok: false, error: `unknown op ${req.op}` };
  try {
    return { id: req.id, ok: true, ...(await op(req)) };
  } catch (err) {
    // ts-mls error names and messages carry no key material.
    return { id: req.id, ok: false, error: `${err?.name ?? 'Error'}: ${err?.message ?? err}` };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === '') continue;
  process.stdout.write(JSON.stringify(await handle(line)) + '\n');
}
