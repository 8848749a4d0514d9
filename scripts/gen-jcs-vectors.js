#!/usr/bin/env node
// gen-jcs-vectors.js - make tests/vectors/jcs/NAME.json (input text) and
// NAME.out (its RFC 8785 canonical form as computed here by node) for the
// unit and shell tests. Deterministic: a fixed-seed PRNG.
//   node scripts/gen-jcs-vectors.js [OUTDIR]
'use strict';
const fs = require('fs');
const path = require('path');

// RFC 8785 in a few lines: JSON.parse gives ECMAScript values; keys sorted
// by the default sort (UTF-16 code units); JSON.stringify for primitives
// (ECMAScript number form, minimal string escaping).
function canon(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  return '{' + Object.keys(v).sort()
    .map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
}

let seed = 0x2545f491;
function rnd() { // xorshift32, [0, 1)
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];

function randDouble() {
  const dv = new DataView(new ArrayBuffer(8));
  for (;;) {
    dv.setUint32(0, Math.floor(rnd() * 4294967296));
    dv.setUint32(4, Math.floor(rnd() * 4294967296));
    const x = dv.getFloat64(0);
    if (Number.isFinite(x)) return x;
  }
}

const KEYS = ['a', 'b', 'A', 'Z', '_', 'day', 'n', 'tags', 'opts', 'x', '10', '2', '',
  'é', 'ü', 'ñame', '€', '日本', '한국', '😂', '👍🏽', '\ufb33', '\ue000', '\uffff',
  '\u{10000}', '\u{10ffff}', 'a\u0001', 'tab\t', 'quo"te', 'back\\slash', 'sl/ash',
  '\u2028', '\u007f', 'aa', 'ab', 'a😂', 'a\ufb33'];
const STRS = ['', 'hello', 'x/y', 'line\nbreak', 'ctl\u0001\u001f', 'q"\\', '€uro',
  '😂', '\ud83d\ude02\ufb33', 'emoji 👍🏽 mix', '\u2028\u2029', 'tab\there', '\u007f\u0080',
  'ñandú', '日本語テキスト', '\b\f\r'];

function randValue(depth) {
  const r = rnd();
  if (depth > 4 || r < 0.45) {
    const t = rnd();
    if (t < 0.2) return randDouble();
    if (t < 0.35) return Math.floor(rnd() * 2000) - 1000;
    if (t < 0.45) return pick([0, -0, 1e21, 1e-7, 0.1, 123456789012345680000, 5e-324,
      1.7976931348623157e308, 9007199254740992, -1.5, 333333333.33333329]);
    if (t < 0.8) return pick(STRS);
    return pick([true, false, null]);
  }
  if (r < 0.7) {
    const n = Math.floor(rnd() * 6);
    const a = [];
    for (let i = 0; i < n; i++) a.push(randValue(depth + 1));
    return a;
  }
  const n = Math.floor(rnd() * 8);
  const o = {};
  for (let i = 0; i < n; i++) o[pick(KEYS)] = randValue(depth + 1);
  return o;
}

// Text for v: random indentation, and sometimes non-ASCII as \u escapes
// (only strings hold non-ASCII, so a text-wide replace is safe).
function text(v, i) {
  let s = JSON.stringify(v, null, pick([0, 0, 1, 2, '\t']));
  if (i % 3 === 0) s = s.replace(/[\u0080-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, pick([0, 1]) ? '0' : '0'));
  if (i % 3 === 1) s = s.replace(/\//g, '\\/');
  return ' \r\n' + s + '\n\t ';
}

const out = process.argv[2] || path.join(__dirname, '..', 'tests', 'vectors', 'jcs');
fs.mkdirSync(out, { recursive: true });
const fixed = {
  // RFC 8785 section 3.2.2 sample
  'rfc8785-sample': '{\n  "numbers": [333333333.33333329, 1E30, 4.50,\n' +
    '              2e-3, 0.000000000000000000000000001],\n' +
    '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n' +
    '  "literals": [null, true, false]\n}',
  // RFC 8785 section 3.2.3 sorting sample (UTF-16 order)
  'rfc8785-sorting': '{\n  "\\u20ac": "Euro Sign",\n  "\\r": "Carriage Return",\n' +
    '  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "1": "One",\n' +
    '  "\\ud83d\\ude00": "Emoji: Grinning Face",\n  "\\u0080": "Control",\n' +
    '  "\\u00f6": "Latin Small Letter O With Diaeresis"\n}',
  'utf16-order': '{"\\ufb33":1,"\\ud83d\\ude02":2,"\\ue000":3,"\\uffff":4,"\\ud800\\udc00":5,"z":6}',
  // every control character escaped, in both the short and the \\u forms
  'escapes': '["' + Array.from({ length: 31 }, (_, i) =>
    '\\u' + (i + 1).toString(16).padStart(4, '0')).join('') +
    '\\b\\f\\n\\r\\t\\"\\\\\\/\\u007f\\u2028"]',
  'numbers': '[0,-0,1,-1,0.1,1e21,1e20,1e-6,1e-7,123456789012345680000,5e-324,' +
    '1.7976931348623157e308,2.2250738585072014e-308,9007199254740992,-9007199254740992,' +
    '1E+2,1e-2,4.5e0,0.30000000000000004,100,1e-400]',
  'nested-empty': '{"a":{},"b":[],"c":[{}],"d":[[[]]],"e":""}',
  'scalar-string': '"\\u00e9\\t/"',
  'scalar-number': '  1.0  ',
  'literals': '[true,false,null]',
};
let count = 0;
for (const [name, t] of Object.entries(fixed)) {
  fs.writeFileSync(path.join(out, name + '.json'), t);
  fs.writeFileSync(path.join(out, name + '.out'), canon(JSON.parse(t)));
  count++;
}
for (let i = 0; i < 40; i++) {
  const v = i % 4 === 3 ? randValue(0) : (() => { // mostly objects
    const o = {};
    const n = 3 + Math.floor(rnd() * 10);
    for (let k = 0; k < n; k++) o[pick(KEYS)] = randValue(1);
    return o;
  })();
  const t = text(v, i);
  const name = 'random-' + String(i).padStart(2, '0');
  fs.writeFileSync(path.join(out, name + '.json'), t);
  fs.writeFileSync(path.join(out, name + '.out'), canon(JSON.parse(t)));
  count++;
}
console.log(`wrote ${count} vectors to ${out}`);
