// The sealroom page: join (access code or /join#token=… invite link), device check, then the
// meeting: signaling, MLS (mls.js), SFrame media (media.js, worker.js), encrypted chat and the
// security code. The token stays in the fragment (never sent in a URL) and is removed from
// the address bar at once; nothing secret is logged.
import { Signal } from './signal.js';
import { Member } from './mls.js';
import { Media } from './media.js';
import { securityCode } from './code.js';

const $ = (id) => document.getElementById(id);
const views = ['join-view', 'check-view', 'consent-view', 'meeting-view'];

const app = {
  token: '',
  stream: null,
  me: null,
  participants: new Map(), // connection id -> P
  leaves: new Map(), // leaf index -> sub, of the current epoch
  announced: new Map(), // sub -> true while present, or the time (ms) it left presence
  unkeyedSince: new Map(), // sub announced but holding no leaf -> since when (ms)
  violations: [], // handshakes the room's policy refused
  errors: [], // MLS errors shown in the status line (no secret: codes and messages only)
  status: new Map(), // connection id -> {state, reason} from the SFrame worker
  inGroup: false,
  audioMuted: false,
  videoMuted: false,
  sharing: null, // the screen track while sharing
  heldMedia: [],
  enteredAt: 0, // performance.now() when "Join now" was pressed
  firstFrames: new Map(), // connection id -> ms from enteredAt to its first decrypted video frame on screen
  layers: [], // {id, rid, height, at} or {paused, at}: the SFU's recent layer switches, pauses and resumes
  expiresAt: 0,
  expiryTimer: 0,
};

function show(view) {
  for (const v of views) $(v).hidden = v !== view;
  const h = $(view).querySelector('h2');
  h?.setAttribute('tabindex', '-1');
  h?.focus();
}

function say(text) {
  $('status').textContent = text;
}

// The access code lives in the fragment of the invite link (never sent to the server), then
// in sessionStorage for the tab's life (never in the URL again), so a reload goes straight
// back into the meeting and a closed tab forgets it.
const TOKEN_KEY = 'sealroom.token';
const IN_MEETING_KEY = 'sealroom.inMeeting';
// What the participant chose (microphone and camera off, the camera's size), kept for a
// reload or an automatic rejoin: a muted patient must not come back live.
const CHOICES_KEY = 'sealroom.choices';
// When the page last rejoined by itself (rejoinWhenReachable), to stop a loop.
const REJOINS_KEY = 'sealroom.rejoins';

function takeFragmentToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  const update = Number(params.get('update')) || 0;
  if (update) sessionStorage.setItem('sealroom.updateMs', String(update));
  app.updateMs = Number(sessionStorage.getItem('sealroom.updateMs')) || 0;
  // #relay=1 in the invite link: media only through the server's TURN relays, so the SFU
  // never learns this device's address (and the relay path can be tried on purpose).
  if (params.get('relay') === '1') sessionStorage.setItem('sealroom.relayOnly', '1');
  app.relayOnly = sessionStorage.getItem('sealroom.relayOnly') === '1';
  if (token) {
    history.replaceState(null, '', location.pathname);
    sessionStorage.setItem(TOKEN_KEY, token);
  }
  return token ?? '';
}

// Device check: camera preview, microphone level, speaker test tone.
// The camera's size follows the quality choice (640x480 by default, which weak home
// connections carry; 1280x720 on request).
function cameraConstraints() {
  return $('quality').value === '720' ? { width: 1280, height: 720 } : { width: 640, height: 480 };
}

async function deviceCheck() {
  show('check-view');
  $('enter').disabled = true; // until the devices answered, so the camera is published
  try {
    app.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: cameraConstraints() });
    $('preview').srcObject = app.stream;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(app.stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const tick = () => {
      if ($('check-view').hidden) return;
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      $('mic-level').value = Math.min(1, Math.sqrt(sum / buf.length) * 4);
      requestAnimationFrame(tick);
    };
    tick();
  } catch (e) {
    $('device-error').textContent = `Camera or microphone unavailable (${e?.name ?? 'error'}). You can still join to see, hear and chat.`;
  } finally {
    $('enter').disabled = false;
  }
}

