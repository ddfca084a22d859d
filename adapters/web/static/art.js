// Pictures and sounds, all generated: avatars, emoticons, winks and the logo
// are small SVG drawings; sounds are synthesised with Web Audio. The client
// ships no image or sound file.

import { h, s } from './dom.js';

// ---------------------------------------------------------------- avatars

// Each avatar id of the reference gets a background and a motif drawn on a
// 48×48 canvas, after the pictures it named (butterfly, beach chairs, …).
const AVATARS = {
  av_1: ['#fde2f3', [['ellipse', { cx: 16, cy: 19, rx: 9, ry: 11, fill: '#e0559f' }], ['ellipse', { cx: 32, cy: 19, rx: 9, ry: 11, fill: '#e0559f' }],
    ['ellipse', { cx: 18, cy: 33, rx: 6, ry: 7, fill: '#f59bd0' }], ['ellipse', { cx: 30, cy: 33, rx: 6, ry: 7, fill: '#f59bd0' }],
    ['rect', { x: 22.5, y: 12, width: 3, height: 27, rx: 1.5, fill: '#4a2340' }]]],
  av_2: ['#bfe8ff', [['rect', { y: 30, width: 48, height: 18, fill: '#f3d99b' }], ['circle', { cx: 34, cy: 14, r: 7, fill: '#ffc83d' }],
    ['path', { d: 'M8 38 l10 -12 h4 l-10 12z', fill: '#e8543f' }], ['path', { d: 'M22 40 l10 -12 h4 l-10 12z', fill: '#2f8fd8' }]]],
  av_3: ['#e9e4d8', [['circle', { cx: 18, cy: 16, r: 5, fill: '#222' }], ['path', { d: 'M12 38 l3 -16 h6 l3 16z', fill: '#222' }],
    ['circle', { cx: 32, cy: 20, r: 5, fill: '#fff', stroke: '#777' }], ['path', { d: 'M26 40 l3 -14 h6 l3 14z', fill: '#fff', stroke: '#777' }]]],
  av_4: ['#ffe0b8', [['circle', { cx: 13, cy: 32, r: 7, fill: 'none', stroke: '#333', 'stroke-width': 3 }],
    ['circle', { cx: 35, cy: 32, r: 7, fill: 'none', stroke: '#333', 'stroke-width': 3 }], ['path', { d: 'M13 32 L22 20 H31 L35 32', fill: 'none', stroke: '#e85d1a', 'stroke-width': 3 }]]],
  av_5: ['#d9f2d0', [['ellipse', { cx: 13, cy: 20, rx: 5, ry: 10, fill: '#8b5a2b' }], ['ellipse', { cx: 35, cy: 20, rx: 5, ry: 10, fill: '#8b5a2b' }],
    ['circle', { cx: 24, cy: 26, r: 12, fill: '#c68642' }], ['circle', { cx: 19, cy: 23, r: 1.8, fill: '#222' }], ['circle', { cx: 29, cy: 23, r: 1.8, fill: '#222' }],
    ['ellipse', { cx: 24, cy: 30, rx: 3.5, ry: 2.5, fill: '#222' }]]],
  av_6: ['#d8ecff', [...[0, 45, 90, 135, 180, 225, 270, 315].map((a) => ['ellipse', { cx: 24, cy: 13, rx: 4.5, ry: 9, fill: '#ff9a1f', transform: `rotate(${a} 24 24)` }]),
    ['circle', { cx: 24, cy: 24, r: 6, fill: '#7a4a00' }]]],
  av_7: ['#ffe9c7', [['rect', { y: 38, width: 48, height: 10, fill: '#f0c987' }], ['path', { d: 'M23 40 q2 -14 1 -24', fill: 'none', stroke: '#8b5a2b', 'stroke-width': 3 }],
    ['path', { d: 'M24 16 q-10 -6 -16 2 q8 -2 16 -2 q10 -6 16 2 q-8 -2 -16 -2 q-4 -8 -12 -8 q8 2 12 8 q4 -8 12 -8 q-8 2 -12 8', fill: '#2e9e4a' }]]],
  av_8: ['#1d2b53', [['circle', { cx: 10, cy: 10, r: 1, fill: '#fff' }], ['circle', { cx: 38, cy: 14, r: 1, fill: '#fff' }], ['circle', { cx: 8, cy: 34, r: 1, fill: '#fff' }],
    ['path', { d: 'M24 6 q8 8 6 22 h-12 q-2 -14 6 -22z', fill: '#e8e8f0' }], ['circle', { cx: 24, cy: 18, r: 3, fill: '#4aa3ff' }],
    ['path', { d: 'M18 28 l-5 7 h6z M30 28 l5 7 h-6z', fill: '#e84a5f' }], ['path', { d: 'M20 29 q4 14 8 0z', fill: '#ffb347' }]]],
  av_9: ['#c9efff', [['ellipse', { cx: 24, cy: 33, rx: 15, ry: 8, fill: '#ffd92e' }], ['circle', { cx: 20, cy: 20, r: 8, fill: '#ffd92e' }],
    ['path', { d: 'M11 20 l-6 1 l6 3z', fill: '#ff8a00' }], ['circle', { cx: 18, cy: 18, r: 1.6, fill: '#222' }]]],
  av_10: ['#f6e3c3', [['path', { d: 'M8 34 q6 -14 16 -12 q6 -10 14 -6 l-4 4 q-2 8 -8 10 l2 10 h-3 l-3 -8 l-8 1 l-2 7 h-3z', fill: '#7b4a24' }]]],
  av_11: ['#e6dcff', [['circle', { cx: 26, cy: 10, r: 4, fill: '#5b3a8c' }], ['path', { d: 'M25 14 l-3 12 l-6 6 M22 26 l6 6 M25 17 l-8 3 M25 17 l7 -4', fill: 'none', stroke: '#5b3a8c', 'stroke-width': 3, 'stroke-linecap': 'round' }],
    ['rect', { x: 9, y: 35, width: 28, height: 3, rx: 1.5, fill: '#d44' }], ['circle', { cx: 14, cy: 40, r: 2, fill: '#333' }], ['circle', { cx: 32, cy: 40, r: 2, fill: '#333' }]]],
  av_12: ['#c8f0c8', [['circle', { cx: 24, cy: 24, r: 14, fill: '#fff', stroke: '#222', 'stroke-width': 1.5 }], ['path', { d: 'M24 18 l5.7 4.1 l-2.2 6.7 h-7 l-2.2 -6.7z', fill: '#222' }],
    ['path', { d: 'M24 10 v8 M38 21 l-8.3 1.1 M32 36 l-4.5 -7.2 M16 36 l4.5 -7.2 M10 21 l8.3 1.1', stroke: '#222', 'stroke-width': 1.5 }]]],
  av_bot_matt: ['#1a1a1a', [['circle', { cx: 24, cy: 22, r: 11, fill: '#ddd' }], ['path', { d: 'M17 20 l5 2 M31 20 l-5 2', stroke: '#000', 'stroke-width': 2.5 }],
    ['path', { d: 'M19 29 q5 -3 10 0', fill: 'none', stroke: '#000', 'stroke-width': 2 }], ['path', { d: 'M13 18 q11 -14 22 0 q-4 -4 -11 -4 q-7 0 -11 4', fill: '#000' }],
    ['path', { d: 'M20 34 v8 M28 34 v8', stroke: '#c00', 'stroke-width': 2 }]]],
  av_bot_jeeves: ['#f1ead8', [['circle', { cx: 24, cy: 19, r: 10, fill: '#f2c9a0' }], ['path', { d: 'M14 17 q10 -14 20 0 q-10 -6 -20 0', fill: '#444' }],
    ['path', { d: 'M10 46 q14 -20 28 0z', fill: '#222' }], ['path', { d: 'M18 32 l6 3 l6 -3 v6 l-6 -3 l-6 3z', fill: '#b3123a' }]]],
  av_bot_zerocool: ['#031a05', [...[6, 15, 24, 33, 42].map((x, i) => ['text', { x, y: 14 + (i % 3) * 12, fill: '#28e05a', 'font-size': 11, 'font-family': 'monospace', text: i % 2 ? '1' : '0' }]),
    ['rect', { x: 10, y: 30, width: 28, height: 8, rx: 3, fill: '#000', stroke: '#28e05a' }]]],
  av_bot_euphoria: ['#2a0a4a', [['circle', { cx: 24, cy: 24, r: 15, fill: 'none', stroke: '#ff4fd8', 'stroke-width': 3 }],
    ['circle', { cx: 24, cy: 24, r: 10, fill: 'none', stroke: '#4ff3ff', 'stroke-width': 3 }], ['circle', { cx: 24, cy: 24, r: 5, fill: '#fff94f' }]]],
  av_bot_clippy: ['#eef5ff', [['path', { d: 'M20 40 V14 a5 5 0 0 1 10 0 V34 a3 3 0 0 1 -6 0 V18', fill: 'none', stroke: '#8a94a6', 'stroke-width': 3, 'stroke-linecap': 'round' }],
    ['circle', { cx: 21, cy: 20, r: 3, fill: '#fff', stroke: '#333' }], ['circle', { cx: 30, cy: 20, r: 3, fill: '#fff', stroke: '#333' }],
    ['circle', { cx: 21, cy: 20, r: 1.2, fill: '#333' }], ['circle', { cx: 30, cy: 20, r: 1.2, fill: '#333' }]]],
  av_bot_tom: ['#dfeeff', [['circle', { cx: 24, cy: 22, r: 11, fill: '#f2c9a0' }], ['path', { d: 'M13 19 q11 -12 22 0 q-11 -5 -22 0', fill: '#3b2a1a' }],
    ['path', { d: 'M19 26 q5 5 10 0', fill: 'none', stroke: '#333', 'stroke-width': 2 }], ['path', { d: 'M8 48 q16 -18 32 0z', fill: '#fff', stroke: '#9ab' }]]],
  av_bot_hal: ['#111', [['circle', { cx: 24, cy: 24, r: 16, fill: '#333', stroke: '#777', 'stroke-width': 2 }], ['circle', { cx: 24, cy: 24, r: 9, fill: '#b00' }],
    ['circle', { cx: 24, cy: 24, r: 4, fill: '#ffd23f' }]]],
};

