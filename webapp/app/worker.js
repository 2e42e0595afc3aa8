// The SFrame worker (RFC 9605): every outgoing encoded frame is encrypted under this member's
// KID of the current MLS epoch, every incoming one decrypted with the sender's key. No
// plaintext fallback: a frame that cannot be encrypted is dropped, one that cannot be
// decrypted is never handed to the decoder. It never logs a key or a frame.
import { MLSKeys, Codec } from '../sframe/sframe.mjs';

let keys = new MLSKeys();
const status = new Map(); // receiver id -> {state, reason, at}
const stats = { dropped: 0, failed: 0 };
const failures = {}; // reason (SFrame error code) -> frames that could not be decrypted
// Per kind, for the per-frame cost figures: frames, milliseconds and bytes each way; the
// totals the stats message also carries are their sums.
const perKind = {
  video: { encrypted: 0, encryptMs: 0, encryptBytes: 0, decrypted: 0, decryptMs: 0, decryptBytes: 0 },
  audio: { encrypted: 0, encryptMs: 0, encryptBytes: 0, decrypted: 0, decryptMs: 0, decryptBytes: 0 },
};

function codecOf(kind) {
  return kind === 'audio' ? Codec.OPUS : Codec.VP8;
}

function report(id, state, reason) {
  const prev = status.get(id);
  const now = performance.now();
  if (prev && prev.state === state && prev.reason === reason && now - prev.at < 1000) return;
  status.set(id, { state, reason, at: now });
  self.postMessage({ type: 'status', id, state, reason });
}

const senders = new Set(); // video encode transformers, to ask for a key frame on a new epoch

// askKeyFrame asks the sender for a key frame (RTCRtpScriptTransformer, throttled): a receiver
// that could not decrypt, or starts on a delta frame, has nothing its decoder can use.
function askKeyFrame(transformer, state) {
  const now = performance.now();
  if (!transformer?.sendKeyFrameRequest || now - state.asked < 500) return;
  state.asked = now;
  transformer.sendKeyFrameRequest().catch(() => {});
}

function pipe(readable, writable, options, transformer) {
  const codec = codecOf(options.kind);
  const encode = options.side === 'encode';
  const video = options.kind === 'video';
  const state = { needKey: video, asked: -Infinity };
  if (encode && video && transformer) senders.add(transformer);
  const transform = new TransformStream({
    async transform(frame, controller) {
      const t0 = performance.now();
      try {
        const k = perKind[video ? 'video' : 'audio'];
        if (encode) {
          const size = frame.data.byteLength;
          frame.data = (await keys.encryptFrame(codec, new Uint8Array(frame.data))).buffer;
          k.encrypted++;
          k.encryptMs += performance.now() - t0;
          k.encryptBytes += size;
        } else {
          const out = await keys.decryptFrame(codec, new Uint8Array(frame.data));
          frame.data = out.frame.slice().buffer;
          k.decrypted++;
          k.decryptMs += performance.now() - t0;
          k.decryptBytes += frame.data.byteLength;
          report(options.id, 'encrypted', '');
          if (state.needKey) {
            if (frame.type === 'key') state.needKey = false;
            else askKeyFrame(transformer, state);
          }
        }
        controller.enqueue(frame);
      } catch (e) {
        if (encode) stats.dropped++;
        else {
          stats.failed++;
          const reason = e?.code ?? 'error';
          failures[reason] = (failures[reason] ?? 0) + 1;
          report(options.id, 'failed', reason);
          if (video) {
            state.needKey = true;
            askKeyFrame(transformer, state);
          }
        }
      }
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => {});
}

self.onrtctransform = (ev) => {
  const t = ev.transformer;
  pipe(t.readable, t.writable, t.options, t);
};

self.onmessage = async (ev) => {
  const m = ev.data;
  if (m.type === 'epoch') {
    try {
      await keys.setEpoch(m.epoch, m.leaf, { export: async () => m.baseKey });
      m.baseKey.fill(0);
      // RFC 9605 §5.2 / DESIGN.md: senders send a key frame right after a key switch.
      for (const t of senders) t.generateKeyFrame?.().catch(() => {});
    } catch (e) {
      self.postMessage({ type: 'error', reason: e?.code ?? 'epoch' });
    }
  } else if (m.type === 'clear') {
    // Removed from the group: forget every key, so nothing is sent or shown any more.
    keys.close();
    keys = new MLSKeys();
  } else if (m.type === 'streams') {
    pipe(m.readable, m.writable, m.options);
  } else if (m.type === 'stats') {
    const { video, audio } = perKind;
    const totals = {
      encrypted: video.encrypted + audio.encrypted,
      decrypted: video.decrypted + audio.decrypted,
      encryptMs: video.encryptMs + audio.encryptMs,
      decryptMs: video.decryptMs + audio.decryptMs,
    };
    self.postMessage({ type: 'stats', stats: { ...stats, ...totals, failures: { ...failures }, video: { ...video }, audio: { ...audio } } });
  }
};
