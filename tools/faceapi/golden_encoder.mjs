// golden_encoder.mjs — the reference face descriptors for tests/test_faceapi.c (llm.c style).
//
//   bash deploy/fetch-face-api.sh              (the package, into $FT_FACEAPI_DIR)
//   cd tools/faceapi && npm ci && node golden_encoder.mjs [OUT]
//                                              (OUT: ../../tests/fixtures/faceapi_encoder.bin.gz)
//
// Runs @vladmandic/face-api's OWN JavaScript (dist/face-api.node-wasm.js of the fetched package,
// loaded by path — the network is not re-implemented here) on @tensorflow/tfjs with the wasm
// backend, both pinned in package-lock.json. The face recognition net is loaded from the
// package's model/ folder with its own loadFromDisk, and computeFaceDescriptor is called on
// fixed 150x150 RGB uint8 inputs:
//   - three ORL faces (s1/1, s1/2, s2/1): the 92x112 grey image resized to 150x150 with
//     tf.image.resizeBilinear, rounded to uint8 and replicated to RGB;
//   - one photo crop: a 400x400 square of photos/people/obama/obama.jpg (decoded with jpeg-js)
//     resized the same way;
//   - one deterministic synthetic pattern.
// How the inputs were made does not matter to the test: the fixture stores their exact bytes and
// the C side feeds those same bytes through its normal input path. At 150x150 face-api's
// toBatchTensor neither pads nor resizes, so both sides see the same pixels.
//
// Fixture (gzip of, little-endian): "FTGOLDEN", u32 version 1, u32 n, u32 width, u32 height,
// u32 channels (3), u32 dim (128), u32 meta_len, meta JSON (versions, how made); then n records:
// u16 name_len, name, height*width*channels uint8 pixels (row-major, RGB interleaved),
// dim float32 descriptor.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const shared = process.env.FT_SHARED_DIR || path.resolve(repo, '../shared');
const faDir = process.env.FT_FACEAPI_DIR || path.join(os.homedir(), '.cache/facetwin/face-api');
const pkgDir = path.join(faDir, 'package');
const out = path.resolve(process.argv[2] || path.join(repo, 'tests/fixtures/faceapi_encoder.bin.gz'));
const SIZE = 150;

if (!fs.existsSync(path.join(pkgDir, 'dist/face-api.node-wasm.js'))) {
  console.error(`golden_encoder: no face-api package in ${pkgDir} (run deploy/fetch-face-api.sh)`);
  process.exit(1);
}
// The package's dist file require()s @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm from its
// own location, where they are not installed: point Node's resolver at ours (one shared instance).
process.env.NODE_PATH = path.join(here, 'node_modules');
const Module = createRequire(import.meta.url)('module');
Module._initPaths();
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const jpeg = require('jpeg-js');
const faceapi = require(path.join(pkgDir, 'dist/face-api.node-wasm.js'));

function readPgm(file) {
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
  const w = +tok[1], h = +tok[2];
  return { w, h, c: 1, data: b.subarray(i, i + w * h) };
}

// HWC uint8 image -> SIZExSIZE RGB uint8 via tf.image.resizeBilinear, grey replicated.
function toInput(img) {
  return tf.tidy(() => {
    let t = tf.tensor3d(Float32Array.from(img.data), [img.h, img.w, img.c]);
    if (img.w !== SIZE || img.h !== SIZE) t = tf.image.resizeBilinear(t, [SIZE, SIZE]);
    if (img.c === 1) t = tf.tile(t, [1, 1, 3]);
    return Uint8Array.from(t.round().clipByValue(0, 255).dataSync());
  });
}

function crop(img, x0, y0, w, h) {
  const data = new Uint8Array(w * h * img.c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < img.c; k++) data[(y * w + x) * img.c + k] = img.data[((y0 + y) * img.w + x0 + x) * img.c + k];
  return { w, h, c: img.c, data };
}

function synthetic() {
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++)
      for (let k = 0; k < 3; k++) {
        const r = Math.hypot(x - 75, y - 70);
        const v = 128 + 90 * Math.cos(r / 6 + k) * Math.exp(-r / 90) + 30 * Math.sin((x * (k + 1)) / 11);
        data[(y * SIZE + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return data;
}

async function main() {
  await tf.setBackend('wasm');
  await tf.ready();
  if (tf.getBackend() !== 'wasm') throw new Error(`backend is ${tf.getBackend()}, not wasm`);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(path.join(pkgDir, 'model'));

  const orl = path.join(shared, 'datasets/orl');
  const photo = path.join(shared, 'datasets/photos/people/obama/obama.jpg');
  const jp = jpeg.decode(fs.readFileSync(photo), { useTArray: true, formatAsRGBA: false });
  const inputs = [
    ['orl/s1/1.pgm', toInput(readPgm(path.join(orl, 's1/1.pgm')))],
    ['orl/s1/2.pgm', toInput(readPgm(path.join(orl, 's1/2.pgm')))],
    ['orl/s2/1.pgm', toInput(readPgm(path.join(orl, 's2/1.pgm')))],
    ['photos/people/obama/obama.jpg[255:655,180:580]',
      toInput(crop({ w: jp.width, h: jp.height, c: 3, data: jp.data }, 255, 180, 400, 400))],
    ['synthetic', synthetic()],
  ];
  const recs = [];
  for (const [name, px] of inputs) {
    const t = tf.tensor3d(px, [SIZE, SIZE, 3], 'int32');
    const d = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t);
    t.dispose();
    recs.push({ name, px, d: Float32Array.from(d) });
  }
  for (let i = 0; i < recs.length; i++) {
    const norms = Math.hypot(...recs[i].d);
    const dists = recs.map((r) => Math.hypot(...r.d.map((v, k) => v - recs[i].d[k])).toFixed(4));
    console.log(`${recs[i].name.padEnd(48)} |d| ${norms.toFixed(4)}  distances ${dists.join(' ')}`);
  }
  const meta = JSON.stringify({
    made_by: 'tools/faceapi/golden_encoder.mjs',
    face_api: JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'))).version,
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    call: 'faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tensor3d int32 [150,150,3])',
  });
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  parts.push(Buffer.from('FTGOLDEN'));
  [1, recs.length, SIZE, SIZE, 3, recs[0].d.length, Buffer.byteLength(meta)].forEach(u32);
  parts.push(Buffer.from(meta));
  for (const r of recs) {
    const nb = Buffer.from(r.name);
    const l = Buffer.alloc(2); l.writeUInt16LE(nb.length); parts.push(l, nb);
    parts.push(Buffer.from(r.px.buffer, r.px.byteOffset, r.px.byteLength));
    const fb = Buffer.alloc(4 * r.d.length);
    r.d.forEach((v, k) => fb.writeFloatLE(v, 4 * k));
    parts.push(fb);
  }
  const gz = zlib.gzipSync(Buffer.concat(parts), { level: 9 });
  fs.writeFileSync(out, gz);
  console.log(`wrote ${out} (${gz.length} bytes, ${recs.length} inputs)`);
}

main().catch((e) => { console.error(`golden_encoder: ${e.stack || e}`); process.exit(1); });
