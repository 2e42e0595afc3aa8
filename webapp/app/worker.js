// The SFrame worker (RFC 9605): every outgoing encoded frame is encrypted under this member's
// KID of the current MLS epoch, every incoming one decrypted with the sender's key. No
// plaintext fallback: a frame that cannot be encrypted is dropped; one that cannot be
// decrypted is held (below) or dropped, and never handed to the decoder. It never logs a key
// or a frame.
//
// No frame is lost to a key change. A sender switches to an epoch's key as soon as it has the
// epoch (its own commit accepted, or the commit or Welcome processed), while this page may
// still be processing that same commit or Welcome. So a frame under a KID of one of the next
// two epochs (RFC 9605 §5.2: the KID's low E bits are the epoch's), or of any epoch while this
// page has not joined yet, waits here in arrival order until the page installs that epoch's
// key, then decrypts in order: the Go client's held frames (client/media_recv.go). The wait is
// bounded in time, frames and bytes per receiver, so a sender whose key we will never get
// (a group we are not in, a forged KID) cannot grow memory: past the bound it is dropped and
// counted.
//
// Key frames follow every key change (DESIGN.md "senders send a keyframe after a key switch"):
// a sender asks its encoder for one once it encrypts under the new epoch's key
// (generateKeyFrame), and a receiver asks the sender for one when it sees a new sender key on
// a delta frame (sendKeyFrameRequest), so a decoder that lost anything around the switch, or
// is just starting, recovers at once. Both are RTCRtpScriptTransformer methods; the
// createEncodedStreams fallback has neither and relies on the browser's own PLI.
import { MLSKeys, Codec, ErrorCode } from '../sframe/sframe.mjs';

// HOLD_MS is longer than a member takes to receive and process a commit or a Welcome (tens
// of milliseconds to a few hundred on a loaded machine) and shorter than a person waits
// before they call a frozen picture broken. The Go client holds 2 s (MediaConfig.HoldFuture).
export const HOLD_MS = 3000;
// HOLD_FRAMES and HOLD_BYTES bound one receiver's queue: 256 frames are 5 s of Opus or
// 8 s of 30 fps video, and 4 MiB is 3 s of 720p video at 10 Mbit/s, more than HOLD_MS lets
// wait, so they only bite on a flood. HOLD_TOTAL_BYTES bounds all receivers together, so a
// room of many senders cannot add up to more.
export const HOLD_FRAMES = 256;
export const HOLD_BYTES = 4 << 20;
export const HOLD_TOTAL_BYTES = 32 << 20;
const KEYFRAME_ASK_MS = 500; // at most one key frame request per receiver this often

// Reason names why a received frame was dropped, beside SFrame's own error codes
// (errors.mjs: unknown-kid, authentication, replay, too-old, truncated-header,
// short-ciphertext, frame-too-short, malformed-h264, …).
export const Reason = Object.freeze({
  HELD_TOO_LONG: 'held-too-long', // waited HOLD_MS for its epoch's key while this member held keys
  HOLD_FULL: 'hold-full', // pushed out of a full hold (HOLD_FRAMES, HOLD_BYTES, HOLD_TOTAL_BYTES)
  // Sent under an epoch before this member's first, which it never holds (RFC 9420 §8: a
  // joiner cannot read the past), or waited for a Welcome that had not come within HOLD_MS.
  BEFORE_JOIN: 'before-join',
  NOT_MEMBER: 'not-member', // this member left or was removed: it holds no key any more
  ERROR: 'error', // an exception without an SFrame code
  UNSUPPORTED_CODEC: 'unsupported-codec', // a negotiated codec with no SFrame layout (H.265, say)
});

// MISSING_KEY are the reasons that mean a member lost a frame for want of a key it should
// have had: what a key change must never cause.
export const MISSING_KEY = Object.freeze([ErrorCode.UNKNOWN_KID, Reason.HELD_TOO_LONG, Reason.HOLD_FULL]);

const WAIT = Symbol('wait');

