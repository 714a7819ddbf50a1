/* cmd_info.c — `facetwin info MODEL`: what a checkpoint holds. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/model.h"

/* "photos" line: which networks of face-api's pipeline ride along (include/facetwin/pipeline.h). */
static void print_photos(const char *meta_json)
{
    cJSON *meta = cJSON_Parse(meta_json ? meta_json : "{}");
    const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(meta, "pipeline"), *part;
    printf("photos     ");
    if (!cJSON_IsObject(pipe) || !pipe->child) {
        printf("no detector: images are taken as pre-cropped faces\n");
    } else {
        const char *sep = "";
        cJSON_ArrayForEach(part, pipe) {
            printf("%s%s", sep, part->string);
            sep = ", ";
        }
        printf(" -> whole photos are detected, the face chosen and aligned (embed, verify, facetwind)\n");
    }
    cJSON_Delete(meta);
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", 0, 0, 'J'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'J': json = 1; break;
        case 'h':
            printf("usage: facetwin info MODEL [--json]\n\n"
                   "Architecture, input geometry and normalisation, embedding size, threshold,\n"
                   "parameters and training metadata of a checkpoint (verified on load).\n");
            return FT_EXIT_OK;
        default: return cli_usage("info", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cli_usage("info", "exactly one MODEL is required");
    ft_error err = {0};
    ft_model m;
    if (ft_model_load(argv[optind], &m, &err)) return cli_fail(&err);
    const ft_input_spec *in = ft_net_input(m.net);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model_id", m.model_id);
        cJSON_AddStringToObject(o, "arch", ft_net_name(m.net));
        cJSON *i = cJSON_AddObjectToObject(o, "input");
        cJSON_AddNumberToObject(i, "width", in->width);
        cJSON_AddNumberToObject(i, "height", in->height);
        cJSON_AddNumberToObject(i, "channels", in->channels);
        cJSON_AddItemToObject(i, "mean", cJSON_CreateFloatArray(in->mean, in->channels));
        cJSON_AddItemToObject(i, "std", cJSON_CreateFloatArray(in->std, in->channels));
        cJSON_AddNumberToObject(o, "embedding_dim", ft_net_embed_dim(m.net));
        cJSON_AddNumberToObject(o, "threshold", m.threshold);
        cJSON_AddNumberToObject(o, "parameters", (double)ft_net_param_count(m.net));
        cJSON_AddNumberToObject(o, "flops_per_image", ft_net_flops(m.net));
        cJSON_AddItemToObject(o, "spec", cJSON_Parse(ft_net_spec_json(m.net)));
        cJSON_AddItemToObject(o, "meta", cJSON_Parse(m.meta_json));
        cli_print_json(o);
    } else {
        printf("model      %s\narch       %s\n", m.model_id, ft_net_name(m.net));
        printf("input      %dx%d, %d channel(s), mean", in->width, in->height, in->channels);
        for (int k = 0; k < in->channels; k++) printf(" %g", in->mean[k]);
        printf(", std");
        for (int k = 0; k < in->channels; k++) printf(" %g", in->std[k]);
        printf("\nembedding  %d\nthreshold  %g\n", ft_net_embed_dim(m.net), m.threshold);
        print_photos(m.meta_json);
        printf("parameters %zu (%.1f MFLOP per image)\nlayers\n", ft_net_param_count(m.net), ft_net_flops(m.net) / 1e6);
        char buf[256];
        for (int i = 0; i < ft_net_n_layers(m.net); i++) {
            ft_net_describe_layer(m.net, i, buf, sizeof buf);
            printf("  %s\n", buf);
        }
        cJSON *meta = cJSON_Parse(m.meta_json);
        cJSON *tr = cJSON_GetObjectItemCaseSensitive(meta, "training");
        cJSON *me = cJSON_GetObjectItemCaseSensitive(meta, "metrics");
        char *ts = tr ? cJSON_PrintUnformatted(tr) : NULL, *ms = me ? cJSON_PrintUnformatted(me) : NULL;
        if (ts) printf("training   %s\n", ts);
        if (ms) printf("metrics    %s\n", ms);
        free(ts);
        free(ms);
        cJSON_Delete(meta);
    }
    ft_model_free(&m);
    return FT_EXIT_OK;
}
