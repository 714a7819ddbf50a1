// golden_landmarks.mjs — the reference 68-point landmarks for tests/test_faceapi_landmarks.c.
//
//   bash deploy/fetch-face-api.sh
//   cd tools/faceapi && npm ci && node golden_landmarks.mjs [OUT]
//                                   (OUT: ../../tests/fixtures/faceapi_landmarks.bin.gz)
//
// Runs the package's OWN FaceLandmark68Net (dist/face-api.node-wasm.js by path, weights from its
// model/ with loadFromDisk) on fixed 112x112 RGB uint8 inputs — at 112x112 its toBatchTensor
// neither pads nor resizes — and records landmarks.positions: 68 (x, y) in pixels of the input,
// interleaved (136 float32). Inputs: two ORL faces and two photo crops resized with
// tf.image.resizeBilinear, one synthetic pattern; the fixture stores their exact bytes.
import path from 'node:path';
import { tf, faceapi, ready, pkgDir, repo, shared, readPgm, readJpeg, toSquare, crop, synthetic, writeGolden } from './common.mjs';

const SIZE = 112;
const out = path.resolve(process.argv[2] || path.join(repo, 'tests/fixtures/faceapi_landmarks.bin.gz'));

async function main() {
  await ready();
  await faceapi.nets.faceLandmark68Net.loadFromDisk(path.join(pkgDir, 'model'));
  const orl = path.join(shared, 'datasets/orl');
  const obama = readJpeg(path.join(shared, 'datasets/photos/people/obama/obama.jpg'));
  const inputs = [
    ['orl/s1/1.pgm', toSquare(readPgm(path.join(orl, 's1/1.pgm')), SIZE)],
    ['orl/s7/3.pgm', toSquare(readPgm(path.join(orl, 's7/3.pgm')), SIZE)],
    ['photos/people/obama/obama.jpg[255:655,180:580]', toSquare(crop(obama, 255, 180, 400, 400), SIZE)],
    ['photos/people/obama/obama.jpg[215:715,150:650]', toSquare(crop(obama, 215, 150, 500, 500), SIZE)],
    ['synthetic', synthetic(SIZE)],
  ];
  const recs = [];
  for (const [name, px] of inputs) {
    const t = tf.tensor3d(px, [SIZE, SIZE, 3], 'int32');
    const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(t);
    t.dispose();
    const v = [];
    for (const p of lm.positions) v.push(p.x, p.y);
    recs.push({ name, px, v });
    console.log(`${name.padEnd(48)} nose tip (${v[60].toFixed(2)}, ${v[61].toFixed(2)}) chin (${v[16].toFixed(2)}, ${v[17].toFixed(2)})`);
  }
  writeGolden(out, SIZE, 136, { made_by: 'tools/faceapi/golden_landmarks.mjs',
    call: 'faceapi.nets.faceLandmark68Net.detectLandmarks(tensor3d int32 [112,112,3]).positions (pixels)' }, recs);
}

main().catch((e) => { console.error(`golden_landmarks: ${e.stack || e}`); process.exit(1); });
