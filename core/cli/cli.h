/* cli.h — shared pieces of the `facetwin` command (one file per subcommand).
 *
 * Exit codes (documented in README): 0 success, 1 error (one line on stderr
 * naming the file and the reason), 2 usage error, 130 interrupted (state saved).
 */
#ifndef FT_CLI_H
#define FT_CLI_H

#include <signal.h>

#include "facetwin/dataset.h"
#include "facetwin/faceset.h"
#include "facetwin/idx.h"
#include "facetwin/model.h"
#include "facetwin/photo.h"
#include "facetwin/status.h"
#include "facetwin/train.h"

#define FT_EXIT_OK 0
#define FT_EXIT_ERROR 1
#define FT_EXIT_USAGE 2
#define FT_EXIT_INTERRUPTED 130

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_cv(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_align(int argc, char **argv);

/* Prints "facetwin: <msg>" and returns the exit code for err. */
int cli_fail(const ft_error *err);
/* Prints "facetwin <cmd>: <msg> (see 'facetwin <cmd> --help')" and returns FT_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Installs SIGINT/SIGTERM handlers that set the returned flag (ft_train_opts.stop:
 * training stops at the next step and saves its state). */
volatile sig_atomic_t *cli_stop_on_signals(void);
/* Strict number parsing for option values; 0 on success. */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

/* An IDX data argument: a directory holding train-/t10k-images-idx3-ubyte[.gz]
 * or a prefix P with P-images-idx3-ubyte[.gz]. which: "train" or "t10k".
 * Writes the resolved prefix into prefix (n bytes). */
ft_status cli_idx_prefix(const char *data, const char *which, char *prefix, size_t n, ft_error *err);

/* Prints o as one line of JSON on stdout and deletes it. */
struct cJSON;
void cli_print_json(struct cJSON *o);

/* ---- photos (photo.c): detect, choose and align the face when the model can ---- */

enum { CLI_OPT_NO_DETECT = 1000, CLI_OPT_DETECTOR, CLI_OPT_FACE, CLI_OPT_REQUIRE_SINGLE, CLI_OPT_CANVAS, CLI_OPT_ROTATE };
/* getopt_long entries for the options above */
#define CLI_PHOTO_OPTIONS                                                                                    \
    {"no-detect", 0, 0, CLI_OPT_NO_DETECT}, {"detector", 1, 0, CLI_OPT_DETECTOR}, {"face", 1, 0, CLI_OPT_FACE}, \
        {"require-single", 0, 0, CLI_OPT_REQUIRE_SINGLE}, {"canvas", 1, 0, CLI_OPT_CANVAS},                   \
        {"rotate", 0, 0, CLI_OPT_ROTATE}
#define CLI_PHOTO_HELP                                                                                      \
    "Photos: with a face-api pipeline checkpoint ('facetwin import --from face-api') each image is a\n"      \
    "photo: decoded (EXIF orientation applied), faces detected (--detector ssd|tiny, default ssd),\n"        \
    "68 landmarks, the face chosen (the largest; --face K the K-th largest; --require-single refuses\n"     \
    "several), aligned as face-api does (--rotate: eyes level) and embedded. No usable face is an\n"       \
    "error naming the file. --canvas PX centres a smaller image on a PX x PX grey square first (tight\n"    \
    "crops like ORL's). --no-detect: the image is already a face crop.\n"
/* --detector NAME -> *out; prints the usage error and returns nonzero for another name. */
int cli_detector(const char *cmd, const char *arg, ft_detector_choice *out);
/* Handles one of the options above: 1 handled (explicit_detect set), 0 not a photo option,
 * -1 usage error (printed). */
int cli_photo_option(const char *cmd, int c, const char *arg, ft_photo_opts *o, int *explicit_detect);

typedef struct {
    ft_model m;     /* the encoder, threshold, model id */
    ft_pipeline p;  /* detectors + landmark net (no encoder) */
    ft_photo_opts o;/* detect cleared when the model has no pipeline */
} cli_embedder;
/* Loads a model for photos. Detection asked explicitly of a model without it is an error. */
ft_status cli_embedder_open(const char *path, const ft_photo_opts *o, int explicit_detect, cli_embedder *e,
                            ft_error *err);
/* One image file -> embedding (ft_net_embed_dim floats); the error names the file. */
ft_status cli_embedder_file(cli_embedder *e, const char *path, float *out, ft_photo_face *info, ft_error *err);
void cli_embedder_close(cli_embedder *e);
/* Adds "faces_detected" and "face" to o when the face was detected. */
void cli_add_face(struct cJSON *o, const ft_photo_face *f);

/* ---- identity folders (faces.c) ---- */

/* 1 if data is a directory that is not an IDX dataset: identity folders. */
int cli_is_identity_dir(const char *data);
/* ft_dataset_open plus one warning line each for skipped files, empty
 * identity folders and single-image identities. */
ft_status cli_dataset_open(const char *dir, ft_dataset *ds, ft_error *err);
/* ft_faceset_opts.warn: "facetwin: warning: <msg>" on stderr. */
void cli_warn(void *ctx, const char *msg);
/* The default training augmentation for an input geometry. */
ft_augment cli_default_augment(const ft_input_spec *spec);
/* {"how":…, "train":[names], "val":[…], "test":[…]} (malloc'd) or NULL. */
char *cli_split_json(const ft_dataset *ds, const char *how, const ft_idset *train, const ft_idset *val,
                     const ft_idset *test);

/* A model scored on pairs: distances, labels, metrics at a threshold. */
typedef struct {
    float *dist;
    uint8_t *same;
    int n;
    ft_pair_metrics m;
} cli_pairs_eval;
/* The identity-disjoint protocol's pairs of ids: every same-identity pair and
 * as many seeded different-identity pairs. */
ft_status cli_eval_identities(ft_net *net, const ft_dataset *ds, const ft_idset *ids, float threshold,
                              uint64_t seed, const ft_faceset_opts *fo, cli_pairs_eval *r, ft_error *err);
/* The same on IDX test data: the Keras reference's pairs (seeded). */
ft_status cli_eval_pairs(ft_net *net, const ft_labelled *set, float threshold, uint64_t seed, cli_pairs_eval *r,
                         ft_error *err);
void cli_pairs_eval_free(cli_pairs_eval *r);
/* Inner J-fold cross-validation over ids for the threshold (faces.c): every
 * pair of ids' people scored by an inner model that never saw them; the pooled
 * distances land in out (metrics unset). tmp_path: scratch model file. */
ft_status cli_inner_calibration(const ft_dataset *ds, const ft_idset *ids, const char *spec, const ft_train_opts *o,
                                const ft_faceset_opts *fo, int J, const char *tmp_path, cli_pairs_eval *out,
                                ft_error *err);

/* The metrics as a JSON object (names as in `eval --json`). */
struct cJSON *cli_metrics_json(const ft_pair_metrics *m);
/* The "train --json" object's common part: model, epochs, seconds, pairs/s, losses, best epoch,
 * calibration (rule, threshold; with val_details the validation pairs and EER). */
struct cJSON *cli_train_json(const char *model, const ft_train_result *res, int val_details);

/* `facetwin train` on identity folders (train_faces.c): o is filled from the
 * common options (progress, stop flag included); returns the exit code. */
typedef struct {
    const char *data, *out;
    long val_ids, test_ids;   /* identities held out for calibration / test */
    ft_split_order order;
    int augment;              /* 1: the default augmentation, 0: none */
    long shift;               /* -1: default for the input size */
    double zoom;              /* < 0: FT_AUG_ZOOM */
    long cache_mb;            /* -1: FT_FACESET_DEFAULT_CACHE */
    long max_pos;             /* 0: every positive pair */
    long calib_folds;         /* > 0: threshold from inner cross-validation over the training people */
    int json, quiet, notest;
} cli_face_args;
int cli_train_faces(ft_net *net, ft_train_opts *o, const cli_face_args *a);

/* ---- a head on a frozen backbone (train_faces.c, faces.c; include/facetwin/backbone.h) ---- */

#include "facetwin/backbone.h"

/* The protocol's pairs of a set of feature vectors (ft_evalset_features_new, seeded), scored
 * through head, or straight on the vectors when head is NULL (the backbone alone). */
ft_status cli_eval_features(ft_net *head, const ft_labelled *set, float threshold, uint64_t seed, cli_pairs_eval *r,
                            ft_error *err);
/* The backbone alone, calibrated on val's pairs (seed ^ FT_VAL_PAIRS_TAG, rule of o) and scored
 * on test's pairs (seed 0): r->m at the calibrated threshold, c the calibration. */
ft_status cli_backbone_alone(const ft_labelled *val, const ft_labelled *test, const ft_train_opts *o,
                             ft_calibration *c, cli_pairs_eval *r, ft_error *err);
/* Checks a head against the backbone checkpoint at path: 0, or prints a one-line usage error
 * naming both sizes (or the unreadable file) and returns the exit code. */
int cli_head_fits(const char *cmd, const char *backbone, const ft_net *head);
/* "Extracting features ..." / "... done" lines on stderr, and the extraction itself. */
ft_status cli_features_extract(const char *cmd, const char *backbone, const ft_dataset *ds, const ft_features_opts *fo,
                               int quiet, ft_features *f, ft_error *err);
/* `facetwin train --backbone MODEL --freeze-backbone`: the head is trained on the frozen
 * backbone's cached features of the split (a->augment: flipped copies too) and written as
 * the backbone extended by the head (ft_backbone_compose); returns the exit code. */
int cli_train_backbone(const char *backbone, const ft_features_opts *fo, ft_net *head, ft_train_opts *o,
                       const cli_face_args *a);

#endif