function speakerTest() {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  gain.gain.value = 0.2;
  osc.frequency.value = 440;
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.8);
  say('Playing a test sound. If you heard nothing, check your speaker volume.');
}

function saveChoices() {
  sessionStorage.setItem(CHOICES_KEY, JSON.stringify({ audioMuted: app.audioMuted, videoMuted: app.videoMuted, quality: $('quality').value }));
}

function restoreChoices() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CHOICES_KEY) ?? '{}');
    app.audioMuted = c.audioMuted === true;
    app.videoMuted = c.videoMuted === true;
    if (c.quality === '720' || c.quality === '480') $('quality').value = c.quality;
  } catch {
    // nothing kept
  }
}

async function changeQuality() {
  saveChoices();
  const track = app.stream?.getVideoTracks()[0];
  if (!track) return;
  try {
    await track.applyConstraints(cameraConstraints());
  } catch (e) {
    $('device-error').textContent = `The camera cannot do that size (${e?.name ?? 'error'}).`;
  }
}

function enter() {
  sessionStorage.setItem(IN_MEETING_KEY, '1');
  app.enteredAt = performance.now();
  say('Connecting…');
  app.signal = new Signal(onSignal, onClose, (ms) => {
    say(`Connection lost: reconnecting… ${Math.round(ms / 1000)} s`);
    document.body.dataset.reconnecting = '1';
  });
  app.signal.open(app.token);
}

function onClose(code) {
  const reasons = {
    4401: 'Your access code is invalid or expired.',
    4403: `You were removed from the meeting${app.removedBy ? ` by ${nameOf(app.removedBy)}` : ''}.`,
    4409: 'You joined from another window.',
    4410: 'You were logged off after being idle.',
    4412: 'The connection did not come back in time: rejoining…',
  };
  say(reasons[code] ?? (app.left ? 'You left the meeting.' : 'Disconnected from the meeting.'));
  if (code === 4401 || code === 4403) {
    // A code the server no longer accepts must not bring a reload back.
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(IN_MEETING_KEY);
  }
  // Replaced by the same person in another tab or device: a reload here must not take the
  // visit back from it by itself.
  if (code === 4409) sessionStorage.removeItem(IN_MEETING_KEY);
  clearTimeout(app.expiryTimer);
  clearInterval(app.rosterTimer);
  clearInterval(app.pathTimer);
  app.member?.stopUpdates();
  $('expiry').hidden = true;
  app.media?.close();
  app.sharing?.stop();
  app.stream?.getTracks().forEach((t) => t.stop());
  // The session could not be resumed (the outage outlasted its grace, or the server no
  // longer holds it): join anew, as a reload would, once the server answers again.
  if (code === 4412 && !app.left) rejoinWhenReachable();
}

// rejoinWhenReachable reloads the page, which takes it straight back into the meeting
// with the same choices (rejoin), once the server says it is ready (the network may still
// be down) and that the session was not replaced: if the person went on in another tab or
// device meanwhile, this page must not take the visit back from it. The first try waits a
// random moment, so that the pages of a restarted server do not all come back at once;
// leaving stops it; and after three rejoins in ten minutes the page asks for a reload
// instead of looping.
async function rejoinWhenReachable() {
  const now = Date.now();
  let recent = [];
  try {
    recent = JSON.parse(sessionStorage.getItem(REJOINS_KEY) ?? '[]').filter((t) => now - t < 600_000);
  } catch {
    // none kept
  }
  if (recent.length >= 3) {
    say('The connection did not come back in time: reload the page to rejoin.');
    return;
  }
  let unanswered = 0; // probes with the server ready but no verdict (a cluster between nodes)
  for (let wait = 500 + Math.random() * 2000; ; wait = Math.min(2 * wait, 15_000)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    if (app.left) return;
    try {
      if (!(await fetch('/readyz', { cache: 'no-store' })).ok) continue;
    } catch {
      continue; // unreachable: try again
    }
    const verdict = await app.signal.probeResume();
    if (app.left) return;
    if (typeof verdict === 'number') {
      onClose(verdict); // a final refusal (4409: the visit went on in another window)
      return;
    }
    if (verdict === 'gone' || ++unanswered >= 3) {
      sessionStorage.setItem(REJOINS_KEY, JSON.stringify([...recent, Date.now()]));
      location.reload();
      return;
    }
  }
}

