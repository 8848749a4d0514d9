#!/usr/bin/env node
// gen-number-vectors.js - reference data for src/numfmt.c, computed by node.
//
//   node scripts/gen-number-vectors.js [SEED] > tests/vectors/numbers.txt
//       One line per double: "<16 hex digits of the IEEE bits> <String(x)>".
//       Every power of two 2^-1074..2^1023 with both neighbours, the smallest
//       subnormals, random subnormals, random bit patterns and random "short
//       decimal" values, all from a fixed seed so the file is reproducible.
//
//   node scripts/gen-number-vectors.js --pow10-table
//       Prints the C table of 126-bit powers of ten that src/numfmt.c embeds
//       (g = floor(10^e * 2^-r) + 1 with 2^125 <= g < 2^126), and checks the
//       integer-log formulas numfmt.c uses against exact BigInt arithmetic.
//
//   node scripts/gen-number-vectors.js --pow5-table
//       Prints the C table of 128-bit truncated powers of five that
//       tf_numparse's Eisel-Lemire path uses: t = floor(5^q * 2^(127 - b))
//       with b = floor(log2(5^q)), so 2^127 <= t < 2^128, q in [-342, 308];
//       checks that b = flog2pow10(q) - q and that t is exact for exactly
//       q in [0, 55].
'use strict';

const buf = new DataView(new ArrayBuffer(8));

function bitsToDouble(hi, lo) {
    buf.setUint32(0, hi >>> 0);
    buf.setUint32(4, lo >>> 0);
    return buf.getFloat64(0);
}

function doubleToHex(x) {
    buf.setFloat64(0, x);
    return buf.getUint32(0).toString(16).padStart(8, '0') +
        buf.getUint32(4).toString(16).padStart(8, '0');
}

