// common.mjs — what the golden scripts share: the fetched package's own
// dist/face-api.node-wasm.js loaded by path on the pinned tfjs + wasm backend, image helpers
// (PGM, JPEG via jpeg-js, crops, tf.image.resizeBilinear to uint8), and the FTGOLDEN writer.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const shared = process.env.FT_SHARED_DIR || path.resolve(repo, '../shared');
const faDir = process.env.FT_FACEAPI_DIR || path.join(os.homedir(), '.cache/facetwin/face-api');
export const pkgDir = path.join(faDir, 'package');

if (!fs.existsSync(path.join(pkgDir, 'dist/face-api.node-wasm.js'))) {
  console.error(`no face-api package in ${pkgDir} (run deploy/fetch-face-api.sh)`);
  process.exit(1);
}
// The dist file require()s tfjs from its own location, where it is not installed: point Node's
// resolver at ours (one shared tfjs instance).
process.env.NODE_PATH = path.join(here, 'node_modules');
const Module = createRequire(import.meta.url)('module');
Module._initPaths();
const require = createRequire(import.meta.url);
export const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const jpeg = require('jpeg-js');
export const faceapi = require(path.join(pkgDir, 'dist/face-api.node-wasm.js'));

export async function ready() {
  await tf.setBackend('wasm');
  await tf.ready();
  if (tf.getBackend() !== 'wasm') throw new Error(`backend is ${tf.getBackend()}, not wasm`);
}

export function readPgm(file) {
  const b = fs.readFileSync(file);
  const tok = [];
  let i = 0;
  while (tok.length < 4) {
    while (/\s/.test(String.fromCharCode(b[i]))) i++;
    if (b[i] === 0x23) { while (b[i] !== 0x0a) i++; continue; }
    let s = '';
    while (!/\s/.test(String.fromCharCode(b[i]))) s += String.fromCharCode(b[i++]);
    tok.push(s);
  }
  i++;
  if (tok[0] !== 'P5' || tok[3] !== '255') throw new Error(`${file}: not an 8-bit P5 PGM`);
  return { w: +tok[1], h: +tok[2], c: 1, data: b.subarray(i, i + +tok[1] * +tok[2]) };
}

// file: a path, or the file's bytes (a Buffer / Uint8Array) already read.
export function readJpeg(file) {
  const bytes = typeof file === 'string' ? fs.readFileSync(file) : file;
  const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  return { w: j.width, h: j.height, c: 3, data: j.data };
}

// HWC uint8 image -> size x size RGB uint8 (tf.image.resizeBilinear, rounded; grey replicated).
export function toSquare(img, size) {
  return tf.tidy(() => {
    let t = tf.tensor3d(Float32Array.from(img.data), [img.h, img.w, img.c]);
    if (img.w !== size || img.h !== size) t = tf.image.resizeBilinear(t, [size, size]);
    if (img.c === 1) t = tf.tile(t, [1, 1, 3]);
    return Uint8Array.from(t.round().clipByValue(0, 255).dataSync());
  });
}

export function crop(img, x0, y0, w, h) {
  const data = new Uint8Array(w * h * img.c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < img.c; k++) data[(y * w + x) * img.c + k] = img.data[((y0 + y) * img.w + x0 + x) * img.c + k];
  return { w, h, c: img.c, data };
}

export function synthetic(size) {
  const data = new Uint8Array(size * size * 3);
  const c = size / 2;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let k = 0; k < 3; k++) {
        const r = Math.hypot(x - c, y - c + 5);
        const v = 128 + 90 * Math.cos(r / 6 + k) * Math.exp(-r / 90) + 30 * Math.sin((x * (k + 1)) / 11);
        data[(y * size + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return data;
}

// Fixture (gzip of, little-endian): "FTGOLDEN", u32 version 1, u32 n, u32 width, u32 height,
// u32 channels (3), u32 dim, u32 meta_len, meta JSON; n records: u16 name_len, name,
// height*width*channels uint8 pixels (HWC, RGB), dim float32 values.
export function writeGolden(out, size, dim, meta, recs) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const m = JSON.stringify({ ...meta, face_api: JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'))).version,
    tfjs: tf.version.tfjs, backend: tf.getBackend() });
  parts.push(Buffer.from('FTGOLDEN'));
  [1, recs.length, size, size, 3, dim, Buffer.byteLength(m)].forEach(u32);
  parts.push(Buffer.from(m));
  for (const r of recs) {
    const nb = Buffer.from(r.name);
    const l = Buffer.alloc(2); l.writeUInt16LE(nb.length); parts.push(l, nb);
    parts.push(Buffer.from(r.px.buffer, r.px.byteOffset, r.px.byteLength));
    if (r.v.length !== dim) throw new Error(`${r.name}: ${r.v.length} values, not ${dim}`);
    const fb = Buffer.alloc(4 * dim);
    r.v.forEach((v, k) => fb.writeFloatLE(v, 4 * k));
    parts.push(fb);
  }
  const gz = zlib.gzipSync(Buffer.concat(parts), { level: 9 });
  fs.writeFileSync(out, gz);
  console.log(`wrote ${out} (${gz.length} bytes, ${recs.length} inputs)`);
}
