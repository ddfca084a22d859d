// Conversation windows: several at once, each with its log ("Name says:"
// lines, nudges, winks, notices, pending posts), typing line, read
// receipts, and a composer with emoticons, winks and the nudge button; and
// the taskbar that lists them.

import { h, replace, store, clock, fullTime, reconcile, changed } from './dom.js';
import { avatar, emoticon, EMOTICONS, EMOTICON_BY_CODE, winkPicture, winkLabel, play } from './art.js';
import { roomIcon } from './contacts.js';
import { STATUS_LABELS } from './words.js';

const MAX_WINDOWS = 6;
const TYPING_REPEAT_MS = 2000;
const PENDING_ORDER = 1e12;

export function createChat(app, workspace, taskbar) {
  const wins = new Map(); // room id → window
  let order = []; // room ids, oldest first
  let active = null;
  let pendingCounter = 0;
  const saveKey = 'sb.windows.' + app.me.handle;
  const narrow = window.matchMedia('(max-width: 760px)');

  const contactsButton = h('button', { type: 'button', class: 'task contacts-task', onclick: () => showContacts() }, 'Contacts');
  narrow.addEventListener('change', () => layout());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') for (const id of wins.keys()) if (isSeen(id)) app.markRead(app.ensureRoom(id));
  });
  document.addEventListener('pointerdown', (e) => {
    for (const w of wins.values()) if (!w.picker.hidden && !w.picker.contains(e.target) && !w.tools.contains(e.target)) closePicker(w);
  });

  // ----- window lifecycle

  function open(roomId, { focus = true } = {}) {
    let w = wins.get(roomId);
    if (!w) {
      w = build(app.ensureRoom(roomId));
      wins.set(roomId, w);
      order.push(roomId);
      workspace.append(w.el);
      fill(w);
      while (order.length > MAX_WINDOWS) {
        const oldest = order.find((id) => id !== roomId && id !== active);
        if (!oldest) break;
        close(oldest);
      }
    }
    if (focus) {
      activate(roomId, true);
    } else {
      // Opened by an incoming message: shown, but the user's view (on a
      // phone, the contact list) and focus stay where they are.
      w.minimized = false;
      if (!active) active = roomId;
    }
    layout();
    save();
    return w;
  }

  function close(roomId) {
    const w = wins.get(roomId);
    if (!w) return;
    if (w.typingOn) app.typing(roomId, false);
    w.el.remove();
    wins.delete(roomId);
    order = order.filter((id) => id !== roomId);
    if (active === roomId) active = [...order].reverse().find((id) => !wins.get(id).minimized) || null;
    if (!active) document.body.classList.replace('view-chat', 'view-contacts');
    layout();
    save();
  }

  function activate(roomId, focusInput = true) {
    const w = wins.get(roomId);
    if (!w) return;
    active = roomId;
    w.minimized = false;
    document.body.classList.replace('view-contacts', 'view-chat');
    layout();
    save();
    if (focusInput) w.input.focus({ preventScroll: true });
    if (w.atBottom) scrollToBottom(w);
    if (isSeen(roomId)) app.markRead(app.ensureRoom(roomId));
  }

  function minimize(roomId) {
    const w = wins.get(roomId);
    if (!w) return;
    w.minimized = true;
    if (active === roomId) active = [...order].reverse().find((id) => !wins.get(id).minimized) || null;
    if (!active || narrow.matches) document.body.classList.replace('view-chat', 'view-contacts');
    layout();
    save();
  }

  function showContacts() {
    document.body.classList.replace('view-chat', 'view-contacts');
    layout();
  }

  // layout marks the active and minimized windows and redraws the taskbar.
  function layout() {
    for (const [id, w] of wins) {
      w.el.classList.toggle('active', id === active);
      w.el.classList.toggle('minimized', w.minimized);
    }
    const items = order.map((id) => {
      const w = wins.get(id);
      const room = app.ensureRoom(id);
      const isActive = id === active && !w.minimized;
      const title = app.roomTitle(room);
      return {
        key: id,
        sig: JSON.stringify([title, isActive, w.minimized, room.unread]),
        build: () => {
          const b = h('button', { type: 'button', class: 'task' + (isActive ? ' active' : '') + (w.minimized ? ' min' : ''), 'aria-pressed': String(isActive),
            dataset: { room: id }, title }, h('span', { class: 'task-name' }, title), room.unread ? h('span', { class: 'badge' }, String(room.unread)) : null);
          b.addEventListener('click', () => {
            if (id === active && !w.minimized && !narrow.matches) minimize(id);
            else activate(id);
          });
          return b;
        },
      };
    });
    reconcile(taskbar, [{ key: 'contacts', sig: '', build: () => contactsButton }, ...items]);
    document.body.classList.toggle('has-windows', order.length > 0);
  }

  function save() {
    store.set(sessionStorage, saveKey, { order: order.map((id) => ({ id, min: wins.get(id).minimized })), active });
  }

  // restore reopens the windows of before a reload.
  function restore() {
    const saved = store.get(sessionStorage, saveKey, null);
    if (!saved || !Array.isArray(saved.order)) return;
    for (const { id, min } of saved.order) {
      if (typeof id !== 'string') continue;
      app.openRoom(id, { focus: false });
      if (min) minimize(id);
    }
    if (saved.active && wins.has(saved.active) && !narrow.matches) activate(saved.active, false);
  }

  function isOpen(roomId) {
    return wins.has(roomId);
  }

  // isSeen: the window is where the user can see it.
  function isSeen(roomId) {
    const w = wins.get(roomId);
    if (!w || w.minimized || document.visibilityState !== 'visible') return false;
    return !narrow.matches || (active === roomId && document.body.classList.contains('view-chat'));
  }

  // ----- building a window

  function build(room) {
    const id = room.id;
    const w = { id, minimized: false, atBottom: true, typingOn: false, typingSent: 0, lines: new Map(), noticeSeq: 0 };
    const titleId = 'title-' + id;
    w.titleText = h('span', { class: 'conv-name' });
    w.titleIcon = h('span', { class: 'title-icon' });
    const minBtn = h('button', { type: 'button', class: 'win-button', 'aria-label': 'Minimize', title: 'Minimize', onclick: () => minimize(id) }, '–');
    const closeBtn = h('button', { type: 'button', class: 'win-button close', 'aria-label': 'Close conversation', title: 'Close', onclick: () => close(id) }, '×');
    const back = h('button', { type: 'button', class: 'win-button back', 'aria-label': 'Back to contacts', title: 'Contacts', onclick: () => showContacts() }, '‹');
    w.to = h('div', { class: 'tobar' });
    w.older = h('button', { type: 'button', class: 'older', hidden: true }, 'Load older messages');
    w.older.addEventListener('click', () => loadOlder(w));
    w.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: 0, 'aria-labelledby': titleId });
    w.older._order = -Infinity;
    w.log.append(w.older);
    w.log.addEventListener('scroll', () => onScroll(w));
    w.jump = h('button', { type: 'button', class: 'jump', hidden: true, onclick: () => scrollToBottom(w) }, 'New messages ↓');
    w.stage = h('div', { class: 'wink-stage', 'aria-hidden': 'true' });
    w.side = h('aside', { class: 'side', 'aria-label': 'Participants' });
    w.typing = h('div', { class: 'typing', 'aria-live': 'polite' });

    w.input = h('textarea', { id: 'input-' + id, rows: 2, class: 'composer-input', 'aria-label': 'Message', placeholder: 'Type a message. Enter sends, Shift+Enter adds a line.' });
    w.counter = h('span', { class: 'counter', 'aria-live': 'polite' });
    w.input.addEventListener('input', () => onInput(w));
    w.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send(w);
      }
    });
    const pickerId = 'picker-' + id;
    w.emoButton = h('button', { type: 'button', class: 'tool', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': pickerId, title: 'Emoticons' },
      emoticon(EMOTICONS[0], ':)', 16), h('span', {}, 'Emoticons'));
    w.winkButton = h('button', { type: 'button', class: 'tool', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': pickerId, title: 'Send a wink' },
      winkPicture('heart', 16), h('span', {}, 'Winks'));
    w.nudgeButton = h('button', { type: 'button', class: 'tool nudge-button', title: 'Send a nudge (shakes their window)', onclick: () => app.post(id, 'nudge') },
      h('span', { class: 'nudge-icon', 'aria-hidden': 'true' }, '≋'), h('span', {}, 'Nudge'));
    w.emoButton.addEventListener('click', () => togglePicker(w, 'emoticons'));
    w.winkButton.addEventListener('click', () => togglePicker(w, 'winks'));
    w.tools = h('div', { class: 'tools', role: 'toolbar', 'aria-label': 'Extras' }, w.emoButton, w.winkButton, w.nudgeButton);
    w.picker = h('div', { class: 'picker', id: pickerId, hidden: true });
    w.picker.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        closePicker(w, true);
      }
    });
    const sendButton = h('button', { type: 'submit', class: 'send primary' }, 'Send');
    const composer = h('form', { class: 'composer', 'aria-label': 'Write a message' }, w.tools, w.picker,
      h('div', { class: 'compose-row' }, w.input, sendButton), w.counter);
    composer.addEventListener('submit', (e) => {
      e.preventDefault();
      send(w);
    });

    w.el = h('section', { class: 'window conv', dataset: { room: id }, 'aria-labelledby': titleId },
      h('header', { class: 'titlebar' }, back, w.titleIcon, h('h2', { id: titleId }, w.titleText, h('span', { class: 'conv-suffix' }, ' — Conversation')),
        h('span', { class: 'spacer' }), minBtn, closeBtn),
      w.to,
      h('div', { class: 'offline-banner', role: 'status' }, 'Not connected. What you send now goes out when the connection is back.'),
      h('div', { class: 'conv-body' }, h('div', { class: 'logwrap' }, w.log, w.jump, w.stage), w.side),
      w.typing, composer);
    w.el.addEventListener('focusin', () => {
      document.body.classList.replace('view-contacts', 'view-chat');
      if (active !== id) {
        active = id;
        layout();
        save();
      }
      if (isSeen(id)) app.markRead(app.ensureRoom(id));
    });
    w.el.addEventListener('animationend', (e) => {
      if (e.animationName.startsWith('shake')) w.el.classList.remove('shake');
    });
    decorate(w);
    return w;
  }

  // decorate draws the title, the To: bar and the side panel.
  function decorate(w) {
    const room = app.ensureRoom(w.id);
    const title = app.roomTitle(room);
    w.older.hidden = !(room.loaded && !room.complete && room.msgs.size > 0);
    const peerUser = app.peer(room) ? app.user(app.peer(room)) : null;
    const sig = JSON.stringify([title, room.visibility, room.joined, peerUser, app.me.avatar, app.me.status]);
    if (!changed(w.to, sig)) return;
    w.titleText.textContent = title;
    const peer = app.peer(room);
    if (peer) {
      const u = app.user(peer);
      replace(w.titleIcon, avatar(u, 18));
      replace(w.to,
        h('div', { class: 'to-line' }, 'To: ', h('bdi', { class: 'to-name' }, u.displayName), ' ',
          h('span', { class: 'to-status status-' + u.status }, u.bot ? '(AI personality)' : `(${STATUS_LABELS[u.status] || u.status})`)),
        u.personalMessage ? h('div', { class: 'to-pm' }, h('bdi', {}, u.personalMessage)) : null);
      replace(w.side,
        h('figure', {}, avatar(u, 96, 'status-' + u.status), h('figcaption', {}, h('bdi', {}, u.displayName))),
        h('figure', { class: 'me-figure' }, avatar(app.me, 64, 'status-' + app.me.status), h('figcaption', {}, 'You')));
      w.input.setAttribute('aria-label', `Message to ${u.displayName}`);
    } else {
      replace(w.titleIcon, roomIcon(room.visibility === 'private'));
      const invite = room.visibility === 'private' && room.joined ? h('button', { type: 'button', class: 'text-button small', onclick: () => inviteDialog(room) }, 'Invite…') : null;
      const leave = room.joined ? h('button', { type: 'button', class: 'text-button small', onclick: () => leaveRoom(room) }, 'Leave room') : null;
      replace(w.to,
        h('div', { class: 'to-line' }, h('bdi', { class: 'to-name' }, title), ' ',
          h('span', { class: 'to-status' }, room.visibility === 'private' ? '(private room)' : room.visibility === 'public' ? '(public room)' : ''),
          h('span', { class: 'spacer' }), invite, leave));
      replace(w.side, h('figure', {}, h('span', { class: 'big-room' }, roomIcon(room.visibility === 'private')), h('figcaption', {}, h('bdi', {}, title))),
        h('figure', { class: 'me-figure' }, avatar(app.me, 64, 'status-' + app.me.status), h('figcaption', {}, 'You')));
      w.input.setAttribute('aria-label', `Message to ${title}`);
    }
  }

  // fill renders everything the room holds into a new window.
  function fill(w) {
    const room = app.ensureRoom(w.id);
    const msgs = [...room.msgs.values()].sort((a, b) => a.seq - b.seq);
    for (const m of msgs) insert(w, 's:' + m.seq, m.seq, messageLine(room, m));
    syncPending(w, room);
    placeholder(w, room);
    updateSeen(w, room);
    renderTyping(w, room);
    scrollToBottom(w);
  }

  function placeholder(w, room) {
    const old = w.lines.get('placeholder');
    let text = null;
    if (!room.loaded && room.msgs.size === 0) text = 'Loading the conversation…';
    else if (room.msgs.size === 0 && room.pending.size === 0) text = 'No messages yet. Say hello!';
    if (old && (!text || old.textContent !== text)) {
      old.remove();
      w.lines.delete('placeholder');
    }
    if (text && !w.lines.has('placeholder')) insert(w, 'placeholder', 0.1, h('div', { class: 'msg hint' }, text));
  }

  // insert puts a line in the log in order (server messages by seq, local
  // notices after the seq they followed, pending posts last).
  function insert(w, key, orderKey, el) {
    const old = w.lines.get(key);
    if (old) old.remove();
    el._order = orderKey;
    w.lines.set(key, el);
    let after = w.log.lastChild;
    while (after && after._order > orderKey) after = after.previousSibling;
    w.log.insertBefore(el, after ? after.nextSibling : w.log.firstChild);
  }

  // ----- lines

  function nameOf(m) {
    return m.sender === app.me.handle ? app.me.displayName || app.me.handle : app.displayName(m.sender, m.senderName);
  }

  function messageLine(room, m) {
    const mine = m.sender === app.me.handle;
    const cls = `msg ${m.kind} ${mine ? 'mine' : 'theirs'}`;
    const time = h('time', { dateTime: new Date(m.at).toISOString(), title: fullTime(m.at) }, clock(m.at));
    const dataset = { seq: String(m.seq), sender: m.sender || '' };
    switch (m.kind) {
      case 'nudge':
        return h('div', { class: cls, dataset }, h('span', {}, mine ? 'You have just sent a nudge.' : [h('bdi', {}, nameOf(m)), ' has just sent a nudge.']), time);
      case 'wink':
        return h('div', { class: cls, dataset }, winkPicture(m.wink, 28),
          h('span', {}, mine ? 'You sent a wink: ' : [h('bdi', {}, nameOf(m)), ' sent a wink: '], h('strong', {}, winkLabel(m.wink))),
          h('button', { type: 'button', class: 'link', onclick: () => playWink(room.id, m), 'aria-label': `Play the wink ${winkLabel(m.wink)} again` }, 'Play'), time);
      case 'system':
        return h('div', { class: cls, dataset }, '* ', richText(m.text || ''), time);
      default:
        return h('div', { class: cls, dataset },
          h('div', { class: 'says' }, h('bdi', { class: 'name' }, nameOf(m)), m.kind === 'bot' ? h('span', { class: 'bot-tag' }, 'AI') : null, ' says:', time),
          h('div', { class: 'text' }, richText(m.text || '')));
    }
  }

  function pendingLine(room, p) {
    const me = app.me.displayName || app.me.handle;
    let body;
    if (p.kind === 'nudge') body = h('span', {}, 'You are sending a nudge.');
    else if (p.kind === 'wink') body = h('span', {}, winkPicture(p.wink, 28), 'You are sending a wink: ', h('strong', {}, winkLabel(p.wink)));
    else body = [h('div', { class: 'says' }, h('bdi', { class: 'name' }, me), ' says:'), h('div', { class: 'text' }, richText(p.text || ''))];
    const status = h('div', { class: 'delivery' });
    if (p.state === 'failed') {
      status.append(h('span', { class: 'failed-text' }, 'Not delivered: ' + p.error + '.'));
      if (p.retry) status.append(h('button', { type: 'button', class: 'link', onclick: () => app.retry(room.id, p.id) }, 'Retry'));
      if (p.kind === 'chat') status.append(h('button', { type: 'button', class: 'link', onclick: () => editPending(room.id, p) }, 'Edit'));
      status.append(h('button', { type: 'button', class: 'link', onclick: () => app.discard(room.id, p.id) }, 'Discard'));
    } else {
      status.append(h('span', {}, app.conn.state === 'online' ? 'Sending…' : 'Waiting for the connection…'));
    }
    return h('div', { class: `msg ${p.kind} mine pending ${p.state}`, dataset: { pending: p.id } }, body, status);
  }

  function editPending(roomId, p) {
    const w = wins.get(roomId);
    app.discard(roomId, p.id);
    if (w) {
      w.input.value = p.text || '';
      onInput(w);
      w.input.focus();
    }
  }

  // ----- updates from the model

  function addMessages(roomId, msgs, live) {
    const w = wins.get(roomId);
    if (!w) return;
    const room = app.ensureRoom(roomId);
    const stick = w.atBottom;
    for (const m of msgs) if (!w.lines.has('s:' + m.seq)) insert(w, 's:' + m.seq, m.seq, messageLine(room, m));
    placeholder(w, room);
    updateSeen(w, room);
    decorate(w);
    if (stick) scrollToBottom(w);
    else if (live && msgs.length) w.jump.hidden = false;
    if (isSeen(roomId) && w.atBottom) app.markRead(room);
    layout();
  }

  function syncPending(w, room) {
    for (const [key, el] of w.lines) {
      if (key.startsWith('p:') && !room.pending.has(key.slice(2))) {
        el.remove();
        w.lines.delete(key);
      }
    }
    for (const p of room.pending.values()) {
      if (!p.order) p.order = PENDING_ORDER + ++pendingCounter;
      insert(w, 'p:' + p.id, p.order, pendingLine(room, p));
    }
  }

  function pendingChanged(roomId) {
    const w = wins.get(roomId);
    if (!w) return;
    const room = app.ensureRoom(roomId);
    const stick = w.atBottom;
    syncPending(w, room);
    placeholder(w, room);
    if (stick) scrollToBottom(w);
  }

  function notice(roomId, text) {
    const w = wins.get(roomId);
    if (!w) return;
    const room = app.ensureRoom(roomId);
    const stick = w.atBottom;
    insert(w, 'n:' + ++w.noticeSeq, room.lastSeq + 0.5 + w.noticeSeq * 1e-6, h('div', { class: 'msg notice' }, '* ' + text));
    if (stick) scrollToBottom(w);
  }

  function typingChanged(roomId) {
    const w = wins.get(roomId);
    if (w) renderTyping(w, app.ensureRoom(roomId));
  }

  function renderTyping(w, room) {
    const names = [...room.typing.keys()].filter((u) => u !== app.me.handle).map((u) => app.displayName(u));
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names[0]}, ${names[1]} and ${names.length - 2} more are typing…`;
    w.typing.textContent = text;
    w.typing.classList.toggle('on', !!text);
  }

  function receiptsChanged(roomId) {
    const w = wins.get(roomId);
    if (w) updateSeen(w, app.ensureRoom(roomId));
  }

  // updateSeen puts "Seen" under the newest of my messages someone else
  // has read.
  function updateSeen(w, room) {
    const old = w.log.querySelector('.seen');
    let best = 0;
    for (const [user, seq] of room.receipts) if (user !== app.me.handle && seq > best) best = seq;
    let target = null;
    if (best) {
      for (const m of room.msgs.values()) if (m.sender === app.me.handle && m.seq <= best && (!target || m.seq > target.seq) && m.kind !== 'system') target = m;
    }
    if (!target) {
      if (old) old.remove();
      return;
    }
    const readers = [...room.receipts].filter(([u, seq]) => u !== app.me.handle && seq >= target.seq).map(([u]) => app.displayName(u));
    const text = room.visibility === 'direct' ? 'Seen' : readers.length > 3 ? `Seen by ${readers.slice(0, 3).join(', ')} and ${readers.length - 3} more` : `Seen by ${readers.join(', ')}`;
    const line = w.lines.get('s:' + target.seq);
    if (!line) return;
    if (old && old.parentNode === line && old.textContent === text) return;
    if (old) old.remove();
    line.append(h('div', { class: 'seen' }, text));
  }

  function roomChanged(roomId) {
    const w = wins.get(roomId);
    if (!w) return;
    decorate(w);
    placeholder(w, app.ensureRoom(roomId));
    layout();
  }

  function meChanged() {
    for (const w of wins.values()) decorate(w);
  }

  function connChanged() {
    for (const w of wins.values()) {
      const room = app.ensureRoom(w.id);
      for (const p of room.pending.values()) if (p.state === 'sending') insert(w, 'p:' + p.id, p.order, pendingLine(room, p));
    }
  }

  // nudge shakes a window (and buzzes, unless it is our own nudge).
  function nudge(roomId, mine) {
    const w = wins.get(roomId);
    if (!w) return;
    if (w.minimized) activate(roomId, false);
    w.el.classList.remove('shake');
    void w.el.offsetWidth; // restart the animation
    w.el.classList.add('shake');
    if (!mine) play('nudge');
  }

  function wink(roomId, m) {
    playWink(roomId, m);
  }

  function playWink(roomId, m) {
    const w = wins.get(roomId);
    if (!w) return;
    const who = m.sender === app.me.handle ? 'You' : app.displayName(m.sender, m.senderName);
    const show = h('div', { class: 'wink-show' }, winkPicture(m.wink, 150, true), h('p', {}, `${who} sent a wink: ${winkLabel(m.wink)}`));
    replace(w.stage, show);
    play('wink');
    setTimeout(() => show.remove(), 3600);
  }

  // ----- composer

  function send(w) {
    // The server trims what it stores; trimming here shows the same.
    const text = w.input.value.trim();
    if (!text) return;
    app.post(w.id, 'chat', { text });
    w.input.value = '';
    w.typingOn = false;
    onInput(w, true);
    scrollToBottom(w);
  }

  function onInput(w, sent = false) {
    const input = w.input;
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 140) + 'px';
    const max = app.limits.maxTextChars || 2048;
    const n = [...input.value.trim()].length;
    w.counter.textContent = n > max - 200 ? `${n} / ${max}` : '';
    w.counter.classList.toggle('over', n > max);
    if (sent) return;
    const now = Date.now();
    if (n > 0 && (!w.typingOn || now - w.typingSent > TYPING_REPEAT_MS)) {
      app.typing(w.id, true);
      w.typingOn = true;
      w.typingSent = now;
    } else if (n === 0 && w.typingOn) {
      app.typing(w.id, false);
      w.typingOn = false;
    }
  }

  function togglePicker(w, kind) {
    if (!w.picker.hidden && w.picker.dataset.kind === kind) {
      closePicker(w, true);
      return;
    }
    w.picker.dataset.kind = kind;
    let items;
    if (kind === 'emoticons') {
      items = EMOTICONS.map((e) => h('button', { type: 'button', class: 'pick', 'aria-label': `${e.label} ${e.codes[0]}`, title: `${e.label} ${e.codes[0]}`,
        onclick: () => insertCode(w, e.codes[0]) }, emoticon(e, e.codes[0], 22)));
    } else {
      items = (app.limits.winks || []).map((name) => h('button', { type: 'button', class: 'pick wink-pick', dataset: { wink: name }, 'aria-label': `Send the wink ${winkLabel(name)}`,
        onclick: () => {
          closePicker(w, true);
          app.post(w.id, 'wink', { wink: name });
        } }, winkPicture(name, 40), h('span', {}, winkLabel(name))));
    }
    replace(w.picker, h('div', { class: 'picker-title' }, kind === 'emoticons' ? 'Emoticons' : 'Winks'),
      h('div', { class: 'picker-grid ' + kind, role: 'group', 'aria-label': kind === 'emoticons' ? 'Emoticons' : 'Winks' }, items));
    w.picker.hidden = false;
    w.emoButton.setAttribute('aria-expanded', String(kind === 'emoticons'));
    w.winkButton.setAttribute('aria-expanded', String(kind === 'winks'));
    const first = w.picker.querySelector('button');
    if (first) first.focus();
  }

  function closePicker(w, refocus = false) {
    if (w.picker.hidden) return;
    const kind = w.picker.dataset.kind;
    w.picker.hidden = true;
    w.emoButton.setAttribute('aria-expanded', 'false');
    w.winkButton.setAttribute('aria-expanded', 'false');
    if (refocus) (kind === 'emoticons' ? w.emoButton : w.winkButton).focus();
  }

  function insertCode(w, code) {
    const input = w.input;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    const before = start > 0 && !/\s/.test(input.value[start - 1]) ? ' ' : '';
    input.setRangeText(before + code + ' ', start, end, 'end');
    closePicker(w);
    input.focus();
    onInput(w);
  }

  // ----- scrolling

  function onScroll(w) {
    const log = w.log;
    w.atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (w.atBottom) {
      w.jump.hidden = true;
      if (isSeen(w.id)) app.markRead(app.ensureRoom(w.id));
    }
    if (log.scrollTop < 60) {
      const room = app.ensureRoom(w.id);
      if (room.loaded && !room.complete && room.msgs.size > 0) loadOlder(w);
    }
  }

  async function loadOlder(w) {
    const room = app.ensureRoom(w.id);
    if (room.loadingOlder) return;
    const fromBottom = w.log.scrollHeight - w.log.scrollTop;
    w.older.textContent = 'Loading…';
    const n = await app.loadOlder(room);
    w.older.textContent = 'Load older messages';
    if (n) w.log.scrollTop = w.log.scrollHeight - fromBottom;
    decorate(w);
  }

  function scrollToBottom(w) {
    w.log.scrollTop = w.log.scrollHeight;
    w.atBottom = true;
    w.jump.hidden = true;
  }

  // ----- room dialogs

  function inviteDialog(room) {
    const candidates = [...app.users.values()].filter((u) => u.handle !== app.me.handle).sort((a, b) => a.displayName.localeCompare(b.displayName, undefined, { numeric: true }));
    const select = h('select', { id: 'invite-user' }, candidates.map((u) => h('option', { value: u.handle }, `${u.displayName} (${u.handle})`)));
    const error = h('p', { class: 'form-error', role: 'alert' });
    const dialog = h('dialog', { class: 'window dialog', 'aria-labelledby': 'invite-title' });
    const form = h('form', { method: 'dialog' },
      h('header', { class: 'titlebar' }, h('h2', { id: 'invite-title' }, `Invite to ${app.roomTitle(room)}`)),
      h('div', { class: 'dialog-body' }, h('div', { class: 'field' }, h('label', { for: 'invite-user' }, 'Who'), select), error,
        h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Invite'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await app.invite(room.id, select.value);
        app.toast(`Invitation sent to ${app.displayName(select.value)}.`, 'info');
        dialog.close();
      } catch (err) {
        error.textContent = 'The invitation was not sent: ' + (err.message || err.code);
      }
    });
    dialog.append(form);
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    select.focus();
  }

  async function leaveRoom(room) {
    try {
      await app.leave(room.id);
    } catch (err) {
      app.toast('Could not leave the room: ' + (err.message || err.code), 'error');
    }
  }

  return {
    open, close, isOpen, isSeen, restore, addMessages, pendingChanged, notice, typingChanged, receiptsChanged, roomChanged, meChanged,
    connChanged, nudge, wink, openIds: () => [...order],
  };
}

// richText renders chat text: emoticon codes (whitespace-delimited) as
// pictures, http(s) links as links, everything else as text.
export function richText(text) {
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push(buf);
    buf = '';
  };
  for (const part of String(text).split(/(\s+)/)) {
    const emo = EMOTICON_BY_CODE.get(part);
    if (emo) {
      flush();
      out.push(emoticon(emo, part));
      continue;
    }
    const url = /^(https?:\/\/[^\s<>"']+?)([.,!?;:)\]]*)$/i.exec(part);
    if (url) {
      flush();
      out.push(h('a', { href: url[1], target: '_blank', rel: 'noopener noreferrer nofollow' }, url[1]));
      buf += url[2];
      continue;
    }
    buf += part;
  }
  flush();
  return out;
}
