/* facetwin/photo.h — a whole photo to the encoder's input: the face-choice policy.
 *
 * One function, used by the CLI (embed, verify, training on a backbone) and the daemon:
 *   image -> [canvas] -> detect (ssd by default, or tiny) -> 68 landmarks per face -> choose
 *   the face -> align (face-api's alignDlib crop, or the rotated one) -> encoder input.
 * The policy (documented in README and openapi.yaml):
 *   - faces are ordered by decreasing box area; face_index 0 (the default) is the largest;
 *   - no face at all, or face_index beyond the faces found: FT_ENOFACE;
 *   - require_single and more than one face: FT_EMANYFACES;
 *   - detect = 0 (or a checkpoint without a detector): the whole image is the face (the
 *     pre-cropped path: resized to the encoder's input).
 * canvas > 0 centres an image smaller than canvas x canvas on a mid-grey square first: the
 * detectors need context around tight crops such as ORL's 92x112 (without it the SSD finds
 * 10 faces in 400). The face returned is in the original image's pixels either way.
 *
 * Ownership and threads: nothing is kept; p and its nets must not be shared between threads.
 */
#ifndef FACETWIN_PHOTO_H
#define FACETWIN_PHOTO_H

#include "facetwin/align.h"
#include "facetwin/image.h"
#include "facetwin/pipeline.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_CANVAS_GREY 128
#define FT_CANVAS_MAX 8192

typedef enum { FT_DETECTOR_DEFAULT = 0, FT_DETECTOR_SSD, FT_DETECTOR_TINY } ft_detector_choice;

typedef struct {
    int detect;                  /* 0: the image is already a face crop */
    ft_detector_choice detector; /* DEFAULT: ssd if the checkpoint has it, else tiny */
    int face_index;              /* by decreasing box area; 0 = the largest */
    int require_single;          /* several faces: FT_EMANYFACES */
    int canvas;                  /* > 0: centre a smaller image on a canvas x canvas grey square */
    int rotate;                  /* the rotated (eyes level) crop instead of face-api's */
} ft_photo_opts;

typedef struct {
    int detected;       /* 1 when the face below comes from the detector (detect was on) */
    int faces_detected;
    ft_face face;       /* the chosen face, original pixels */
} ft_photo_face;

/* "ssd" / "tiny" -> *out; 0 (and *out untouched) for any other name. */
int ft_detector_choice_parse(const char *name, ft_detector_choice *out);
/* "ssd", "tiny", or "face" for DEFAULT (for messages). */
const char *ft_detector_choice_name(ft_detector_choice c);
/* The detector the choice names in p (DEFAULT: ssd if present, else tiny); NULL if absent. */
ft_detector *ft_photo_detector(const ft_pipeline *p, ft_detector_choice c);

/* 1 if p can detect and align (a detector for o's choice + the landmark net). */
int ft_photo_can_detect(const ft_pipeline *p, const ft_photo_opts *o);

/* img centred on a side x side FT_CANVAS_GREY square, RGB (side >= img's width and height). */
ft_status ft_image_on_canvas(const ft_image *img, int side, ft_image *out, ft_error *err);

/* The encoder's input (spec geometry, ft_net_input_size floats) for the chosen face of img.
 * p may be NULL when o->detect is 0. info (required) says what was chosen. */
ft_status ft_photo_input(ft_pipeline *p, const ft_image *img, const ft_photo_opts *o, const ft_input_spec *spec,
                         float *x, ft_photo_face *info, ft_error *err);

/* ft_photo_input followed by the encoder: out gets ft_net_embed_dim(enc) floats. */
ft_status ft_photo_embed(ft_pipeline *p, ft_net *enc, const ft_image *img, const ft_photo_opts *o, float *out,
                         ft_photo_face *info, ft_error *err);

/* The face as the daemon's responses and `facetwin embed --json` print it (openapi.yaml Face):
 * {"box": {"x","y","width","height"}, "score", "landmarks": [[x, y] x 68]}, landmarks rounded to
 * 0.01 px. Caller owns the result (cJSON_Delete). */
struct cJSON;
struct cJSON *ft_face_json(const ft_face *f);

#ifdef __cplusplus
}
#endif
#endif