const PALETTE = ['#4a90d9', '#e0559f', '#2e9e4a', '#f08a24', '#8a5cd6', '#d64545', '#1ba39c', '#b8860b'];

function hash(str) {
  let x = 2166136261;
  for (let i = 0; i < str.length; i++) x = Math.imul(x ^ str.charCodeAt(i), 16777619);
  return x >>> 0;
}

export function initials(name) {
  const words = String(name || '').split(/\s+/).map((w) => w.replace(/[^\p{L}\p{N}]/gu, '')).filter(Boolean);
  if (!words.length) return '?';
  const first = [...words[0]];
  const letters = words.length > 1 ? first[0] + [...words[words.length - 1]][0] : first.slice(0, 2).join('');
  return letters.toUpperCase();
}

function draw(specs) {
  return specs.map(([tag, attrs]) => s(tag, attrs));
}

// avatar returns the picture of a user: the motif of their avatar id, or
// their initials on a colour chosen by their handle.
export function avatar(user, size = 48, extraClass = '') {
  const id = (user && user.avatar) || '';
  const known = AVATARS[id];
  const svg = s('svg', { viewBox: '0 0 48 48', width: size, height: size, 'aria-hidden': 'true', focusable: 'false' });
  if (known) {
    svg.append(s('rect', { width: 48, height: 48, fill: known[0] }), ...draw(known[1]));
  } else {
    const key = id || (user && user.handle) || '?';
    svg.append(
      s('rect', { width: 48, height: 48, fill: PALETTE[hash(key) % PALETTE.length] }),
      s('circle', { cx: 40, cy: 8, r: 14, fill: '#fff', 'fill-opacity': 0.18 }),
      s('text', { x: 24, y: 31, 'text-anchor': 'middle', 'font-size': 19, 'font-weight': 'bold', fill: '#fff', 'font-family': 'sans-serif', text: initials(user && user.displayName) }),
    );
  }
  return h('span', { class: 'avatar ' + extraClass }, svg);
}

