/* test_loader.c — the background loader: order, cancellation, determinism,
 * augmentation, cache and failures.
 *
 * The group setup writes three small identity-folder datasets of PGM files
 * under one ft_test_tmpdir():
 *   flat/  N_FLAT images, image i filled with the value FLAT_STEP * i, so every
 *          delivered input says which image it came from;
 *   grad/  one image whose pixels are all distinct (a left-right and
 *          top-down gradient), to check flips and shifts pixel by pixel;
 *   bad/   BAD_IDS x BAD_PER_ID images, one of them truncated in the middle.
 * The input spec matches the image size, so nothing is resized and, with
 * mean 0 and std 1, input = pixel / 255 exactly.
 *
 * Augmentation is checked against the documented draws: the test replays
 * ft_rng_derive(seed, plan position) in the documented order (dx, dy, flip,
 * brightness, contrast) and predicts every output pixel.
 */
#include "ft_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "facetwin/dataset.h"
#include "facetwin/loader.h"
#include "rng.h"

#define PATH_CAP 4096
#define IMG_W 8
#define IMG_H 6
#define ISZ (IMG_W * IMG_H)
#define N_FLAT 24
#define FLAT_IDS 4 /* N_FLAT images in FLAT_IDS folders */
#define FLAT_STEP 3
#define BAD_IDS 3
#define BAD_PER_ID 3
#define BAD_INDEX 4 /* b/2.pgm: the middle image of the middle identity */
#define LONG_PLAN 100
#define BATCH 8
#define DEPTH 2
#define AUG_POSITIONS 64
#define SLOW_CONSUMER_NS 1000000L /* 1 ms per batch */
#define CANCEL_ROUNDS 20
#define PIXEL_TOL 1e-5f
#define FLIP_P 0.5f

typedef struct {
    char root[PATH_CAP];
    ft_dataset flat, grad, bad;
    ft_input_spec spec; /* IMG_W x IMG_H grey, mean 0, std 1 */
} fixture;

/* ---- helpers -------------------------------------------------------------------- */

/* A P5 file of IMG_W x IMG_H pixels; keep < IMG_W*IMG_H bytes of them when truncated. */
static void write_pgm(const char *root, const char *rel, const uint8_t *pix, size_t keep)
{
    ft_test_write_pgm(root, rel, IMG_W, IMG_H, pix, keep);
}

static uint8_t grad_pixel(int x, int y) { return (uint8_t)(5 + 10 * x + 30 * y); }

static void open_ds(const char *root, const char *rel, ft_dataset *ds)
{
    char p[PATH_CAP];
    ft_test_join(p, PATH_CAP, root, rel);
    ft_error err = {0};
    assert_status(ft_dataset_open(p, ds, &err), FT_OK, &err);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    ft_test_tmpdir(f->root, sizeof f->root);
    char rel[64];
    uint8_t pix[ISZ];

    ft_test_mkdir(f->root, "flat");
    for (int d = 0; d < FLAT_IDS; d++) {
        snprintf(rel, sizeof rel, "flat/id%d", d);
        ft_test_mkdir(f->root, rel);
        for (int k = 0; k < N_FLAT / FLAT_IDS; k++) {
            memset(pix, FLAT_STEP * (d * (N_FLAT / FLAT_IDS) + k), sizeof pix);
            snprintf(rel, sizeof rel, "flat/id%d/%d.pgm", d, k);
            write_pgm(f->root, rel, pix, ISZ);
        }
    }

    ft_test_mkdir(f->root, "grad");
    ft_test_mkdir(f->root, "grad/g");
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) pix[y * IMG_W + x] = grad_pixel(x, y);
    write_pgm(f->root, "grad/g/0.pgm", pix, ISZ);

    ft_test_mkdir(f->root, "bad");
    const char *ids[BAD_IDS] = {"a", "b", "c"};
    for (int d = 0; d < BAD_IDS; d++) {
        snprintf(rel, sizeof rel, "bad/%s", ids[d]);
        ft_test_mkdir(f->root, rel);
        for (int k = 1; k <= BAD_PER_ID; k++) {
            int i = d * BAD_PER_ID + k - 1;
            memset(pix, FLAT_STEP * i, sizeof pix);
            snprintf(rel, sizeof rel, "bad/%s/%d.pgm", ids[d], k);
            write_pgm(f->root, rel, pix, i == BAD_INDEX ? ISZ / 2 : ISZ);
        }
    }

    open_ds(f->root, "flat", &f->flat);
    open_ds(f->root, "grad", &f->grad);
    open_ds(f->root, "bad", &f->bad);
    assert_int_equal(f->flat.n_images, N_FLAT);
    assert_int_equal(f->bad.n_images, BAD_IDS * BAD_PER_ID);
    f->spec = (ft_input_spec){IMG_W, IMG_H, 1, {0, 0, 0}, {1, 1, 1}};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ft_dataset_free(&f->flat);
    ft_dataset_free(&f->grad);
    ft_dataset_free(&f->bad);
    ft_test_rmtree(f->root);
    free(f);
    return 0;
}

