// The signaling WebSocket (docs/protocol.md "Signaling WebSocket"): one JSON envelope per
// frame, auth first, the token never in the URL. request() resolves on `ack` (or the answer
// carrying its id) and rejects with the server's {code, message} on `error`.
export class Signal {
  constructor(onMessage, onClose) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.pending = new Map();
    this.seq = 0;
  }

  open(token) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(`${proto}//${location.host}/v1/signal`);
    this.ws.onopen = () => this.send('auth', { token });
    this.ws.onmessage = (ev) => this.receive(ev.data);
    this.ws.onclose = (ev) => {
      clearInterval(this.pinger);
      for (const p of this.pending.values()) p.reject({ code: 'closed' });
      this.pending.clear();
      this.onClose(ev.code);
    };
    // Clients send ping while a call is live (automatic logoff is for abandoned tabs).
    this.pinger = setInterval(() => this.send('ping'), 60_000);
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
    clearInterval(this.pinger);
    this.ws?.close();
  }
}
