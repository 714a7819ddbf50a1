/* main.c — the `facetwin` command: dispatch to one file per subcommand.
 *
 *   facetwin train | eval | embed | verify | info | cv | import | detect | align   (each has --help)
 * Outside scripts rely on these names and flags: extend, don't rename.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} k_cmds[] = {
    {"train", cmd_train, "train an encoder with contrastive loss"},
    {"eval", cmd_eval, "pair accuracy, ROC AUC and EER of a model on test pairs"},
    {"embed", cmd_embed, "print the embedding of each image"},
    {"verify", cmd_verify, "distance between two images and the same/different decision"},
    {"info", cmd_info, "describe a checkpoint"},
    {"cv", cmd_cv, "k-fold cross-validation by identity on identity folders"},
    {"import", cmd_import, "convert a pretrained network (face-api's) into a checkpoint"},
    {"detect", cmd_detect, "faces in a photo (an imported face-api detector)"},
    {"align", cmd_align, "detect, landmarks and the aligned 150x150 face crop of a photo"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: facetwin <command> [options]   (facetwin <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof k_cmds / sizeof k_cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", k_cmds[i].name, k_cmds[i].what);
    fprintf(f, "\nexit status: 0 ok, 1 error, 2 usage error, 130 interrupted (state saved)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return FT_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("facetwin 0.1.0\n");
        return FT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof k_cmds / sizeof k_cmds[0]; i++)
        if (!strcmp(argv[1], k_cmds[i].name)) return k_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "facetwin: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return FT_EXIT_USAGE;
}