static ft_loader *new_loader(const ft_dataset *ds, const ft_input_spec *spec, int max_batch,
                             int depth, size_t cache_bytes)
{
    ft_loader *l = NULL;
    ft_error err = {0};
    assert_status(ft_loader_new(ds, spec, max_batch, depth, cache_bytes, &l, &err), FT_OK, &err);
    assert_non_null(l);
    return l;
}

static void start(ft_loader *l, const int32_t *plan, int n, int batch, const ft_augment *aug,
                  uint64_t seed)
{
    ft_error err = {0};
    assert_status(ft_loader_start(l, plan, n, batch, aug, seed, &err), FT_OK, &err);
}

static void next(ft_loader *l, ft_loader_batch *b)
{
    ft_error err = {0};
    assert_status(ft_loader_next(l, b, &err), FT_OK, &err);
}

/* The image a flat input came from (every pixel FLAT_STEP * index). */
static int flat_index(const float *x)
{
    long v = lroundf(x[0] * 255.0f);
    for (int i = 1; i < ISZ; i++) assert_true(lroundf(x[i] * 255.0f) == v);
    assert_int_equal(v % FLAT_STEP, 0);
    return (int)(v / FLAT_STEP);
}

static void sleep_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* plan[i] = (i * 7) % N_FLAT: every image, in a scrambled order, repeated. */
static void make_plan(int32_t *plan, int n, int mult)
{
    for (int i = 0; i < n; i++) plan[i] = (int32_t)((i * mult) % N_FLAT);
}

/* Takes every batch of the plan and checks index, size, image indices, content. */
static void consume_plan(ft_loader *l, const int32_t *plan, int n, int batch, long sleep_per_batch)
{
    ft_loader_batch b;
    int pos = 0, nb = 0;
    for (;;) {
        next(l, &b);
        if (b.n == 0) break;
        assert_int_equal(b.index, nb);
        int want_n = n - pos < batch ? n - pos : batch;
        assert_int_equal(b.n, want_n);
        for (int j = 0; j < b.n; j++, pos++) {
            assert_int_equal(b.images[j], plan[pos]);
            assert_int_equal(b.ok[j], 1);
            assert_null(b.error[j]);
            assert_int_equal(flat_index(b.x + (size_t)j * ISZ), plan[pos]);
        }
        nb++;
        if (sleep_per_batch) sleep_ns(sleep_per_batch);
    }
    assert_int_equal(pos, n);
    assert_int_equal(b.index, nb);
    next(l, &b); /* the end stays the end */
    assert_int_equal(b.n, 0);
}

/* The draws of plan position pos, in the documented order. */
typedef struct {
    int dx, dy, flip;
    float bright, scale;
} draws;