// layoutOf maps a negotiated codec (its RTCRtpCodec mimeType) to its SFrame frame layout
// (docs/protocol.md §3): which bytes stay clear for the packetizer, the depacketizer and the
// SFU. VP9 is wholly protected ('none'): its packetizer writes the RTP payload descriptor
// from what the encoder tells it, and the depacketizer and the SFU read only that descriptor
// (RFC 9628 §4.2), never the bitstream. AV1 keeps its OBU headers clear and its sizes true
// ('av1'): its packetizer reads them. null: a codec without a layout, whose frames are
// dropped, never sent in the clear.
export function layoutOf(mimeType) {
  switch (String(mimeType).toLowerCase()) {
    case 'audio/opus':
      return Codec.OPUS;
    case 'video/vp8':
      return Codec.VP8;
    case 'video/h264':
      return Codec.H264;
    case 'video/vp9':
      return Codec.NONE;
    case 'video/av1':
      return Codec.AV1;
  }
  return null;
}

// annexB4 writes every Annex B start code of an H.264 frame as 00 00 00 01. The start codes
// are SFrame metadata (docs/protocol.md §3.2), and the receivers' depacketizers (libwebrtc's,
// pion's) rebuild every NAL unit with a 4-byte one: a 3-byte code from the encoder would
// fail authentication there. Returns the frame itself when nothing changes.
export function annexB4(f) {
  let short = 0;
  for (let i = 0; i + 2 < f.length; i++) {
    if (f[i] === 0 && f[i + 1] === 0 && f[i + 2] === 1 && (i === 0 || f[i - 1] !== 0)) short++;
  }
  if (!short) return f;
  const out = new Uint8Array(f.length + short);
  let o = 0;
  for (let i = 0; i < f.length; i++) {
    if (i + 2 < f.length && f[i] === 0 && f[i + 1] === 0 && f[i + 2] === 1 && (i === 0 || f[i - 1] !== 0)) out[o++] = 0;
    out[o++] = f[i];
  }
  return out;
}

const kindStats = () => ({ encrypted: 0, encryptMs: 0, encryptBytes: 0, decrypted: 0, decryptMs: 0, decryptBytes: 0 });

/**
 * createWorker runs the SFrame worker on scope (the worker's global scope; a stand-in in
 * node tests): it answers scope's messages and RTCRtpScriptTransform events. The page runs it
 * with the default bounds; tests shrink them to see what happens past them.
 */
