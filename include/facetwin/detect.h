/* facetwin/detect.h — face detection on whole photos with face-api's pretrained detectors.
 *
 * A detector is a facetwin checkpoint written by `facetwin import --from face-api --parts tiny`:
 * the network is a plain spec the core runs (include/facetwin/net.h); the decoding constants
 * (anchors, thresholds, input size) are in its metadata under "detector". ft_detect reproduces
 * the package's src/ step by step: the photo is zero-padded to a square (at the bottom/right)
 * and resized to input_size x input_size with TensorFlow's bilinear (align_corners=false,
 * half_pixel_centers=false) straight from the original pixels — so a 40 MP photo is never
 * copied at full size, detection runs on that downscaled copy — the net runs, boxes are decoded
 * (sigmoid on x, y and score, exp on w, h times the anchor, per 13x13 cell), those with
 * score > score_threshold are kept, non-maximum suppression at iou_threshold removes overlaps
 * (highest score first), and the boxes come back in ORIGINAL image pixels.
 *
 * Ownership and threads: ft_detector owns its net and buffers; one detector must not be used by
 * two threads at once (load one per thread: they are small). ft_detect returns a malloc'd
 * array the caller frees with free(); it never keeps the image.
 */
#ifndef FACETWIN_DETECT_H
#define FACETWIN_DETECT_H

#include "facetwin/checkpoint.h"
#include "facetwin/image.h"
#include "facetwin/net.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A face in original image pixels: top-left (x, y), size (w, h); may reach past the borders
 * (as the reference's boxes do). score in (0, 1). */
typedef struct {
    float x, y, w, h, score;
} ft_face_box;

typedef struct ft_detector ft_detector;

/* Zero fields take the checkpoint's values (face-api's defaults). */
typedef struct {
    float score_threshold; /* keep boxes scoring above it (tiny: 0.5) */
    float iou_threshold;   /* NMS overlap (tiny: 0.4) */
} ft_detect_opts;

ft_status ft_detector_from_checkpoint(const ft_ckpt *ck, ft_detector **out, ft_error *err);
ft_status ft_detector_load(const char *path, ft_detector **out, ft_error *err);
void ft_detector_free(ft_detector *d);
const char *ft_detector_kind(const ft_detector *d); /* "tiny" */
/* The detector's network (owned by the detector), e.g. to share its activations' arena. */
ft_net *ft_detector_net(ft_detector *d);

/* Detects faces in img (grey or RGB); *faces (malloc'd, caller frees; NULL when *n == 0)
 * sorted by decreasing score. */
ft_status ft_detect(ft_detector *d, const ft_image *img, const ft_detect_opts *opts, ft_face_box **faces,
                    int *n, ft_error *err);

/* face-api's toBatchTensor for one image region, as the network input: the region
 * (x0, y0, w, h) of img, zero-padded to a square (centered: the odd pixel last, as padToSquare
 * with isCenterImage; else all padding at the bottom/right), resized to size x size with TF's
 * legacy bilinear, then (v/255 - mean[k]) / std[k] into out (3, size, size) planar. Grey images
 * are replicated to RGB. The region must lie inside the image. */
void ft_tf_square_input(const ft_image *img, int x0, int y0, int w, int h, int size, int centered,
                        const float mean[3], const float std[3], float *out);

/* Intersection over union of two boxes (0 when either is empty). */
float ft_face_box_iou(const ft_face_box *a, const ft_face_box *b);

#ifdef __cplusplus
}
#endif
#endif
