/* cmd_embed.c — `facetwin embed` and `facetwin verify`: image files through the same path as
 * the daemon — a photo is detected, its face chosen and aligned when the model carries
 * face-api's pipeline (core/cli/photo.c), else the image is the face. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/layers.h"
#include "facetwin/runtime.h"

/* Parses the options both commands share; returns -1 to go on, else the exit code. */
typedef struct {
    const char *model;
    int json, explicit_detect;
    double threshold; /* verify only; NAN = the model's */
    long threads;
    ft_photo_opts photo;
} embed_args;

static int parse(const char *cmd, int argc, char **argv, const char *help, embed_args *a)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'},   {"json", 0, 0, 'J'}, {"threshold", 1, 0, 't'},
                                         {"threads", 1, 0, 'j'}, {"help", 0, 0, 'h'}, CLI_PHOTO_OPTIONS,
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->threshold = NAN;
    a->photo.detect = 1;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = cli_photo_option(cmd, c, optarg, &a->photo, &a->explicit_detect);
        if (r < 0) return FT_EXIT_USAGE;
        if (r) continue;
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'J': a->json = 1; break;
        case 't':
            if (!strcmp(cmd, "embed")) return cli_usage(cmd, "--threshold is an option of verify");
            if (cli_float(cmd, "--threshold", optarg, 0, 1e6, &a->threshold)) return FT_EXIT_USAGE;
            break;
        case 'j':
            if (cli_int(cmd, "--threads", optarg, 1, 1024, &a->threads)) return FT_EXIT_USAGE;
            break;
        case 'h': printf("%s\n%s", help, CLI_PHOTO_HELP); return FT_EXIT_OK;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!a->model) return cli_usage(cmd, "--model is required");
    ft_set_threads((int)a->threads);
    return -1;
}

int cmd_embed(int argc, char **argv)
{
    embed_args a;
    int rc = parse("embed", argc, argv,
                   "usage: facetwin embed --model MODEL IMAGE... [--json] [photo options]\n\n"
                   "Prints each image's embedding: 'FILE v1 v2 ...' per line, or with --json one\n"
                   "object {\"model\", \"dim\", \"embeddings\": [{\"file\", \"embedding\"[, \"faces_detected\",\n"
                   "\"face\"]}]}. Images: PNG, JPEG (EXIF orientation applied), PGM/PPM.\n",
                   &a);
    if (rc >= 0) return rc;
    if (optind >= argc) return cli_usage("embed", "at least one IMAGE is required");
    ft_error err = {0};
    cli_embedder em;
    if (cli_embedder_open(a.model, &a.photo, a.explicit_detect, &em, &err)) return cli_fail(&err);
    const int D = ft_net_embed_dim(em.m.net), n = argc - optind;
    float *e = malloc((size_t)n * D * sizeof(float));
    ft_photo_face *faces = calloc((size_t)n, sizeof *faces);
    ft_status st = e && faces ? FT_OK : ft_error_set(&err, FT_ENOMEM, "out of memory");
    for (int i = 0; i < n && !st; i++) st = cli_embedder_file(&em, argv[optind + i], e + (size_t)i * D, &faces[i], &err);
    if (!st && a.json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "model", em.m.model_id);
        cJSON_AddNumberToObject(o, "dim", D);
        cJSON_AddItemToObject(o, "embeddings", arr);
        for (int i = 0; i < n; i++) {
            cJSON *item = cJSON_CreateObject();
            cJSON_AddStringToObject(item, "file", argv[optind + i]);
            cJSON_AddItemToObject(item, "embedding", cJSON_CreateFloatArray(e + (size_t)i * D, D));
            cli_add_face(item, &faces[i]);
            cJSON_AddItemToArray(arr, item);
        }
        cli_print_json(o);
    } else if (!st) {
        for (int i = 0; i < n; i++) {
            printf("%s", argv[optind + i]);
            for (int k = 0; k < D; k++) printf(" %.9g", e[(size_t)i * D + k]);
            printf("\n");
        }
    }
    free(faces);
    free(e);
    cli_embedder_close(&em);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}

int cmd_verify(int argc, char **argv)
{
    embed_args a;
    int rc = parse("verify", argc, argv,
                   "usage: facetwin verify --model MODEL A B [--threshold X] [--json] [photo options]\n\n"
                   "Euclidean distance between the embeddings of images A and B; 'same' when the\n"
                   "distance is below the model's stored threshold (or --threshold).\n"
                   "--json: {\"distance\", \"same\", \"threshold\", \"model\"[, \"faces\": [{\"faces_detected\",\n"
                   "\"face\"} x 2]]}. Exit 0 either way.\n",
                   &a);
    if (rc >= 0) return rc;
    if (argc - optind != 2) return cli_usage("verify", "exactly two images are required");
    ft_error err = {0};
    cli_embedder em;
    if (cli_embedder_open(a.model, &a.photo, a.explicit_detect, &em, &err)) return cli_fail(&err);
    const int D = ft_net_embed_dim(em.m.net);
    float *e = malloc((size_t)2 * D * sizeof(float));
    ft_photo_face f[2];
    ft_status st = e ? FT_OK : ft_error_set(&err, FT_ENOMEM, "out of memory");
    for (int i = 0; i < 2 && !st; i++) st = cli_embedder_file(&em, argv[optind + i], e + (size_t)i * D, &f[i], &err);
    if (!st) {
        const float t = isnan(a.threshold) ? em.m.threshold : (float)a.threshold;
        const float d = ft_distance(e, e + D, D);
        const int same = d < t;
        if (a.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "distance", d);
            cJSON_AddBoolToObject(o, "same", same);
            cJSON_AddNumberToObject(o, "threshold", t);
            cJSON_AddStringToObject(o, "model", em.m.model_id);
            if (f[0].detected) {
                cJSON *arr = cJSON_AddArrayToObject(o, "faces");
                for (int i = 0; i < 2; i++) {
                    cJSON *item = cJSON_CreateObject();
                    cli_add_face(item, &f[i]);
                    cJSON_AddItemToArray(arr, item);
                }
            }
            cli_print_json(o);
        } else {
            printf("distance %.6f: %s (threshold %g)\n", d, same ? "same" : "different", t);
        }
    }
    free(e);
    cli_embedder_close(&em);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
