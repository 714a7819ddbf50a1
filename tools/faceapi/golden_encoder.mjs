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
import path from 'node:path';
import { tf, faceapi, ready, pkgDir, repo, shared, readPgm, readJpeg, toSquare, crop, synthetic, writeGolden } from './common.mjs';

const out = path.resolve(process.argv[2] || path.join(repo, 'tests/fixtures/faceapi_encoder.bin.gz'));
const SIZE = 150;

async function main() {
  await ready();
  await faceapi.nets.faceRecognitionNet.loadFromDisk(path.join(pkgDir, 'model'));

  const orl = path.join(shared, 'datasets/orl');
  const photo = readJpeg(path.join(shared, 'datasets/photos/people/obama/obama.jpg'));
  const inputs = [
    ['orl/s1/1.pgm', toSquare(readPgm(path.join(orl, 's1/1.pgm')), SIZE)],
    ['orl/s1/2.pgm', toSquare(readPgm(path.join(orl, 's1/2.pgm')), SIZE)],
    ['orl/s2/1.pgm', toSquare(readPgm(path.join(orl, 's2/1.pgm')), SIZE)],
    ['photos/people/obama/obama.jpg[255:655,180:580]', toSquare(crop(photo, 255, 180, 400, 400), SIZE)],
    ['synthetic', synthetic(SIZE)],
  ];
  const recs = [];
  for (const [name, px] of inputs) {
    const t = tf.tensor3d(px, [SIZE, SIZE, 3], 'int32');
    const d = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t);
    t.dispose();
    recs.push({ name, px, v: Float32Array.from(d) });
  }
  for (let i = 0; i < recs.length; i++) {
    const norms = Math.hypot(...recs[i].v);
    const dists = recs.map((r) => Math.hypot(...r.v.map((v, k) => v - recs[i].v[k])).toFixed(4));
    console.log(`${recs[i].name.padEnd(48)} |d| ${norms.toFixed(4)}  distances ${dists.join(' ')}`);
  }
  writeGolden(out, SIZE, recs[0].v.length, {
    made_by: 'tools/faceapi/golden_encoder.mjs',
    call: 'faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tensor3d int32 [150,150,3])',
  }, recs);
}

main().catch((e) => { console.error(`golden_encoder: ${e.stack || e}`); process.exit(1); });
