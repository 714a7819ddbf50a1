/* facetwin/align.h — from a detected face to the encoder's input, as face-api does it.
 *
 * face-api's detectAllFaces(..).withFaceLandmarks().withFaceDescriptors() (src/globalApi,
 * src/classes/FaceLandmarks.ts, src/dom/extractFaceTensors.ts), step by step:
 *   1. the detector's box clipped to the image and floored (Box.clipAtImageBorders) is cut out;
 *   2. the 68-point landmark net runs on it (padded to a centered square, resized to 112);
 *      its output is mapped back to the crop (FaceLandmark68NetBase.postProcess) and shifted
 *      by the detector's box origin — unclipped, as the reference does;
 *   3. two axis-aligned rects come from the landmarks (no rotation in either):
 *      - alignedRect (what the reference reports): their bounding box grown by 20% of its
 *        width and height (FaceLandmarks.alignMinBbox);
 *      - the descriptor's crop (ComputeFaceDescriptorsTasks: align(null, {useDlibAlignment:
 *        true}), FaceLandmarks.alignDlib): the centres of the left eye (points 36-41), right eye
 *        (42-47) and mouth (48-67); size = floor(mean eye-to-mouth distance / 0.45); top-left
 *        floor(max(0, centre - (0.5, 0.43) * size)) around the centre of those three points;
 *   4. the crop rect, clipped and floored, is cut out, padded to a centered square and resized
 *      to the encoder's 150x150: the descriptor's input.
 * Every resize is TensorFlow's legacy bilinear (ft_tf_square_input in detect.h).
 *
 * Ownership and threads: functions take the nets as arguments and keep nothing; a net must not
 * be used by two threads at once. Arrays returned are malloc'd; the caller frees them.
 */
#ifndef FACETWIN_ALIGN_H
#define FACETWIN_ALIGN_H

#include "facetwin/detect.h"
#include "facetwin/image.h"
#include "facetwin/net.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_LANDMARKS 68
#define FT_ALIGN_PADDING 0.2 /* alignMinBbox's minBoxPadding */
#define FT_DLIB_REL_X 0.5    /* alignDlib (src/classes/FaceLandmarks.ts) */
#define FT_DLIB_REL_Y 0.43
#define FT_DLIB_REL_SCALE 0.45

typedef struct {
    ft_face_box box;                 /* the detector's box, original pixels */
    float landmarks[FT_LANDMARKS][2]; /* (x, y) in original pixels */
    ft_face_box aligned;             /* alignedRect: landmarks' bbox + 20% (score = the box's) */
    ft_face_box crop;                /* the descriptor's crop (alignDlib), pass to ft_face_input */
} ft_face;

/* Steps 1-3 for one detected box (f->box set): fills f->landmarks and f->aligned. lm is a net
 * imported with --parts landmarks (reserved for batch 1 here). Fills f->crop too. FT_ENOFACE-like failures (a box
 * entirely outside the image) return FT_EINVAL. */
ft_status ft_face_landmarks(ft_net *lm, const ft_image *img, ft_face *f, ft_error *err);

/* Step 4: the encoder's input for rect (clipped, floored, centered square, size x size,
 * normalised by spec). out: 3 * size * size floats. FT_EINVAL if the rect misses the image. */
ft_status ft_face_input(const ft_image *img, const ft_face_box *rect, int size, const ft_input_spec *spec, float *out,
                        ft_error *err);

/* Not face-api's: the alignDlib square rotated about its reference point so the two eye
 * centres are level (a similarity transform), sampled bilinearly into the encoder's input.
 * f must come from ft_face_landmarks. */
ft_status ft_face_input_rotated(const ft_image *img, const ft_face *f, int size, const ft_input_spec *spec, float *out,
                                ft_error *err);

/* The same crop as an 8-bit RGB image a person can look at (rounded, clamped). */
ft_status ft_face_crop_image(const ft_image *img, const ft_face_box *rect, int size, ft_image *out, ft_error *err);

/* The whole photo pipeline up to the encoder: detect, then landmarks and alignment for every
 * face. *faces sorted by decreasing detector score; free() it. */
ft_status ft_faces_find(ft_detector *det, ft_net *lm, const ft_image *img, ft_face **faces, int *n, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