static draws replay(const ft_augment *a, uint64_t seed, int pos)
{
    ft_rng r = ft_rng_derive(seed, (uint64_t)pos);
    uint32_t span = 2u * (uint32_t)a->shift + 1u;
    draws d;
    d.dx = (int)ft_rng_below(&r, span) - a->shift;
    d.dy = (int)ft_rng_below(&r, span) - a->shift;
    d.flip = ft_rng_uniform(&r) < FLIP_P;
    d.bright = a->brightness * (2.0f * ft_rng_uniform(&r) - 1.0f);
    d.scale = 1.0f + a->contrast * (2.0f * ft_rng_uniform(&r) - 1.0f);
    return d;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Loads the gradient image at AUG_POSITIONS plan positions with aug into out. */
static void load_grad(const fixture *f, const ft_input_spec *spec, const ft_augment *aug,
                      uint64_t seed, float *out)
{
    int32_t plan[AUG_POSITIONS] = {0};
    ft_loader *l = new_loader(&f->grad, spec, BATCH, DEPTH, 0);
    start(l, plan, AUG_POSITIONS, BATCH, aug, seed);
    ft_loader_batch b;
    for (int pos = 0;;) {
        next(l, &b);
        if (b.n == 0) break;
        memcpy(out + (size_t)pos * ISZ, b.x, (size_t)b.n * ISZ * sizeof(float));
        pos += b.n;
    }
    ft_loader_free(l);
}

/* ---- order and cancellation ------------------------------------------------------------ */

static void test_order_fast_and_slow(void **state)
{
    fixture *f = *state;
    int32_t plan[LONG_PLAN];
    make_plan(plan, LONG_PLAN, 7);
    ft_loader *l = new_loader(&f->flat, &f->spec, BATCH, DEPTH, 0);
    start(l, plan, LONG_PLAN, BATCH, NULL, 0);
    consume_plan(l, plan, LONG_PLAN, BATCH, 0);                /* fast consumer */
    start(l, plan, LONG_PLAN, BATCH, NULL, 0);
    consume_plan(l, plan, LONG_PLAN, BATCH, SLOW_CONSUMER_NS); /* slow consumer */
    start(l, plan, LONG_PLAN, 5, NULL, 0);                     /* another batch size */
    consume_plan(l, plan, LONG_PLAN, 5, 0);

    ft_loader_stats st;
    ft_loader_stats_get(l, &st);
    assert_int_equal(st.images, 3 * LONG_PLAN);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.cache_hits, 0);
    assert_int_equal(st.cache_enabled, 0);
    assert_true(st.wait_seconds >= 0.0 && st.work_seconds > 0.0);
    ft_loader_free(l);
}

static void test_first_plan_and_partial(void **state)
{
    fixture *f = *state;
    int32_t plan[LONG_PLAN];
    make_plan(plan, LONG_PLAN, 5);
    ft_loader *l = new_loader(&f->flat, &f->spec, BATCH, 3, 0);
    start(l, plan, LONG_PLAN, BATCH, NULL, 0);
    consume_plan(l, plan, LONG_PLAN, BATCH, 0); /* 12 full batches and one of 4 */

    start(l, plan, 3, BATCH, NULL, 0); /* a single partial batch */
    consume_plan(l, plan, 3, BATCH, 0);

    start(l, plan, 0, BATCH, NULL, 0); /* an empty plan ends at once */
    ft_loader_batch b;
    next(l, &b);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.index, 0);

    start(l, plan, BATCH, BATCH, NULL, 0); /* exactly one full batch */
    consume_plan(l, plan, BATCH, BATCH, 0);
    ft_loader_free(l);
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    int32_t a[LONG_PLAN], b[LONG_PLAN];
    make_plan(a, LONG_PLAN, 7);
    make_plan(b, LONG_PLAN, 11);
    ft_loader *l = new_loader(&f->flat, &f->spec, BATCH, DEPTH, 0);
    ft_loader_batch bt;

    /* a few batches of a, then let the worker fill every slot, then switch */
    start(l, a, LONG_PLAN, BATCH, NULL, 0);
    for (int i = 0; i < 3; i++) next(l, &bt);
    sleep_ns(5 * SLOW_CONSUMER_NS);
    start(l, b, LONG_PLAN, BATCH, NULL, 0);
    consume_plan(l, b, LONG_PLAN, BATCH, 0);

    /* switch before taking anything, and while the worker is busy */
    for (int round = 0; round < CANCEL_ROUNDS; round++) {
        start(l, a, LONG_PLAN, BATCH, NULL, 0);
        if (round % 2) next(l, &bt);
        start(l, b, LONG_PLAN - round, 3 + round % 5, NULL, 0);
        for (int i = 0; i < round % 4; i++) next(l, &bt);
        start(l, a, LONG_PLAN - round, BATCH, NULL, 0);
        consume_plan(l, a, LONG_PLAN - round, BATCH, 0);
    }

    /* free with a plan half consumed and the slots full */
    start(l, b, LONG_PLAN, BATCH, NULL, 0);
    next(l, &bt);
    sleep_ns(2 * SLOW_CONSUMER_NS);
    ft_loader_free(l);

    /* free right after a start */
    l = new_loader(&f->flat, &f->spec, BATCH, DEPTH, 0);
    start(l, a, LONG_PLAN, BATCH, NULL, 0);
    ft_loader_free(l);
}

