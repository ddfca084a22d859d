// The client's two channels to the server: the HTTP API (one envelope per
// response) and the WebSocket, with reconnection, heartbeats and an outbox
// of frames that must be acknowledged.

import { store } from './dom.js';

// ApiError is a failed HTTP call: status 0 and code "network" when the
// server could not be reached at all.
export class ApiError extends Error {
  constructor(status, code, message, retryAfterMs) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs || 0;
  }
}

// api calls the HTTP API and returns the envelope's data.
export async function api(path, { method = 'GET', body, token, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', signal });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  let env = null;
  try {
    env = await res.json();
  } catch {
    /* not JSON: a proxy's error page */
  }
  if (!res.ok || !env || env.success !== true) {
    const err = (env && env.error) || {};
    let retry = err.retryAfterMs;
    if (!retry && res.headers.get('Retry-After')) retry = Number(res.headers.get('Retry-After')) * 1000;
    throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText || 'request failed', retry);
  }
  return env.data;
}

// Socket states, shown to the user.
export const CONNECTING = 'connecting';
export const ONLINE = 'online';
export const RECONNECTING = 'reconnecting';
export const ENDED = 'ended';

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const WELCOME_TIMEOUT_MS = 10000;
const STABLE_MS = 5000;

// Socket keeps one WebSocket to /ws open for as long as the session lasts:
// it says hello with the token and the last seq of every room it follows,
// sends heartbeats, and after any loss reconnects with exponential backoff
// and jitter. Close codes decide what happens next (PROTOCOL.md): 4002 ends
// the session, 4001 asks the app whether the session is still valid,
// anything else reconnects.
export class Socket {
  // opts: token() → string; resume() → {room: seq}; onFrame(frame);
  // onState(state, info); onEnded(reason); checkSession() → Promise<boolean>
  // (false: the session is gone).
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.state = null;
    this.welcomed = false;
    this.attempt = 0;
    this.timer = 0;
    this.stopped = true;
    this.heartbeatMs = 30000;
    this.retryAt = 0;
    this.lastRx = 0;
    this.goodbye = '';
    this.onOnline = () => this.state === RECONNECTING && this.connect();
    this.onVisible = () => document.visibilityState === 'visible' && this.state === RECONNECTING && this.connect();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    document.removeEventListener('visibilitychange', this.onVisible);
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.detach();
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closed */
      }
    }
  }

  isOnline() {
    return this.state === ONLINE && this.welcomed;
  }

  // send writes a frame if the socket is open and welcomed; false otherwise.
  send(frame) {
    if (!this.ws || !this.welcomed || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // retryNow skips the backoff wait.
  retryNow() {
    if (this.state === RECONNECTING) this.connect();
  }

  setState(state, info = {}) {
    this.state = state;
    this.opts.onState(state, info);
  }

  clearTimers() {
    clearTimeout(this.timer);
    clearTimeout(this.welcomeTimer);
    clearTimeout(this.stableTimer);
    clearInterval(this.beat);
  }

  detach() {
    const ws = this.ws;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.ws = null;
    this.welcomed = false;
  }

  connect() {
    this.clearTimers();
    if (this.stopped) return;
    if (this.ws) {
      const old = this.ws;
      this.detach();
      try {
        old.close(1000);
      } catch {
        /* ignore */
      }
    }
    this.setState(this.attempt === 0 && this.state !== RECONNECTING ? CONNECTING : RECONNECTING, { connecting: true, attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    this.goodbye = '';
    this.welcomeTimer = setTimeout(() => this.abandon(), WELCOME_TIMEOUT_MS);
    ws.onopen = () => {
      const hello = { type: 'hello', token: this.opts.token() };
      const resume = this.opts.resume();
      if (resume && Object.keys(resume).length) hello.resume = resume;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      this.lastRx = Date.now();
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!f || typeof f.type !== 'string') return;
      if (f.type === 'welcome') {
        this.welcomed = true;
        clearTimeout(this.welcomeTimer);
        const lim = f.limits || {};
        if (lim.heartbeatIntervalMs > 0) this.heartbeatMs = lim.heartbeatIntervalMs;
        this.startHeartbeat();
        this.stableTimer = setTimeout(() => (this.attempt = 0), STABLE_MS);
        this.setState(ONLINE);
        this.opts.onFrame(f);
        return;
      }
      if (f.type === 'goodbye') this.goodbye = f.reason || '';
      this.opts.onFrame(f);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.detach();
      this.closed(ev.code, this.goodbye);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  // abandon drops a socket that has gone quiet (no welcome, or no frame for
  // two heartbeats): a dead TCP connection may take minutes to report.
  abandon() {
    const ws = this.ws;
    if (!ws) return;
    this.detach();
    try {
      ws.close(4000, 'timeout');
    } catch {
      /* ignore */
    }
    this.closed(1006, '');
  }

  startHeartbeat() {
    clearInterval(this.beat);
    this.beat = setInterval(() => {
      if (Date.now() - this.lastRx > this.heartbeatMs * 2 + 10000) {
        this.abandon();
        return;
      }
      this.send({ type: 'heartbeat' });
    }, this.heartbeatMs);
  }

  async closed(code, reason) {
    this.clearTimers();
    if (this.stopped) return;
    if (code === 4002 || reason === 'logged_out' || reason === 'session_expired') {
      this.end(reason || 'session_expired');
      return;
    }
    if (code === 4001) {
      // The token was refused: find out whether the session is over or
      // the server merely could not tell (it restarted, the store lags).
      this.setState(RECONNECTING, { checking: true });
      let alive = true;
      try {
        alive = await this.opts.checkSession();
      } catch {
        alive = true; // unreachable: keep trying
      }
      if (this.stopped) return;
      if (!alive) {
        this.end('session_expired');
        return;
      }
    }
    this.schedule(code === 4008 || reason === 'slow_consumer');
  }

  end(reason) {
    this.stop();
    this.setState(ENDED, { reason });
    this.opts.onEnded(reason);
  }

  // schedule waits before the next attempt: exponential backoff with equal
  // jitter (half the window fixed, half random), so that clients cut off
  // together by a restart do not come back in one burst.
  schedule(soon = false) {
    const windowMs = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = soon && this.attempt === 0 ? 100 + Math.random() * 400 : windowMs / 2 + Math.random() * (windowMs / 2);
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.setState(RECONNECTING, { retryAt: this.retryAt });
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

const RESEND_AFTER_MS = 15000;

// Outbox holds the frames that expect an ack (chat, nudge, wink, room and
// profile changes) until the server answers. Frames are sent in the order
// queued; while offline they wait, and after every welcome they are sent
// again with the same id, which the server acknowledges once and only
// once. Posts (chat, nudge, wink) are also kept in sessionStorage, so a
// reload does not lose them.
export class Outbox {
  constructor(socket, key) {
    this.socket = socket;
    this.key = key;
    this.entries = new Map(); // id → {frame, persist, sentAt, resolve, reject}
    this.timer = 0;
    for (const frame of store.get(sessionStorage, key, [])) {
      if (frame && frame.id) this.entries.set(frame.id, { frame, persist: true, sentAt: 0 });
    }
  }

  // restored lists the posts kept from before a reload.
  restored() {
    return [...this.entries.values()].map((e) => e.frame);
  }

  // add queues a frame (it must have an id) and sends it when it can. The
  // promise resolves with the ack, or rejects with the error frame.
  add(frame, { persist = false } = {}) {
    return new Promise((resolve, reject) => {
      const prev = this.entries.get(frame.id);
      this.entries.set(frame.id, { frame, persist, sentAt: 0, resolve, reject });
      if (prev && prev.reject) prev.reject(Object.assign(new Error('superseded'), { code: 'superseded' }));
      this.save();
      this.pump();
    });
  }

  has(id) {
    return this.entries.has(id);
  }

  drop(id) {
    this.entries.delete(id);
    this.save();
  }

  save() {
    const frames = [...this.entries.values()].filter((e) => e.persist).map((e) => e.frame);
    store.set(sessionStorage, this.key, frames.length ? frames : undefined);
  }

  // pump sends every frame not sent on this connection yet, or sent long
  // ago without an answer (a frame the flood guard dropped).
  pump() {
    if (!this.socket.isOnline()) return;
    const now = Date.now();
    for (const e of this.entries.values()) {
      if (e.holdUntil && e.holdUntil > now) continue;
      if (e.sentAt && now - e.sentAt < RESEND_AFTER_MS) continue;
      if (!this.socket.send(e.frame)) return;
      e.sentAt = now;
    }
    clearTimeout(this.timer);
    if (this.entries.size) this.timer = setTimeout(() => this.pump(), 2000);
  }

  // reconnected marks every frame unsent: the new socket has not seen them.
  reconnected() {
    for (const e of this.entries.values()) e.sentAt = 0;
    this.pump();
  }

  // answered settles the entry of an ack or error frame; false if the id is
  // not ours.
  answered(frame) {
    const e = this.entries.get(frame.id);
    if (!e) return false;
    if (frame.type === 'error' && frame.code === 'unavailable') {
      // The store could not take it: the server asks for the same id again.
      e.sentAt = 0;
      e.holdUntil = Date.now() + Math.max(500, frame.retryAfterMs || 1000);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), Math.max(500, frame.retryAfterMs || 1000));
      return true;
    }
    this.entries.delete(frame.id);
    this.save();
    if (frame.type === 'ack') e.resolve && e.resolve(frame);
    else e.reject && e.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code, retryAfterMs: frame.retryAfterMs || 0, frame }));
    return true;
  }

  // throttled handles a rate_limited error without an id (the per-socket
  // flood guard dropped some frame): everything unanswered goes again
  // after the wait.
  throttled(retryAfterMs) {
    const at = Date.now() + Math.max(200, retryAfterMs || 1000);
    for (const e of this.entries.values()) {
      e.sentAt = 0;
      e.holdUntil = at;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), Math.max(200, retryAfterMs || 1000));
  }

  clear() {
    clearTimeout(this.timer);
    this.entries.clear();
    store.set(sessionStorage, this.key, undefined);
  }
}
