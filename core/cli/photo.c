/* photo.c — the photo options shared by `embed`, `verify` and `train --backbone`: a checkpoint
 * that carries face-api's pipeline detects, chooses and aligns the face first
 * (include/facetwin/photo.h), as the daemon does; --no-detect keeps the pre-cropped path. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_detector(const char *cmd, const char *arg, ft_detector_choice *out)
{
    if (ft_detector_choice_parse(arg, out)) return 0;
    cli_usage(cmd, "--detector must be ssd or tiny (got '%s')", arg);
    return 1;
}

int cli_photo_option(const char *cmd, int c, const char *arg, ft_photo_opts *o, int *explicit_detect)
{
    long v;
    switch (c) {
    case CLI_OPT_NO_DETECT: o->detect = 0; return 1;
    case CLI_OPT_DETECTOR:
        if (cli_detector(cmd, arg, &o->detector)) return -1;
        break;
    case CLI_OPT_FACE:
        if (cli_int(cmd, "--face", arg, 0, 1000, &v)) return -1;
        o->face_index = (int)v;
        break;
    case CLI_OPT_REQUIRE_SINGLE: o->require_single = 1; break;
    case CLI_OPT_CANVAS:
        if (cli_int(cmd, "--canvas", arg, 1, FT_CANVAS_MAX, &v)) return -1;
        o->canvas = (int)v;
        break;
    case CLI_OPT_ROTATE: o->rotate = 1; break;
    default: return 0;
    }
    *explicit_detect = 1;
    return 1;
}

ft_status cli_embedder_open(const char *path, const ft_photo_opts *o, int explicit_detect, cli_embedder *e,
                            ft_error *err)
{
    memset(e, 0, sizeof *e);
    e->o = *o;
    ft_status st = ft_pipeline_load_model(path, &e->m, &e->p, err); /* one read of the checkpoint */
    if (st) return st;
    if (!ft_photo_can_detect(&e->p, o)) {
        if (explicit_detect && o->detect) {
            cli_embedder_close(e);
            return ft_error_set(err, FT_EMISMATCH,
                                "%s: no %s detector and landmark net in this model, so --detector, --face, "
                                "--require-single, --canvas and --rotate do not apply (import with --parts all)",
                                path, ft_detector_choice_name(o->detector));
        }
        e->o.detect = 0;
    }
    return FT_OK;
}

ft_status cli_embedder_file(cli_embedder *e, const char *path, float *out, ft_photo_face *info, ft_error *err)
{
    ft_image img;
    ft_status st = ft_image_load(path, NULL, &img, err);
    if (st) return st; /* ft_image_load's messages already start with the path */
    st = ft_photo_embed(&e->p, e->m.net, &img, &e->o, out, info, err);
    ft_image_free(&img);
    return st ? ft_error_prefix(err, path) : FT_OK;
}

void cli_embedder_close(cli_embedder *e)
{
    ft_pipeline_free(&e->p);
    ft_model_free(&e->m);
}

void cli_add_face(cJSON *o, const ft_photo_face *f)
{
    if (!f->detected) return;
    cJSON_AddNumberToObject(o, "faces_detected", f->faces_detected);
    cJSON_AddItemToObject(o, "face", ft_face_json(&f->face));
}
