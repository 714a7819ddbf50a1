/* facetwin/import.h — pretrained networks of other projects as facetwin checkpoints.
 *
 * face-api (@vladmandic/face-api, MIT; fetched by deploy/fetch-face-api.sh):
 * its networks ship as TensorFlow.js weights (a manifest JSON + .bin shards in
 * the package's model/ folder) and their forward passes as TypeScript in src/.
 * ft_import_faceapi rewrites a network as a facetwin architecture spec (plain
 * layers: conv2d, scale, relu, pools, zero-padded residual add, gap, dense)
 * plus its tensors, converted to facetwin's layouts, so the core runs it with
 * no face-api specific code (plus pad, leaky, relu6, batchnorm for the others).
 * Four networks: the encoder (FaceRecognitionNet, the 128-d face descriptor of
 * a 150x150 RGB crop), the 68-point landmark net (FaceLandmark68Net, 112x112
 * crop), and the two detectors (SsdMobilenetv1, TinyFaceDetector: decoding
 * constants in the metadata, see detect.h). One part gives a checkpoint of that
 * network alone; the encoder with others gives one whole-pipeline checkpoint
 * (pipeline.h).
 *
 * Ownership: fills a ft_ckpt the caller releases with ft_ckpt_free.
 */
#ifndef FACETWIN_IMPORT_H
#define FACETWIN_IMPORT_H

#include "facetwin/checkpoint.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Euclidean threshold face-api's (and dlib's) authors recommend for the descriptor. */
#define FT_FACEAPI_THRESHOLD 0.6f
#define FT_FACEAPI_ENCODER_MANIFEST "face_recognition_model-weights_manifest.json"

#define FT_FACEAPI_LANDMARKS_MANIFEST "face_landmark_68_model-weights_manifest.json"

#define FT_IMPORT_ENCODER 1u   /* parts: FaceRecognitionNet */
#define FT_IMPORT_LANDMARKS 2u /* FaceLandmark68Net: 112x112 crop -> 136 = 68 (x, y) relative */
#define FT_IMPORT_TINY 4u      /* TinyFaceDetector: 416x416 -> 13x13 cells x 5 anchors x 5 (see detect.h) */

#define FT_IMPORT_SSD 8u       /* SsdMobilenetv1: 512x512 -> 6 predictor heads + aux/priors (see detect.h) */
#define FT_IMPORT_ALL (FT_IMPORT_ENCODER | FT_IMPORT_LANDMARKS | FT_IMPORT_TINY | FT_IMPORT_SSD)
#define FT_FACEAPI_SSD_MANIFEST "ssd_mobilenetv1_model-weights_manifest.json"
#define FT_FACEAPI_SSD_INPUT 512     /* SsdMobilenetv1.forwardInput */
#define FT_FACEAPI_SSD_SCORE 0.5f    /* SsdMobilenetv1Options minConfidence */
#define FT_FACEAPI_SSD_IOU 0.5f      /* locateFaces */
#define FT_FACEAPI_SSD_MAX_RESULTS 100
#define FT_FACEAPI_TINY_MANIFEST "tiny_face_detector_model-weights_manifest.json"
#define FT_FACEAPI_TINY_INPUT 416    /* TinyYolov2Options defaults */
#define FT_FACEAPI_TINY_SCORE 0.5f
#define FT_FACEAPI_TINY_IOU 0.4f     /* src/tinyFaceDetector/const.ts IOU_THRESHOLD */

/* model_dir: the package's model/ folder (or the package folder holding it).
 * parts: one of FT_IMPORT_ENCODER, FT_IMPORT_LANDMARKS, FT_IMPORT_TINY, FT_IMPORT_SSD (a checkpoint
 * of that network alone; the landmark checkpoint's "embedding" is the 136 outputs), or the
 * encoder with any others (FT_IMPORT_ALL: the whole photo pipeline in one checkpoint, see
 * facetwin/pipeline.h). */
ft_status ft_import_faceapi(const char *model_dir, unsigned parts, ft_ckpt *out, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
