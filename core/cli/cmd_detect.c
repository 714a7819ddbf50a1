/* cmd_detect.c — `facetwin detect`: faces in a photo with an imported face-api detector
 * (include/facetwin/detect.h). One line per face, or one JSON object with --json. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/detect.h"
#include "facetwin/image.h"
#include "facetwin/photo.h"
#include "facetwin/pipeline.h"

int cmd_detect(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"detector", 1, 0, 'd'}, {"score", 1, 0, 's'},
                                         {"json", 0, 0, 'J'},  {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    const char *model = NULL, *kind = NULL;
    double score = 0;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': kind = optarg; break;
        case 's':
            if (cli_float("detect", "--score", optarg, 0.0, 1.0, &score)) return FT_EXIT_USAGE;
            break;
        case 'J': json = 1; break;
        case 'h':
            printf("usage: facetwin detect --model MODEL IMAGE [--detector ssd|tiny] [--score S] [--json]\n\n"
                   "Finds faces in a photo (JPEG, PNG, PNM; EXIF orientation applied) with a detector\n"
                   "pipeline checkpoint of 'facetwin import --from face-api' (or a --parts ssd / tiny one).\n"
                   "--detector picks one (default ssd). Prints\n"
                   "one line per face, 'x y w h score' in pixels of the original photo, highest score\n"
                   "first (face-api's defaults: ssd input 512, score > 0.5, NMS IoU 0.5, at most 100;\n"
                   "tiny input 416, score > 0.5, NMS IoU 0.4; --score overrides the threshold).\n"
                   "--detector names the kind the model must be.\n");
            return FT_EXIT_OK;
        default: return cli_usage("detect", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!model) return cli_usage("detect", "--model is required");
    if (optind != argc - 1) return cli_usage("detect", "exactly one IMAGE is required");
    ft_detector_choice choice = FT_DETECTOR_DEFAULT;
    if (kind && cli_detector("detect", kind, &choice)) return FT_EXIT_USAGE;
    const char *path = argv[optind];
    ft_error err = {0};
    ft_pipeline p;
    if (ft_pipeline_load(model, &p, &err)) return cli_fail(&err);
    ft_detector *d = ft_photo_detector(&p, choice);
    if (!d) {
        ft_error_set(&err, FT_EMISMATCH, "%s: holds no %s%sdetector (facetwin import --from face-api --parts all)", model,
                     kind ? kind : "", kind ? " " : "");
        ft_pipeline_free(&p);
        return cli_fail(&err);
    }
    ft_image img;
    if (ft_image_load(path, NULL, &img, &err)) {
        ft_pipeline_free(&p);
        return cli_fail(&err);
    }
    ft_face_box *f;
    int n;
    ft_detect_opts o = {(float)score, 0};
    ft_status st = ft_detect(d, &img, &o, &f, &n, &err);
    if (st) {
        ft_pipeline_free(&p);
        ft_image_free(&img);
        return cli_fail(&err);
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "image", path);
        cJSON_AddNumberToObject(j, "width", img.w);
        cJSON_AddNumberToObject(j, "height", img.h);
        cJSON_AddStringToObject(j, "detector", ft_detector_kind(d));
        cJSON_AddNumberToObject(j, "faces_detected", n);
        cJSON *arr = cJSON_AddArrayToObject(j, "faces");
        for (int i = 0; i < n; i++) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddNumberToObject(b, "x", f[i].x);
            cJSON_AddNumberToObject(b, "y", f[i].y);
            cJSON_AddNumberToObject(b, "w", f[i].w);
            cJSON_AddNumberToObject(b, "h", f[i].h);
            cJSON_AddNumberToObject(b, "score", f[i].score);
            cJSON_AddItemToArray(arr, b);
        }
        cli_print_json(j);
    } else {
        for (int i = 0; i < n; i++) printf("%.1f %.1f %.1f %.1f %.4f\n", f[i].x, f[i].y, f[i].w, f[i].h, f[i].score);
        fprintf(stderr, "%s: %d face(s)\n", path, n);
    }
    free(f);
    ft_pipeline_free(&p);
    ft_image_free(&img);
    return FT_EXIT_OK;
}