/* ---- determinism and augmentation --------------------------------------------------------- */

/* All the batches of one epoch, concatenated. */
static void epoch_x(ft_loader *l, const int32_t *plan, int n, const ft_augment *aug, uint64_t seed,
                    float *out)
{
    start(l, plan, n, BATCH, aug, seed);
    ft_loader_batch b;
    int pos = 0;
    for (;;) {
        next(l, &b);
        if (b.n == 0) break;
        memcpy(out + (size_t)pos * ISZ, b.x, (size_t)b.n * ISZ * sizeof(float));
        pos += b.n;
    }
    assert_int_equal(pos, n);
}

static void test_determinism(void **state)
{
    fixture *f = *state;
    int32_t plan[LONG_PLAN];
    make_plan(plan, LONG_PLAN, 7);
    const ft_augment aug = {1, 2, 0.1f, 0.2f, 0};
    float *x1 = malloc(sizeof(float) * LONG_PLAN * ISZ);
    float *x2 = malloc(sizeof(float) * LONG_PLAN * ISZ);
    float *x3 = malloc(sizeof(float) * LONG_PLAN * ISZ);
    assert_true(x1 && x2 && x3);
    ft_loader *l1 = new_loader(&f->flat, &f->spec, BATCH, DEPTH, 0);
    ft_loader *l2 = new_loader(&f->flat, &f->spec, BATCH, 4, 0);
    epoch_x(l1, plan, LONG_PLAN, &aug, 42, x1);
    epoch_x(l2, plan, LONG_PLAN, &aug, 42, x2);
    assert_memory_equal(x1, x2, sizeof(float) * LONG_PLAN * ISZ); /* bit-identical */
    epoch_x(l2, plan, LONG_PLAN, &aug, 43, x3);
    assert_memory_not_equal(x1, x3, sizeof(float) * LONG_PLAN * ISZ);
    epoch_x(l2, plan, LONG_PLAN, &aug, 42, x3); /* and again after another seed */
    assert_memory_equal(x1, x3, sizeof(float) * LONG_PLAN * ISZ);
    ft_loader_free(l1);
    ft_loader_free(l2);
    free(x1);
    free(x2);
    free(x3);
}

