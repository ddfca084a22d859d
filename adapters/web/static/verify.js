// Human verification for sign-in and sign-up: the server's proof of work
// (solved here, in a worker, with a progress indicator), Cloudflare
// Turnstile's widget when the server is configured for it, or nothing.
// Each answer is good for one attempt, so a fresh one is prepared after
// every use.

import { api } from './net.js';
import { h } from './dom.js';

const TURNSTILE_SRC = 'https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit';
const STALE_MARGIN_MS = 15000;

export class Verification {
  constructor(config) {
    this.kind = config.verifier || 'none';
    this.siteKey = config.turnstileSiteKey || '';
    this.onProgress = () => {};
    this.solution = null; // {payload, expiresAt}
    this.solving = null; // promise of a solution
    this.worker = null;
    this.token = null; // Turnstile
    this.waiters = [];
    this.destroyed = false;
  }

  // mount renders the Turnstile widget into el (nothing for other kinds).
  mount(el) {
    if (this.kind !== 'turnstile') return;
    this.box = el;
    const render = () => {
      if (this.destroyed || !window.turnstile) return;
      this.widget = window.turnstile.render(el, {
        sitekey: this.siteKey,
        callback: (t) => {
          this.token = t;
          for (const w of this.waiters.splice(0)) w.resolve(t);
        },
        'expired-callback': () => (this.token = null),
        'error-callback': () => {
          this.token = null;
        },
      });
    };
    if (window.turnstile) {
      render();
      return;
    }
    const script = h('script', { src: TURNSTILE_SRC, async: true, defer: true });
    script.addEventListener('load', render);
    script.addEventListener('error', () => {
      el.append(h('p', { class: 'form-error' }, 'The security check could not load. Check your connection and reload the page.'));
      for (const w of this.waiters.splice(0)) w.reject(new Error('turnstile failed to load'));
    });
    document.head.append(script);
  }

  // prepare starts working on the next answer in the background.
  prepare() {
    if (this.kind === 'pow' && !this.fresh() && !this.solving) {
      this.solving = this.solve().then(
        (s) => {
          this.solution = s;
          this.solving = null;
          this.onProgress('ready', 1);
          return s;
        },
        (e) => {
          this.solving = null;
          this.onProgress('error', 0);
          throw e;
        },
      );
      this.solving.catch(() => {});
    }
  }

  fresh() {
    return this.solution && this.solution.expiresAt - Date.now() > STALE_MARGIN_MS;
  }

  // ready reports whether take can answer without the user's help: the
  // proof of work solves itself, Turnstile's widget may want a click.
  ready() {
    return this.kind !== 'turnstile' || !!this.token;
  }

  // take returns an answer for one login or sign-up and starts on the next.
  async take() {
    if (this.kind === 'pow') {
      if (!this.fresh()) {
        this.solution = null;
        this.prepare();
        await this.solving;
      }
      const s = this.solution;
      this.solution = null;
      return s.payload;
    }
    if (this.kind === 'turnstile') {
      let t = this.token;
      if (!t) t = await new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      this.token = null;
      if (window.turnstile && this.widget !== undefined) window.turnstile.reset(this.widget);
      return t;
    }
    return '';
  }

  async solve() {
    this.onProgress('solving', 0);
    const ch = await api('/api/auth/challenge', { method: 'POST', body: {} });
    const number = await this.search(ch);
    if (number < 0) throw new Error('no solution found');
    let expiresAt = Number(ch.expiresAt) || 0;
    if (!expiresAt) {
      const m = /[?&]expires=(\d+)/.exec(ch.salt || '');
      expiresAt = m ? Number(m[1]) * 1000 : Date.now() + 60000;
    }
    const json = JSON.stringify({ algorithm: ch.algorithm, challenge: ch.challenge, number, salt: ch.salt, signature: ch.signature });
    return { payload: base64(json), expiresAt };
  }

  // search runs the solver in a worker, or on this thread if workers are
  // unavailable.
  search(ch) {
    const task = { challenge: ch.challenge, salt: ch.salt, maxNumber: Number(ch.maxNumber) || 100000 };
    let worker;
    try {
      worker = new Worker(new URL('./pow-worker.js', import.meta.url), { type: 'module' });
    } catch {
      return import('./pow-core.js').then((m) => m.solve(task, (f) => this.onProgress('solving', f), () => this.destroyed));
    }
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.onmessage = (e) => {
        if (e.data.done) {
          worker.terminate();
          resolve(e.data.number);
        } else {
          this.onProgress('solving', e.data.progress);
        }
      };
      worker.onerror = () => {
        worker.terminate();
        import('./pow-core.js').then((m) => m.solve(task, (f) => this.onProgress('solving', f), () => this.destroyed)).then(resolve, reject);
      };
      worker.postMessage(task);
    });
  }

  destroy() {
    this.destroyed = true;
    if (this.worker) this.worker.terminate();
    if (this.kind === 'turnstile' && window.turnstile && this.widget !== undefined) window.turnstile.remove(this.widget);
  }
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
