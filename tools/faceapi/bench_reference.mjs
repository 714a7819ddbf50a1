// bench_reference.mjs — the reference side of bench/run_pipeline.sh: face-api's own JavaScript
// (the fetched package's dist/face-api.node-wasm.js, loaded by common.mjs on tfjs + the wasm
// backend, SIMD on) running the photo pipeline on the photos bench/bench_pipeline.c gets, stage
// by stage and whole, in the same shape as the C program's output.
//
//   node bench_reference.mjs [--rounds N] [--warmup N] [--encoder-calls N] [--probe-threads] PHOTO...
//
// The stages (each timed on its own, per photo, the photo's bytes read once beforehand):
//   decode      jpeg-js (what common.mjs and the golden scripts decode with; tfjs' wasm
//               backend has no image decoder) + the int32 [h, w, 3] tensor the API takes
//   ssd, tiny   faceapi.detectAllFaces(tensor, SsdMobilenetv1Options() / TinyFaceDetectorOptions())
//               with default options: input resize, the net, box decoding, NMS
//   landmarks   per SSD face: extractFaceTensors(tensor, [detection]) + faceLandmark68Net
//               .detectLandmarks + extendWithFaceLandmarks — what .withFaceLandmarks() does
//   align       per face: landmarks.align(null, {useDlibAlignment: true}) + extractFaceTensors
//               of that rect — the crop .withFaceDescriptors() hands the recognition net
//   encoder     per face: faceRecognitionNet.computeFaceDescriptor(crop) (its own pad to square,
//               resize to 150, normalise, ResNet, descriptor)
//   pipeline    decode + detectAllFaces(..).withFaceLandmarks().withFaceDescriptors(): every
//               face found gets landmarks and a descriptor (ssd and tiny)
//   encoder only   computeFaceDescriptor on 150x150x3 face crops (the aligned crops resized to
//               150, so the package's own resize is a no-op), --encoder-calls calls
// Every tensor made is disposed; the numbers are ms per photo (detection, decode, pipeline) or
// per face (landmarks, align, encoder), means over --rounds rounds after --warmup rounds.
// Peak RSS: process.resourceUsage().maxRSS at the end (the whole process: Node, tfjs, the wasm
// heap, the four nets).
//
// Threads: the wasm backend runs single-threaded in Node. tfjs' WASM_HAS_MULTITHREAD_SUPPORT
// flag is false under Node (tensorflow/tfjs#3830), and forcing it true makes the threaded-SIMD
// build fail to start (its pthread workers are 'blob:' URLs Node's Worker refuses,
// ERR_WORKER_PATH) and tfjs falls back to the cpu backend. --probe-threads tries exactly that and
// prints what happened, then exits.
//
// Output: human-readable lines, then one line "JSON {...}" (the same keys as bench_pipeline's).
import path from 'node:path';
import fs from 'node:fs';
import { tf, faceapi, ready, pkgDir, readJpeg } from './common.mjs';

const ENCODER_SIZE = 150;
const DEFAULT_ROUNDS = 3;
const DEFAULT_WARMUP = 1;
const DEFAULT_ENCODER_CALLS = 100;