static void test_flip_and_shift(void **state)
{
    fixture *f = *state;
    const uint64_t seed = 9;
    float *out = malloc(sizeof(float) * AUG_POSITIONS * ISZ);
    assert_non_null(out);
    const ft_augment augs[3] = {{1, 0, 0, 0, 0}, {0, 2, 0, 0, 0}, {1, 2, 0, 0, 0}};
    for (int k = 0; k < 3; k++) {
        const ft_augment *a = &augs[k];
        load_grad(f, &f->spec, a, seed, out);
        int flips = 0, shifted = 0, edge_repeats = 0;
        for (int pos = 0; pos < AUG_POSITIONS; pos++) {
            draws d = replay(a, seed, pos);
            /* the flip decision does not depend on whether shift is on */
            const ft_augment flip_only = {1, 0, 0, 0, 0};
            assert_int_equal(d.flip, replay(&flip_only, seed, pos).flip);
            int flip = a->flip && d.flip;
            flips += flip;
            shifted += d.dx != 0 || d.dy != 0;
            assert_true(abs(d.dx) <= a->shift && abs(d.dy) <= a->shift);
            const float *x = out + (size_t)pos * ISZ;
            for (int y = 0; y < IMG_H; y++) {
                for (int i = 0; i < IMG_W; i++) {
                    /* shift first (content moves dx right, dy down; edges repeat), then flip */
                    int xs = flip ? IMG_W - 1 - i : i;
                    int sx = clampi(xs - d.dx, 0, IMG_W - 1), sy = clampi(y - d.dy, 0, IMG_H - 1);
                    edge_repeats += sx != xs - d.dx || sy != y - d.dy;
                    long got = lroundf(x[y * IMG_W + i] * 255.0f);
                    if (got != grad_pixel(sx, sy))
                        print_message("aug %d pos %d (%d,%d): got %ld want %d (dx %d dy %d "
                                      "flip %d)\n",
                                      k, pos, i, y, got, grad_pixel(sx, sy), d.dx, d.dy, flip);
                    assert_int_equal(got, grad_pixel(sx, sy));
                }
            }
        }
        if (a->flip) assert_true(flips > AUG_POSITIONS / 4 && flips < 3 * AUG_POSITIONS / 4);
        if (a->shift) assert_true(shifted > 0 && edge_repeats > 0);
    }

    /* flip alone on the gradient: exactly the mirrored rows */
    const ft_augment flip = {1, 0, 0, 0, 0};
    load_grad(f, &f->spec, &flip, seed, out);
    for (int pos = 0; pos < AUG_POSITIONS; pos++) {
        if (!replay(&flip, seed, pos).flip) continue;
        const float *x = out + (size_t)pos * ISZ;
        for (int y = 0; y < IMG_H; y++)
            for (int i = 0; i < IMG_W; i++)
                assert_int_equal(lroundf(x[y * IMG_W + i] * 255.0f), grad_pixel(IMG_W - 1 - i, y));
        break;
    }
    free(out);
}

static void test_brightness_contrast(void **state)
{
    fixture *f = *state;
    const uint64_t seed = 5;
    ft_input_spec spec = f->spec;
    spec.mean[0] = 0.5f;
    spec.std[0] = 0.25f;
    float *base = malloc(sizeof(float) * AUG_POSITIONS * ISZ);
    float *out = malloc(sizeof(float) * AUG_POSITIONS * ISZ);
    assert_true(base && out);
    load_grad(f, &spec, NULL, seed, base);

    /* brightness b adds the same u * b / std (u in [-1, 1]) to every pixel */
    const ft_augment bright = {0, 0, 0.1f, 0, 0};
    load_grad(f, &spec, &bright, seed, out);
    float lo = 1e9f, hi = -1e9f;
    for (int pos = 0; pos < AUG_POSITIONS; pos++) {
        const float *x = out + (size_t)pos * ISZ, *x0 = base + (size_t)pos * ISZ;
        const float add = x[0] - x0[0];
        assert_true(fabsf(add) <= 0.1f / 0.25f + PIXEL_TOL);
        assert_true(fabsf(add - replay(&bright, seed, pos).bright / 0.25f) < PIXEL_TOL);
        for (int i = 1; i < ISZ; i++) assert_true(fabsf(x[i] - x0[i] - add) < PIXEL_TOL);
        if (add < lo) lo = add;
        if (add > hi) hi = add;
    }
    assert_true(lo < 0.0f && hi > 0.0f); /* both directions occur */

    /* contrast c scales deviations from the image mean by s in [1 - c, 1 + c] */
    const ft_augment contrast = {0, 0, 0, 0.3f, 0};
    load_grad(f, &spec, &contrast, seed, out);
    float slo = 1e9f, shi = -1e9f;
    for (int pos = 0; pos < AUG_POSITIONS; pos++) {
        const float *x = out + (size_t)pos * ISZ, *x0 = base + (size_t)pos * ISZ;
        double m0 = 0, m = 0;
        for (int i = 0; i < ISZ; i++) {
            m0 += x0[i];
            m += x[i];
        }
        m0 /= ISZ;
        m /= ISZ;
        assert_true(fabs(m - m0) < PIXEL_TOL); /* the mean stays */
        const float s = (float)((x[ISZ - 1] - m) / (x0[ISZ - 1] - m0));
        assert_true(s >= 0.7f - PIXEL_TOL && s <= 1.3f + PIXEL_TOL);
        assert_true(fabsf(s - replay(&contrast, seed, pos).scale) < 1e-4f);
        for (int i = 0; i < ISZ; i++)
            assert_true(fabs((x[i] - m) - (x0[i] - m0) * s) < 1e-4);
        if (s < slo) slo = s;
        if (s > shi) shi = s;
    }
    assert_true(slo < 1.0f && shi > 1.0f);

    /* turning brightness on beside contrast does not change the contrast draw */
    const ft_augment both = {0, 0, 0.1f, 0.3f, 0};
    for (int pos = 0; pos < AUG_POSITIONS; pos++)
        assert_true(replay(&both, seed, pos).scale == replay(&contrast, seed, pos).scale);
    free(base);
    free(out);
}