// ---------------------------------------------------------------- emoticons

// The reference's 19 codes for 10 pictures.
export const EMOTICONS = [
  { name: 'smile', label: 'Smile', codes: [':)', ':-)'] },
  { name: 'sad', label: 'Sad', codes: [':(', ':-('] },
  { name: 'wink', label: 'Wink', codes: [';)', ';-)'] },
  { name: 'tongue', label: 'Tongue out', codes: [':P', ':-P'] },
  { name: 'omg', label: 'Surprised', codes: [':O', ':-O'] },
  { name: 'shades', label: 'Hot', codes: ['(H)', '(h)'] },
  { name: 'devil', label: 'Devil', codes: ['(6)'] },
  { name: 'angel', label: 'Angel', codes: ['(A)', '(a)'] },
  { name: 'heart', label: 'Red heart', codes: ['(L)', '(l)'] },
  { name: 'broken', label: 'Broken heart', codes: ['(U)', '(u)'] },
];

export const EMOTICON_BY_CODE = new Map(EMOTICONS.flatMap((e) => e.codes.map((c) => [c, e])));

const HEART = 'M10 17.5 L3 10.4 A4.1 4.1 0 0 1 10 5 A4.1 4.1 0 0 1 17 10.4 Z';
const eyes = [['ellipse', { cx: 7.2, cy: 8, rx: 1.2, ry: 1.7, fill: '#3b2300' }], ['ellipse', { cx: 12.8, cy: 8, rx: 1.2, ry: 1.7, fill: '#3b2300' }]];
const smile = ['path', { d: 'M5.8 11.6 Q10 16 14.2 11.6', fill: 'none', stroke: '#3b2300', 'stroke-width': 1.4, 'stroke-linecap': 'round' }];
const face = (fill = '#ffd93b', stroke = '#c58a00') => ['circle', { cx: 10, cy: 10, r: 8.6, fill, stroke, 'stroke-width': 1 }];