export function createWorker(scope, { holdMs = HOLD_MS, holdFrames = HOLD_FRAMES, holdBytes = HOLD_BYTES, holdTotalBytes = HOLD_TOTAL_BYTES } = {}) {
  const now = () => performance.now();
  let keys = new MLSKeys();
  // 'joining' until the first epoch's keys (a Welcome is on its way), then 'in'; 'out' once
  // the page cleared the keys (left or removed) until a new Welcome brings keys again.
  let membership = 'joining';
  let firstEpoch = 0n; // the first epoch held since joining: older ones were never ours
  const receivers = new Set();
  const senders = new Set(); // video RTCRtpScriptTransformers of encode pipes
  const status = new Map(); // receiver id -> {state, reason, at}
  const stats = { dropped: 0, failed: 0, epochs: 0 };
  const failures = {}; // reason -> received frames dropped (SFrame error codes and Reason)
  const encodeFailures = {}; // SFrame error code -> frames not sent (no-epoch before joining)
  const hold = { held: 0, released: 0, maxWaitMs: 0 };
  let heldBytes = 0; // of all receivers
  // generateUnavailable counts key switches of a sender whose transformer cannot generate a
  // key frame (Chromium's RTCRtpScriptTransformer has sendKeyFrameRequest only): there the
  // receivers' requests on the new key bring it.
  const keyFrames = { generated: 0, generateFailed: 0, generateUnavailable: 0, requested: 0, newSenderKeys: 0 };
  // Per kind, for the per-frame cost figures: frames, milliseconds and bytes each way; the
  // totals the stats message also carries are their sums.
  const perKind = { video: kindStats(), audio: kindStats() };
  // payloadTypes maps the connection's negotiated payload types to their mimeType (the page
  // sends it after every negotiation), for frames whose metadata has a payloadType but no
  // mimeType (Firefox's). layouts counts frames per side and mimeType.
  let payloadTypes = new Map();
  const layouts = { encode: {}, decode: {} };

  // codecOf is the SFrame layout of one frame: from the codec negotiated for it (the frame's
  // metadata mimeType, or its payloadType), never from a constant. A frame with neither (a
  // test stand-in) takes its track kind's first codec. codec undefined: a codec without a
  // layout.
  function codecOf(frame, kind) {
    let md = {};
    try {
      md = frame.getMetadata?.() ?? {};
    } catch {
      // a frame without metadata
    }
    const mime = md.mimeType || payloadTypes.get(md.payloadType) || (kind === 'audio' ? 'audio/opus' : 'video/vp8');
    return { codec: layoutOf(mime) ?? undefined, mime: mime.toLowerCase() };
  }

  function counted(side, mime) {
    layouts[side][mime] = (layouts[side][mime] ?? 0) + 1;
  }

  function report(id, state, reason) {
    const prev = status.get(id);
    const t = now();
    if (prev && prev.state === state && prev.reason === reason && t - prev.at < 1000) return;
    status.set(id, { state, reason, at: t });
    scope.postMessage({ type: 'status', id, state, reason });
  }

  // verdict decides on a frame whose KID has no key: WAIT for a key on its way, or the
  // reason it is dropped.
  function verdict(kid) {
    if (membership === 'joining') return WAIT;
    if (membership === 'out') return Reason.NOT_MEMBER;
    if (typeof kid !== 'bigint') return ErrorCode.UNKNOWN_KID;
    const mask = keys.layout.mask;
    const cur = keys.epoch();
    const bits = kid & mask;
    // One of the next two epochs (as client.Media.isFuture): its commit is on its way.
    const ahead = (bits - cur) & mask;
    if (ahead === 1n || ahead === 2n) return WAIT;
    // An epoch behind: before this member's first (by the same low bits), or one whose key
    // it has dropped (past the previous epoch's grace period, mls.mjs DEFAULT_GRACE_MS).
    const was = cur - ((cur - bits) & mask || mask + 1n);
    return was >= 0n && was < firstEpoch ? Reason.BEFORE_JOIN : ErrorCode.UNKNOWN_KID;
  }

  // missing is the reason a frame that still waits for a key is dropped now.
  function missing(reason) {
    if (membership === 'joining') return Reason.BEFORE_JOIN;
    if (membership === 'out') return Reason.NOT_MEMBER;
    return reason;
  }

  // Receiver is one decode pipe: one remote track's frames, in order, through the hold.
  // Every step runs on its chain, so the hold, its drains and new frames never interleave
  // and frames reach the decoder in the order they arrived.
  class Receiver {
    constructor(options, transformer) {
      this.id = options.id;
      this.kind = options.kind === 'audio' ? 'audio' : 'video';
      this.video = this.kind === 'video';
      this.transformer = transformer;
      this.out = null; // the TransformStream's controller
      this.chain = Promise.resolve();
      this.held = []; // {frame, at, size}, oldest first
      this.heldBytes = 0;
      this.timer = 0;
      this.emptied = null;
      this.kid = null; // the last KID that decrypted
      this.needKey = this.video; // no key frame since the start, a loss or a new sender key
      this.asked = -Infinity;
      this.counts = { decrypted: 0, dropped: 0, epoch: -1 };
    }

    run(fn) {
      this.chain = this.chain.then(fn).catch(() => {
        failures[Reason.ERROR] = (failures[Reason.ERROR] ?? 0) + 1;
      });
      return this.chain;
    }

    async receive(frame) {
      const at = now();
      if (this.held.length) {
        this.hold(frame, at); // behind the frames already waiting, to keep the order
        return this.drain();
      }
      if ((await this.open(frame, at, false)) === WAIT) {
        this.hold(frame, at);
        this.arm();
      }
    }

    // open decrypts a frame and hands it to the decoder, or drops it; WAIT when its key is
    // on its way and it has waited less than holdMs since it arrived at `at`.
    async open(frame, at, wasHeld) {
      const t0 = now();
      let out;
      try {
        const { codec, mime } = codecOf(frame, this.kind);
        if (codec === undefined) throw Object.assign(new Error('codec'), { code: Reason.UNSUPPORTED_CODEC });
        out = await keys.decryptFrame(codec, new Uint8Array(frame.data));
        counted('decode', mime);
      } catch (e) {
        let reason = typeof e?.code === 'string' ? e.code : Reason.ERROR;
        if (reason === ErrorCode.UNKNOWN_KID) {
          reason = verdict(e.kid);
          if (reason === WAIT) {
            if (now() - at < holdMs) return WAIT;
            reason = missing(Reason.HELD_TOO_LONG);
          }
        }
        this.drop(reason);
        return false;
      }
      frame.data = out.frame.slice().buffer;
      const k = perKind[this.kind];
      k.decrypted++;
      k.decryptMs += now() - t0;
      k.decryptBytes += frame.data.byteLength;
      this.counts.decrypted++;
      if (wasHeld) {
        hold.released++;
        hold.maxWaitMs = Math.max(hold.maxWaitMs, now() - at);
      }
      const kid = out.header.kid;
      if (kid !== this.kid) {
        // A new sender key (a new epoch, or a first frame): the sender sends a key frame
        // after its switch; if this one is not it, ask, so the decoder restarts clean.
        this.kid = kid;
        this.counts.epoch = Number(kid & keys.layout.mask);
        keyFrames.newSenderKeys++;
        if (this.video && frame.type !== 'key') this.needKey = true;
      }
      if (this.needKey) {
        if (frame.type === 'key') this.needKey = false;
        else this.askKeyFrame();
      }
      report(this.id, 'encrypted', '');
      this.out.enqueue(frame);
      return true;
    }

    drop(reason) {
      stats.failed++;
      this.counts.dropped++;
      failures[reason] = (failures[reason] ?? 0) + 1;
      // Frames of before the join, or after leaving, are no fault of the sender's: the page
      // shows its own membership for those.
      if (reason !== Reason.BEFORE_JOIN && reason !== Reason.NOT_MEMBER) report(this.id, 'failed', reason);
      if (this.video) {
        this.needKey = true;
        this.askKeyFrame();
      }
    }

    // askKeyFrame asks the sender for a key frame (throttled): after a loss, or on a new
    // sender key, the decoder has nothing it can safely continue from.
    askKeyFrame() {
      const t = now();
      if (!this.transformer?.sendKeyFrameRequest || t - this.asked < KEYFRAME_ASK_MS) return;
      this.asked = t;
      keyFrames.requested++;
      this.transformer.sendKeyFrameRequest().catch(() => {});
    }

    hold(frame, at) {
      const size = frame.data.byteLength;
      const full = () => this.held.length >= holdFrames || this.heldBytes + size > holdBytes || heldBytes + size > holdTotalBytes;
      // Full: the oldest goes (the newest frames are the ones worth showing once the key
      // comes; the decoder needs a key frame after any gap anyway).
      while (this.held.length && full()) {
        this.unhold();
        this.drop(missing(Reason.HOLD_FULL));
      }
      if (full()) {
        this.drop(missing(Reason.HOLD_FULL));
        return;
      }
      this.held.push({ frame, at, size });
      this.heldBytes += size;
      heldBytes += size;
      hold.held++;
    }

    // unhold takes the oldest frame out of the hold.
    unhold() {
      const h = this.held.shift();
      this.heldBytes -= h.size;
      heldBytes -= h.size;
      return h;
    }

    // drain releases held frames in order while their keys are there, drops those that
    // waited too long, and stops at the first that may still wait.
    async drain() {
      clearTimeout(this.timer);
      while (this.held.length) {
        const h = this.held[0];
        const r = await this.open(h.frame, h.at, true);
        if (r === WAIT) break;
        this.unhold();
      }
      this.arm();
    }

    // arm drains again when the oldest held frame's time is up, so a hold empties even when
    // no frame or key comes any more.
    arm() {
      clearTimeout(this.timer);
      if (!this.held.length) {
        this.emptied?.();
        this.emptied = null;
        return;
      }
      const due = this.held[0].at + holdMs - now();
      this.timer = setTimeout(() => this.run(() => this.drain()), Math.max(0, due) + 1);
    }

    // close waits for the hold to empty (keys or time), so frames that were on their way
    // when the track ended are not lost to the end.
    close() {
      if (!this.held.length) return this.chain;
      return new Promise((resolve) => {
        this.emptied = resolve;
      });
    }

    snapshot() {
      return { ...this.counts, holding: this.held.length };
    }
  }

  function receive(readable, writable, options, transformer) {
    const rx = new Receiver(options, transformer);
    receivers.add(rx);
    const transform = new TransformStream({
      start(controller) {
        rx.out = controller;
      },
      transform(frame) {
        return rx.run(() => rx.receive(frame));
      },
      async flush() {
        await rx.close();
        receivers.delete(rx);
      },
    });
    readable
      .pipeThrough(transform)
      .pipeTo(writable)
      .catch(() => {})
      .finally(() => {
        // The track is gone (its receiver stopped): what it still holds has nowhere to go.
        clearTimeout(rx.timer);
        while (rx.held.length) rx.unhold();
        rx.emptied?.();
        receivers.delete(rx);
      });
  }

  function send(readable, writable, options, transformer) {
    const kind = options.kind === 'audio' ? 'audio' : 'video';
    if (kind === 'video' && transformer) senders.add(transformer);
    const transform = new TransformStream({
      async transform(frame, controller) {
        const t0 = now();
        const size = frame.data.byteLength;
        try {
          const { codec, mime } = codecOf(frame, kind);
          if (codec === undefined) throw Object.assign(new Error('codec'), { code: Reason.UNSUPPORTED_CODEC });
          let plain = new Uint8Array(frame.data);
          if (codec === Codec.H264) plain = annexB4(plain);
          frame.data = (await keys.encryptFrame(codec, plain)).buffer;
          counted('encode', mime);
        } catch (e) {
          stats.dropped++;
          const reason = typeof e?.code === 'string' ? e.code : Reason.ERROR;
          encodeFailures[reason] = (encodeFailures[reason] ?? 0) + 1;
          return;
        }
        const k = perKind[kind];
        k.encrypted++;
        k.encryptMs += now() - t0;
        k.encryptBytes += size;
        controller.enqueue(frame);
      },
    });
    readable
      .pipeThrough(transform)
      .pipeTo(writable)
      .catch(() => {})
      .finally(() => senders.delete(transformer));
  }

  function pipe(readable, writable, options, transformer) {
    if (options.side === 'encode') send(readable, writable, options, transformer);
    else receive(readable, writable, options, transformer);
  }

  async function setEpoch(m) {
    try {
      await keys.setEpoch(m.epoch, m.leaf, { export: async () => m.baseKey });
    } catch (e) {
      scope.postMessage({ type: 'error', reason: e?.code ?? 'epoch' });
      return;
    } finally {
      m.baseKey.fill(0);
    }
    stats.epochs++;
    if (membership !== 'in') {
      membership = 'in';
      firstEpoch = BigInt(m.epoch);
    }
    // RFC 9605 §5.2 / DESIGN.md: senders send a key frame right after a key switch.
    for (const t of senders) {
      if (!t.generateKeyFrame) {
        keyFrames.generateUnavailable++;
        continue;
      }
      keyFrames.generated++;
      t.generateKeyFrame().catch(() => keyFrames.generateFailed++);
    }
    // Frames that waited for this epoch decrypt now, in order.
    await Promise.all([...receivers].map((rx) => rx.run(() => rx.drain())));
  }

  async function clear() {
    // Removed from the group: forget every key, so nothing is sent or shown any more.
    keys.close();
    keys = new MLSKeys();
    membership = 'out';
    await Promise.all([...receivers].map((rx) => rx.run(() => rx.drain())));
  }

  function snapshot() {
    const { video, audio } = perKind;
    const totals = {
      encrypted: video.encrypted + audio.encrypted,
      decrypted: video.decrypted + audio.decrypted,
      encryptMs: video.encryptMs + audio.encryptMs,
      decryptMs: video.decryptMs + audio.decryptMs,
    };
    const peers = {}; // remote participant id -> kind -> {decrypted, dropped, epoch, holding}
    let holding = 0;
    for (const rx of receivers) {
      (peers[rx.id] ??= {})[rx.kind] = rx.snapshot();
      holding += rx.held.length;
    }
    const missingKey = MISSING_KEY.reduce((n, r) => n + (failures[r] ?? 0), 0);
    return {
      ...stats,
      ...totals,
      missingKey,
      failures: { ...failures },
      encodeFailures: { ...encodeFailures },
      hold: { ...hold, holding },
      keyFrames: { ...keyFrames },
      layouts: { encode: { ...layouts.encode }, decode: { ...layouts.decode } },
      video: { ...video },
      audio: { ...audio },
      peers,
    };
  }

  scope.onrtctransform = (ev) => {
    const t = ev.transformer;
    pipe(t.readable, t.writable, t.options, t);
  };

  // Messages apply one at a time, in order: an epoch's key is installed (and what waited for
  // it released) before the next epoch, a clear or a stats request is looked at.
  let control = Promise.resolve();
  scope.onmessage = (ev) => {
    const m = ev.data;
    control = control.then(async () => {
      if (m.type === 'epoch') await setEpoch(m);
      else if (m.type === 'clear') await clear();
      else if (m.type === 'streams') pipe(m.readable, m.writable, m.options);
      else if (m.type === 'stats') scope.postMessage({ type: 'stats', stats: snapshot() });
      else if (m.type === 'codecs') payloadTypes = new Map(m.codecs.map((c) => [c.payloadType, c.mimeType]));
    });
    control = control.catch(() => {});
    return control;
  };
}

if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) createWorker(self);