/* ---- cache ----------------------------------------------------------------------------- */

static void test_cache(void **state)
{
    fixture *f = *state;
    int32_t plan[N_FLAT];
    make_plan(plan, N_FLAT, 7); /* 7 is prime to 24: every image once */
    const size_t need = (size_t)N_FLAT * ISZ * sizeof(float);
    const ft_augment aug = {1, 1, 0.05f, 0.1f, 0};
    float *xa = malloc(need), *xb = malloc(need);
    assert_true(xa && xb);

    ft_loader *on = new_loader(&f->flat, &f->spec, BATCH, DEPTH, need);
    ft_loader *off = new_loader(&f->flat, &f->spec, BATCH, DEPTH, need - 1);
    ft_loader_stats s_on, s_off;
    ft_loader_stats_get(on, &s_on);
    ft_loader_stats_get(off, &s_off);
    assert_int_equal(s_on.cache_enabled, 1);
    assert_int_equal(s_off.cache_enabled, 0);

    for (int epoch = 0; epoch < 3; epoch++) {
        epoch_x(on, plan, N_FLAT, &aug, (uint64_t)epoch, xa);
        epoch_x(off, plan, N_FLAT, &aug, (uint64_t)epoch, xb);
        assert_memory_equal(xa, xb, need); /* the cache changes nothing but speed */
        ft_loader_stats_get(on, &s_on);
        assert_int_equal(s_on.cache_hits, (long)epoch * N_FLAT);
    }
    ft_loader_stats_get(off, &s_off);
    assert_int_equal(s_off.cache_hits, 0);
    assert_int_equal(s_on.images, 3 * N_FLAT);
    assert_int_equal(s_off.images, 3 * N_FLAT);

    /* un-augmented epochs through the cache are exact */
    start(on, plan, N_FLAT, BATCH, NULL, 0);
    consume_plan(on, plan, N_FLAT, BATCH, 0);
    ft_loader_free(on);
    ft_loader_free(off);
    free(xa);
    free(xb);
}

/* ---- failures --------------------------------------------------------------------------- */

static void check_bad_epoch(ft_loader *l, const fixture *f, int batch)
{
    int32_t plan[BAD_IDS * BAD_PER_ID];
    for (int i = 0; i < BAD_IDS * BAD_PER_ID; i++) plan[i] = i;
    start(l, plan, BAD_IDS * BAD_PER_ID, batch, NULL, 0);
    ft_loader_batch b;
    int pos = 0;
    for (;;) {
        next(l, &b);
        if (b.n == 0) break;
        for (int j = 0; j < b.n; j++, pos++) {
            const float *x = b.x + (size_t)j * ISZ;
            if (pos == BAD_INDEX) {
                assert_int_equal(b.ok[j], 0);
                assert_non_null(b.error[j]);
                assert_non_null(strstr(b.error[j], f->bad.paths[BAD_INDEX]));
                assert_non_null(strstr(b.error[j], "b/2.pgm"));
                assert_null(strchr(b.error[j], '\n'));
                for (int i = 0; i < ISZ; i++) assert_true(x[i] == 0.0f);
            } else {
                assert_int_equal(b.ok[j], 1);
                assert_null(b.error[j]);
                assert_int_equal(flat_index(x), pos);
            }
        }
    }
    assert_int_equal(pos, BAD_IDS * BAD_PER_ID);
}