const EMOTICON_ART = {
  smile: [face(), ...eyes, smile],
  sad: [face(), ...eyes, ['path', { d: 'M6.2 14.6 Q10 10.8 13.8 14.6', fill: 'none', stroke: '#3b2300', 'stroke-width': 1.4, 'stroke-linecap': 'round' }]],
  wink: [face(), eyes[0], ['path', { d: 'M11.2 8.2 h3.2', stroke: '#3b2300', 'stroke-width': 1.4, 'stroke-linecap': 'round' }], smile],
  tongue: [face(), ...eyes, ['path', { d: 'M6 12 h8', stroke: '#3b2300', 'stroke-width': 1.4, 'stroke-linecap': 'round' }], ['ellipse', { cx: 10.8, cy: 14, rx: 2.4, ry: 2.2, fill: '#e8506b' }]],
  omg: [face(), ['circle', { cx: 7.2, cy: 7.6, r: 1.9, fill: '#fff', stroke: '#3b2300' }], ['circle', { cx: 12.8, cy: 7.6, r: 1.9, fill: '#fff', stroke: '#3b2300' }],
    ['ellipse', { cx: 10, cy: 13.6, rx: 2.2, ry: 2.6, fill: '#3b2300' }]],
  shades: [face(), ['path', { d: 'M3.5 7 H16.5 L15.5 10.4 Q13 11.4 11 9.4 H9 Q7 11.4 4.5 10.4 Z', fill: '#111' }], smile],
  devil: [['path', { d: 'M3.5 5.5 L4.5 1 L7.5 4 M16.5 5.5 L15.5 1 L12.5 4', fill: '#b3161d' }], face('#e8463c', '#9b1b12'),
    ['path', { d: 'M5.8 7 l2.6 1.4 M14.2 7 l-2.6 1.4', stroke: '#3b0000', 'stroke-width': 1.4, 'stroke-linecap': 'round' }],
    ['path', { d: 'M5.8 11.6 Q10 16 14.2 11.6', fill: 'none', stroke: '#3b0000', 'stroke-width': 1.4 }]],
  angel: [['circle', { cx: 10, cy: 11, r: 7.8, fill: '#ffd93b', stroke: '#c58a00' }], ['ellipse', { cx: 10, cy: 2.4, rx: 5.5, ry: 1.6, fill: 'none', stroke: '#f2b400', 'stroke-width': 1.3 }],
    ['ellipse', { cx: 7.4, cy: 9.5, rx: 1.1, ry: 1.5, fill: '#3b2300' }], ['ellipse', { cx: 12.6, cy: 9.5, rx: 1.1, ry: 1.5, fill: '#3b2300' }],
    ['path', { d: 'M6.4 12.6 Q10 16.4 13.6 12.6', fill: 'none', stroke: '#3b2300', 'stroke-width': 1.3 }]],
  heart: [['path', { d: HEART, fill: '#e0283c', stroke: '#8e0f1d', 'stroke-width': 0.8 }]],
  broken: [['path', { d: HEART, fill: '#9a8f91', stroke: '#4d4446', 'stroke-width': 0.8 }], ['path', { d: 'M10 5 L8.6 8.6 L11.2 10.6 L9.2 13.6 L10 17.5', fill: 'none', stroke: '#fff', 'stroke-width': 1.3 }]],
};

