// The browser's MLS member (RFC 9420) on ts-mls 1.6.4 (patched, webapp/mls/README.md), talking
// to the Delivery Service as docs/protocol.md "MLS Delivery Service messages" describes.
// It never logs a key, a secret or a chat plaintext.
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  emptyPskIndex,
  encodeExternalSender,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  mlsExporter,
  processMessage,
  zeroOutUint8Array,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { b64decode, b64encode } from './b64.js';
import { roomPolicy } from './policy.js';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const enc = new TextEncoder();
const dec = new TextDecoder();

// RFC 9420 §2.1.2 variable-size length prefix.
function varint(n) {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// RFC 9420 §12.1.8.1: external_senders is `ExternalSender external_senders<V>`.
function externalSendersExtension(signaturePublicKey, identity) {
  const body = encodeExternalSender({ signaturePublicKey, credential: { credentialType: 'basic', identity: enc.encode(identity) } });
  return { extensionType: 'external_senders', extensionData: concat(varint(body.length), body) };
}

function wipe(consumed) {
  for (const c of consumed ?? []) zeroOutUint8Array(c);
}

/**
 * Member is one participant's MLS state. Every handler runs in order on one queue, so a state is
 * never processed twice; on an error the previous state is kept (ts-mls returns new states).
 * hooks: send(type, data) → Promise (resolves on ack, rejects with {code}), onEpoch(info),
 * onChat(from, text, ok, relayedFrom), onError(text), onViolation(reason): a handshake the
 * room's policy (policy.js) refused, which only a misbehaving server would relay.
 */
export class Member {
  constructor(sub, hooks) {
    this.sub = sub;
    this.hooks = hooks;
    this.state = null;
    this.keyPackages = [];
    this.held = []; // {epoch, bytes} of epochs not reached yet
    this.queue = Promise.resolve();
  }

  run(fn) {
    this.queue = this.queue.then(fn).catch((e) => this.hooks.onError(String(e?.code ?? e?.message ?? e)));
    return this.queue;
  }

  async init() {
    this.impl = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
  }

  epoch() {
    return this.state ? this.state.groupContext.epoch : -1n;
  }

  // KeyPackages live a week (the Delivery Service refuses lifetimes beyond 30 days), valid
  // from an hour ago to tolerate clock skew.
  async newKeyPackage() {
    const now = BigInt(Math.floor(Date.now() / 1000));
    const lifetime = { notBefore: now - 3600n, notAfter: now + 7n * 86400n };
    return generateKeyPackage({ credentialType: 'basic', identity: enc.encode(this.sub) }, defaultCapabilities(), lifetime, [], this.impl);
  }

  uploadKeyPackages(n) {
    return this.run(async () => {
      const fresh = [];
      for (let i = 0; i < n; i++) fresh.push(await this.newKeyPackage());
      const wire = fresh.map((kp) => b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage })));
      await this.hooks.send('keypackages', { keypackages: wire });
      this.keyPackages.push(...fresh);
    });
  }

  // group_create: RFC 9420 §11 with the server as external sender, then group_init.
  groupCreate(d) {
    return this.run(async () => {
      if (this.state) return;
      const kp = await this.newKeyPackage();
      const ext = externalSendersExtension(b64decode(d.external_sender.signature_key), d.external_sender.identity);
      const state = await createGroup(b64decode(d.group_id), kp.publicPackage, kp.privatePackage, [ext], this.impl);
      const gi = await createGroupInfoWithExternalPubAndRatchetTree(state, [], this.impl);
      try {
        await this.hooks.send('group_init', { group_info: b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi })) });
      } catch (e) {
        if (e?.code === 'group_exists') return; // another creator won: we will be added
        throw e;
      }
      await this.setState(state);
    });
  }

  mls(d) {
    return this.run(async () => {
      this.held.push({ epoch: BigInt(d.epoch), bytes: b64decode(d.message) });
      await this.drain();
    });
  }

  // drain applies held messages of the current epoch, in order, until none applies.
  async drain() {
    for (;;) {
      if (!this.state) return;
      const cur = this.state.groupContext.epoch;
      this.held = this.held.filter((m) => m.epoch >= cur);
      const i = this.held.findIndex((m) => m.epoch === cur);
      if (i < 0) return;
      const [m] = this.held.splice(i, 1);
      const msg = decodeMlsMessage(m.bytes, 0)?.[0];
      if (!msg) continue;
      let out;
      try {
        out = await processMessage(msg, this.state, emptyPskIndex, this.policy(msg), this.impl);
      } catch (e) {
        this.hooks.onError(`handshake refused: ${e?.message ?? e}`);
        continue;
      }
      if (out.kind !== 'newState' || out.actionTaken === 'reject') continue;
      wipe(out.consumed);
      const changed = out.newState.groupContext.epoch !== cur;
      if (changed && !this.isMember(out.newState)) {
        this.state = null; // removed: a Welcome may add us again
        this.hooks.onEpoch(null);
        return;
      }
      if (changed) await this.setState(out.newState);
      else this.state = out.newState;
    }
  }

  policy(msg) {
    return roomPolicy(msg, this.state, (why) => this.hooks.onViolation?.(why));
  }

  // senderOf names the member who sent a PrivateMessage: the identity in the credential of
  // the leaf its sender data names (RFC 9420 §6.3.2), in the epoch it was sent in. Trust it
  // only once the message has been authenticated.
  async senderOf(pm) {
    const s = this.state;
    const src = pm.epoch === s.groupContext.epoch
      ? { secret: s.keySchedule.senderDataSecret, tree: s.ratchetTree }
      : ((h) => h && { secret: h.senderDataSecret, tree: h.ratchetTree })(s.historicalReceiverData.get(pm.epoch));
    if (!src) return null;
    const sd = await decryptSenderData(pm, src.secret, this.impl);
    const node = sd && src.tree[sd.leafIndex * 2];
    return node?.nodeType === 'leaf' ? dec.decode(node.leaf.credential.identity) : null;
  }

  isMember(state) {
    const leaf = state.privatePath.leafIndex;
    const node = state.ratchetTree[leaf * 2];
    return node?.nodeType === 'leaf' && dec.decode(node.leaf.credential.identity) === this.sub;
  }

  welcome(d) {
    return this.run(async () => {
      if (this.state) return;
      const msg = decodeMlsMessage(b64decode(d.welcome), 0)?.[0];
      if (!msg?.welcome) throw new Error('malformed welcome');
      for (const kp of this.keyPackages) {
        let state;
        try {
          state = await joinGroup(msg.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.impl);
        } catch {
          continue; // not this KeyPackage
        }
        this.keyPackages = this.keyPackages.filter((k) => k !== kp);
        await this.setState(state);
        await this.drain();
        return;
      }
      throw new Error('no KeyPackage opens the Welcome');
    });
  }

  // resync answers the server's offer to a page whose MLS state was lost (a reload) while
  // its earlier leaf is still in the group: an external commit replacing that leaf (RFC 9420
  // §12.4.3.2), found by the page's identity since its old keys are gone. If it loses the
  // epoch, a fresh offer follows; if the window closes, the server adds the page anew.
  resync(d) {
    return this.run(async () => {
      if (this.state) return;
      const msg = decodeMlsMessage(b64decode(d.group_info), 0)?.[0];
      if (!msg?.groupInfo) throw new Error('malformed resync offer');
      const kp = await this.newKeyPackage();
      const byIdentity = {
        ...defaultClientConfig,
        keyPackageEqualityConfig: {
          ...defaultClientConfig.keyPackageEqualityConfig,
          compareKeyPackageToLeafNode: (k, leaf) => dec.decode(k.leafNode.credential.identity) === dec.decode(leaf.credential.identity),
        },
      };
      const res = await joinGroupExternal(msg.groupInfo, kp.publicPackage, kp.privatePackage, true, this.impl, undefined, byIdentity);
      const gi = await createGroupInfoWithExternalPubAndRatchetTree(res.newState, [], this.impl);
      try {
        await this.hooks.send('commit', {
          commit: b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_public_message', publicMessage: res.publicMessage })),
          group_info: b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi })),
        });
      } catch (e) {
        if (e?.code === 'stale_epoch') return; // the next offer carries the new epoch
        throw e;
      }
      await this.setState(res.newState);
      await this.drain();
    });
  }

  commitNeeded(d) {
    return this.run(async () => {
      if (!this.state || this.state.groupContext.epoch !== BigInt(d.epoch)) return;
      if (this.state.unappliedProposals && Object.keys(this.state.unappliedProposals).length === 0) return;
      await this.commit();
    });
  }

  // selfUpdate commits this member's own path (RFC 9420 §12.4), with whatever proposals are
  // pending: a member that updates its leaf regularly heals from a compromise of its keys.
  selfUpdate() {
    return this.run(async () => {
      if (this.state) await this.commit();
    });
  }

  // startUpdates makes the member update itself every intervalMs, give or take a tenth, so
  // that a room's members do not all update in the same moment (the Go client's
  // Config.UpdateInterval; 15 minutes by default).
  startUpdates(intervalMs = 15 * 60 * 1000) {
    clearTimeout(this.updateTimer);
    const next = () => {
      this.updateTimer = setTimeout(() => {
        this.selfUpdate();
        next();
      }, intervalMs * (0.9 + Math.random() * 0.2));
    };
    next();
  }

  stopUpdates() {
    clearTimeout(this.updateTimer);
  }

  async commit() {
    const res = await createCommit({ state: this.state, cipherSuite: this.impl }, { wireAsPublicMessage: true, ratchetTreeExtension: true });
    // res.consumed holds secrets of the current epoch (its init_secret among them): they are
    // wiped only once the commit won. A commit that loses the epoch leaves the current state
    // in use, and the winner's commit is processed from its init_secret: wiped first, that
    // member computed another epoch and refused the winner ("Could not verify confirmation
    // tag"), stuck in the old epoch for good.
    const next = res.newState;
    // external_pub lets a member whose page reloaded replace its own leaf (resync).
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(next, [], this.impl);
    const data = {
      commit: b64encode(encodeMlsMessage(res.commit)),
      group_info: b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi })),
    };
    if (res.welcome) data.welcome = b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome }));
    try {
      await this.hooks.send('commit', data);
    } catch (e) {
      if (e?.code === 'stale_epoch') return; // the winner arrives as mls
      throw e;
    }
    wipe(res.consumed);
    await this.setState(next);
    await this.drain();
  }

  sendChat(text) {
    return this.run(async () => {
      if (!this.state) throw new Error('not in the group yet');
      const res = await createApplicationMessage(this.state, enc.encode(text), this.impl);
      this.state = res.newState;
      wipe(res.consumed);
      await this.hooks.send('chat', { message: b64encode(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: res.privateMessage })) });
    });
  }

  chat(d) {
    return this.run(async () => {
      if (!this.state) return;
      const msg = decodeMlsMessage(b64decode(d.message), 0)?.[0];
      if (!msg) return;
      try {
        const sender = msg.privateMessage ? await this.senderOf(msg.privateMessage) : null;
        const out = await processMessage(msg, this.state, emptyPskIndex, this.policy(msg), this.impl);
        if (out.kind !== 'applicationMessage') return;
        this.state = out.newState;
        wipe(out.consumed);
        // The name shown is the one the MLS sender's credential carries, not the server's.
        this.hooks.onChat(sender ?? d.from, dec.decode(out.message), true, d.from);
      } catch {
        this.hooks.onChat(d.from, '', false, d.from);
      }
    });
  }

  // setState installs a new epoch and tells the page: epoch, authenticator, own leaf, the
  // roster by leaf, and the SFrame base key (RFC 9605 §5.2).
  async setState(state) {
    this.state = state;
    const baseKey = await mlsExporter(state.keySchedule.exporterSecret, 'SFrame 1.0 Base Key', new Uint8Array(0), 16, this.impl);
    const leaves = new Map();
    state.ratchetTree.forEach((node, i) => {
      if (i % 2 === 0 && node?.nodeType === 'leaf') leaves.set(i / 2, dec.decode(node.leaf.credential.identity));
    });
    this.hooks.onEpoch({
      epoch: state.groupContext.epoch,
      authenticator: Uint8Array.from(state.keySchedule.epochAuthenticator),
      leaf: state.privatePath.leafIndex,
      leaves,
      baseKey,
    });
  }
}
