// The signaling WebSocket (docs/protocol.md "Signaling WebSocket"): one JSON envelope per
// frame, auth first, the token never in the URL. request() resolves on `ack` (or the answer
// carrying its id) and rejects with the server's {code, message} on `error`.
//
// A session outlives a dropped connection (docs/protocol.md, "Resume"): when the socket
// dies without a close from the server (1006), the page reconnects with jittered backoff
// for as long as the server keeps the session (ready's session_grace_ms; 30 s if it does
// not say) and resumes the session with the secret of the last ready or resumed;
// onReconnecting(ms) reports the outage, and the server's resumed message follows.
// 4000: window.sealroomDropSignal, a simulated loss; 4503: the room moved to another node.
const LOST = new Set([1006, 4000, 4503]);
const RESUME_WITHIN_MS = 30_000;

function signalURL() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/v1/signal`;
}

export class Signal {
  constructor(onMessage, onClose, onReconnecting = () => {}) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.onReconnecting = onReconnecting;
    this.pending = new Map();
    this.seq = 0;
  }

  open(token, resume) {
    this.token = token;
    const ws = new WebSocket(signalURL());
    this.ws = ws;
    ws.onopen = () => this.send('auth', resume ? { token, resume } : { token });
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      clearInterval(this.pinger);
      for (const p of this.pending.values()) p.reject({ code: 'closed' });
      this.pending.clear();
      // 1013 while resuming: no node could take the session at that moment (the room
      // between nodes, the database away): keep trying within the window.
      if ((LOST.has(ev.code) || (ev.code === 1013 && this.lostAt !== undefined)) && this.session && !this.closing) this.reconnect();
      else if (ev.code === 1013 && this.unavailable && !this.session && !this.closing) this.retryJoin();
      else this.onClose(ev.code);
    };
    // Clients send ping while a call is live (automatic logoff is for abandoned tabs).
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.send('ping'), 60_000);
  }

  // reconnect retries until the session is back (resumed arrives) or the window closes.
  reconnect() {
    const start = (this.lostAt ??= performance.now());
    const elapsed = performance.now() - start;
    if (elapsed > (this.resumeWithinMs ?? RESUME_WITHIN_MS)) {
      this.lostAt = undefined;
      this.onClose(4412);
      return;
    }
    this.onReconnecting(elapsed);
    this.backoff = Math.min(2000, (this.backoff ?? 50) * 2);
    setTimeout(() => {
      if (this.closing) return;
      this.open(this.token, this.resumeAuth());
    }, this.backoff / 2 + Math.random() * this.backoff);
  }

  // retryJoin tries the join again after the server said `unavailable` (no node could take
  // the room: the database or the cluster is briefly away), for up to a minute.
  retryJoin() {
    this.unavailable = false;
    const start = (this.refusedAt ??= performance.now());
    const elapsed = performance.now() - start;
    if (elapsed > 60_000) {
      this.onClose(1013);
      return;
    }
    this.onReconnecting(elapsed);
    this.backoff = Math.min(4000, (this.backoff ?? 250) * 2);
    setTimeout(() => {
      if (!this.closing) this.open(this.token);
    }, this.backoff / 2 + Math.random() * this.backoff);
  }

  // probeResume asks the server, on a socket of its own, whether the session the page gave
  // up on is still its own to take back. It resolves 'gone' when the page must join anew
  // (4412), 'unreachable' when no verdict came, or the close code of a final refusal: 4409
  // (a newer connection of the same participant holds the seat: another tab or device,
  // from which the page must not take the visit back), 4401 or 4403. A session that did
  // resume is let go at once: the page has torn its media down and joins anew.
  probeResume(timeoutMs = 10_000) {
    if (!this.session) return Promise.resolve('gone');
    return new Promise((resolve) => {
      let ws;
      try {
        ws = new WebSocket(signalURL());
      } catch {
        resolve('unreachable');
        return;
      }
      const done = (verdict) => {
        clearTimeout(timer);
        ws.onclose = ws.onmessage = null;
        ws.close(1000);
        resolve(verdict);
      };
      const timer = setTimeout(() => done('unreachable'), timeoutMs);
      ws.onopen = () => ws.send(JSON.stringify({ v: 1, type: 'auth', data: { token: this.token, resume: this.resumeAuth() } }));
      ws.onmessage = (ev) => {
        try {
          if (JSON.parse(ev.data).type === 'resumed') done('gone');
        } catch {
          // not ours to read
        }
      };
      ws.onclose = (ev) => {
        if (ev.code === 4412) done('gone');
        else if (ev.code === 4409 || ev.code === 4401 || ev.code === 4403) done(ev.code);
        else done('unreachable');
      };
    });
  }

  // resumeAuth is auth's resume: the session, its last secret, the last message received.
  resumeAuth() {
    return { session: this.session, secret: this.secret, last_seq: this.lastSeq ?? 0 };
  }

  // drop cuts the socket as a lost network would (for tests and fault drills); with
  // forget, the resume that follows presents a secret the server never issued, so it is
  // refused as a session the server no longer holds would be.
  drop(forget) {
    if (forget) this.secret = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    this.ws?.close(4000, 'simulated network loss');
  }

  send(type, data, id) {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    const env = { v: 1, type };
    if (id) env.id = id;
    if (data !== undefined) env.data = data;
    this.ws.send(JSON.stringify(env));
  }

  request(type, data, timeoutMs = 15_000) {
    const id = `c-${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject({ code: 'timeout' });
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.send(type, data, id);
    });
  }

  receive(text) {
    let env;
    try {
      env = JSON.parse(text);
    } catch {
      return;
    }
    if (env.seq) {
      if (env.seq <= (this.lastSeq ?? 0)) return; // sent again after a resume, and we had it
      this.lastSeq = env.seq;
    }
    if (env.type === 'error' && env.data?.code === 'unavailable' && !this.session) this.unavailable = true;
    if (env.type === 'ready' || env.type === 'resumed') {
      this.refusedAt = undefined;
      this.session = env.data?.participant?.id;
      this.secret = env.data?.resume;
      this.resumeWithinMs = env.data?.session_grace_ms || RESUME_WITHIN_MS;
      this.lostAt = undefined;
      this.backoff = undefined;
      this.resumes = (this.resumes ?? 0) + (env.type === 'resumed' ? 1 : 0);
      // The server keeps the secret this resume presented until we say we hold the new
      // one: a socket that dies before resumed arrives leaves us only the old one.
      if (env.type === 'resumed') this.send('resume_ack');
    }
    const p = env.id && this.pending.get(env.id);
    if (p && (env.type === 'ack' || env.type === 'error' || env.type === 'pong')) {
      this.pending.delete(env.id);
      if (env.type === 'error') p.reject(env.data ?? {});
      else p.resolve(env.data);
      return;
    }
    this.onMessage(env);
  }

  close() {
    this.closing = true;
    clearInterval(this.pinger);
    this.ws?.close();
  }
}