// emoticon returns the picture of one emoticon, labelled with its code so
// that it reads (and copies) as the text it replaced.
export function emoticon(e, code = e.codes[0], size = 19) {
  const svg = s('svg', { viewBox: '0 0 20 20', width: size, height: size, 'aria-hidden': 'true', focusable: 'false' }, ...draw(EMOTICON_ART[e.name]));
  // The code rides along as hidden text, so the line copies (and reads as
  // textContent) exactly as typed.
  return h('span', { class: 'emo', role: 'img', 'aria-label': code, title: `${e.label} ${code}` }, svg, h('span', { class: 'code' }, code));
}

// ---------------------------------------------------------------- winks

export const WINK_LABELS = {
  beaver: 'Beaver', bow: 'Bow', dancing_pig: 'Dancing pig', frog: 'Frog', guitar_smash: 'Guitar smash', heart: 'Heart',
  kiss: 'Kiss', knock: 'Knock knock', laugh: 'Laugh', rose: 'Rose', silly_face: 'Silly face', ufo: 'UFO',
};

export function winkLabel(name) {
  return WINK_LABELS[name] || String(name).replace(/_/g, ' ');
}

const bigFace = [['circle', { cx: 60, cy: 62, r: 44, fill: '#ffd93b', stroke: '#c58a00', 'stroke-width': 3 }]];
const BIG_HEART = 'M60 104 L20 62 A22 22 0 0 1 60 30 A22 22 0 0 1 100 62 Z';

