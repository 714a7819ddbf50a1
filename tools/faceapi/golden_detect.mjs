// golden_detect.mjs — the reference face detections for tests/test_faceapi_detect.c.
//
//   bash deploy/fetch-face-api.sh
//   cd tools/faceapi && npm ci && node golden_detect.mjs [OUT]
//                                   (OUT: ../../tests/fixtures/faceapi_detect.json)
//
// Runs the package's OWN detectors (dist/face-api.node-wasm.js by path, weights from its model/)
// through its public API, faceapi.detectAllFaces(tensor, options) with default options
// (TinyFaceDetectorOptions: inputSize 416, scoreThreshold 0.5; SsdMobilenetv1Options: minConfidence
// 0.5, maxResults 100), on photos of ../shared/datasets/photos decoded with jpeg-js into an int32
// [h, w, 3] tensor. Records every box (x, y, width, height in pixels of the original photo) and
// score, and for the whole pipeline (.withFaceLandmarks().withFaceDescriptors()) each face's 68
// landmarks, aligned rect and 128-d descriptor. The C side decodes the same files with libjpeg: the decoders may differ by a grey level
// here and there, which the test's tolerances (IoU >= 0.95, |score diff| <= 0.01) absorb.
import fs from 'node:fs';
import path from 'node:path';
import { tf, faceapi, ready, pkgDir, repo, shared, readJpeg } from './common.mjs';

const out = path.resolve(process.argv[2] || path.join(repo, 'tests/fixtures/faceapi_detect.json'));
const photos = [
  'probes/obama_and_biden.jpg', 'probes/obama_partial_face.jpg', 'probes/two_people.jpg',
  'people/biden/biden.jpg', 'probes/obama1.jpg', 'probes/kit_with_rose.jpg',
];
const detectors = (process.env.FT_DETECTORS || 'tiny,ssd').split(',');

async function main() {
  await ready();
  const model = path.join(pkgDir, 'model');
  const res = { made_by: 'tools/faceapi/golden_detect.mjs', face_api: JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'))).version,
    tfjs: tf.version.tfjs, backend: tf.getBackend(), photos: [] };
  if (detectors.includes('tiny')) await faceapi.nets.tinyFaceDetector.loadFromDisk(model);
  if (detectors.includes('ssd')) await faceapi.nets.ssdMobilenetv1.loadFromDisk(model);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(model);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(model);
  for (const p of photos) {
    const img = readJpeg(path.join(shared, 'datasets/photos', p));
    const t = tf.tensor3d(Int32Array.from(img.data), [img.h, img.w, 3], 'int32');
    const rec = { photo: p, width: img.w, height: img.h };
    for (const d of detectors) {
      const opts = d === 'tiny' ? new faceapi.TinyFaceDetectorOptions() : new faceapi.SsdMobilenetv1Options();
      const dets = await faceapi.detectAllFaces(t, opts);
      rec[d] = dets.map((x) => ({ x: x.box.x, y: x.box.y, w: x.box.width, h: x.box.height, score: x.score }));
      // the whole pipeline: landmarks on each box, the aligned rect (landmarks' bbox + 20%), descriptor
      const full = await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withFaceDescriptors();
      rec[`${d}_pipeline`] = full.map((x) => ({
        box: [x.detection.box.x, x.detection.box.y, x.detection.box.width, x.detection.box.height],
        landmarks: x.landmarks.positions.flatMap((q) => [q.x, q.y]),
        aligned: [x.alignedRect.box.x, x.alignedRect.box.y, x.alignedRect.box.width, x.alignedRect.box.height],
        descriptor: Array.from(x.descriptor),
      }));
      console.log(`${p.padEnd(32)} ${d.padEnd(4)} ${dets.length} face(s) ${rec[d].map((b) => `[${b.x.toFixed(1)},${b.y.toFixed(1)},${b.w.toFixed(1)},${b.h.toFixed(1)} ${b.score.toFixed(4)}]`).join(' ')}`);
    }
    t.dispose();
    res.photos.push(rec);
  }
  fs.writeFileSync(out, JSON.stringify(res, null, 1) + '\n');
  console.log(`wrote ${out}`);
}

main().catch((e) => { console.error(`golden_detect: ${e.stack || e}`); process.exit(1); });
