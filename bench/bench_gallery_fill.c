/* bench_gallery_fill.c — makes the galleries POST /v1/identify is benchmarked
 * over: --faces synthetic embeddings (random unit vectors of the served
 * model's dimension, tagged with its model id, so facetwind loads every one of
 * them into its in-memory index at start), FT_GF_FACES_PER_SUBJECT faces per
 * subject, bulk-loaded into a FRESH gallery store through the daemon's own
 * store code (ft_gallery_enroll_bulk, FT_GF_CHUNK_SUBJECTS subjects per
 * transaction) before the daemon starts.
 *
 * Random vectors are not faces: they make a search do exactly the work of a
 * real gallery of that size (every row is compared; none is near a probe, so
 * the top-k list stays short), which is what the speed benchmark needs.
 * The rows come from bench_unit_rows with --seed in face order — the matrix
 * bench_sgemv times, row for row.
 *
 *   bench_gallery_fill --model M.ftw --store sqlite:PATH --faces N [--seed S]
 *
 * Output: human-readable lines, then one line "JSON {...}" (model id, dim,
 * faces, subjects, seconds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facetwin/model.h"
#include "facetwin/runtime.h"
#include "gallery.h"

#define FT_BENCH_NAME "bench_gallery_fill"
#include "bench_util.h"

#define FT_GF_FACES_PER_SUBJECT 5      /* a gallery holds a few photos per person */
#define FT_GF_CHUNK_SUBJECTS 20000     /* subjects per bulk transaction */
#define FT_GF_DEFAULT_SEED 1
#define FT_GF_MAX_FACES 50000000L
#define FT_GF_SUBJECT_FMT "synth-%08ld"
#define FT_GF_SQLITE_PREFIX "sqlite:"

static void usage(void)
{
    fprintf(stderr, "usage: bench_gallery_fill --model M.ftw --store sqlite:PATH --faces N [--seed S (default %d)]\n"
                    "  PATH must not exist yet: the gallery is made fresh\n",
            FT_GF_DEFAULT_SEED);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *store = NULL;
    long faces = 0, seed = FT_GF_DEFAULT_SEED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--store")) store = v;
        else if (!strcmp(a, "--faces")) faces = bench_long_arg(a, v, 1, FT_GF_MAX_FACES);
        else if (!strcmp(a, "--seed")) seed = bench_long_arg(a, v, 0, 1L << 30);
        else usage();
    }
    if (!model_path || !store || !faces) usage();
    const size_t prefix = strlen(FT_GF_SQLITE_PREFIX);
    if (!strncmp(store, FT_GF_SQLITE_PREFIX, prefix) && access(store + prefix, F_OK) == 0) {
        fprintf(stderr, FT_BENCH_NAME ": %s exists; the benchmark wants a fresh gallery\n", store + prefix);
        return 1;
    }

    ft_error err = {0};
    ft_model m;
    if (ft_model_load(model_path, &m, &err)) die("loading the model", &err);
    const int dim = ft_net_embed_dim(m.net);
    ft_gallery *g;
    if (ft_gallery_open(store, &g, &err)) die("opening the store", &err);

    const long subjects = (faces + FT_GF_FACES_PER_SUBJECT - 1) / FT_GF_FACES_PER_SUBJECT;
    const long chunk_faces = (long)FT_GF_CHUNK_SUBJECTS * FT_GF_FACES_PER_SUBJECT;
    float *emb = xmalloc((size_t)chunk_faces * (size_t)dim * sizeof(float));
    ftg_enroll_req *reqs = xmalloc(FT_GF_CHUNK_SUBJECTS * sizeof *reqs);
    char(*ids)[32] = xmalloc(FT_GF_CHUNK_SUBJECTS * sizeof *ids);
    ft_rng rng = {(uint64_t)seed};
    double t0 = ft_now();
    long done = 0, subj = 0;
    while (done < faces) {
        const long n_faces = faces - done < chunk_faces ? faces - done : chunk_faces;
        bench_unit_rows(&rng, emb, n_faces, dim);
        int n_req = 0;
        for (long f = 0; f < n_faces; f += FT_GF_FACES_PER_SUBJECT, n_req++, subj++) {
            snprintf(ids[n_req], sizeof ids[n_req], FT_GF_SUBJECT_FMT, subj);
            const long n = n_faces - f < FT_GF_FACES_PER_SUBJECT ? n_faces - f : FT_GF_FACES_PER_SUBJECT;
            reqs[n_req] = (ftg_enroll_req){.subject_id = ids[n_req], .model_id = m.model_id, .dim = dim,
                                           .n = (int)n, .embeddings = emb + (size_t)f * (size_t)dim};
        }
        if (ft_gallery_enroll_bulk(g, reqs, n_req, &err)) die("bulk enrollment", &err);
        done += n_faces;
    }
    const double secs = ft_now() - t0;
    int64_t n_subj = 0, n_faces_model = 0;
    if (ft_gallery_counts(g, m.model_id, &n_subj, NULL, &n_faces_model, &err)) die("counting", &err);
    if (n_faces_model != faces || n_subj != subjects) {
        fprintf(stderr, FT_BENCH_NAME ": the store holds %lld faces of %lld subjects, wanted %ld of %ld\n",
                (long long)n_faces_model, (long long)n_subj, faces, subjects);
        return 1;
    }
    printf("filled %s: %ld random unit embeddings (dim %d, seed %ld) of %ld subjects for model %s in %.1f s\n", store,
           faces, dim, seed, subjects, m.model_id, secs);
    printf("JSON {\"model_id\":\"%s\",\"dim\":%d,\"faces\":%ld,\"subjects\":%ld,\"seed\":%ld,\"seconds\":%.2f}\n",
           m.model_id, dim, faces, subjects, seed, secs);
    ft_gallery_close(g);
    ft_model_free(&m);
    free(ids); free(reqs); free(emb);
    return 0;
}