function onSignal(env) {
  const d = env.data ?? {};
  switch (env.type) {
    case 'consent_required':
      show('consent-view');
      $('notice-link').href = d.notice_url || '#';
      app.noticeVersion = d.notice_version;
      break;
    case 'ready':
      ready(d);
      break;
    case 'resumed':
      // The same session, back: the room as it is now; what we missed follows in order.
      delete document.body.dataset.reconnecting;
      app.participants = new Map(d.participants.map((p) => [p.id, p]));
      scheduleExpiry(d.expires_at);
      say('Reconnected.');
      // moved: another node took the session over (its node died or drained): a new
      // PeerConnection there, the same keys.
      if (d.moved) app.media?.moved(d.ice_servers ?? []);
      else app.media?.updateIceServers(d.ice_servers).then(() => app.media?.resumed());
      render();
      break;
    case 'ice_servers':
      // Fresh TURN credentials before the last ones expire (or after a token refresh).
      app.media?.updateIceServers(d.ice_servers);
      break;
    case 'participant_updated':
      // An update can trail the same person's rejoin (left, then joined under a new id):
      // it must not bring the old id back.
      if (!app.participants.has(d.id)) break;
    // falls through
    case 'participant_joined':
      app.participants.set(d.id, d);
      app.announced.set(d.sub, true);
      render();
      break;
    case 'participant_left':
      app.participants.delete(d.participant?.id);
      if (![...app.participants.values()].some((p) => p.sub === d.participant?.sub)) app.announced.set(d.participant?.sub, Date.now());
      removeTile(d.participant?.id);
      render();
      break;
    case 'group_create':
      app.member.groupCreate(d);
      break;
    case 'mls':
      app.member.mls(d);
      break;
    case 'welcome':
      app.member.welcome(d);
      break;
    case 'resync':
      app.member.resync(d);
      break;
    case 'commit_needed':
      app.member.commitNeeded(d);
      break;
    case 'chat':
      app.member.chat(d);
      break;
    case 'keypackage_needed':
      app.member.uploadKeyPackages(2);
      break;
    case 'removed':
      app.removedBy = d.by;
      say(`You were removed from the meeting by ${nameOf(d.by)}.`);
      break;
    case 'media':
      // The SFU may offer before this page has its PeerConnection: hold those until ready.
      if (!app.media) app.heldMedia.push(d);
      else app.media.handle(d).catch(() => say('Media negotiation failed; chat still works.'));
      break;
    case 'bye':
      app.left = app.left || d.reason === 'left';
      break;
    case 'error':
      say(`Server: ${d.message ?? d.code}`);
      break;
  }
}

