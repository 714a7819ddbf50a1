/* facetwin/import.h — pretrained networks of other projects as facetwin checkpoints.
 *
 * face-api (@vladmandic/face-api, MIT; fetched by deploy/fetch-face-api.sh):
 * its networks ship as TensorFlow.js weights (a manifest JSON + .bin shards in
 * the package's model/ folder) and their forward passes as TypeScript in src/.
 * ft_import_faceapi rewrites a network as a facetwin architecture spec (plain
 * layers: conv2d, scale, relu, pools, zero-padded residual add, gap, dense)
 * plus its tensors, converted to facetwin's layouts, so the core runs it with
 * no face-api specific code. Only the encoder (FaceRecognitionNet, the 128-d
 * face descriptor of a 150x150 RGB crop) is imported so far; the detectors and
 * the landmark net come with the rest of the photo pipeline.
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

#define FT_IMPORT_ENCODER 1u  /* parts: FaceRecognitionNet */

/* model_dir: the package's model/ folder (or the package folder holding it).
 * parts: FT_IMPORT_ENCODER (the only part available so far). */
ft_status ft_import_faceapi(const char *model_dir, unsigned parts, ft_ckpt *out, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
