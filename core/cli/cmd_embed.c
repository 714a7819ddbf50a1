/* cmd_embed.c — `facetwin embed` and `facetwin verify`: images through
 * ft_model_embed_file, the same path the daemon uses. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/layers.h"
#include "facetwin/model.h"
#include "facetwin/runtime.h"

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"json", 0, 0, 'J'}, {"threads", 1, 0, 'j'},
                                         {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    const char *model = NULL;
    int json = 0, c;
    long threads = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'J': json = 1; break;
        case 'j':
            if (cli_int("embed", "--threads", optarg, 1, 1024, &threads)) return FT_EXIT_USAGE;
            break;
        case 'h':
            printf("usage: facetwin embed --model MODEL IMAGE... [--json]\n\n"
                   "Prints each image's embedding: 'FILE v1 v2 ...' per line, or with --json one\n"
                   "object {\"model\", \"dim\", \"embeddings\": [{\"file\", \"embedding\"}]}.\n"
                   "Images: PNG, JPEG (EXIF orientation applied), PGM/PPM.\n");
            return FT_EXIT_OK;
        default: return cli_usage("embed", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!model) return cli_usage("embed", "--model is required");
    if (optind >= argc) return cli_usage("embed", "at least one IMAGE is required");
    ft_set_threads((int)threads);
    ft_error err = {0};
    ft_model m;
    if (ft_model_load(model, &m, &err)) return cli_fail(&err);
    int D = ft_net_embed_dim(m.net), n = argc - optind;
    float *e = malloc((size_t)n * D * sizeof(float));
    ft_status st = e ? FT_OK : ft_error_set(&err, FT_ENOMEM, "out of memory");
    for (int i = 0; i < n && !st; i++) st = ft_model_embed_file(&m, argv[optind + i], NULL, e + (size_t)i * D, &err);
    if (!st && json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "model", m.model_id);
        cJSON_AddNumberToObject(o, "dim", D);
        cJSON_AddItemToObject(o, "embeddings", arr);
        for (int i = 0; i < n; i++) {
            cJSON *item = cJSON_CreateObject();
            cJSON_AddStringToObject(item, "file", argv[optind + i]);
            cJSON_AddItemToObject(item, "embedding", cJSON_CreateFloatArray(e + (size_t)i * D, D));
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
    free(e);
    ft_model_free(&m);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"json", 0, 0, 'J'}, {"threshold", 1, 0, 't'},
                                         {"threads", 1, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL;
    int json = 0, c;
    double thr = NAN;
    long threads = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'J': json = 1; break;
        case 't': bad = cli_float("verify", "--threshold", optarg, 0, 1e6, &thr); break;
        case 'j': bad = cli_int("verify", "--threads", optarg, 1, 1024, &threads); break;
        case 'h':
            printf("usage: facetwin verify --model MODEL A B [--threshold X] [--json]\n\n"
                   "Euclidean distance between the embeddings of images A and B; 'same' when the\n"
                   "distance is below the model's stored threshold (or --threshold).\n"
                   "--json: {\"distance\", \"same\", \"threshold\", \"model\"}. Exit 0 either way.\n");
            return FT_EXIT_OK;
        default: return cli_usage("verify", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (bad) return FT_EXIT_USAGE;
    }
    if (!model) return cli_usage("verify", "--model is required");
    if (argc - optind != 2) return cli_usage("verify", "exactly two images are required");
    ft_set_threads((int)threads);
    ft_error err = {0};
    ft_model m;
    if (ft_model_load(model, &m, &err)) return cli_fail(&err);
    int D = ft_net_embed_dim(m.net);
    float *e = malloc((size_t)2 * D * sizeof(float));
    ft_status st = e ? FT_OK : ft_error_set(&err, FT_ENOMEM, "out of memory");
    if (!st) st = ft_model_embed_file(&m, argv[optind], NULL, e, &err);
    if (!st) st = ft_model_embed_file(&m, argv[optind + 1], NULL, e + D, &err);
    if (!st) {
        float t = isnan(thr) ? m.threshold : (float)thr;
        float d = ft_distance(e, e + D, D);
        int same = d < t;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "distance", d);
            cJSON_AddBoolToObject(o, "same", same);
            cJSON_AddNumberToObject(o, "threshold", t);
            cJSON_AddStringToObject(o, "model", m.model_id);
            cli_print_json(o);
        } else
            printf("distance %.6f: %s (threshold %g)\n", d, same ? "same" : "different", t);
    }
    free(e);
    ft_model_free(&m);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
