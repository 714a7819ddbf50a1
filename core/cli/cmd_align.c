/* cmd_align.c — `facetwin align`: the whole photo pipeline up to the encoder's input — detect,
 * 68 landmarks, face-api's alignment (include/facetwin/align.h) — and the 150x150 crop the
 * encoder sees written as a PNG; with --json every face's box, score, landmarks, aligned rect,
 * crop rect and 128-d descriptor. --canvas places the image on a larger mid-grey canvas first
 * (tight crops such as ORL's, where the detectors need context). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/align.h"
#include "facetwin/image.h"
#include "facetwin/photo.h"
#include "facetwin/pipeline.h"

static cJSON *box_json(const ft_face_box *b)
{
    const double v[4] = {b->x, b->y, b->w, b->h};
    return cJSON_CreateDoubleArray(v, 4);
}

static int g_rotate; /* --rotate: the similarity-transform crop for descriptors */

static int align_one(ft_pipeline *pp, ft_detector *det, const char *path, const char *out, int json, long canvas,
                     long face, ft_image *imgp, ft_image *bigp, ft_image *cropp, ft_face **fp, int *np, float **xp,
                     ft_error *err);

int cmd_align(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"detector", 1, 0, 'd'}, {"out", 1, 0, 'o'},
                                         {"canvas", 1, 0, 'c'}, {"face", 1, 0, 'f'},    {"json", 0, 0, 'J'},
                                         {"help", 0, 0, 'h'},   {"rotate", 0, 0, 'r'}, {0, 0, 0, 0}};
    const char *model = NULL, *kind = NULL, *out = NULL;
    long canvas = 0, face = 0;
    int json = 0, c;
    g_rotate = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': kind = optarg; break;
        case 'o': out = optarg; break;
        case 'c':
            if (cli_int("align", "--canvas", optarg, 1, FT_CANVAS_MAX, &canvas)) return FT_EXIT_USAGE;
            break;
        case 'f':
            if (cli_int("align", "--face", optarg, 0, 1000, &face)) return FT_EXIT_USAGE;
            break;
        case 'J': json = 1; break;
        case 'r': g_rotate = 1; break;
        case 'h':
            printf("usage: facetwin align --model MODEL IMAGE [--out face.png] [--detector ssd|tiny]\n"
                   "                      [--face K] [--canvas PX] [--json]\n\n"
                   "MODEL: a pipeline checkpoint ('facetwin import --from face-api', --parts all).\n"
                   "Detects the faces (ssd by default), finds 68 landmarks on each and crops it as\n"
                   "face-api does (alignDlib: eye and mouth centres, axis-aligned), resized to the\n"
                   "encoder's 150x150. --out writes face K's crop (default 0, the highest score) as PNG.\n"
                   "--json prints every face: box, score, landmarks, aligned rect, crop and descriptor.\n"
                   "--canvas PX centres the image on a PX x PX grey canvas first (tight crops like ORL).\n"
                   "--rotate (not face-api's): the same crop rotated so the eyes are level, for --json.\n");
            return FT_EXIT_OK;
        default: return cli_usage("align", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!model) return cli_usage("align", "--model is required");
    if (optind >= argc) return cli_usage("align", "an IMAGE is required");
    if (optind != argc - 1 && (out || !json))
        return cli_usage("align", "several images need --json without --out (one JSON line each)");
    ft_detector_choice choice = FT_DETECTOR_DEFAULT;
    if (kind && cli_detector("align", kind, &choice)) return FT_EXIT_USAGE;
    if (!out && !json) return cli_usage("align", "--out or --json is required");
    ft_error err = {0};
    ft_pipeline p;
    if (ft_pipeline_load(model, &p, &err)) return cli_fail(&err);
    ft_detector *det = ft_photo_detector(&p, choice);
    int rc = FT_EXIT_ERROR;
    ft_image img = {0}, big = {0}, crop = {0};
    ft_face *f = NULL;
    int n = 0;
    float *x = NULL;
    if (!det || !p.landmarks || !p.encoder) {
        ft_error_set(&err, FT_EMISMATCH, "%s: needs %s detector, the landmark net and the encoder (import with --parts all)",
                     model, kind ? kind : "a");
        goto done;
    }
    for (int a = optind; a < argc; a++) {
        ft_image_free(&img);
        ft_image_free(&big);
        free(f);
        f = NULL;
        if (align_one(&p, det, argv[a], out, json, canvas, face, &img, &big, &crop, &f, &n, &x, &err)) goto done;
    }
    rc = FT_EXIT_OK;
    goto done_quiet;