static void test_corrupt_file(void **state)
{
    fixture *f = *state;
    for (int cache = 0; cache <= 1; cache++) {
        ft_loader *l = new_loader(&f->bad, &f->spec, 4, DEPTH, cache ? SIZE_MAX : 0);
        check_bad_epoch(l, f, 4);
        check_bad_epoch(l, f, 3); /* failures are not cached: reported every epoch */
        ft_loader_stats st;
        ft_loader_stats_get(l, &st);
        assert_int_equal(st.failures, 2);
        assert_int_equal(st.images, 2 * BAD_IDS * BAD_PER_ID);
        assert_int_equal(st.cache_hits, cache ? BAD_IDS * BAD_PER_ID - 1 : 0);
        ft_loader_free(l);
    }

    /* a file removed after listing: the same, naming it */
    char p[PATH_CAP];
    ft_test_join(p, PATH_CAP, f->root, "flat/id0/gone.pgm");
    uint8_t pix[ISZ] = {0};
    write_pgm(f->root, "flat/id0/gone.pgm", pix, ISZ);
    char dir[PATH_CAP];
    ft_test_join(dir, PATH_CAP, f->root, "flat");
    ft_dataset ds;
    ft_error err = {0};
    assert_status(ft_dataset_open(dir, &ds, &err), FT_OK, &err);
    assert_int_equal(unlink(p), 0);
    int32_t idx = -1;
    for (int i = 0; i < ds.n_images; i++)
        if (strcmp(ds.paths[i], p) == 0) idx = i;
    assert_true(idx >= 0);
    int32_t plan[3] = {0, idx, 1};
    ft_loader *l = new_loader(&ds, &f->spec, BATCH, DEPTH, 0);
    start(l, plan, 3, BATCH, NULL, 0);
    ft_loader_batch b;
    next(l, &b);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.ok[0], 1);
    assert_int_equal(b.ok[1], 0);
    assert_int_equal(b.ok[2], 1);
    assert_non_null(strstr(b.error[1], "gone.pgm"));
    ft_loader_free(l);
    ft_dataset_free(&ds);
}

/* ---- argument errors ------------------------------------------------------------------------ */