function ready(d) {
  app.me = d.participant;
  scheduleExpiry(d.expires_at);
  app.participants = new Map(d.participants.map((p) => [p.id, p]));
  for (const p of d.participants) app.announced.set(p.sub, true);
  app.rosterTimer = setInterval(checkRoster, 1000);
  show('meeting-view');
  say(`Joined as ${app.me.name || app.me.sub}.`);
  if (app.audioMuted || app.videoMuted) setMute(); // a reload or rejoin kept them off
  const send = (type, data) => app.signal.request(type, data);
  app.member = new Member(app.me.sub, {
    send,
    onEpoch,
    onChat: addChat,
    onError: (text) => {
      app.errors.push(text);
      say(`Encryption: ${text}`);
    },
    onViolation: (why) => {
      app.violations.push(why);
      checkRoster();
    },
  });
  app.member.run(() => app.member.init());
  app.member.uploadKeyPackages(3);
  // Every member updates its own keys regularly (post-compromise security); a test may ask
  // for a shorter interval with #update=ms in the invite link.
  app.member.startUpdates(app.updateMs || undefined);
  app.media = new Media(app.signal, {
    onTrack: addTile,
    onStatus: (id, state, reason) => {
      app.status.set(id, { state, reason });
      render();
    },
    onNotice: (text) => say(text || 'Your connection recovered: video is back.'),
    onSpeaker: showSpeaker,
    onPaused: showPaused,
    onLayer: showLayer,
  }, d.ice_servers ?? [], { relayOnly: app.relayOnly });
  app.pathTimer = setInterval(showPath, 2000);
  for (const m of app.heldMedia.splice(0)) app.media.handle(m).catch(() => say('Media negotiation failed; chat still works.'));
  // Publish once the SFU's first offer (the tracks already in the room) is answered: our own
  // offer crossing it is glare, which the SFU resolves less reliably than a plain exchange.
  showSelf();
  const hd = $('quality').value === '720';
  if (app.stream) setTimeout(() => app.media.settled().then(() => app.media.publish(app.stream, { keepResolution: hd })), 300);
  render();
}

// showPath says when media goes through a relay (the selected ICE candidate pair's local
// candidate is a TURN relay): slower networks and an extra hop are then expected, and a
// frozen tile has an explanation.
async function showPath() {
  const pair = await app.media?.selectedPair().catch(() => undefined);
  const el = $('path');
  const text = pair?.localType === 'relay' ? `Connected through a relay (${pair.relayProtocol ?? 'udp'}).` : '';
  if (el.textContent !== text) el.textContent = text;
  el.hidden = !text;
  document.body.dataset.path = pair?.localType ?? '';
}

function onEpoch(info) {
  if (!info) {
    app.inGroup = false;
    app.leaves = new Map();
    $('security-code').textContent = 'not in the group';
    app.media?.clearKeys();
    render();
    return;
  }
  app.inGroup = true;
  keyEvents(app.leaves, info.leaves);
  app.leaves = info.leaves;
  const code = securityCode(info.authenticator);
  $('security-code').textContent = code;
  document.body.dataset.epoch = String(info.epoch);
  app.media?.setKeys(info.epoch, info.leaf, info.baseKey);
  render();
  checkRoster();
}

// The room as the MLS group has it, next to the room as the server announces it. The
// server is the one party that can add a member, so the page shows who holds the keys
// (from each leaf's credential), logs each leaf's arrival and departure, and raises an
// alarm when the two disagree: a key holder the server never announced, or one that left
// the announced room longer ago than the server's reconnection grace; someone announced
// who holds no keys after a join's usual time; a handshake the room's policy refused.
const LEFT_GRACE_MS = 45_000; // the Delivery Service keeps a dropped member's leaf 30 s
const UNKEYED_GRACE_MS = 30_000;

function keyEvents(before, after) {
  const was = new Set(before.values());
  const now = new Set(after.values());
  const log = (text) => {
    const li = document.createElement('li');
    li.textContent = text;
    $('key-events').append(li);
  };
  for (const sub of now) if (!was.has(sub) && sub !== app.me?.sub) log(`${nameOf(sub)} now holds the room's keys.`);
  for (const sub of was) if (!now.has(sub) && sub !== app.me?.sub) log(`${nameOf(sub)} no longer holds the room's keys.`);
}