// mulberry32: small seeded 32-bit generator (reproducible, not crypto).
function rng(seed) {
    let a = seed >>> 0;
    return function () {
        a = (a + 0x6D2B79F5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (t ^ (t >>> 14)) >>> 0;
    };
}

// 2^e as an exact double, e in [-1074, 1023].
function pow2(e) {
    if (e >= -1022)
        return bitsToDouble((e + 1023) << 20, 0);
    const s = e + 1074; // subnormal: bit s of the 52-bit field
    return s >= 32 ? bitsToDouble(1 << (s - 32), 0) : bitsToDouble(0, (2 ** s) >>> 0);
}

function nextUp(x) { // x finite and > 0
    buf.setFloat64(0, x);
    let lo = buf.getUint32(4), hi = buf.getUint32(0);
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    return bitsToDouble(hi, lo);
}

function nextDown(x) { // x finite and > 0
    buf.setFloat64(0, x);
    let lo = buf.getUint32(4), hi = buf.getUint32(0);
    if (lo === 0) hi = (hi - 1) >>> 0;
    lo = (lo - 1) >>> 0;
    return bitsToDouble(hi, lo);
}

// Every power of two and its neighbours (exported for scripts/diff-numbers).
function powersOfTwo() {
    const out = [];
    for (let e = -1074; e <= 1023; e++) {
        const p = pow2(e);
        out.push(nextDown(p), p);
        out.push(nextUp(p));
    }
    return out;
}

// A uniformly random finite double over the bit patterns.
function randomBits(next) {
    for (;;) {
        const x = bitsToDouble(next(), next());
        if (Number.isFinite(x)) return x;
    }
}

// A random decimal with 1..17 significant digits and a random exponent.
function randomShortDecimal(next) {
    const ndig = 1 + (next() % 17);
    let m = String(1 + (next() % 9));
    for (let i = 1; i < ndig; i++) m += String(next() % 10);
    const e = (next() % 660) - 340;
    const x = Number(m + 'e' + e);
    return Number.isFinite(x) ? x : 1;
}

function vectors(seed) {
    const next = rng(seed);
    const xs = powersOfTwo();
    for (let c = 1; c <= 1500; c++) xs.push(bitsToDouble(0, c)); // smallest subnormals
    for (let i = 0; i < 1500; i++) xs.push(bitsToDouble(next() & 0xfffff, next()));
    for (let i = 0; i < 5000; i++) xs.push(randomBits(next));
    for (let i = 0; i < 5000; i++) xs.push(randomShortDecimal(next));
    for (let i = 0; i < 500; i++) xs.push(next() % 100000); // small integers
    for (let i = 0; i < 500; i++) xs.push((next() % 1000000) / 1000); // money-like
    const lines = [];
    for (const x0 of xs) {
        const x = (next() & 1) ? -x0 : x0;
        lines.push(doubleToHex(x) + ' ' + String(x));
    }
    return lines;
}

// ---- --pow10-table ----------------------------------------------------

function bitlen(n) { return n.toString(2).length; }

function floorLog2Pow10(k) { // floor(k * log2(10)), exact
    if (k === 0) return 0;
    const p = 10n ** BigInt(Math.abs(k));
    return k > 0 ? bitlen(p) - 1 : -bitlen(p); // 10^|k| is never a power of two
}

function floorLog10(num, den) { // floor(log10(num/den)), num, den > 0 BigInt
    let k = 0;
    while (num >= den * 10n) { den *= 10n; k++; }
    while (num < den) { num *= 10n; k--; }
    return k;
}

function shr(a, n) { return a >> BigInt(n); } // arithmetic shift like C on int64

function pow10Table() {
    // Check the multiply-shift logarithms numfmt.c uses, over the ranges it uses.
    for (let q = -1074; q <= 971; q++) {
        const num = q >= 0 ? 2n ** BigInt(q) : 1n, den = q >= 0 ? 1n : 2n ** BigInt(-q);
        if (Number(shr(BigInt(q) * 661971961083n, 41)) !== floorLog10(num, den))
            throw new Error('flog10pow2 wrong at ' + q);
        const k34 = floorLog10(3n * num, 4n * den);
        if (Number(shr(BigInt(q) * 661971961083n - 274743187321n, 41)) !== k34)
            throw new Error('flog10threequarterspow2 wrong at ' + q);
    }
    for (let k = -400; k <= 400; k++)
        if (Number(shr(BigInt(k) * 913124641741n, 38)) !== floorLog2Pow10(k))
            throw new Error('flog2pow10 wrong at ' + k);
    const lines = [];
    const mask = (1n << 64n) - 1n;
    for (let k = -292; k <= 324; k++) {
        const r = floorLog2Pow10(k) - 125;
        let g;
        if (k >= 0) {
            const p = 10n ** BigInt(k);
            g = r >= 0 ? p >> BigInt(r) : p << BigInt(-r);
        } else {
            g = (1n << BigInt(-r)) / 10n ** BigInt(-k);
        }
        g += 1n;
        if (g < 1n << 125n || g >= 1n << 126n) throw new Error('g out of range at ' + k);
        const hex = (v) => '0x' + v.toString(16).padStart(16, '0');
        lines.push(`    {${hex(g >> 64n)}, ${hex(g & mask)}}, /* 10^${k} */`);
    }
    return lines;
}

// ---- --pow5-table -----------------------------------------------------

function pow5Table() {
    const lines = [];
    const mask = (1n << 64n) - 1n;
    const hex = (v) => '0x' + v.toString(16).padStart(16, '0');
    for (let q = -342; q <= 308; q++) {
        const p = 5n ** BigInt(Math.abs(q));
        // b = floor(log2(5^q)); 5^|q| is never a power of two
        const b = q >= 0 ? bitlen(p) - 1 : -bitlen(p);
        if (b !== Number(shr(BigInt(q) * 913124641741n, 38)) - q)
            throw new Error('flog2pow10(q) - q wrong at ' + q);
        const k = 127 - b; // t = 5^q * 2^k, truncated
        let t, exact;
        if (q >= 0) {
            t = k >= 0 ? p << BigInt(k) : p >> BigInt(-k);
            exact = k >= 0 || (p & ((1n << BigInt(-k)) - 1n)) === 0n;
        } else {
            t = (1n << BigInt(k)) / p;
            exact = false; // 5^q with q < 0 is not a dyadic rational
        }
        if (t < 1n << 127n || t >= 1n << 128n) throw new Error('t out of range at ' + q);
        if (exact !== (q >= 0 && q <= 55)) throw new Error('exactness wrong at ' + q);
        lines.push(`    {${hex(t >> 64n)}, ${hex(t & mask)}}, /* 5^${q} */`);
    }
    return lines;
}

if (require.main === module) {
    const arg = process.argv[2];
    const out = arg === '--pow10-table' ? pow10Table()
        : arg === '--pow5-table' ? pow5Table() : vectors(Number(arg || 20240611));
    process.stdout.write(out.join('\n') + '\n');
}

module.exports = { bitsToDouble, doubleToHex, rng, powersOfTwo, randomBits };
