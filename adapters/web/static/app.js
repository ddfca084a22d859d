// Switchboard's browser client: start-up, the session, the sign-in screen,
// and the model the contact list and the conversation windows render.
//
// The model: users (directory and presence) and rooms, each room holding
// its messages by seq, its last seq (for resuming), the posts still
// waiting for an ack, who is typing and how far each member has read. The
// WebSocket (net.js) feeds it; views are told what changed.

import { h, replace, store, randomId } from './dom.js';
import { logo, unlockAudio, setMuted, play } from './art.js';
import { api, ApiError, Socket, Outbox, ONLINE, ENDED } from './net.js';
import { Verification } from './verify.js';
import { createContacts } from './contacts.js';
import { createChat } from './chat.js';
import { STATUS_LABELS, reasonText } from './words.js';

const SESSION_KEY = 'sb.session';
const FLASH_KEY = 'sb.flash'; // a message for the next sign-in page
const root = document.getElementById('app');


// ------------------------------------------------------------------ start

let config = null;

async function boot() {
  setMuted(store.get(localStorage, 'sb.muted', false));
  document.addEventListener('pointerdown', unlockAudio, { capture: true });
  document.addEventListener('keydown', unlockAudio, { capture: true });
  replace(root, h('div', { class: 'loading', role: 'status' }, logo(48), h('p', {}, 'Starting Switchboard…')));
  for (let attempt = 0; ; attempt++) {
    try {
      config = await api('/api/config');
      break;
    } catch (e) {
      replace(root, h('div', { class: 'loading', role: 'alert' }, logo(48), h('p', {}, 'Switchboard cannot be reached. Retrying…'),
        h('button', { type: 'button', onclick: () => location.reload() }, 'Retry now')));
      await sleep(Math.min(15000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2));
    }
  }
  const saved = store.get(localStorage, SESSION_KEY, null);
  const flash = store.get(sessionStorage, FLASH_KEY, null);
  store.set(sessionStorage, FLASH_KEY, undefined);
  if (!saved || !saved.token) {
    showSignIn(flash);
    return;
  }
  try {
    const me = await api('/api/auth/me', { token: saved.token });
    saved.user = me.user;
    saved.expiresAt = me.expiresAt;
    store.set(localStorage, SESSION_KEY, saved);
    startMain(saved);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      store.set(localStorage, SESSION_KEY, undefined);
      showSignIn(e.code === 'session_expired' ? 'Your session expired. Please sign in again.' : 'Please sign in again.');
    } else {
      // The server is unreachable: show what we had and keep reconnecting.
      startMain(saved);
    }
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------------ sign-in

// errorText turns an API error into something to show a person.
function errorText(e) {
  if (!(e instanceof ApiError)) return 'Something went wrong. Please try again.';
  const wait = e.retryAfterMs ? ` Try again in ${Math.ceil(e.retryAfterMs / 1000)} s.` : ' Try again in a minute.';
  switch (e.code) {
    case 'invalid_credentials':
      return "That handle and password don't match.";
    case 'handle_taken':
      return 'That handle is taken. Please choose another.';
    case 'too_many_attempts':
      return 'Too many attempts.' + wait;
    case 'verification_failed':
      return 'The check that you are human failed. Please try again.';
    case 'unavailable':
      return 'The server is busy.' + wait;
    case 'network':
      return e.message;
  }
  return e.message || 'Something went wrong. Please try again.';
}

function showSignIn(message) {
  document.title = 'Sign in — Switchboard';
  document.body.className = 'signin-page';
  const limits = config.limits || {};
  const verification = new Verification(config);
  const notice = h('div', { class: 'signin-notice', role: 'alert', hidden: !message }, message || '');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Human check progress' });
  const progressText = h('span', {}, '');
  const verifyBox = h('div', { class: 'verify', role: 'status', hidden: config.verifier !== 'pow' }, progress, progressText);
  const turnstileBox = h('div', { class: 'turnstile', hidden: config.verifier !== 'turnstile' });
  verification.onProgress = (state, fraction) => {
    verifyBox.dataset.state = state;
    progress.value = state === 'ready' ? 1 : fraction;
    progressText.textContent =
      state === 'ready' ? 'Human check done ✓' : state === 'error' ? 'The human check could not start; it will retry when you sign in.' : `Checking you're human… ${Math.round(fraction * 100)}%`;
  };
  verification.mount(turnstileBox);

  let busy = false;
  const setBusy = (b) => {
    busy = b;
    for (const btn of root.querySelectorAll('.signin button[type=submit], .demo-accounts button')) btn.disabled = b;
  };

  async function signIn(handle, password, status) {
    if (busy) return;
    error.textContent = '';
    notice.hidden = true;
    if (!verification.ready()) {
      error.textContent = 'Please complete the security check first.';
      return;
    }
    setBusy(true);
    try {
      const body = { handle, verification: await verification.take() };
      if (password) body.password = password;
      const data = await api('/api/auth/login', { method: 'POST', body });
      const session = { token: data.token, expiresAt: data.expiresAt, handle: data.user.handle, user: data.user, status };
      store.set(localStorage, SESSION_KEY, session);
      verification.destroy();
      startMain(session);
    } catch (e) {
      error.textContent = errorText(e);
      setBusy(false);
      verification.prepare();
    }
  }

  const loginHandle = h('input', { id: 'login-handle', name: 'handle', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: false });
  const loginPassword = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password' });
  const loginStatus = h('select', { id: 'login-status', name: 'status' },
    ['online', 'busy', 'away', 'invisible'].map((v) => h('option', { value: v }, STATUS_LABELS[v])));
  const loginForm = h('form', { class: 'signin-form', id: 'login-form', 'aria-label': 'Sign in', novalidate: true },
    field('Handle', loginHandle), field('Password', loginPassword), field('Sign in as', loginStatus),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  loginForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const handle = loginHandle.value.trim();
    if (!handle) {
      error.textContent = 'Enter your handle.';
      loginHandle.focus();
      return;
    }
    if (!loginPassword.value && !config.demo) {
      error.textContent = 'Enter your password.';
      loginPassword.focus();
      return;
    }
    signIn(handle, loginPassword.value, loginStatus.value);
  });

  const regHandle = h('input', { id: 'reg-handle', name: 'handle', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: false,
    minLength: limits.minHandleChars || 3, maxLength: limits.maxHandleChars || 32 });
  const regName = h('input', { id: 'reg-name', name: 'displayName', autocomplete: 'nickname', required: true, maxLength: limits.maxDisplayNameChars || 50 });
  const regPassword = h('input', { id: 'reg-password', name: 'password', type: 'password', autocomplete: 'new-password', required: true,
    minLength: limits.minPasswordChars || 8, maxLength: limits.maxPasswordChars || 128 });
  const regConfirm = h('input', { id: 'reg-confirm', name: 'confirm', type: 'password', autocomplete: 'new-password', required: true });
  const handleHint = `${limits.minHandleChars || 3}–${limits.maxHandleChars || 32} characters: letters, digits, '_', '.' and '-'.`;
  const regForm = h('form', { class: 'signin-form', id: 'register-form', 'aria-label': 'Create an account', novalidate: true, hidden: true },
    field('Handle', regHandle, handleHint), field('Display name', regName), field('Password', regPassword, `At least ${limits.minPasswordChars || 8} characters.`),
    field('Confirm password', regConfirm), h('button', { type: 'submit', class: 'primary' }, 'Create account'));
  regForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    error.textContent = '';
    if (!regHandle.value.trim() || !regName.value.trim()) {
      error.textContent = 'Choose a handle and a display name.';
      return;
    }
    if (regPassword.value.length < (limits.minPasswordChars || 8)) {
      error.textContent = `The password needs at least ${limits.minPasswordChars || 8} characters.`;
      regPassword.focus();
      return;
    }
    if (regPassword.value !== regConfirm.value) {
      error.textContent = "The passwords don't match.";
      regConfirm.focus();
      return;
    }
    if (!verification.ready()) {
      error.textContent = 'Please complete the security check first.';
      return;
    }
    setBusy(true);
    try {
      const verificationToken = await verification.take();
      await api('/api/auth/register', { method: 'POST', body: { handle: regHandle.value.trim(), displayName: regName.value.trim(), password: regPassword.value, verification: verificationToken } });
    } catch (err) {
      error.textContent = errorText(err);
      setBusy(false);
      verification.prepare();
      return;
    }
    setBusy(false);
    verification.prepare();
    if (verification.ready()) {
      await signIn(regHandle.value.trim(), regPassword.value, 'online');
      return;
    }
    // Turnstile wants another check for the sign-in itself.
    loginHandle.value = regHandle.value.trim();
    loginPassword.value = regPassword.value;
    select(false);
    notice.textContent = 'Your account is ready. Complete the security check and sign in.';
    notice.hidden = false;
  });

  const tabLogin = h('button', { type: 'button', role: 'tab', id: 'tab-login', 'aria-selected': 'true', 'aria-controls': 'login-form' }, 'Sign in');
  const tabReg = h('button', { type: 'button', role: 'tab', id: 'tab-register', 'aria-selected': 'false', 'aria-controls': 'register-form', tabindex: -1 }, 'Create account');
  const select = (reg) => {
    tabLogin.setAttribute('aria-selected', String(!reg));
    tabReg.setAttribute('aria-selected', String(reg));
    tabLogin.tabIndex = reg ? -1 : 0;
    tabReg.tabIndex = reg ? 0 : -1;
    loginForm.hidden = reg;
    regForm.hidden = !reg;
    error.textContent = '';
    (reg ? regHandle : loginHandle).focus();
  };
  tabLogin.addEventListener('click', () => select(false));
  tabReg.addEventListener('click', () => select(true));
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Sign in or create an account' }, tabLogin, tabReg);
  tabs.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      select(tabLogin.getAttribute('aria-selected') === 'true');
      (tabLogin.getAttribute('aria-selected') === 'true' ? tabLogin : tabReg).focus();
    }
  });

  let demo = null;
  if (config.demo && Array.isArray(config.demoAccounts) && config.demoAccounts.length) {
    demo = h('section', { class: 'demo-accounts', 'aria-labelledby': 'demo-title' },
      h('h2', { id: 'demo-title' }, 'Demo accounts'),
      h('p', {}, 'This server runs in demo mode: pick an account, no password needed.'),
      h('div', { class: 'demo-grid' }, config.demoAccounts.map((a) =>
        h('button', { type: 'button', dataset: { handle: a.handle }, onclick: () => signIn(a.handle, '', loginStatus.value) }, a.displayName || a.handle))));
  }

  replace(root, h('main', { class: 'signin' },
    h('section', { class: 'window signin-window', 'aria-labelledby': 'signin-title' },
      h('header', { class: 'titlebar' }, logo(18), h('span', {}, 'Switchboard')),
      h('div', { class: 'signin-body' },
        h('div', { class: 'brand' }, logo(64), h('div', {}, h('h1', { id: 'signin-title' }, 'Switchboard'), h('p', {}, 'Messenger, back from 2005.'))),
        notice, tabs, loginForm, regForm, error, verifyBox, turnstileBox)),
    demo));
  verification.prepare();
  loginHandle.focus();
}