function checkRoster() {
  if (!app.me) return;
  const now = Date.now();
  const holders = [...new Set(app.leaves.values())];
  $('keyholders').textContent = app.inGroup ? `Holding the keys (from the encryption group): ${holders.join(', ')}` : '';
  const problems = [];
  for (const sub of holders) {
    const a = app.announced.get(sub);
    if (a === undefined) problems.push(`${sub} holds this room's keys but was never announced by the server`);
    else if (a !== true && now - a > LEFT_GRACE_MS) problems.push(`${sub} left the meeting but still holds its keys`);
  }
  for (const p of app.participants.values()) {
    if (!app.inGroup || holders.includes(p.sub)) {
      app.unkeyedSince.delete(p.sub);
      continue;
    }
    if (!app.unkeyedSince.has(p.sub)) app.unkeyedSince.set(p.sub, now);
    else if (now - app.unkeyedSince.get(p.sub) > UNKEYED_GRACE_MS) problems.push(`${p.name || p.sub} is announced but holds no keys`);
  }
  for (const why of app.violations) problems.push(`the server relayed a change the room does not allow (${why})`);
  const alarm = $('alarm');
  const text = problems.length ? `Security alarm: ${problems.join('; ')}. Do not share anything sensitive until your host has checked.` : '';
  if (alarm.textContent !== text) alarm.textContent = text;
  alarm.hidden = !text;
}

function lockOf(p) {
  if (!app.inGroup) return ['pending', 'keys pending'];
  const inTree = [...app.leaves.values()].includes(p.sub);
  if (!inTree) return ['pending', 'keys pending'];
  const s = app.status.get(p.id);
  if (s?.state === 'failed') return ['failed', `cannot decrypt (${s.reason})`];
  return ['encrypted', 'encrypted'];
}

function render() {
  const list = $('participants');
  list.replaceChildren();
  for (const p of app.participants.values()) {
    const li = document.createElement('li');
    li.dataset.sub = p.sub;
    const [cls, text] = lockOf(p);
    const name = document.createElement('strong');
    name.textContent = p.name || p.sub;
    const role = document.createElement('span');
    role.textContent = ` (${p.role}${p.id === app.me?.id ? ', you' : ''})`;
    const lock = document.createElement('span');
    lock.className = `lock lock-${cls}`;
    lock.textContent = ` — ${text}`;
    const flags = document.createElement('span');
    // A participant whose connection dropped shows as such while the server holds its
    // seat, so its still tile is explained.
    flags.textContent = `${p.audio_muted ? ' — muted' : ''}${p.video_muted ? ' — camera off' : ''}${p.reconnecting ? ' — connection lost, reconnecting…' : ''}`;
    $(`tile-${p.id}`)?.classList.toggle('reconnecting', Boolean(p.reconnecting));
    li.append(name, role, lock, flags);
    if (app.me?.role === 'host' && p.id !== app.me.id) {
      const kick = document.createElement('button');
      kick.type = 'button';
      kick.className = 'small danger';
      kick.textContent = `Remove ${p.name || p.sub}`;
      kick.onclick = () => app.signal.request('kick', { sub: p.sub }).catch((e) => say(`Could not remove: ${e.code}`));
      li.append(' ', kick);
    }
    list.append(li);
  }
}