function parseArgs(argv) {
  const a = { rounds: DEFAULT_ROUNDS, warmup: DEFAULT_WARMUP, encoderCalls: DEFAULT_ENCODER_CALLS, probe: false, photos: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const num = () => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${v} wants a non-negative integer`);
      return n;
    };
    if (v === '--rounds') a.rounds = Math.max(1, num());
    else if (v === '--warmup') a.warmup = num();
    else if (v === '--encoder-calls') a.encoderCalls = Math.max(1, num());
    else if (v === '--probe-threads') a.probe = true;
    else if (v.startsWith('-')) throw new Error(`unknown option ${v}`);
    else a.photos.push(v);
  }
  return a;
}

async function probeThreads() {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const errors = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  const keep = (...m) => errors.push(m.map(String).join(' ').split('\n')[0]);
  console.log = console.warn = console.error = keep; // tfjs reports the failure on these
  try {
    await tf.setBackend('wasm');
    await tf.ready();
  } catch (e) {
    errors.push(String(e).split('\n')[0]);
  }
  Object.assign(console, saved);
  const got = tf.getBackend();
  console.log(`threaded wasm probe: WASM_HAS_MULTITHREAD_SUPPORT forced true -> backend '${got}'`);
  for (const e of [...new Set(errors)]) console.log(`  ${e.slice(0, 240)}`);
  console.log(`JSON ${JSON.stringify({ probe: 'threads', backend: got, started: got === 'wasm', errors: [...new Set(errors)].map((e) => e.slice(0, 240)) })}`);
}

const now = () => performance.now();

// One timed stage: accumulated ms and count.
function stage() { return { ms: 0, n: 0 }; }
function add(s, ms) { s.ms += ms; s.n += 1; }
function mean(s) { return s.n ? s.ms / s.n : 0; }

function decode(bytes) {
  const img = readJpeg(bytes);
  return tf.tensor3d(Int32Array.from(img.data), [img.h, img.w, 3], 'int32');
}

async function facesOf(t, dets, st, crops) {
  const lmNet = faceapi.nets.faceLandmark68Net, recNet = faceapi.nets.faceRecognitionNet;
  for (const det of dets) {
    let t0 = now();
    const [face] = await faceapi.extractFaceTensors(t, [det]);
    const lm = await lmNet.detectLandmarks(face);
    face.dispose();
    const withLm = faceapi.extendWithFaceLandmarks({ detection: det }, lm);
    let t1 = now();
    if (st) add(st.landmarks, t1 - t0);
    const rect = withLm.landmarks.align(null, { useDlibAlignment: true });
    const [crop] = await faceapi.extractFaceTensors(t, [rect]);
    const t2 = now();
    if (st) add(st.align, t2 - t1);
    const desc = await recNet.computeFaceDescriptor(crop);
    if (st) add(st.encoder, now() - t2);
    if (!(desc instanceof Float32Array) || desc.length !== 128) throw new Error('no descriptor');
    if (crops) crops.push(tf.tidy(() => tf.image.resizeBilinear(crop, [ENCODER_SIZE, ENCODER_SIZE]).round().toInt()));
    crop.dispose();
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.probe) return probeThreads();
  if (!a.photos.length) throw new Error('usage: node bench_reference.mjs [--rounds N] [--warmup N] [--encoder-calls N] PHOTO...');
  await ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const model = path.join(pkgDir, 'model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(model);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(model);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(model);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(model);
  const weights = tf.memory().numTensors;
  const bytes = a.photos.map((p) => fs.readFileSync(p));
  const ssdOpts = new faceapi.SsdMobilenetv1Options(), tinyOpts = new faceapi.TinyFaceDetectorOptions();

  // per-stage times
  const st = { decode: stage(), ssd: stage(), tiny: stage(), landmarks: stage(), align: stage(), encoder: stage() };
  const crops = [];
  let faces = 0;
  for (let r = 0; r < a.warmup + a.rounds; r++) {
    const timed = r >= a.warmup;
    for (const b of bytes) {
      let t0 = now();
      const t = decode(b);
      if (timed) add(st.decode, now() - t0);
      t0 = now();
      const dets = await faceapi.detectAllFaces(t, ssdOpts);
      if (timed) add(st.ssd, now() - t0);
      t0 = now();
      await faceapi.detectAllFaces(t, tinyOpts);
      if (timed) add(st.tiny, now() - t0);
      await facesOf(t, dets, timed ? st : null, r === 0 ? crops : null);
      if (timed && r === a.warmup) faces += dets.length;
      t.dispose();
    }
  }

  // the whole pipeline, each detector
  const whole = {};
  for (const [name, opts] of [['ssd', ssdOpts], ['tiny', tinyOpts]]) {
    let n = 0, nf = 0;
    for (let r = 0; r < a.warmup; r++)
      for (const b of bytes) {
        const t = decode(b);
        await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withFaceDescriptors();
        t.dispose();
      }
    const t0 = now();
    for (let r = 0; r < a.rounds; r++)
      for (const b of bytes) {
        const t = decode(b);
        const res = await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withFaceDescriptors();
        t.dispose();
        n++;
        nf += res.length;
      }
    const secs = (now() - t0) / 1e3;
    whole[name] = { images_per_s: n / secs, ms: (secs * 1e3) / n, faces: nf / a.rounds };
  }

  // encoder only, on 150x150 crops
  if (!crops.length) throw new Error('no face found in any photo: nothing for the encoder');
  for (let k = 0; k < 3; k++) await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(crops[k % crops.length]);
  const e0 = now();
  for (let k = 0; k < a.encoderCalls; k++) await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(crops[k % crops.length]);
  const encSecs = (now() - e0) / 1e3;
  crops.forEach((c) => c.dispose());

  const rssMb = process.resourceUsage().maxRSS / 1024;
  const leaked = tf.memory().numTensors - weights;
  const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'))).version;
  console.log(`face-api ${version}, tfjs ${tf.version.tfjs}, backend ${tf.getBackend()} (SIMD ${simd}, threads ${mt ? 'on' : 'off: Node'}), ` +
    `node ${process.version}, ${bytes.length} photo(s), ${faces} SSD face(s), ${a.rounds} round(s) after ${a.warmup} warm-up`);
  const f = (x) => x.toFixed(2);
  console.log(`  per stage: decode ${f(mean(st.decode))} ms, ssd ${f(mean(st.ssd))} ms, tiny ${f(mean(st.tiny))} ms per photo; ` +
    `landmarks ${f(mean(st.landmarks))} ms, align ${f(mean(st.align))} ms, encoder ${f(mean(st.encoder))} ms per face`);
  for (const [k, v] of Object.entries(whole))
    console.log(`  pipeline ${k}: ${f(v.images_per_s)} images/s (${f(v.ms)} ms per photo, ${v.faces} faces per round)`);
  console.log(`  encoder only: ${f(a.encoderCalls / encSecs)} images/s (${f((encSecs * 1e3) / a.encoderCalls)} ms); ${leaked} tensor(s) left besides the weights`);
  console.log(`  peak RSS ${rssMb.toFixed(0)} MiB`);
  const out = {
    impl: 'face-api-js', face_api: version, tfjs: tf.version.tfjs, backend: tf.getBackend(), simd, threads: 1,
    node: process.version, photos: bytes.length, faces_ssd: faces, rounds: a.rounds,
    decode_ms: mean(st.decode), ssd_ms: mean(st.ssd), tiny_ms: mean(st.tiny), landmarks_ms: mean(st.landmarks),
    align_ms: mean(st.align), encoder_ms: mean(st.encoder),
    pipeline_ssd_images_per_s: whole.ssd.images_per_s, pipeline_ssd_ms: whole.ssd.ms,
    pipeline_tiny_images_per_s: whole.tiny.images_per_s, pipeline_tiny_ms: whole.tiny.ms,
    encoder_images_per_s: a.encoderCalls / encSecs, encoder_calls: a.encoderCalls, peak_rss_mb: rssMb,
  };
  console.log(`JSON ${JSON.stringify(out)}`);
}

main().catch((e) => { console.error(`bench_reference: ${e.stack || e}`); process.exit(1); });