done:
    if (rc) rc = cli_fail(&err);
done_quiet:
    free(x);
    free(f);
    ft_image_free(&crop);
    ft_image_free(&big);
    ft_image_free(&img);
    ft_pipeline_free(&p);
    return rc;
}

/* One image: detect, align, write/print. Returns nonzero (err set) on failure. */
static int align_one(ft_pipeline *pp, ft_detector *det, const char *path, const char *out, int json, long canvas,
                     long face, ft_image *imgp, ft_image *bigp, ft_image *cropp, ft_face **fp, int *np, float **xp,
                     ft_error *err)
{
    ft_pipeline p = *pp;
    ft_image img, big = {0}, crop = {0};
    ft_face *f = NULL;
    int n = 0, rc = 1;
    float *x = *xp;
    if (ft_image_load(path, NULL, &img, err)) return 1;
    *imgp = img;
    if (canvas && ft_image_on_canvas(&img, (int)canvas, &big, err)) goto done;
    const ft_image *src = canvas ? &big : &img;
    if (ft_faces_find(det, p.landmarks, src, &f, &n, err)) goto done;
    if (n == 0 || face >= n) {
        if (json && n == 0 && !out) { /* an answer, not a failure, for scripts */
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "image", path);
            cJSON_AddNumberToObject(j, "faces_detected", 0);
            cJSON_AddItemToObject(j, "faces", cJSON_CreateArray());
            cli_print_json(j);
            rc = 0;
            goto done;
        }
        ft_error_set(err, FT_EINVAL, "%s: %s", path, n ? "no face with that index" : "no face found");
        goto done;
    }
    const ft_input_spec *es = ft_net_input(p.encoder);
    if (out) {
        if (ft_face_crop_image(src, &f[face].crop, es->width, &crop, err)) goto done;
        if (ft_image_write_png(out, &crop, err)) goto done;
    }
    if (json) {
        if (!x) x = malloc(3 * (size_t)es->width * es->height * sizeof(float));
        *xp = x;
        float e[512];
        if (!x || ft_net_embed_dim(p.encoder) > 512) {
            ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "image", path);
        cJSON_AddStringToObject(j, "detector", ft_detector_kind(det));
        cJSON_AddNumberToObject(j, "faces_detected", n);
        cJSON *arr = cJSON_AddArrayToObject(j, "faces");
        for (int i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "box", box_json(&f[i].box));
            cJSON_AddNumberToObject(o, "score", f[i].box.score);
            cJSON_AddItemToObject(o, "landmarks", cJSON_CreateFloatArray(&f[i].landmarks[0][0], 2 * FT_LANDMARKS));
            cJSON_AddItemToObject(o, "aligned", box_json(&f[i].aligned));
            cJSON_AddItemToObject(o, "crop", box_json(&f[i].crop));
            if ((g_rotate ? ft_face_input_rotated(src, &f[i], es->width, es, x, err)
                          : ft_face_input(src, &f[i].crop, es->width, es, x, err)) ||
                ft_net_embed(p.encoder, x, 1, e, err)) {
                cJSON_Delete(j);
                goto done;
            }
            cJSON_AddItemToObject(o, "descriptor", cJSON_CreateFloatArray(e, ft_net_embed_dim(p.encoder)));
            cJSON_AddItemToArray(arr, o);
        }
        cli_print_json(j);
    } else {
        fprintf(stderr, "%s: %d face(s); wrote face %ld's %dx%d crop to %s\n", path, n, face, es->width,
                es->height, out);
    }
    rc = 0;
done:
    *bigp = big;
    *cropp = crop;
    *fp = f;
    *np = n;
    return rc;
}