// scheduleExpiry warns five minutes before the access code expires (the server then logs
// the participant off) and offers to continue with a new code from the organiser.
function scheduleExpiry(expiresAt) {
  clearTimeout(app.expiryTimer);
  app.expiresAt = (typeof expiresAt === 'number' ? expiresAt : Date.parse(expiresAt)) || 0;
  $('expiry').hidden = true;
  if (!app.expiresAt) return;
  const warnIn = Math.max(0, app.expiresAt - Date.now() - 5 * 60 * 1000);
  app.expiryTimer = setTimeout(() => {
    const at = new Date(app.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    $('expiry-text').textContent = `Your access ends at ${at}. To stay longer, paste a new access code from the organiser.`;
    $('expiry').hidden = false;
  }, Math.min(warnIn, 2 ** 31 - 1));
}

function refresh(ev) {
  ev.preventDefault();
  const token = $('refresh-token').value.trim();
  $('refresh-token').value = '';
  if (!token) return;
  app.signal
    .request('refresh', { token })
    .then(() => {
      sessionStorage.setItem(TOKEN_KEY, token);
      // A resume after this presents the new token: the old one may have expired.
      app.token = token;
      app.signal.token = token;
      scheduleExpiry(JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000);
      say('Access extended.');
    })
    .catch((e) => say(`That access code was not accepted (${e.code ?? 'error'}).`));
}

// showSelf shows this participant's own camera, mirrored, apart from the others' tiles.
function showSelf() {
  const v = app.stream?.getVideoTracks()[0];
  $('self-view').hidden = !v;
  if (v) $('self-video').srcObject = new MediaStream([v]);
}

// showSpeaker highlights the tile of the participant the SFU hears speak loudest (from the
// audio level each microphone reports in the clear, RFC 6464); '' clears it.
function showSpeaker(id) {
  app.speaker = id;
  for (const t of document.querySelectorAll('#videos .tile')) t.classList.toggle('speaking', t.id === `tile-${id}`);
  document.body.dataset.speaker = id;
}

// showPaused marks every remote tile while the SFU pauses video to this participant because
// its connection cannot carry it (video_paused), and unmarks them when video resumes.
function showPaused(paused) {
  app.videoPaused = paused;
  app.layers.push({ paused, at: Date.now() });
  if (app.layers.length > 200) app.layers.shift();
  for (const t of document.querySelectorAll('#videos .tile')) markPaused(t);
}

function markPaused(tile) {
  let note = tile.querySelector('.paused');
  if (app.videoPaused && !note) {
    note = document.createElement('p');
    note.className = 'paused';
    note.textContent = 'Video paused to save bandwidth';
    tile.append(note);
  } else if (!app.videoPaused) note?.remove();
  tile.dataset.paused = app.videoPaused ? '1' : '';
}

// showLayer notes on a participant's tile which of its simulcast layers the SFU sends us
// (data-layer, data-layer-height), each time it switches; app.layers keeps the recent
// switches, pauses and resumes with their time, for diagnostics.
function showLayer(id, rid, height) {
  const tile = $(`tile-${id}`);
  if (tile) {
    tile.dataset.layer = rid;
    tile.dataset.layerHeight = String(height || '');
  }
  app.layers.push({ id, rid, height, at: Date.now() });
  if (app.layers.length > 200) app.layers.shift();
}

// tileSizes tells the SFU the height each participant's video is shown at, in device
// pixels, when its tile appears and whenever it changes size, so the SFU sends no layer
// taller than that. A tile's video is unobserved when the tile goes.
const tileSizes = new ResizeObserver((entries) => {
  for (const { target: video } of entries) {
    const h = Math.round(video.clientHeight * (globalThis.devicePixelRatio || 1));
    if (Math.abs(h - Number(video.dataset.sentHeight ?? -99)) < 8) continue;
    video.dataset.sentHeight = String(h);
    app.media?.view(video.dataset.participant, h);
  }
});

function removeTile(id) {
  const tile = $(`tile-${id}`);
  const video = tile?.querySelector('video');
  if (video) tileSizes.unobserve(video);
  tile?.remove();
}

function addTile(id, stream) {
  let tile = $(`tile-${id}`);
  if (!tile) {
    tile = document.createElement('figure');
    tile.className = 'tile';
    tile.id = `tile-${id}`;
    tile.dataset.sub = app.participants.get(id)?.sub ?? '';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.participant = id;
    // Join-to-first-frame: the worker hands the decoder decrypted frames only, so the first
    // presented frame is the first decrypted one.
    const first = () => {
      if (!app.firstFrames.has(id)) app.firstFrames.set(id, performance.now() - app.enteredAt);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(first);
    else video.addEventListener('loadeddata', first, { once: true });
    const cap = document.createElement('p');
    const p = app.participants.get(id);
    cap.textContent = p ? `${p.name || p.sub} (${p.role})` : 'participant';
    video.setAttribute('aria-label', `Video of ${cap.textContent}`);
    tile.append(video, cap);
    $('videos').append(tile);
    tileSizes.observe(video);
    markPaused(tile);
    tile.classList.toggle('speaking', app.speaker === id);
  }
  const video = tile.querySelector('video');
  if (video.srcObject !== stream) video.srcObject = stream;
}

// addChat shows a message under the name its MLS sender's credential carries; relayedFrom is
// who the server said sent it, shown when the two differ.
function addChat(from, text, ok, relayedFrom = from) {
  const li = document.createElement('li');
  const who = document.createElement('strong');
  who.textContent = relayedFrom !== from ? `${nameOf(from)} (the server said ${relayedFrom}): ` : `${nameOf(from)}: `;
  const body = document.createElement('span');
  body.textContent = ok ? text : '(a message that could not be decrypted)';
  if (!ok) body.className = 'lock-failed';
  li.append(who, body);
  $('chat-log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function nameOf(sub) {
  for (const p of app.participants.values()) if (p.sub === sub) return p.name || p.sub;
  return sub;
}

function setMute() {
  saveChoices();
  for (const t of app.stream?.getAudioTracks() ?? []) t.enabled = !app.audioMuted;
  for (const t of app.stream?.getVideoTracks() ?? []) t.enabled = !app.videoMuted;
  $('mute').setAttribute('aria-pressed', String(app.audioMuted));
  $('mute').textContent = app.audioMuted ? 'Unmute microphone' : 'Mute microphone';
  $('camera').setAttribute('aria-pressed', String(app.videoMuted));
  $('camera').textContent = app.videoMuted ? 'Turn camera on' : 'Turn camera off';
  app.signal?.request('mute', { audio_muted: app.audioMuted, video_muted: app.videoMuted }).catch(() => {});
}

// Screen sharing replaces the camera on the same sender, so it stays behind the same SFrame
// transform (no plaintext path) and needs no renegotiation; the camera comes back when the
// share ends (the button, or the browser's own "stop sharing").
async function toggleShare() {
  if (app.sharing) {
    stopShare();
    return;
  }
  let track;
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    [track] = display.getVideoTracks();
  } catch (e) {
    say(`Screen sharing did not start (${e?.name ?? 'error'}).`);
    return;
  }
  await startShare(track);
}

async function startShare(track) {
  if (!(await app.media?.replaceVideo(track))) {
    track.stop();
    say('Screen sharing needs a camera connection to replace; join with video first.');
    return;
  }
  app.sharing = track;
  track.addEventListener('ended', stopShare, { once: true });
  $('share').setAttribute('aria-pressed', 'true');
  $('share').textContent = 'Stop sharing';
  say('You are sharing your screen.');
}

function stopShare() {
  const track = app.sharing;
  if (!track) return;
  app.sharing = null;
  track.stop();
  app.media?.replaceVideo(app.stream?.getVideoTracks()[0] ?? null);
  $('share').setAttribute('aria-pressed', 'false');
  $('share').textContent = 'Share screen';
  say('Screen sharing stopped.');
}

function wire() {
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    app.token = $('token').value.trim();
    $('token').value = '';
    if (app.token) deviceCheck();
  });
  $('speaker-test').onclick = speakerTest;
  $('quality').onchange = changeQuality;
  $('share').onclick = toggleShare;
  $('refresh-form').addEventListener('submit', refresh);
  $('enter').onclick = enter;
  $('accept').onclick = () => app.signal.request('consent', { notice_version: app.noticeVersion }).catch((e) => say(`Consent failed: ${e.code}`));
  $('mute').onclick = () => {
    app.audioMuted = !app.audioMuted;
    setMute();
  };
  $('camera').onclick = () => {
    app.videoMuted = !app.videoMuted;
    setMute();
  };
  $('leave').onclick = () => {
    app.left = true;
    sessionStorage.removeItem(IN_MEETING_KEY);
    app.signal?.send('leave');
    app.sharing?.stop();
    app.stream?.getTracks().forEach((t) => t.stop());
  };
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('chat-input').value;
    if (!text) return;
    $('chat-input').value = '';
    app.member.sendChat(text).then(() => addChat(app.me.sub, text, true)).catch(() => say('Chat not sent: keys are not ready yet.'));
  });
  // For the browser test and for support: counts only, never keys or content.
  window.sealroomStats = () => app.media?.stats();
  window.sealroomAudio = () => app.media?.audioStats();
  window.sealroomMe = () => app.me?.id;
  window.sealroomErrors = () => app.errors.slice(-20);
  window.sealroomDropSignal = (forget) => app.signal?.drop(forget);
  window.sealroomResumes = () => app.signal?.resumes ?? 0;
  window.sealroomEnteredAt = () => app.enteredAt;
  // Headless Chromium has no screen to pick: the browser test shares a canvas through the
  // same path a picked screen takes after getDisplayMedia.
  window.sealroomShare = (track) => startShare(track);
  window.sealroomPC = () => app.media?.pc;
  window.sealroomMetrics = () => ({ firstFrameMs: Object.fromEntries(app.firstFrames), sharing: Boolean(app.sharing) });
  window.sealroomInbound = async () => {
    const out = [];
    (await app.media?.pc.getStats())?.forEach((r) => {
      if (r.type === 'inbound-rtp') out.push(`${r.kind}:${r.packetsReceived}:${r.framesDecoded ?? ''}:${r.keyFramesDecoded ?? ''}`);
    });
    return out;
  };
  window.sealroomLayers = () => app.layers.slice();
  // What the camera's sender encodes, per simulcast layer (rid): size, frames and bytes.
  window.sealroomOutbound = async () => {
    const out = [];
    (await app.media?.pc.getStats())?.forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video') out.push({ rid: r.rid ?? '', height: r.frameHeight ?? 0, frames: r.framesEncoded ?? 0, bytes: r.bytesSent ?? 0, limit: r.qualityLimitationReason ?? '' });
    });
    return out;
  };
  window.sealroomDebug = () => app.media && { status: $('status').textContent, ice: app.media.pc.iceConnectionState, sig: app.media.pc.signalingState, trace: app.media.trace.slice(-20), tr: app.media.pc.getTransceivers().map((t) => `${t.mid}:${t.direction}:${t.currentDirection}`) };
  // The invite link opened again in this tab: a fragment-only navigation does not reload.
  window.addEventListener('hashchange', () => {
    if (new URLSearchParams(location.hash.slice(1)).has('token')) location.reload();
  });
  const stored = sessionStorage.getItem(TOKEN_KEY);
  const fresh = takeFragmentToken();
  app.token = fresh || stored || '';
  // Back into the meeting this tab was in: a reload, or its own invite link opened again.
  const same = !fresh || fresh === stored;
  if (!app.token) show('join-view');
  else if (same && sessionStorage.getItem(IN_MEETING_KEY) === '1') rejoin();
  else deviceCheck();
}

// rejoin takes a reloaded page straight back into the meeting with the devices it had.
async function rejoin() {
  say('Rejoining the meeting…');
  restoreChoices();
  try {
    app.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: cameraConstraints() });
  } catch {
    app.stream = null; // still rejoin: to see, hear and chat
  }
  setMute(); // before any frame is sent; the room hears it once in (ready)
  enter();
}

wire();
