// The contact list window: me (avatar, editable name, status, personal
// message), the connection state, and the groups: bots, rooms, online and
// offline contacts.

import { h, s, replace, store, reconcile, changed } from './dom.js';
import { avatar, logo, isMuted, setMuted } from './art.js';
import { STATUS_LABELS } from './words.js';

const COLLAPSE_KEY = 'sb.collapsed';

export function createContacts(app, slot) {
  const collapsed = new Set(store.get(localStorage, COLLAPSE_KEY, []));
  let filter = '';
  let frame = 0;

  // ----- me

  const meAvatar = h('span', { class: 'me-avatar' });
  const nameButton = h('button', { type: 'button', class: 'me-name', title: 'Change your display name', 'aria-label': 'Display name (click to change)' });
  const nameInput = h('input', { class: 'me-name-input', hidden: true, 'aria-label': 'Display name', maxLength: app.limits.maxDisplayNameChars || 50 });
  const statusSelect = h('select', { class: 'status-select', id: 'my-status', 'aria-label': 'My status' },
    ['online', 'busy', 'away', 'invisible'].map((v) => h('option', { value: v }, STATUS_LABELS[v])));
  const pmInput = h('input', { class: 'pm-input', id: 'my-pm', placeholder: 'Type a personal message…', 'aria-label': 'Personal message', maxLength: app.limits.maxPersonalMessageChars || 128 });
  const pmSaved = h('span', { class: 'saved', 'aria-live': 'polite' });

  const editName = () => {
    nameInput.value = app.me.displayName || '';
    nameButton.hidden = true;
    nameInput.hidden = false;
    nameInput.focus();
    nameInput.select();
  };
  const finishName = async (save) => {
    if (nameInput.hidden) return;
    const value = nameInput.value.trim();
    nameInput.hidden = true;
    nameButton.hidden = false;
    if (save && value && value !== app.me.displayName) {
      nameButton.textContent = value;
      await app.setPresence({ displayName: value });
    }
    renderMe();
    if (document.activeElement === document.body) nameButton.focus();
  };
  nameButton.addEventListener('click', editName);
  nameInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      finishName(true);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      finishName(false);
      nameButton.focus();
    }
  });
  nameInput.addEventListener('blur', () => finishName(true));

  statusSelect.addEventListener('change', () => app.setPresence({ status: statusSelect.value }));

  const savePM = async () => {
    const value = pmInput.value.trim();
    if (value === (app.me.personalMessage || '')) return;
    if (await app.setPresence({ personalMessage: value })) {
      pmSaved.textContent = 'Saved';
      setTimeout(() => (pmSaved.textContent = ''), 2000);
    }
  };
  pmInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      savePM();
      pmInput.blur();
    } else if (e.key === 'Escape') {
      pmInput.value = app.me.personalMessage || '';
      pmInput.blur();
    }
  });
  pmInput.addEventListener('blur', savePM);

  function renderMe() {
    if (changed(meAvatar, JSON.stringify([app.me.avatar, app.me.displayName, app.me.status]))) replace(meAvatar, avatar(app.me, 56, 'status-' + app.me.status));
    if (nameInput.hidden) nameButton.textContent = app.me.displayName || app.me.handle;
    statusSelect.value = app.me.status === 'offline' ? 'invisible' : app.me.status || 'online';
    statusSelect.className = 'status-select status-' + statusSelect.value;
    if (document.activeElement !== pmInput) pmInput.value = app.me.personalMessage || '';
  }

  // ----- connection state

  const connText = h('span', { class: 'conn-text' });
  const retryButton = h('button', { type: 'button', class: 'link', hidden: true, onclick: () => app.socket.retryNow() }, 'Retry now');
  const conn = h('div', { class: 'conn', role: 'status', id: 'conn-state' }, h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), connText, retryButton);
  let countdown = 0;
  function connChanged() {
    clearInterval(countdown);
    const { state, info } = app.conn;
    conn.dataset.state = state;
    retryButton.hidden = true;
    const show = () => {
      if (state === 'online') connText.textContent = 'Connected';
      else if (state === 'connecting') connText.textContent = 'Connecting…';
      else if (state === 'ended') connText.textContent = 'Signed out';
      else if (info.connecting) connText.textContent = 'Reconnecting…';
      else if (info.checking) connText.textContent = 'Checking your session…';
      else if (info.retryAt) {
        const secs = Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000));
        connText.textContent = navigator.onLine === false ? `Offline. Retrying in ${secs} s` : `Connection lost. Retrying in ${secs} s`;
        retryButton.hidden = false;
      }
    };
    show();
    if (state === 'reconnecting' && info.retryAt) countdown = setInterval(show, 1000);
  }

  // ----- header, groups

  const muteButton = h('button', { type: 'button', class: 'icon-button', 'aria-pressed': String(isMuted()), title: 'Sounds', 'aria-label': 'Mute sounds' });
  const drawMute = () => {
    muteButton.setAttribute('aria-pressed', String(isMuted()));
    replace(muteButton, speaker(isMuted()));
  };
  muteButton.addEventListener('click', () => {
    setMuted(!isMuted());
    store.set(localStorage, 'sb.muted', isMuted());
    drawMute();
  });
  drawMute();
  const signOut = h('button', { type: 'button', class: 'text-button', onclick: () => app.signOut() }, 'Sign out');
  const search = h('input', { type: 'search', class: 'search', placeholder: 'Find a contact or room…', 'aria-label': 'Find a contact or room' });
  search.addEventListener('input', () => {
    filter = search.value.trim().toLowerCase();
    render();
  });
  const groups = h('div', { class: 'groups' });

  const win = h('section', { class: 'window contacts', 'aria-label': 'Contacts' },
    h('header', { class: 'titlebar' }, logo(18), h('h1', {}, 'Switchboard'), h('span', { class: 'spacer' }), muteButton, signOut),
    h('div', { class: 'me' }, meAvatar,
      h('div', { class: 'me-text' }, h('div', { class: 'me-line' }, nameButton, nameInput), statusSelect, h('div', { class: 'pm-line' }, pmInput, pmSaved))),
    conn, h('div', { class: 'search-line' }, search), groups);
  slot.append(win);

  function matches(...texts) {
    return !filter || texts.some((t) => String(t || '').toLowerCase().includes(filter));
  }

  function contactItem(u) {
    const dm = app.dmWith(u.handle);
    const unread = dm ? dm.unread : 0;
    const status = u.status || 'offline';
    return { key: 'u:' + u.handle, sig: JSON.stringify([u.displayName, status, u.personalMessage, u.avatar, u.bot, unread]), build: () => contactButton(u, status, unread) };
  }

  function contactButton(u, status, unread) {
    return h('li', {},
      h('button', { type: 'button', class: `contact status-${status}${u.bot ? ' bot' : ''}`, dataset: { key: 'u:' + u.handle, handle: u.handle },
        'aria-label': `${u.displayName} (${STATUS_LABELS[status] || status})${u.personalMessage ? ': ' + u.personalMessage : ''}${unread ? `, ${unread} unread` : ''}`,
        onclick: () => app.openDM(u.handle) },
      avatar(u, 28), h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('span', { class: 'contact-text' }, h('span', { class: 'contact-name' }, u.displayName),
        u.personalMessage ? h('span', { class: 'pm' }, u.personalMessage) : null),
      unread ? h('span', { class: 'badge', 'aria-hidden': 'true' }, String(unread)) : null));
  }

  function roomItem(room) {
    return { key: 'r:' + room.id, sig: JSON.stringify([app.roomTitle(room), room.visibility, room.invited, room.joined, room.unread]), build: () => roomButton(room) };
  }

  function roomButton(room) {
    const label = `${app.roomTitle(room)}${room.visibility === 'private' ? ' (private)' : ''}${room.invited ? ', invitation' : ''}${room.unread ? `, ${room.unread} unread` : ''}`;
    return h('li', {},
      h('button', { type: 'button', class: 'contact room' + (room.invited ? ' invited' : ''), dataset: { key: 'r:' + room.id, room: room.id }, 'aria-label': label,
        onclick: () => app.openRoom(room.id) },
      roomIcon(room.visibility === 'private'),
      h('span', { class: 'contact-text' }, h('span', { class: 'contact-name' }, app.roomTitle(room)),
        room.invited ? h('span', { class: 'pm' }, 'You are invited: click to join') : h('span', { class: 'pm' }, room.visibility === 'private' ? 'Private room' : room.joined ? 'Public room · joined' : 'Public room')),
      room.unread ? h('span', { class: 'badge', 'aria-hidden': 'true' }, String(room.unread)) : null));
  }

  // Each group is drawn once and then updated in place.
  const sections = new Map();

  function group(key, title, items, emptyText, action) {
    let g = sections.get(key);
    if (!g) {
      const listId = 'group-' + key;
      const label = h('span', {});
      const toggle = h('button', { type: 'button', class: 'group-toggle', 'aria-controls': listId, dataset: { key: 'g:' + key } },
        h('span', { class: 'chevron', 'aria-hidden': 'true' }), label);
      toggle.addEventListener('click', () => {
        if (collapsed.has(key)) collapsed.delete(key);
        else collapsed.add(key);
        store.set(localStorage, COLLAPSE_KEY, [...collapsed]);
        render();
      });
      const list = h('ul', { id: listId });
      g = { label, toggle, list, el: h('section', { class: 'group', dataset: { group: key } }, h('h2', { class: 'group-title' }, toggle, action), list) };
      sections.set(key, g);
      groups.append(g.el);
    }
    const open = !collapsed.has(key);
    g.label.textContent = `${title} (${items.length})`;
    g.toggle.setAttribute('aria-expanded', String(open));
    g.list.hidden = !open;
    reconcile(g.list, items.length ? items : [{ key: 'empty', sig: emptyText, build: () => h('li', { class: 'empty' }, emptyText) }]);
  }

  function render() {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(draw);
  }

  function draw() {
    renderMe();
    const others = [...app.users.values()].filter((u) => u.handle !== app.me.handle);
    const byName = (a, b) => a.displayName.localeCompare(b.displayName, undefined, { numeric: true });
    const bots = others.filter((u) => u.bot && matches(u.displayName, u.handle, u.personalMessage)).sort(byName);
    const humans = others.filter((u) => !u.bot && matches(u.displayName, u.handle, u.personalMessage)).sort(byName);
    const online = humans.filter((u) => u.status && u.status !== 'offline');
    const offline = humans.filter((u) => !u.status || u.status === 'offline');
    const rooms = [...app.rooms.values()]
      .filter((r) => r.visibility !== 'direct' && (r.listed || r.joined || r.invited) && matches(app.roomTitle(r)))
      .sort((a, b) => Number(b.invited) - Number(a.invited) || app.roomTitle(a).localeCompare(app.roomTitle(b)));
    const focused = document.activeElement && groups.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    group('bots', 'AI Personalities', bots.map(contactItem), 'No bots here.');
    group('rooms', 'Chat Rooms', rooms.map(roomItem), 'No rooms yet.', newRoom);
    group('online', 'Online', online.map(contactItem), filter ? 'Nobody matches.' : 'Nobody else is online.');
    group('offline', 'Offline', offline.map(contactItem), 'Nobody.');
    // A row that changed was redrawn: keep the keyboard focus on it.
    if (focused && !groups.contains(document.activeElement)) {
      const again = [...groups.querySelectorAll('[data-key]')].find((el) => el.dataset.key === focused);
      if (again) again.focus();
    }
  }

  const newRoom = h('button', { type: 'button', class: 'text-button small', onclick: () => createRoomDialog(app) }, '+ New room');

  render();
  connChanged();
  return { render, connChanged };
}

