// Test-only: a room of ts-mls members that exchange every handshake message as encoded bytes,
// the way the browser will see them from the Delivery Service. Not shipped to the browser.
//
// Each commit travels as a PublicMessage (DESIGN.md: the Delivery Service validates handshake
// messages), each Welcome carries the ratchet_tree extension, and every message goes through
// encodeMlsMessage/decodeMlsMessage so wire-format bugs cannot hide behind shared objects.
import {
  acceptAll,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  encodeExternalSender,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  mlsExporter,
  processMessage,
  zeroOutUint8Array,
} from 'ts-mls';

// RFC 9420 §17.1 suite 1, the suite sealroom uses on both sides.
export const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

// RFC 9605 §5.2: base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk), Nk = 16 for
// AES_128_GCM_SHA256_128.
export const SFRAME_LABEL = 'SFrame 1.0 Base Key';
export const SFRAME_NK = 16;

const enc = new TextEncoder();

export async function suite() {
  return getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
}

/** keyPackage returns a fresh KeyPackage with a basic credential whose identity is `name`. */
export async function keyPackage(name, impl) {
  const credential = { credentialType: 'basic', identity: enc.encode(name) };
  return generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
}

/**
 * externalSendersExtension builds the GroupContext extension of RFC 9420 §12.1.8.1 by hand,
 * independently of ts-mls's extension code: extension_data is `ExternalSender external_senders<V>`,
 * a vector with a variable-size length (§2.1.2), so a sender_index points into it.
 */
export function externalSendersExtension(senders) {
  const body = Buffer.concat(senders.map((s) => encodeExternalSender(s)));
  return { extensionType: 'external_senders', extensionData: new Uint8Array(Buffer.concat([varint(body.length), body])) };
}

/** varint is the RFC 9420 §2.1.2 variable-size length prefix (up to 2^30 - 1). */
export function varint(n) {
  if (n < 0x40) return Buffer.from([n]);
  if (n < 0x4000) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | n) >>> 0);
  return b;
}

/** wire encodes an MLSMessage and decodes it again, as a receiver would. */
export function wire(msg) {
  const decoded = decodeMlsMessage(encodeMlsMessage(msg), 0);
  if (decoded === undefined) throw new Error(`cannot decode ${msg.wireformat}`);
  return decoded[0];
}

export function hex(b) {
  return Buffer.from(b).toString('hex');
}

/** sframeBaseKey is what webapp/sframe's MLSKeys is fed for an epoch. */
export async function sframeBaseKey(state, impl) {
  return mlsExporter(state.keySchedule.exporterSecret, SFRAME_LABEL, new Uint8Array(0), SFRAME_NK, impl);
}

/**
 * Room holds the ClientState of every current member, by name. Operations are all-or-nothing
 * for the test's purposes: the first member or joiner that fails throws, with its name.
 */
export class Room {
  constructor(impl) {
    this.impl = impl;
    this.members = new Map(); // name -> ClientState
  }

  static async create(impl, creator, extensions = []) {
    const room = new Room(impl);
    const kp = await keyPackage(creator, impl);
    const state = await createGroup(enc.encode('sealroom-test-room'), kp.publicPackage, kp.privatePackage, extensions, impl);
    room.members.set(creator, state);
    return room;
  }

  /**
   * deliver hands one encoded PublicMessage proposal (e.g. from the external sender) to every
   * member; if any member rejects it, no member's state changes.
   */
  async deliver(encoded) {
    const msg = decodeMlsMessage(encoded, 0)[0];
    const next = new Map();
    for (const [name, st] of this.members) {
      const out = await processMessage(msg, st, emptyPskIndex, acceptAll, this.impl);
      if (out.kind !== 'newState') throw new Error(`member ${name}: expected a new state, got ${out.kind}`);
      next.set(name, out.newState);
    }
    this.members = next;
  }

  leafOf(name) {
    return this.members.get(name).privatePath.leafIndex;
  }

  nameAt(leaf) {
    for (const [name, st] of this.members) if (st.privatePath.leafIndex === leaf) return name;
    return undefined;
  }

  epoch() {
    return [...this.members.values()][0].groupContext.epoch;
  }

  /**
   * commit lets `committer` commit adds (names of new members) and removes (names of current
   * members) in one commit; every other member processes it from the wire, every joiner joins
   * from the wire Welcome. Returns the names that joined.
   */
  async commit(committer, { add = [], remove = [], keyPackages = new Map(), removedByProposal = [] } = {}) {
    const impl = this.impl;
    // keyPackages: joiners added by pending proposals; removedByProposal: members removed by them.
    const kps = new Map(keyPackages);
    for (const name of add) kps.set(name, await keyPackage(name, impl));
    const added = [...kps.keys()];
    const proposals = [
      ...remove.map((name) => ({ proposalType: 'remove', remove: { removed: this.leafOf(name) } })),
      ...add.map((name) => ({ proposalType: 'add', add: { keyPackage: kps.get(name).publicPackage } })),
    ];
    const res = await createCommit(
      { state: this.members.get(committer), cipherSuite: impl },
      { extraProposals: proposals, wireAsPublicMessage: true, ratchetTreeExtension: true },
    );
    res.consumed.forEach(zeroOutUint8Array);
    const commitMsg = wire(res.commit);
    const next = new Map([[committer, res.newState]]);
    for (const [name, st] of this.members) {
      if (name === committer || remove.includes(name) || removedByProposal.includes(name)) continue;
      try {
        const out = await processMessage(commitMsg, st, emptyPskIndex, acceptAll, impl);
        if (out.kind !== 'newState') throw new Error(`expected a new state, got ${out.kind}`);
        out.consumed.forEach(zeroOutUint8Array);
        next.set(name, out.newState);
      } catch (err) {
        throw new Error(`member ${name} rejected the commit: ${err.message}`, { cause: err });
      }
    }
    if (kps.size > 0) {
      const welcome = wire({ welcome: res.welcome, wireformat: 'mls_welcome', version: 'mls10' });
      for (const [name, kp] of kps) {
        try {
          next.set(name, await joinGroup(welcome.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, impl));
        } catch (err) {
          throw new Error(`joiner ${name} rejected the Welcome: ${err.message}`, { cause: err });
        }
      }
    }
    this.members = next;
    return added;
  }

  /**
   * agreement returns, per member, the epoch, epoch authenticator and SFrame base key as hex,
   * so a test can assert all members agree with one deepEqual.
   */
  async agreement() {
    const out = {};
    for (const [name, st] of this.members) {
      out[name] = {
        epoch: st.groupContext.epoch,
        authenticator: hex(st.keySchedule.epochAuthenticator),
        sframeBaseKey: hex(await sframeBaseKey(st, this.impl)),
      };
    }
    return out;
  }
}
