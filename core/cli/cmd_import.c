/* cmd_import.c — `facetwin import`: a pretrained network of another project as a facetwin
 * checkpoint (include/facetwin/import.h): face-api's encoder or its landmark net, one per file. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/import.h"
#include "facetwin/model.h"

/* "encoder", "landmarks" (comma-separated list) -> FT_IMPORT_* bits; 0 on an unknown name. */
static unsigned parse_parts(const char *s, char *bad, size_t n)
{
    unsigned bits = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "encoder")) bits |= FT_IMPORT_ENCODER;
        else if (!strcmp(tok, "landmarks")) bits |= FT_IMPORT_LANDMARKS;
        else if (!strcmp(tok, "tiny")) bits |= FT_IMPORT_TINY;
        else if (!strcmp(tok, "ssd")) bits |= FT_IMPORT_SSD;
        else if (!strcmp(tok, "all")) bits |= FT_IMPORT_ALL;
        else {
            snprintf(bad, n, "%s", tok);
            return 0;
        }
    }
    return bits;
}

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {{"from", 1, 0, 'f'}, {"src", 1, 0, 's'}, {"out", 1, 0, 'o'},
                                         {"parts", 1, 0, 'p'}, {"json", 0, 0, 'J'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *from = NULL, *src = NULL, *out = NULL, *parts = "all";
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 's': src = optarg; break;
        case 'o': out = optarg; break;
        case 'p': parts = optarg; break;
        case 'J': json = 1; break;
        case 'h':
            printf("usage: facetwin import --from face-api --src DIR --out MODEL [--parts all|PART[,PART...]] [--json]\n\n"
                   "Converts a pretrained network into a facetwin checkpoint. --from face-api: DIR is the\n"
                   "model/ folder of @vladmandic/face-api (or the package folder holding it), fetched by\n"
                   "deploy/fetch-face-api.sh. Parts: encoder (FaceRecognitionNet: 150x150 RGB face crop ->\n"
                   "128-d descriptor, threshold 0.6, the authors' recommendation), landmarks\n"
                   "(FaceLandmark68Net), ssd (SsdMobilenetv1) and tiny (TinyFaceDetector). --parts all (the\n"
                   "default) writes the whole photo pipeline in one checkpoint whose own net is the encoder\n"
                   "(facetwin detect / align use the rest); one part alone writes that network alone.\n");
            return FT_EXIT_OK;
        default: return cli_usage("import", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("import", "unexpected argument '%s'", argv[optind]);
    if (!from || !src || !out) return cli_usage("import", "--from, --src and --out are required");
    if (strcmp(from, "face-api")) return cli_usage("import", "--from must be face-api (got '%s')", from);
    char bad[64] = "";
    unsigned bits = parse_parts(parts, bad, sizeof bad);
    if (!bits)
        return cli_usage("import", "--parts: '%s' is not available (all, or a list of encoder, "
                                   "landmarks, ssd, tiny)", bad[0] ? bad : parts);
    if (bits != FT_IMPORT_LANDMARKS && bits != FT_IMPORT_TINY && bits != FT_IMPORT_SSD && !(bits & FT_IMPORT_ENCODER))
        return cli_usage("import", "--parts: several parts need 'encoder' (got '%s')", parts);
    ft_error err = {0};
    ft_ckpt ck;
    if (ft_import_faceapi(src, bits, &ck, &err)) return cli_fail(&err);
    ft_status st = ft_ckpt_write(out, &ck, &err);
    ft_ckpt_free(&ck);
    if (st) return cli_fail(&err);
    /* read it back through the normal loader: what was written is what serves */
    ft_model m;
    if (ft_model_load(out, &m, &err)) return cli_fail(&err);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", out);
        cJSON_AddStringToObject(o, "model_id", m.model_id);
        cJSON_AddStringToObject(o, "parts", parts);
        cJSON_AddNumberToObject(o, "parameters", (double)ft_net_param_count(m.net));
        cJSON_AddNumberToObject(o, "embedding_dim", ft_net_embed_dim(m.net));
        cJSON_AddNumberToObject(o, "threshold", m.threshold);
        cli_print_json(o);
    } else {
        printf("wrote %s: %s, %d layers, %zu parameters, %.0f MFLOP per image, %d-d, threshold %g\n", out,
               m.model_id, ft_net_n_layers(m.net), ft_net_param_count(m.net), ft_net_flops(m.net) / 1e6,
               ft_net_embed_dim(m.net), m.threshold);
    }
    ft_model_free(&m);
    return FT_EXIT_OK;
}
