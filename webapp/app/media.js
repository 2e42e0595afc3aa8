// One RTCPeerConnection with the SFU over `media` signaling messages (docs/protocol.md "Media
// negotiation"). The browser is the impolite peer: while its own offer is unanswered it
// ignores the SFU's offers. Every sender and receiver goes through the SFrame worker.
export class Media {
  // iceServers: ready's ice_servers (the server's TURN relays over UDP, TCP and TLS, with
  // short-lived credentials), for networks that block UDP to the SFU. relayOnly: ICE uses
  // the relays only (RTCIceTransportPolicy "relay"), so the SFU never sees this address.
  constructor(signal, hooks, iceServers = [], { relayOnly = false } = {}) {
    this.signal = signal;
    this.hooks = hooks; // onTrack(participantId, stream), onStatus(participantId, state, reason), onNotice(text), onSpeaker(participantId), onPaused(paused), onLayer(participantId, rid, height)
    this.worker = new Worker('/worker.js', { type: 'module' });
    this.statsWaiters = []; // the worker answers stats requests in order
    this.worker.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === 'status') this.hooks.onStatus(m.id, m.state, m.reason);
      if (m.type === 'stats') this.statsWaiters.shift()?.(m.stats);
    };
    this.script = 'RTCRtpScriptTransform' in globalThis;
    this.relayOnly = relayOnly;
    this.makingOffer = false;
    this.trace = []; // message types and signaling states, for diagnostics (no SDP)
    this.owners = new Map(); // receiver track id -> participant (connection) id
    this.views = new Map(); // participant id -> the height its video is shown at (view)
    this.codecReady = new Promise((resolve) => {
      this.codecKnown = resolve;
    });
    this.openPeer(iceServers);
  }

  openPeer(iceServers) {
    const config = this.script ? {} : { encodedInsertableStreams: true };
    const pc = new RTCPeerConnection({ ...config, iceServers: relays(iceServers), iceTransportPolicy: this.relayOnly ? 'relay' : 'all', bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.pc = pc;
    // ICE gave up on every pair: only a restart (new candidates, new credentials) can help.
    pc.oniceconnectionstatechange = () => {
      if (this.pc === pc && pc.iceConnectionState === 'failed') pc.restartIce();
    };
    pc.onicecandidate = (ev) => {
      if (ev.candidate && this.pc === pc) this.signal.send('media', { type: 'candidate', candidate: ev.candidate.toJSON() });
    };
    pc.onnegotiationneeded = () => {
      if (this.pc === pc) this.offer();
    };
    // The room's video codec (docs/protocol.md "Room codec"): declare what this browser
    // decodes under SFrame (to each new SFU session), publish video once the SFU named the
    // room's choice.
    this.signal.send('media', { type: 'codecs', codecs: decodableVideo() });
    pc.ontrack = (ev) => {
      // A section without a stream carries nothing: the SFU keeps a withdrawn track's
      // section that way (media/participant.go, withdraw).
      if (!ev.streams[0]) return;
      const id = ev.streams[0].id;
      this.owners.set(ev.track.id, id);
      this.attach(ev.receiver, 'decode', ev.track.kind, id);
      this.hooks.onTrack(id, ev.streams[0]);
    };
  }

  // moved runs when the session was taken over by another node of the cluster (resumed
  // with moved): that node's SFU never saw our PeerConnection, so a new one carries the
  // same tracks through the same worker. The keys stay: the MLS group did not change.
  // The new SFU session names the room's codec again; video follows it (useCodec).
  moved(iceServers) {
    const old = this.pc;
    const sending = this.videoSender?.track; // the camera, or a screen share in its place
    this.chain = Promise.resolve();
    this.makingOffer = false;
    this.videoTr = this.videoSender = this.videoTrCodec = undefined;
    this.openPeer(iceServers);
    old.close();
    // The new SFU session has not heard how big this page shows each participant.
    for (const [participant, height] of this.views) this.signal.send('media', { type: 'view', participant, height });
    if (!this.stream) return;
    this.publish(this.stream, { keepResolution: this.keepResolution }).then(() => {
      if (sending && sending !== this.videoSender?.track) this.replaceVideo(sending);
    });
  }

  attach(endpoint, side, kind, id) {
    const options = { side, kind, id };
    if (this.script) {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const { readable, writable } = endpoint.createEncodedStreams();
    this.worker.postMessage({ type: 'streams', readable, writable, options }, [readable, writable]);
  }

  // setKeys hands the epoch's SFrame base key to the worker (RFC 9605 §5.2) and wipes our copy.
  setKeys(epoch, leaf, baseKey) {
    this.worker.postMessage({ type: 'epoch', epoch, leaf, baseKey });
    baseKey.fill(0);
  }

  // publish sends the camera and microphone on sendonly transceivers: the SFU then adds its
  // own m-sections (s1, s2, …) for what it forwards to us.
  // clearKeys drops every SFrame key (we left the group): frames are then dropped both ways.
  clearKeys() {
    this.worker.postMessage({ type: 'clear' });
  }

  // keepResolution: under CPU or bandwidth pressure lower the frame rate, not the resolution
  // (the participant asked for high quality, e.g. to show a skin lesion or a document).
  // The video goes out in the room's codec (the SFU's codec message), which this waits for.
  async publish(stream, { keepResolution = false } = {}) {
    await this.codecReady;
    this.stream = stream;
    this.keepResolution = keepResolution;
    for (const track of stream.getTracks()) {
      if (track.kind === 'video') {
        this.addVideo(track);
        continue;
      }
      const tr = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      this.attach(tr.sender, 'encode', track.kind, 'self');
    }
  }

  // addVideo sends track on a new sendonly transceiver that offers the room's codec first.
  // The worker picks the SFrame layout from each frame's negotiated codec.
  addVideo(track) {
    const sendEncodings = simulcastEncodings(this.videoCodec, track);
    const tr = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream], sendEncodings });
    this.attach(tr.sender, 'encode', 'video', 'self');
    this.videoSender = tr.sender;
    this.videoTr = tr;
    this.videoTrCodec = this.videoCodec;
    this.sendLayers(track);
    if (this.keepResolution) {
      const params = tr.sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      tr.sender.setParameters(params).catch(() => {});
    }
    // The room's codec first; the others this page decodes after it, so the SFU (which
    // offers a peer only codecs it has seen from it) may forward video in any of them. The
    // SFU answers with the room's codec alone.
    const caps = RTCRtpReceiver.getCapabilities('video').codecs;
    const prefs = [this.videoCodec, ...ROOM_CODECS.filter((m) => m.toLowerCase() !== String(this.videoCodec).toLowerCase())]
      .flatMap((m) => caps.filter((c) => sameCodec(c, m)));
    if (prefs.length) tr.setCodecPreferences?.(prefs);
  }

  // useCodec follows the room's codec: video already published in another one is published
  // again in it, on a new transceiver (the old one stops, and with it its publication at the
  // SFU): the SFU forwards as it receives, so what does not change codec cannot be decoded
  // by a participant that just came in.
  useCodec(mime) {
    this.videoCodec = mime;
    this.codecKnown(mime);
    if (!this.videoTr || this.videoTrCodec === mime) return;
    const old = this.videoTr;
    const track = old.sender.track;
    old.stop();
    if (track) this.addVideo(track);
  }

  // postCodecs tells the worker which codec each negotiated payload type is, for frames
  // whose metadata names only the payload type (Firefox's).
  postCodecs() {
    const codecs = [];
    for (const t of this.pc.getTransceivers()) {
      for (const side of [t.sender, t.receiver]) {
        try {
          for (const c of side.getParameters().codecs ?? []) codecs.push({ payloadType: c.payloadType, mimeType: c.mimeType });
        } catch {
          // a stopped transceiver
        }
      }
    }
    this.worker.postMessage({ type: 'codecs', codecs });
  }

  // replaceVideo swaps what the video sender sends (camera <-> screen). The sender keeps its
  // SFrame transform, so the new source is encrypted like the old one. False when nothing
  // sends video.
  async replaceVideo(track) {
    if (!this.videoSender) return false;
    await this.videoSender.replaceTrack(track);
    this.sendLayers(track);
    return true;
  }

  // sendLayers tells the SFU the height of each simulcast layer of the video sender (its
  // source's height over each encoding's scale), so it can send a subscriber the layer that
  // fits the tile it shows us in (view).
  sendLayers(track) {
    const height = track?.getSettings?.().height;
    const encodings = this.videoSender?.getParameters().encodings ?? [];
    if (!height || encodings.length < 2 || encodings.some((e) => !e.rid)) return;
    const layers = encodings.map((e) => ({ rid: e.rid, height: Math.max(1, Math.round(height / (e.scaleResolutionDownBy ?? 1))) }));
    this.signal.send('media', { type: 'layers', layers });
  }

  // view tells the SFU the height, in device pixels, at which this page shows a
  // participant's video (0: not at all): it then sends no layer taller than that needs.
  view(participant, height) {
    height = Math.max(0, Math.round(height));
    this.views.set(participant, height);
    this.signal.send('media', { type: 'view', participant, height });
  }

  // audioStats reports, per remote participant, what the browser's audio pipeline did with
  // its decrypted audio: samples played out, concealed (lost or undecodable) and the level.
  async audioStats() {
    const out = {};
    (await this.pc.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
      const id = this.owners.get(r.trackIdentifier) ?? r.trackIdentifier;
      out[id] = { samples: r.totalSamplesReceived ?? 0, concealed: r.concealedSamples ?? 0, energy: r.totalAudioEnergy ?? 0, level: r.audioLevel ?? 0 };
    });
    return out;
  }

  async offer() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.signal.send('media', { type: 'offer', sdp: this.pc.localDescription.sdp });
      this.trace.push('sent-offer');
    } catch (e) {
      this.trace.push(`offer-failed:${e.name}:${e.message}`);
      throw e;
    } finally {
      this.makingOffer = false;
    }
  }

  // handle applies the SFU's messages one at a time, in order: an answer must be applied
  // before the offer the SFU sends right after it is looked at.
  handle(m) {
    this.chain = (this.chain ?? Promise.resolve()).then(() => this.apply(m));
    return this.chain;
  }

  settled() {
    return (this.chain ?? Promise.resolve()).catch(() => {});
  }

  async apply(m) {
    this.trace.push(`${m.type}${m.id ? '#' + m.id : ''}@${this.pc.signalingState}${this.makingOffer ? '+making' : ''}`);
    if (m.type === 'answer') {
      if (this.pc.signalingState === 'have-local-offer') await this.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      this.postCodecs();
    } else if (m.type === 'offer') {
      // Impolite: ignore a crossing SFU offer; the SFU sends a new one after answering ours.
      if (this.makingOffer || this.pc.signalingState !== 'stable') return;
      await this.pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
      await this.pc.setLocalDescription();
      this.postCodecs();
      this.signal.send('media', { type: 'answer', sdp: this.pc.localDescription.sdp, id: m.id });
    } else if (m.type === 'candidate' && m.candidate?.candidate) {
      await this.pc.addIceCandidate(m.candidate).catch(() => {});
    } else if (m.type === 'codec') {
      this.useCodec(m.codec);
    } else if (m.type === 'active_speaker') {
      this.hooks.onSpeaker?.(m.participant ?? '');
    } else if (m.type === 'layer') {
      this.hooks.onLayer?.(m.participant ?? '', m.rid ?? '', m.height ?? 0);
    } else if (m.type === 'video_paused' || m.type === 'video_resumed') {
      this.hooks.onPaused?.(m.type === 'video_paused');
      this.hooks.onNotice?.(m.type === 'video_paused' ? 'Your connection is weak: video paused, audio continues.' : '');
    }
  }

  // stats are the worker's counters (no keys, no content): frames each way, frames dropped
  // per reason (failures; missingKey sums the reasons that mean a key was missing), the hold
  // for keys on their way, key frame requests, and per remote participant and kind.
  stats() {
    return new Promise((resolve) => {
      this.statsWaiters.push(resolve);
      this.worker.postMessage({ type: 'stats' });
    });
  }

  // resumed runs after the signaling session came back: if the media path went down too
  // (ICE says so, or nothing arrived for a second: ICE notices a dead path only after a few
  // seconds), ICE restarts (RFC 8445 §9); the new offer goes out through negotiationneeded.
  async resumed() {
    const st = this.pc.iceConnectionState;
    if (st === 'disconnected' || st === 'failed' || !(await this.receivedWithin(1000))) this.pc.restartIce();
  }

  // receivedWithin: did a packet arrive on the selected candidate pair in the last ms?
  async receivedWithin(ms) {
    const pair = await this.selectedPair();
    return Boolean(pair?.lastPacketReceivedTimestamp && performance.timeOrigin + performance.now() - pair.lastPacketReceivedTimestamp < ms);
  }

  // selectedPair is the candidate pair ICE selected, from getStats, with its local
  // candidate's type (host, srflx, prflx, relay) and, for a relay, how the TURN server is
  // reached (udp, tcp, tls); undefined before ICE selected one.
  async selectedPair() {
    const stats = await this.pc.getStats();
    let pair;
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    });
    if (!pair) return undefined;
    const local = stats.get(pair.localCandidateId);
    return { ...pair, localType: local?.candidateType, relayProtocol: local?.relayProtocol };
  }

  // updateIceServers applies fresh TURN credentials (ice_servers, or resumed's). A relay
  // lives only as long as the credential it was allocated with (the server closes it at
  // expiry), so when media goes through a relay, ICE restarts now: the new gathering
  // allocates a relay with the fresh credentials and takes over before the old one closes.
  async updateIceServers(iceServers) {
    if (!iceServers?.length) return;
    this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: relays(iceServers) });
    if ((await this.selectedPair())?.localType === 'relay') this.pc.restartIce();
  }

  close() {
    this.pc.close();
    this.worker.terminate();
  }
}