static void test_argument_errors(void **state)
{
    fixture *f = *state;
    ft_loader *l = NULL;
    ft_error err = {0};
    assert_status(ft_loader_new(&f->flat, &f->spec, 0, DEPTH, 0, &l, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "max batch");
    assert_null(l);
    assert_status(ft_loader_new(&f->flat, &f->spec, BATCH, 1, 0, &l, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "depth");
    assert_status(ft_loader_new(NULL, &f->spec, BATCH, DEPTH, 0, &l, &err), FT_EINVAL, &err);
    ft_input_spec bad = f->spec;
    bad.channels = 2;
    assert_status(ft_loader_new(&f->flat, &bad, BATCH, DEPTH, 0, &l, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "channels");
    bad = f->spec;
    bad.std[0] = 0.0f;
    assert_status(ft_loader_new(&f->flat, &bad, BATCH, DEPTH, 0, &l, &err), FT_EINVAL, &err);

    l = new_loader(&f->flat, &f->spec, BATCH, DEPTH, 0);
    ft_loader_batch b;
    assert_status(ft_loader_next(l, &b, &err), FT_EINVAL, &err); /* before any plan */
    assert_msg_has(&err, "before");
    int32_t plan[3] = {0, 1, 2};
    assert_status(ft_loader_start(l, plan, 3, 0, NULL, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "batch 0");
    assert_status(ft_loader_start(l, plan, 3, BATCH + 1, NULL, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "batch 9");
    assert_status(ft_loader_start(l, plan, -1, BATCH, NULL, 0, &err), FT_EINVAL, &err);
    assert_status(ft_loader_start(l, NULL, 3, BATCH, NULL, 0, &err), FT_EINVAL, &err);
    plan[1] = N_FLAT;
    assert_status(ft_loader_start(l, plan, 3, BATCH, NULL, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "image 24");
    plan[1] = -1;
    assert_status(ft_loader_start(l, plan, 3, BATCH, NULL, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "image -1");
    plan[1] = 1;
    ft_augment aug = {0, IMG_H, 0, 0, 0}; /* shift as large as the input */
    assert_status(ft_loader_start(l, plan, 3, BATCH, &aug, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "shift");
    aug = (ft_augment){0, -1, 0, 0, 0};
    assert_status(ft_loader_start(l, plan, 3, BATCH, &aug, 0, &err), FT_EINVAL, &err);
    aug = (ft_augment){0, 0, -0.1f, 0, 0};
    assert_status(ft_loader_start(l, plan, 3, BATCH, &aug, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "brightness");
    aug = (ft_augment){0, 0, NAN, 0, 0};
    assert_status(ft_loader_start(l, plan, 3, BATCH, &aug, 0, &err), FT_EINVAL, &err);
    aug = (ft_augment){0, 0, 0, 1.5f, 0};
    assert_status(ft_loader_start(l, plan, 3, BATCH, &aug, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "contrast");
    aug = (ft_augment){0, 0, 0, 0, 0.9f}; /* zoom beyond [0.5, 1.5] */
    assert_status(ft_loader_start(l, plan, 3, BATCH, &aug, 0, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "zoom");

    /* a refused start leaves the loader usable */
    start(l, plan, 3, BATCH, NULL, 0);
    consume_plan(l, plan, 3, BATCH, 0);
    ft_loader_free(l);
    ft_loader_free(NULL);
}

/* zoom: bilinear about the centre; a constant image stays constant, a gradient
 * stays within its range (no overshoot), most positions change, and the same
 * seed reproduces it bit for bit. */
static void test_zoom(void **state)
{
    fixture *f = *state;
    const ft_augment zoom = {0, 0, 0, 0, 0.3f}, none = {0, 0, 0, 0, 0};
    float *a = malloc(sizeof(float) * AUG_POSITIONS * ISZ), *b = malloc(sizeof(float) * AUG_POSITIONS * ISZ);
    float *orig = malloc(sizeof(float) * AUG_POSITIONS * ISZ);
    assert_true(a && b && orig);
    load_grad(f, &f->spec, &none, 5, orig);
    load_grad(f, &f->spec, &zoom, 5, a);
    load_grad(f, &f->spec, &zoom, 5, b);
    assert_memory_equal(a, b, sizeof(float) * AUG_POSITIONS * ISZ);
    float lo = orig[0], hi = orig[0];
    for (int i = 0; i < ISZ; i++) {
        lo = orig[i] < lo ? orig[i] : lo;
        hi = orig[i] > hi ? orig[i] : hi;
    }
    int changed = 0;
    for (int p = 0; p < AUG_POSITIONS; p++) {
        int diff = 0;
        for (int i = 0; i < ISZ; i++) {
            float v = a[(size_t)p * ISZ + i];
            assert_true(v >= lo - PIXEL_TOL && v <= hi + PIXEL_TOL);
            diff |= fabsf(v - orig[i]) > PIXEL_TOL;
        }
        changed += diff;
    }
    assert_true(changed > AUG_POSITIONS / 2);
    int32_t plan[N_FLAT];
    make_plan(plan, N_FLAT, 1);
    ft_loader *l = new_loader(&f->flat, &f->spec, BATCH, DEPTH, 0);
    epoch_x(l, plan, N_FLAT, &none, 3, orig);
    epoch_x(l, plan, N_FLAT, &zoom, 3, a);
    for (size_t i = 0; i < (size_t)N_FLAT * ISZ; i++) assert_true(fabsf(a[i] - orig[i]) <= PIXEL_TOL);
    ft_loader_free(l);
    free(a);
    free(b);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_fast_and_slow),
        cmocka_unit_test(test_first_plan_and_partial),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_zoom),
        cmocka_unit_test(test_flip_and_shift),
        cmocka_unit_test(test_brightness_contrast),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_corrupt_file),
        cmocka_unit_test(test_argument_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