// Each wink: a drawing on a 120×120 canvas and the name of its animation.
const WINKS = {
  beaver: ['bounce', [['circle', { cx: 34, cy: 30, r: 10, fill: '#6b3f1f' }], ['circle', { cx: 86, cy: 30, r: 10, fill: '#6b3f1f' }],
    ['ellipse', { cx: 60, cy: 64, rx: 40, ry: 42, fill: '#8b5a2b' }], ['ellipse', { cx: 60, cy: 78, rx: 22, ry: 18, fill: '#c89058' }],
    ['circle', { cx: 46, cy: 52, r: 5, fill: '#111' }], ['circle', { cx: 74, cy: 52, r: 5, fill: '#111' }], ['ellipse', { cx: 60, cy: 68, rx: 8, ry: 5, fill: '#222' }],
    ['rect', { x: 52, y: 80, width: 16, height: 14, rx: 2, fill: '#fff', stroke: '#bbb' }], ['path', { d: 'M60 80 v14', stroke: '#bbb' }]]],
  bow: ['spin', [['path', { d: 'M60 60 C30 20 8 40 20 64 C30 84 50 70 60 60 Z', fill: '#e8467c' }], ['path', { d: 'M60 60 C90 20 112 40 100 64 C90 84 70 70 60 60 Z', fill: '#e8467c' }],
    ['path', { d: 'M56 64 L40 108 L52 100 L58 110 Z M64 64 L80 108 L68 100 L62 110 Z', fill: '#c92f62' }], ['circle', { cx: 60, cy: 60, r: 11, fill: '#ff7aa8' }]]],
  dancing_pig: ['dance', [['path', { d: 'M26 34 L34 10 L48 28 Z M94 34 L86 10 L72 28 Z', fill: '#f08cb0' }], ['circle', { cx: 60, cy: 60, r: 40, fill: '#ffb3cc' }],
    ['ellipse', { cx: 60, cy: 72, rx: 16, ry: 11, fill: '#f08cb0' }], ['ellipse', { cx: 54, cy: 72, rx: 3, ry: 4, fill: '#a0506a' }], ['ellipse', { cx: 66, cy: 72, rx: 3, ry: 4, fill: '#a0506a' }],
    ['circle', { cx: 46, cy: 50, r: 4.5, fill: '#222' }], ['circle', { cx: 74, cy: 50, r: 4.5, fill: '#222' }]]],
  frog: ['hop', [['circle', { cx: 38, cy: 36, r: 15, fill: '#4caf50' }], ['circle', { cx: 82, cy: 36, r: 15, fill: '#4caf50' }],
    ['ellipse', { cx: 60, cy: 70, rx: 46, ry: 34, fill: '#4caf50' }], ['circle', { cx: 38, cy: 36, r: 8, fill: '#fff' }], ['circle', { cx: 82, cy: 36, r: 8, fill: '#fff' }],
    ['circle', { cx: 39, cy: 37, r: 4, fill: '#111' }], ['circle', { cx: 83, cy: 37, r: 4, fill: '#111' }],
    ['path', { d: 'M30 74 Q60 98 90 74', fill: 'none', stroke: '#1b5e20', 'stroke-width': 4, 'stroke-linecap': 'round' }]]],
  guitar_smash: ['smash', [['rect', { x: 56, y: 6, width: 9, height: 58, fill: '#6d4c2f' }], ['rect', { x: 52, y: 2, width: 17, height: 12, rx: 3, fill: '#333' }],
    ['circle', { cx: 60, cy: 76, r: 22, fill: '#d2452a' }], ['circle', { cx: 60, cy: 98, r: 18, fill: '#d2452a' }], ['circle', { cx: 60, cy: 84, r: 6, fill: '#3a1a0a' }],
    ['path', { d: 'M14 96 l14 -6 M104 96 l-14 -6 M20 114 l14 -10 M100 114 l-14 -10', stroke: '#ffb000', 'stroke-width': 4, 'stroke-linecap': 'round' }]]],
  heart: ['pulse', [['path', { d: BIG_HEART, fill: '#e0283c', stroke: '#8e0f1d', 'stroke-width': 3 }], ['ellipse', { cx: 40, cy: 52, rx: 8, ry: 5, fill: '#fff', 'fill-opacity': 0.5, transform: 'rotate(-35 40 52)' }]]],
  kiss: ['float', [['path', { d: 'M14 60 Q36 34 60 48 Q84 34 106 60 Q84 92 60 92 Q36 92 14 60 Z', fill: '#e0283c' }], ['path', { d: 'M16 60 Q60 70 104 60', fill: 'none', stroke: '#8e0f1d', 'stroke-width': 3 }],
    ['ellipse', { cx: 44, cy: 74, rx: 10, ry: 4, fill: '#fff', 'fill-opacity': 0.4 }]]],
  knock: ['knock', [['rect', { x: 26, y: 8, width: 68, height: 108, rx: 4, fill: '#8b5a2b', stroke: '#5a3a1a', 'stroke-width': 3 }],
    ['rect', { x: 36, y: 20, width: 48, height: 34, rx: 3, fill: 'none', stroke: '#5a3a1a', 'stroke-width': 3 }], ['rect', { x: 36, y: 64, width: 48, height: 40, rx: 3, fill: 'none', stroke: '#5a3a1a', 'stroke-width': 3 }],
    ['circle', { cx: 82, cy: 62, r: 5, fill: '#f2c200' }], ['text', { x: 60, y: 42, 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold', fill: '#fff', 'font-family': 'sans-serif', text: 'knock!' }]]],
  laugh: ['giggle', [...bigFace, ['path', { d: 'M36 50 q8 -10 16 0 M68 50 q8 -10 16 0', fill: 'none', stroke: '#3b2300', 'stroke-width': 4, 'stroke-linecap': 'round' }],
    ['path', { d: 'M32 66 Q60 112 88 66 Z', fill: '#6b1d1d' }], ['path', { d: 'M44 92 Q60 100 76 92 Q60 82 44 92', fill: '#e8506b' }],
    ['path', { d: 'M20 48 q-6 8 0 14 M100 48 q6 8 0 14', fill: 'none', stroke: '#4aa3ff', 'stroke-width': 3 }]]],
  rose: ['float', [['path', { d: 'M60 60 Q56 90 62 116', fill: 'none', stroke: '#2e7d32', 'stroke-width': 5 }], ['path', { d: 'M60 90 Q80 76 90 88 Q76 98 60 90', fill: '#43a047' }],
    ['circle', { cx: 60, cy: 42, r: 24, fill: '#c62828' }], ['circle', { cx: 50, cy: 36, r: 13, fill: '#e53935' }], ['circle', { cx: 70, cy: 38, r: 12, fill: '#d32f2f' }],
    ['path', { d: 'M52 42 q8 -14 16 0 q-8 8 -16 0', fill: '#8e0000' }]]],
  silly_face: ['wobble', [...bigFace, ['circle', { cx: 44, cy: 48, r: 9, fill: '#fff', stroke: '#3b2300', 'stroke-width': 2 }], ['circle', { cx: 76, cy: 48, r: 9, fill: '#fff', stroke: '#3b2300', 'stroke-width': 2 }],
    ['circle', { cx: 48, cy: 50, r: 4, fill: '#111' }], ['circle', { cx: 72, cy: 46, r: 4, fill: '#111' }], ['path', { d: 'M36 74 H84', stroke: '#3b2300', 'stroke-width': 4, 'stroke-linecap': 'round' }],
    ['path', { d: 'M52 74 v12 a8 8 0 0 0 16 0 v-12 z', fill: '#e8506b' }]]],
  ufo: ['fly', [['path', { d: 'M40 88 L28 116 H92 L80 88 Z', fill: '#fff59d', 'fill-opacity': 0.7 }], ['ellipse', { cx: 60, cy: 52, rx: 22, ry: 20, fill: '#8fd3ff', stroke: '#4a90d9', 'stroke-width': 2 }],
    ['ellipse', { cx: 60, cy: 70, rx: 52, ry: 16, fill: '#9aa5b1', stroke: '#5b6670', 'stroke-width': 2 }],
    ...[24, 42, 60, 78, 96].map((cx) => ['circle', { cx, cy: 70, r: 3.5, fill: '#ffeb3b' }])]],
};

// winkPicture returns a wink's drawing; big pictures carry their animation.
export function winkPicture(name, size = 120, animated = false) {
  const w = WINKS[name] || ['pulse', [['circle', { cx: 60, cy: 60, r: 40, fill: '#8a5cd6' }], ['text', { x: 60, y: 68, 'text-anchor': 'middle', 'font-size': 24, fill: '#fff', 'font-family': 'sans-serif', text: '?' }]]];
  const svg = s('svg', { viewBox: '0 0 120 120', width: size, height: size, 'aria-hidden': 'true', focusable: 'false', class: animated ? 'wink-anim wink-' + w[0] : null }, ...draw(w[1]));
  return svg;
}

// ---------------------------------------------------------------- logo

// logo is the two buddies of the Messenger icon.
export function logo(size = 40) {
  return s('svg', { viewBox: '0 0 48 48', width: size, height: size, 'aria-hidden': 'true', focusable: 'false', class: 'logo' },
    s('circle', { cx: 30, cy: 13, r: 7, fill: '#2f8fd8' }), s('path', { d: 'M18 40 q0 -18 12 -18 q12 0 12 18 q-12 6 -24 0z', fill: '#2f8fd8' }),
    s('circle', { cx: 17, cy: 17, r: 7.5, fill: '#3cb34a', stroke: '#fff', 'stroke-width': 1.5 }),
    s('path', { d: 'M4 45 q0 -19 13 -19 q13 0 13 19 q-13 6 -26 0z', fill: '#3cb34a', stroke: '#fff', 'stroke-width': 1.5 }));
}

// ---------------------------------------------------------------- sounds

let audio = null;
let muted = false;

export function setMuted(m) {
  muted = !!m;
}

export function isMuted() {
  return muted;
}

// unlockAudio creates the audio context; browsers allow that only after a
// user gesture, so the client calls it on the first click or key press.
export function unlockAudio() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!audio && AC) {
    try {
      audio = new AC();
    } catch {
      audio = null;
    }
  }
  if (audio && audio.state === 'suspended') audio.resume().catch(() => {});
}

function tone(freq, start, dur, { type = 'sine', gain = 0.12, to } = {}) {
  const t0 = audio.currentTime + start;
  const osc = audio.createOscillator();
  const g = audio.createGain();
  osc.type = type;
  osc.frequency.setValueAtTime(freq, t0);
  if (to) osc.frequency.exponentialRampToValueAtTime(to, t0 + dur);
  g.gain.setValueAtTime(0.0001, t0);
  g.gain.exponentialRampToValueAtTime(gain, t0 + 0.015);
  g.gain.exponentialRampToValueAtTime(0.0001, t0 + dur);
  osc.connect(g).connect(audio.destination);
  osc.start(t0);
  osc.stop(t0 + dur + 0.05);
}

// play plays one of the client's sounds: message, nudge, online or wink.
export function play(name) {
  if (muted || !audio || audio.state !== 'running') return;
  try {
    switch (name) {
      case 'message':
        tone(880, 0, 0.14);
        tone(1318, 0.12, 0.22);
        break;
      case 'nudge':
        for (let i = 0; i < 6; i++) tone(i % 2 ? 140 : 180, i * 0.08, 0.09, { type: 'square', gain: 0.07 });
        tone(300, 0, 0.5, { type: 'sawtooth', gain: 0.04, to: 90 });
        break;
      case 'online':
        tone(523, 0, 0.12);
        tone(659, 0.1, 0.12);
        tone(784, 0.2, 0.2);
        break;
      case 'wink':
        tone(1568, 0, 0.1, { type: 'triangle' });
        tone(2093, 0.08, 0.18, { type: 'triangle' });
        break;
    }
  } catch {
    /* audio is a nicety */
  }
}