function speaker(muted) {
  return s('svg', { viewBox: '0 0 20 20', width: 16, height: 16, 'aria-hidden': 'true', focusable: 'false' },
    s('path', { d: 'M3 8 h3 l4 -4 v12 l-4 -4 h-3z', fill: 'currentColor' }),
    muted ? s('path', { d: 'M13 7 l5 6 M18 7 l-5 6', stroke: 'currentColor', 'stroke-width': 1.6 }) : s('path', { d: 'M13 6.5 q3 3.5 0 7 M15 4.5 q5 5.5 0 11', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5 }));
}

export function roomIcon(locked) {
  return h('span', { class: 'avatar room-icon' }, s('svg', { viewBox: '0 0 28 28', width: 28, height: 28, 'aria-hidden': 'true', focusable: 'false' },
    s('rect', { width: 28, height: 28, rx: 4, fill: locked ? '#8a5cd6' : '#2f8fd8' }),
    s('circle', { cx: 10, cy: 10, r: 3.5, fill: '#fff' }), s('path', { d: 'M4 22 q0 -8 6 -8 q6 0 6 8z', fill: '#fff' }),
    s('circle', { cx: 18.5, cy: 9, r: 3, fill: '#dbeeff' }), s('path', { d: 'M14 20 q1 -7 4.5 -7 q5 0 5.5 7z', fill: '#dbeeff' }),
    locked ? s('path', { d: 'M19 19 h6 v5 h-6z M20 19 v-2 a2 2 0 0 1 4 0 v2', fill: '#ffd23f', stroke: '#5a3a00', 'stroke-width': 0.8 }) : null));
}