// relays turns the server's ice_servers into RTCIceServer entries (expires aside).
function relays(iceServers) {
  return iceServers.map(({ urls, username, credential }) => ({ urls, username, credential }));
}

// ROOM_CODECS are the video codecs this page has an SFrame layout for (worker.js layoutOf),
// in the SFU's default order of preference (the operator may put AV1 first). H.264 only in
// packetization mode 1 (RFC 6184 §6.3) and the constrained baseline profiles the SFU
// registers.
const ROOM_CODECS = ['video/H264', 'video/VP9', 'video/VP8', 'video/AV1'];

function sameCodec(c, mime) {
  if (c.mimeType.toLowerCase() !== String(mime).toLowerCase()) return false;
  if (c.mimeType.toLowerCase() !== 'video/h264') return true;
  const f = c.sdpFmtpLine ?? '';
  return /packetization-mode=1/.test(f) && /profile-level-id=42(e0|00)1f/i.test(f);
}

// simulcastEncodings are the video sender's layers (RFC 8853 simulcast, rid-named, RFC 8851),
// so the SFU can give each subscriber the largest its bandwidth carries and its tile needs,
// and a weak link costs nobody else their video: a quarter, half and full size from a 720p
// source, half and full from a smaller one (Chromium encodes no more layers than the source's
// size allows: two at 640x480, and it drops the top one). Each is capped in bitrate. Every
// layer goes through the one SFrame transform, under the one counter of this sender's key.
// VP9 and AV1 need each layer to be a plain stream (L1T1), not Chromium's default of one SVC
// stream with spatial layers the SFU could not tell apart.
function simulcastEncodings(mime, track) {
  if (!track) return undefined;
  const svc = ['video/vp9', 'video/av1'].includes(String(mime).toLowerCase());
  const tall = (track.getSettings?.().height ?? 480) >= 720;
  const layers = tall
    ? [
        { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 600_000 },
        { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 2_000_000 },
      ]
    : [
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 300_000 },
        { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_000_000 },
      ];
  return svc ? layers.map((l) => ({ ...l, scalabilityMode: 'L1T1' })) : layers;
}

function decodableVideo() {
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.('video')?.codecs ?? [];
  return ROOM_CODECS.filter((m) => caps.some((c) => sameCodec(c, m)));
}
