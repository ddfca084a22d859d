// DOM helpers. Everything the client shows is built here from elements and
// text nodes; nothing is ever parsed as HTML, so no user-supplied string can
// become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element: h('button', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child).
// Strings and numbers among the children become text nodes; arrays are
// flattened; null, undefined and false are skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

// s builds an SVG element the same way (attributes only).
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.setAttribute('class', v);
      else if (k === 'text') el.textContent = String(v);
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function setProps(el, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k.startsWith('aria-') || k === 'role' || k === 'for' || k === 'tabindex') el.setAttribute(k, v === true ? 'true' : String(v));
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// replace empties el and appends the children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// randomId returns a client frame id: 24 hex digits from the CSPRNG
// (crypto.getRandomValues works outside secure contexts too).
export function randomId(prefix = 'c') {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return prefix + '-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// store reads and writes JSON in Web Storage, ignoring quota and privacy
// mode failures: losing a preference must never break the client.
export const store = {
  get(area, key, fallback) {
    try {
      const v = area.getItem(key);
      return v == null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  },
  set(area, key, value) {
    try {
      if (value === undefined) area.removeItem(key);
      else area.setItem(key, JSON.stringify(value));
    } catch {
      /* storage full or disabled */
    }
  },
};

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function clock(ms) {
  return timeFmt.format(new Date(ms));
}

export function fullTime(ms) {
  return dateTimeFmt.format(new Date(ms));
}

// reconcile makes parent's children the elements for items ({key, sig,
// build}), in order, reusing an existing child whose key and signature
// match. Re-rendering a list therefore leaves unchanged rows untouched: a
// click that is half done (pointer down, not yet up) is not lost, and focus
// stays where it was.
export function reconcile(parent, items) {
  const old = new Map();
  for (const el of parent.children) old.set(el._key, el);
  const next = items.map((it) => {
    const el = old.get(it.key);
    if (el && el._sig === it.sig) return el;
    const fresh = it.build();
    fresh._key = it.key;
    fresh._sig = it.sig;
    return fresh;
  });
  next.forEach((el, i) => {
    if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] || null);
  });
  while (parent.children.length > next.length) parent.lastElementChild.remove();
}

// changed reports whether sig differs from the one el was last drawn with,
// and records it: `if (changed(el, sig)) redraw()`.
export function changed(el, sig) {
  if (el._sig === sig) return false;
  el._sig = sig;
  return true;
}