// createRoomDialog asks for a name and a visibility and creates the room.
function createRoomDialog(app) {
  const name = h('input', { id: 'new-room-name', required: true, maxLength: app.limits.maxRoomNameChars || 64, autocomplete: 'off' });
  const pub = h('input', { type: 'radio', name: 'visibility', value: 'public', id: 'vis-public', checked: true });
  const priv = h('input', { type: 'radio', name: 'visibility', value: 'private', id: 'vis-private' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const dialog = h('dialog', { class: 'window dialog', 'aria-labelledby': 'new-room-title' });
  const form = h('form', { method: 'dialog' },
    h('header', { class: 'titlebar' }, h('h2', { id: 'new-room-title' }, 'Create a room')),
    h('div', { class: 'dialog-body' },
      h('div', { class: 'field' }, h('label', { for: 'new-room-name' }, 'Room name'), name),
      h('fieldset', {}, h('legend', {}, 'Who can join'),
        h('label', { for: 'vis-public', class: 'radio' }, pub, ' Public: anyone can join'),
        h('label', { for: 'vis-private', class: 'radio' }, priv, ' Private: only people you invite')),
      error,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Create'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = name.value.trim();
    if (!value) {
      error.textContent = 'Give the room a name.';
      name.focus();
      return;
    }
    try {
      await app.createRoom(value, priv.checked ? 'private' : 'public');
      dialog.close();
    } catch (err) {
      error.textContent = 'The room was not created: ' + (err.message || err.code);
    }
  });
  dialog.append(form);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}