function field(label, input, hint) {
  const id = input.id;
  const hintEl = hint ? h('small', { id: id + '-hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

// ------------------------------------------------------------------ the app

function startMain(session) {
  const app = new App(session);
  app.start();
}

class App {
  constructor(session) {
    this.session = session;
    this.config = config;
    this.limits = { ...(config.limits || {}) };
    this.me = { status: 'online', ...session.user, handle: session.handle };
    this.users = new Map();
    this.rooms = new Map();
    this.skew = 0; // server clock minus ours
    this.conn = { state: 'connecting', info: {} };
    this.welcomed = false;
    this.signedInStatus = session.status;
    delete session.status;
    store.set(localStorage, SESSION_KEY, session);

    this.socket = new Socket({
      token: () => this.session.token,
      resume: () => this.resumePoints(),
      onFrame: (f) => this.onFrame(f),
      onState: (state, info) => this.onConnState(state, info),
      onEnded: (reason) => this.ended(reason),
      checkSession: () => this.checkSession(),
    });
    this.outbox = new Outbox(this.socket, 'sb.outbox.' + session.handle);
  }

  start() {
    document.body.className = 'main-page view-contacts';
    document.title = 'Switchboard';
    const contactsEl = h('div', { class: 'contacts-slot' });
    const workspace = h('div', { class: 'workspace', id: 'workspace' });
    const taskbar = h('nav', { class: 'taskbar', 'aria-label': 'Open conversations' });
    this.toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });
    replace(root, h('div', { class: 'shell' }, contactsEl, workspace, taskbar), this.toasts);
    this.contacts = createContacts(this, contactsEl);
    this.chat = createChat(this, workspace, taskbar);
    this.addUser(this.me);
    // Posts kept from before a reload go back into their rooms, and out
    // again with the same ids once connected.
    for (const frame of this.outbox.restored()) this.track(frame);
    this.loadDirectory();
    this.socket.start();
    window.addEventListener('pagehide', () => this.socket.stop());
    window.addEventListener('pageshow', (e) => e.persisted && this.socket.start());
  }

  // ----- directory and rooms

  async loadDirectory() {
    try {
      const [u, r] = await Promise.all([
        api('/api/users', { token: this.session.token }),
        api('/api/rooms', { token: this.session.token }),
      ]);
      for (const user of u.users || []) this.addUser(user);
      this.applyRoomList(r.rooms || []);
      this.directoryLoaded = true;
      this.contacts.render();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) this.checkSession().then((ok) => !ok && this.ended('session_expired'));
      // Otherwise the next welcome tries again.
    }
  }

  // refreshRooms reloads the room list soon (changes close together share
  // one request); the promise resolves once a list fetched after the call
  // is applied.
  refreshRooms() {
    if (this.roomsQueued) return this.roomsQueued;
    const after = this.roomsFetch || Promise.resolve();
    this.roomsQueued = after.then(() => sleep(150)).then(() => {
      this.roomsQueued = null;
      this.roomsFetch = api('/api/rooms', { token: this.session.token })
        .then((r) => this.applyRoomList(r.rooms || []))
        .catch(() => {}) // the next change or welcome retries
        .finally(() => (this.roomsFetch = null));
      return this.roomsFetch;
    });
    return this.roomsQueued;
  }

  applyRoomList(list) {
    const seen = new Set();
    for (const info of list) {
      seen.add(info.id);
      const room = this.ensureRoom(info.id);
      room.name = info.name || '';
      room.visibility = info.visibility || room.visibility;
      if (Array.isArray(info.members) && info.members.length) room.members = info.members;
      room.invited = !!info.invited;
      room.listed = true;
      if (!room.loaded && typeof info.lastSeq === 'number') room.serverSeq = info.lastSeq;
      this.chat.roomChanged(room.id);
    }
    for (const room of this.rooms.values()) if (!seen.has(room.id) && !room.joined) room.listed = false;
    this.contacts.render();
  }

  addUser(u) {
    const handle = u.handle || u.user;
    if (!handle) return null;
    const prev = this.users.get(handle) || { handle, status: 'offline', displayName: handle, personalMessage: '', avatar: '', bot: false };
    const next = { ...prev };
    for (const k of ['displayName', 'personalMessage', 'avatar', 'status']) if (typeof u[k] === 'string' && (u[k] || k === 'personalMessage')) next[k] = u[k];
    if (typeof u.bot === 'boolean') next.bot = u.bot;
    this.users.set(handle, next);
    if (handle === this.me.handle) Object.assign(this.me, next);
    return { prev, next };
  }

  user(handle) {
    return this.users.get(handle) || { handle, displayName: handle, status: 'offline', personalMessage: '', avatar: '' };
  }

  displayName(handle, fallback) {
    const u = this.users.get(handle);
    return (u && u.displayName) || fallback || handle || 'Someone';
  }

  ensureRoom(id) {
    let room = this.rooms.get(id);
    if (!room) {
      room = {
        id, name: '', visibility: id.startsWith('dm_') ? 'direct' : '', members: [], joined: false, invited: false, listed: false,
        loaded: false, complete: false, lastSeq: 0, serverSeq: 0, msgs: new Map(), pending: new Map(),
        typing: new Map(), receipts: new Map(), readSent: 0, readSeq: 0, unread: 0, filling: false,
      };
      this.rooms.set(id, room);
    }
    return room;
  }

  // peer is the other user of a direct room.
  peer(room) {
    if (room.visibility !== 'direct') return null;
    return room.members.find((m) => m !== this.me.handle) || null;
  }

  roomTitle(room) {
    if (room.visibility === 'direct') {
      const p = this.peer(room);
      return p ? this.displayName(p) : 'Direct conversation';
    }
    return room.name || room.id;
  }

  dmWith(handle) {
    for (const room of this.rooms.values()) if (room.visibility === 'direct' && room.members.includes(handle) && room.members.includes(this.me.handle)) return room;
    return null;
  }

  // resumePoints are the last seqs of the rooms whose messages we hold.
  resumePoints() {
    const out = {};
    for (const room of this.rooms.values()) if (room.joined && room.msgs.size > 0 && room.lastSeq > 0) out[room.id] = room.lastSeq;
    return out;
  }

  // ----- connection

  onConnState(state, info) {
    this.conn = { state, info };
    document.body.classList.toggle('conn-down', state !== ONLINE);
    this.contacts.connChanged();
    this.chat.connChanged();
  }

  async checkSession() {
    try {
      const me = await api('/api/auth/me', { token: this.session.token });
      this.session.expiresAt = me.expiresAt;
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return false;
      throw e;
    }
  }

  // ended returns to the sign-in page with a message. The page reloads,
  // so nothing of this session's state survives into the next one.
  ended(reason) {
    this.socket.stop();
    this.outbox.clear();
    store.set(localStorage, SESSION_KEY, undefined);
    const messages = {
      session_expired: 'Your session expired. Please sign in again.',
      logged_out: 'You were signed out (perhaps in another window).',
      signed_out: 'You have signed out.',
    };
    store.set(sessionStorage, FLASH_KEY, messages[reason] || 'Your session ended. Please sign in again.');
    location.reload();
  }

  async signOut() {
    this.socket.stop();
    try {
      await api('/api/auth/logout', { method: 'POST', token: this.session.token, body: {} });
    } catch {
      /* the session ends on its own */
    }
    this.ended('signed_out');
  }

  // ----- frames

  onFrame(f) {
    switch (f.type) {
      case 'welcome':
        return this.onWelcome(f);
      case 'ack':
        this.outbox.answered(f);
        return;
      case 'error':
        if (f.id && this.outbox.answered(f)) return;
        if (f.code === 'rate_limited') {
          this.outbox.throttled(f.retryAfterMs);
          this.toast('Slow down a little: the server is limiting how fast you send.', 'warn', 'rate');
        } else if (f.code !== 'not_member') {
          this.toast(f.message || f.code, 'error');
        }
        return;
      case 'history':
        return this.onHistory(f.room, f.messages || [], f.complete);
      case 'message':
        return this.onMessage(f.room, f.message, true);
      case 'member':
        return this.onMember(f);
      case 'typing':
        return this.onTyping(f);
      case 'receipt':
        return this.onReceipt(f);
      case 'presence':
        return this.onPresence(f);
      case 'heartbeat':
        if (f.at) this.skew = f.at - Date.now();
        if (f.expiresAt) {
          this.session.expiresAt = f.expiresAt;
          store.set(localStorage, SESSION_KEY, this.session);
        }
        return;
    }
  }

  onWelcome(w) {
    const first = !this.welcomed;
    this.welcomed = true;
    this.welcomedAt = Date.now();
    if (w.expiresAt) {
      this.session.expiresAt = w.expiresAt;
      store.set(localStorage, SESSION_KEY, this.session);
    }
    Object.assign(this.limits, w.limits || {});
    if (w.user) {
      this.addUser(w.user);
      Object.assign(this.me, w.user);
      this.session.user = { ...this.me };
      store.set(localStorage, SESSION_KEY, this.session);
    }
    for (const p of w.presence || []) this.addUser(p);
    const joined = new Set();
    for (const info of w.rooms || []) {
      joined.add(info.id);
      const room = this.ensureRoom(info.id);
      room.joined = true;
      room.invited = false;
      if (info.name) room.name = info.name;
      if (info.visibility) room.visibility = info.visibility;
      if (Array.isArray(info.members) && info.members.length) room.members = info.members;
      room.serverSeq = info.lastSeq || 0;
      if (!room.msgs.size) room.lastSeq = Math.max(room.lastSeq, room.serverSeq);
    }
    for (const room of this.rooms.values()) {
      if (!joined.has(room.id)) room.joined = false;
      // Typing indicators do not survive a reconnect; the server sends
      // fresh ones.
      for (const timer of room.typing.values()) clearTimeout(timer);
      room.typing.clear();
    }
    this.outbox.reconnected();
    this.loadDirectory();
    if (first) {
      if (this.signedInStatus && this.signedInStatus !== this.me.status) this.setPresence({ status: this.signedInStatus });
      this.chat.restore();
    } else {
      // Open windows whose history never arrived (the join was lost).
      for (const id of this.chat.openIds()) {
        const room = this.rooms.get(id);
        if (room && !room.loaded) this.join(id);
      }
    }
    this.contacts.render();
    for (const room of this.rooms.values()) this.chat.roomChanged(room.id);
  }

  onHistory(roomId, msgs, complete) {
    const room = this.ensureRoom(roomId);
    room.joined = true;
    room.invited = false;
    const fresh = msgs.filter((m) => !room.msgs.has(m.seq));
    const oldest = room.msgs.size ? Math.min(...room.msgs.keys()) : Infinity;
    if (!room.loaded || msgs.length === 0 || msgs[0].seq <= oldest) room.complete = !!complete;
    for (const m of fresh) this.store(room, m);
    room.loaded = true;
    this.clearAcked(room);
    this.chat.addMessages(roomId, fresh, false);
    this.contacts.render();
  }

  store(room, m) {
    room.msgs.set(m.seq, m);
    if (m.seq > room.lastSeq) room.lastSeq = m.seq;
    if (m.sender && room.visibility === 'direct' && room.members.length < 2 && m.sender !== this.me.handle) room.members = [this.me.handle, m.sender];
  }

  onMessage(roomId, m, live) {
    if (!m || typeof m.seq !== 'number') return;
    const room = this.ensureRoom(roomId);
    if (!room.listed && !room.name && room.visibility !== 'direct') this.refreshRooms();
    if (room.msgs.has(m.seq)) return; // never show a message twice
    const gap = room.loaded && room.lastSeq > 0 && m.seq > room.lastSeq + 1;
    const from = room.lastSeq;
    room.joined = true;
    this.store(room, m);
    if (gap) this.fillGap(room, from, m.seq);
    if (m.sender) this.setTyping(room, m.sender, false);
    this.clearAcked(room);
    const mine = m.sender === this.me.handle;
    const recent = live && Math.abs(Date.now() + this.skew - m.at) < 20000;
    if (!mine && m.kind !== 'system') {
      const open = this.chat.isOpen(roomId);
      if (!open && room.visibility !== 'public') this.chat.open(roomId, { focus: false });
      if (!this.chat.isSeen(roomId)) {
        room.unread++;
        if (recent && m.kind !== 'nudge' && m.kind !== 'wink') play('message');
      }
    }
    if (!room.loaded && this.chat.isOpen(roomId)) this.join(roomId);
    this.chat.addMessages(roomId, [m], live);
    if (recent && m.kind === 'nudge') this.chat.nudge(roomId, mine);
    if (recent && m.kind === 'wink') this.chat.wink(roomId, m);
    this.contacts.render();
    this.updateTitle();
  }

  // fillGap fetches messages missing between two seqs. The server promises
  // none are ever missing; this is the belt to its braces.
  async fillGap(room, from, to) {
    try {
      const data = await api(`/api/rooms/${encodeURIComponent(room.id)}/messages?before=${to}&limit=${Math.min(100, to - from - 1)}`, { token: this.session.token });
      const fresh = (data.messages || []).filter((m) => !room.msgs.has(m.seq));
      for (const m of fresh) this.store(room, m);
      this.clearAcked(room);
      this.chat.addMessages(room.id, fresh, false);
    } catch {
      /* the next reconnect resumes from lastSeq */
    }
  }

  // loadOlder fetches the page before the oldest message held.
  async loadOlder(room) {
    if (room.complete || room.loadingOlder) return 0;
    room.loadingOlder = true;
    try {
      const before = room.msgs.size ? Math.min(...room.msgs.keys()) : room.lastSeq + 1;
      if (before <= 1) {
        room.complete = true;
        return 0;
      }
      const data = await api(`/api/rooms/${encodeURIComponent(room.id)}/messages?before=${before}&limit=50`, { token: this.session.token });
      const fresh = (data.messages || []).filter((m) => !room.msgs.has(m.seq));
      for (const m of fresh) room.msgs.set(m.seq, m);
      room.complete = !!data.complete || fresh.length === 0;
      this.chat.addMessages(room.id, fresh, false);
      return fresh.length;
    } catch (e) {
      this.toast('Older messages could not be loaded: ' + errorText(e), 'error');
      return 0;
    } finally {
      room.loadingOlder = false;
    }
  }

  onMember(f) {
    const room = this.ensureRoom(f.room);
    if (f.user === this.me.handle) {
      if (f.change === 'joined') {
        room.joined = true;
        room.invited = false;
      } else if (f.change === 'left') {
        room.joined = false;
        room.loaded = false;
        this.chat.close(room.id);
      } else if (f.change === 'invited') {
        room.invited = true;
        this.refreshRooms().then(() => {
          const t = this.toast(`You are invited to ${this.roomTitle(room)}.`, 'info', null,
            h('button', { type: 'button', onclick: () => { t.remove(); this.openRoom(room.id); } }, 'Join'));
        });
      }
      this.refreshRooms();
    } else {
      if (f.change === 'joined' && room.visibility === 'direct' && !room.members.includes(f.user)) room.members = [this.me.handle, f.user];
      const name = this.displayName(f.user);
      const text = { joined: `${name} has joined the conversation.`, left: `${name} has left the conversation.`, invited: `${name} was invited.` }[f.change];
      // A direct room's peer "joins" when it is created: not news.
      if (text && !(room.visibility === 'direct' && f.change === 'joined')) this.chat.notice(room.id, text);
      if (f.change === 'left') this.setTyping(room, f.user, false);
    }
    this.contacts.render();
  }

  onTyping(f) {
    if (f.user === this.me.handle) return;
    const room = this.ensureRoom(f.room);
    this.setTyping(room, f.user, !!f.typing);
  }

  // setTyping shows or clears a typing indicator. The server clears it
  // after its TTL; the local timer is only a safety net for a lost frame.
  setTyping(room, user, on) {
    const prev = room.typing.get(user);
    if (prev) clearTimeout(prev);
    if (on) {
      const ttl = (this.limits.typingTtlMs || 3000) + 3000;
      room.typing.set(user, setTimeout(() => this.setTyping(room, user, false), ttl));
    } else {
      room.typing.delete(user);
      if (!prev) return;
    }
    this.chat.typingChanged(room.id);
  }

  onReceipt(f) {
    const room = this.ensureRoom(f.room);
    if ((room.receipts.get(f.user) || 0) >= f.seq) return;
    room.receipts.set(f.user, f.seq);
    if (f.user === this.me.handle) {
      room.readSeq = Math.max(room.readSeq, f.seq);
      if (room.readSeq >= room.lastSeq) room.unread = 0;
      this.contacts.render();
      this.updateTitle();
    }
    this.chat.receiptsChanged(room.id);
  }

  onPresence(f) {
    const change = this.addUser(f);
    if (!change) return;
    const { prev, next } = change;
    // After a reconnect everyone comes back at once: that is not news.
    const settled = Date.now() - this.welcomedAt > 10000;
    if (f.user !== this.me.handle && !next.bot && prev.status === 'offline' && next.status !== 'offline' && settled) {
      this.toast(`${next.displayName} has just signed in.`, 'online', 'online-' + f.user);
      play('online');
    }
    this.contacts.render();
    for (const room of this.rooms.values()) if (room.visibility === 'direct' && room.members.includes(f.user)) this.chat.roomChanged(room.id);
    if (f.user === this.me.handle) this.chat.meChanged();
  }

  // ----- actions

  // request sends a frame that expects an ack (queued while offline).
  request(frame) {
    return this.outbox.add({ ...frame, id: randomId('r') });
  }

  join(roomId) {
    const room = this.ensureRoom(roomId);
    if (room.joining) return room.joining;
    room.joining = this.request({ type: 'join', room: roomId })
      .then(() => {
        room.joined = true;
        room.invited = false;
        this.contacts.render();
      })
      .catch((e) => {
        this.toast(`Could not open ${this.roomTitle(room)}: ${reasonText(e)}`, 'error');
        this.chat.close(roomId);
      })
      .finally(() => {
        room.joining = null;
      });
    return room.joining;
  }

  // openRoom opens a room's window, joining it (which sends its history)
  // unless its messages are here already.
  openRoom(roomId, { focus = true } = {}) {
    const room = this.ensureRoom(roomId);
    this.chat.open(roomId, { focus });
    if (!room.loaded || !room.joined) this.join(roomId);
  }

  async openDM(handle) {
    const existing = this.dmWith(handle);
    if (existing) {
      this.openRoom(existing.id);
      return;
    }
    try {
      const ack = await this.request({ type: 'dm', user: handle });
      const room = this.ensureRoom(ack.room);
      room.visibility = 'direct';
      room.members = [this.me.handle, handle];
      room.joined = true;
      this.openRoom(ack.room);
      this.refreshRooms();
    } catch (e) {
      this.toast(`Could not open a conversation with ${this.displayName(handle)}: ${reasonText(e)}`, 'error');
    }
  }

  async createRoom(name, visibility) {
    const ack = await this.request({ type: 'create_room', name, visibility });
    const room = this.ensureRoom(ack.room);
    room.name = name;
    room.visibility = visibility;
    room.joined = true;
    this.openRoom(ack.room);
    this.refreshRooms();
    return room;
  }

  async invite(roomId, handle) {
    await this.request({ type: 'invite', room: roomId, user: handle });
  }

  async leave(roomId) {
    const room = this.ensureRoom(roomId);
    await this.request({ type: 'leave', room: roomId });
    room.joined = false;
    room.loaded = false;
    room.msgs.clear();
    room.lastSeq = 0;
    this.chat.close(roomId);
    this.refreshRooms();
  }

  async setPresence(change) {
    try {
      await this.request({ type: 'presence', ...change });
      if (change.status) this.me.status = change.status;
      if (change.displayName) this.me.displayName = change.displayName;
      if (change.personalMessage !== undefined) this.me.personalMessage = change.personalMessage;
      this.addUser({ handle: this.me.handle, ...change });
      this.contacts.render();
      return true;
    } catch (e) {
      this.toast('Your change was not saved: ' + reasonText(e), 'error');
      this.contacts.render();
      return false;
    }
  }

  // post sends a chat, nudge or wink. It shows at once as pending, goes
  // out when connected (with an id kept across resends and reloads), and
  // gives way to the real message when that arrives.
  post(roomId, type, fields = {}) {
    const frame = { type, id: randomId('m'), room: roomId, ...fields };
    if (type === 'chat') {
      const text = frame.text.trim();
      const max = this.limits.maxTextChars || 2048;
      const length = [...text].length;
      if (length > max) {
        this.track(frame, { state: 'failed', error: `too long (${length} of ${max} characters)`, retry: false });
        return;
      }
    }
    this.track(frame);
  }

  track(frame, { state = 'sending', error = '', retry = true } = {}) {
    const room = this.ensureRoom(frame.room);
    const p = { id: frame.id, frame, kind: frame.type, text: frame.text, wink: frame.wink, state, error, retry, at: Date.now() + this.skew, seq: 0 };
    room.pending.set(p.id, p);
    if (!this.chat.isOpen(room.id)) this.openRoom(room.id, { focus: false });
    this.chat.pendingChanged(room.id);
    if (state === 'sending') this.send(room, p);
  }

  send(room, p) {
    p.state = 'sending';
    p.error = '';
    this.outbox.add(p.frame, { persist: true }).then(
      (ack) => {
        p.seq = ack.seq;
        p.state = 'sent';
        this.clearAcked(room);
        this.chat.pendingChanged(room.id);
        // The message itself comes over the socket; should it not, fetch it.
        setTimeout(() => {
          if (room.pending.has(p.id) && ack.seq && !room.msgs.has(ack.seq)) this.fillGap(room, Math.min(room.lastSeq, ack.seq - 1), ack.seq + 1);
        }, 5000);
      },
      (e) => {
        if (e.code === 'superseded') return;
        p.state = 'failed';
        p.error = reasonText(e);
        p.retry = e.code !== 'too_long' && e.code !== 'not_member' && e.code !== 'forbidden';
        this.chat.pendingChanged(room.id);
      },
    );
  }

  retry(roomId, id) {
    const room = this.ensureRoom(roomId);
    const p = room.pending.get(id);
    if (p) {
      this.send(room, p);
      this.chat.pendingChanged(roomId);
    }
  }

  discard(roomId, id) {
    const room = this.ensureRoom(roomId);
    room.pending.delete(id);
    this.outbox.drop(id);
    this.chat.pendingChanged(roomId);
  }

  // clearAcked drops pending posts whose message has arrived.
  clearAcked(room) {
    let changed = false;
    for (const [id, p] of room.pending) {
      if (p.seq && room.msgs.has(p.seq)) {
        room.pending.delete(id);
        changed = true;
      }
    }
    if (changed) this.chat.pendingChanged(room.id);
  }

  typing(roomId, on) {
    if (this.socket.isOnline()) this.socket.send({ type: 'typing', room: roomId, typing: on });
  }

  // markRead moves the read marker to the newest message shown.
  markRead(room) {
    room.unread = 0;
    this.updateTitle();
    this.contacts.render();
    if (!room.joined || room.lastSeq <= room.readSent || !room.msgs.has(room.lastSeq)) return;
    if (this.socket.send({ type: 'read', room: room.id, seq: room.lastSeq })) room.readSent = room.lastSeq;
  }

  updateTitle() {
    let n = 0;
    for (const room of this.rooms.values()) n += room.unread;
    document.title = n ? `(${n}) Switchboard` : 'Switchboard';
  }

  // toast shows a short notice; key replaces an earlier one with the same key.
  toast(text, kind = 'info', key = null, action = null) {
    if (key) for (const old of this.toasts.querySelectorAll('.toast')) if (old.dataset.key === key) old.remove();
    const t = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status', dataset: key ? { key } : undefined },
      h('span', {}, text), action,
      h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
    this.toasts.append(t);
    while (this.toasts.children.length > 4) this.toasts.firstChild.remove();
    setTimeout(() => t.remove(), kind === 'error' ? 9000 : 6000);
    return t;
  }
}

boot();
