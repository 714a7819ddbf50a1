/* loader.c — the background image loader: one worker thread, a ring of slots.
 *
 * The loader owns `depth` slots, each holding one batch (inputs, image
 * indices, ok flags, per-image error messages). Batch b of a plan always goes
 * to slot b % depth, and the worker fills batches strictly in plan order, so
 * the consumer finds batch b exactly there and order needs no bookkeeping.
 * A slot moves FREE -> FILLING (worker) -> READY -> HELD (consumer, until its
 * next call) -> FREE. The worker waits when the slot of the next batch is not
 * free — the queue is bounded — and the consumer waits when its batch is not
 * ready. With depth >= 2 one slot can be held while another fills.
 *
 * Locking: one mutex guards every field shared by the two threads (slot
 * states, the plan, counters, statistics). Slot buffers are not locked: only
 * the thread that owns the slot's state touches them, and ownership always
 * changes hands under the mutex. The worker copies what a batch needs (its
 * plan indices, augmentation, seed) into the slot and locals before it
 * unlocks, so a new plan can replace the old one at any time.
 *
 * Cancellation: ft_loader_start bumps a generation counter, frees every slot
 * not being filled and rewinds both cursors. The worker checks the counter
 * after each image; a batch of an old generation is dropped (its slot freed)
 * instead of delivered, so a consumer that starts a new plan before taking
 * every batch never deadlocks and never sees stale data.
 *
 * Cache: all-or-nothing. When cache_bytes covers every image of the dataset
 * the block is allocated once; each image's un-augmented input is copied in
 * after its first successful decode. Failures are not remembered: a broken
 * file is retried (and reported) every time it is planned. Only the worker
 * touches the cache, so it needs no lock.
 *
 * Augmentation runs on the slot's copy, from ft_rng_derive(seed, plan
 * position), drawing its random numbers in a fixed order (dx, dy, flip,
 * brightness, contrast) whatever options are on: turning one option on does
 * not change what the others draw, and thread timing changes nothing.
 * Values are not clipped to the pixel range after brightness or contrast.
 */
#include "facetwin/loader.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "augment.h"
#include "rng.h"

#define MIN_DEPTH 2
#define FLIP_PROBABILITY 0.5f
#define MAX_CONTRAST 1.0f /* beyond 1 the scale could turn negative and invert the image */
#define NS_PER_SECOND 1e9

typedef enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY, SLOT_HELD } slot_state;

typedef struct {
    /* buffers: owned by whichever thread the state gives the slot to */
    float *x;           /* max_batch * isz */
    int32_t *images;    /* max_batch */
    uint8_t *ok;        /* max_batch */
    char *msg;          /* max_batch * FT_ERROR_MSG_MAX */
    const char **error; /* max_batch: NULL or a message in msg */
    /* under the mutex */
    slot_state state;
    uint64_t gen;       /* plan generation the batch belongs to */
    int index, n;       /* batch number within the plan, images in it */
    long hits, failures;
} slot;

/* What the worker needs to fill one batch, copied under the mutex. */
typedef struct {
    uint64_t gen;
    int first; /* plan position of the batch's first image */
    ft_augment aug;
    int augment;
    uint64_t seed;
} batch_job;

struct ft_loader {
    const ft_dataset *ds;
    ft_input_spec spec;
    size_t isz; /* floats per image */
    int max_batch, depth;
    slot *slots;

    /* worker only */
    float *cache;    /* n_images * isz, or NULL (disabled) */
    uint8_t *cached; /* n_images flags */
    float *scratch;  /* isz: the shift's source */

    pthread_t thread;
    int thread_started, sync_ready;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* to the worker: slot freed, plan started, quit */
    pthread_cond_t ready_cv; /* to the consumer: a batch is ready */

    /* under mu */
    int32_t *plan;
    int plan_n, batch, n_batches;
    ft_augment aug;
    int augment;
    uint64_t seed;
    uint64_t gen; /* bumped by every ft_loader_start */
    int started;
    int next_fill, next_take; /* batch numbers */
    int held;                 /* slot held by the consumer, or -1 */
    int quit;
    ft_loader_stats stats;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_SECOND;
}

/* ---- augmentation (worker, on one CHW input) ------------------------------------ */

/* Zoom by s about the centre and move the content (dx, dy): bilinear
 * resampling, coordinates outside the image clamped to the nearest edge. */
static void zoom_shift_image(float *x, float *tmp, int c, int h, int w, float s, int dx, int dy)
{
    const size_t plane = (size_t)h * (size_t)w;
    memcpy(tmp, x, (size_t)c * plane * sizeof *x);
    const float cx = 0.5f * (float)(w - 1), cy = 0.5f * (float)(h - 1);
    for (int y = 0; y < h; y++) {
        float sy = ((float)y - cy - (float)dy) / s + cy;
        sy = sy < 0.0f ? 0.0f : sy > (float)(h - 1) ? (float)(h - 1) : sy;
        int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        float fy = sy - (float)y0;
        for (int i = 0; i < w; i++) {
            float sx = ((float)i - cx - (float)dx) / s + cx;
            sx = sx < 0.0f ? 0.0f : sx > (float)(w - 1) ? (float)(w - 1) : sx;
            int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : x0;
            float fx = sx - (float)x0;
            for (int k = 0; k < c; k++) {
                const float *src = tmp + (size_t)k * plane;
                float top = src[(size_t)y0 * w + x0] + fx * (src[(size_t)y0 * w + x1] - src[(size_t)y0 * w + x0]);
                float bot = src[(size_t)y1 * w + x0] + fx * (src[(size_t)y1 * w + x1] - src[(size_t)y1 * w + x0]);
                x[(size_t)k * plane + (size_t)y * w + i] = top + fy * (bot - top);
            }
        }
    }
}

static void flip_image(float *x, int c, int h, int w)
{
    for (size_t r = 0; r < (size_t)c * (size_t)h; r++) {
        float *row = x + r * (size_t)w;
        for (int i = 0, j = w - 1; i < j; i++, j--) {
            float t = row[i];
            row[i] = row[j];
            row[j] = t;
        }
    }
}

/* v' = (v - mean_k) * scale + mean_k + bright / std[k], channel by channel. */
static void adjust_image(float *x, const ft_input_spec *spec, float bright, float scale)
{
    const size_t plane = (size_t)spec->width * (size_t)spec->height;
    for (int k = 0; k < spec->channels; k++) {
        float *p = x + (size_t)k * plane;
        double sum = 0.0;
        for (size_t i = 0; i < plane; i++) sum += p[i];
        const float mean = (float)(sum / (double)plane);
        const float add = bright / spec->std[k];
        for (size_t i = 0; i < plane; i++) p[i] = (p[i] - mean) * scale + mean + add;
    }
}

static void augment_input(float *x, float *tmp, const ft_input_spec *spec, const ft_augment *a,
                          uint64_t seed, int position)
{
    ft_rng r = ft_rng_derive(seed, (uint64_t)position);
    /* fixed draw order, every draw made whether or not its option is on */
    const uint32_t span = 2u * (uint32_t)a->shift + 1u;
    const int dx = (int)ft_rng_below(&r, span) - a->shift;
    const int dy = (int)ft_rng_below(&r, span) - a->shift;
    const int flip = ft_rng_uniform(&r) < FLIP_PROBABILITY;
    const float bright = a->brightness * (2.0f * ft_rng_uniform(&r) - 1.0f);
    const float scale = 1.0f + a->contrast * (2.0f * ft_rng_uniform(&r) - 1.0f);
    const float zoom = 1.0f + a->zoom * (2.0f * ft_rng_uniform(&r) - 1.0f); /* drawn last: older draws unchanged */

    const int c = spec->channels, h = spec->height, w = spec->width;
    if (a->zoom > 0.0f) zoom_shift_image(x, tmp, c, h, w, zoom, dx, dy);
    else if (dx || dy) ft_shift_image(x, tmp, c, h, w, dx, dy);
    if (a->flip && flip) flip_image(x, c, h, w);
    if (a->brightness > 0.0f || a->contrast > 0.0f) adjust_image(x, spec, bright, scale);
}

/* ---- the worker ------------------------------------------------------------------- */

/* Un-augmented input of image img into dst; on failure dst is zero and msg holds
 * the one-line reason naming the file. */
static int load_input(ft_loader *l, int32_t img, float *dst, char *msg, long *hits)
{
    const size_t bytes = l->isz * sizeof(float);
    if (l->cache && l->cached[img]) {
        memcpy(dst, l->cache + (size_t)img * l->isz, bytes);
        (*hits)++;
        return 1;
    }
    const char *path = l->ds->paths[img];
    ft_image im;
    ft_error e = {0};
    ft_status st = ft_image_load(path, NULL, &im, &e); /* its messages name the path */
    if (!st) {
        st = ft_image_to_input(&im, &l->spec, dst, &e);
        if (st) ft_error_prefix(&e, path);
        ft_image_free(&im);
    }
    if (st) {
        memset(dst, 0, bytes);
        memcpy(msg, e.msg, FT_ERROR_MSG_MAX);
        msg[FT_ERROR_MSG_MAX - 1] = '\0';
        return 0;
    }
    if (l->cache) {
        memcpy(l->cache + (size_t)img * l->isz, dst, bytes);
        l->cached[img] = 1;
    }
    return 1;
}

static int job_cancelled(ft_loader *l, uint64_t gen)
{
    pthread_mutex_lock(&l->mu);
    int stop = l->quit || l->gen != gen;
    pthread_mutex_unlock(&l->mu);
    return stop;
}

/* Fills slot s (state FILLING, owned by the worker). Returns 0 if the plan was
 * replaced or the loader is quitting before the batch was complete. */
static int fill_slot(ft_loader *l, slot *s, int n, const batch_job *job, long *hits,
                     long *failures)
{
    for (int i = 0; i < n; i++) {
        if (job_cancelled(l, job->gen)) return 0;
        float *dst = s->x + (size_t)i * l->isz;
        char *msg = s->msg + (size_t)i * FT_ERROR_MSG_MAX;
        if (load_input(l, s->images[i], dst, msg, hits)) {
            s->ok[i] = 1;
            s->error[i] = NULL;
            if (job->augment)
                augment_input(dst, l->scratch, &l->spec, &job->aug, job->seed, job->first + i);
        } else {
            s->ok[i] = 0;
            s->error[i] = msg;
            (*failures)++;
        }
    }
    return 1;
}

static int work_available(const ft_loader *l)
{
    return l->started && l->next_fill < l->n_batches &&
           l->slots[l->next_fill % l->depth].state == SLOT_FREE;
}

static void *worker_main(void *arg)
{
    ft_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && !work_available(l)) pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->quit) break;

        const int b = l->next_fill++;
        slot *s = &l->slots[b % l->depth];
        batch_job job = {l->gen, b * l->batch, l->aug, l->augment, l->seed};
        const int n = l->plan_n - job.first < l->batch ? l->plan_n - job.first : l->batch;
        memcpy(s->images, l->plan + job.first, (size_t)n * sizeof *s->images);
        s->state = SLOT_FILLING;
        s->gen = job.gen;
        s->index = b;
        s->n = n;
        pthread_mutex_unlock(&l->mu);

        const double t0 = now_seconds();
        long hits = 0, failures = 0;
        const int complete = fill_slot(l, s, n, &job, &hits, &failures);
        const double dt = now_seconds() - t0;

        pthread_mutex_lock(&l->mu);
        l->stats.work_seconds += dt;
        if (complete && s->gen == l->gen) {
            s->hits = hits;
            s->failures = failures;
            s->state = SLOT_READY;
            pthread_cond_signal(&l->ready_cv);
        } else {
            s->state = SLOT_FREE; /* a replaced plan's batch: dropped */
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- construction ------------------------------------------------------------------ */

static void free_slots(ft_loader *l)
{
    if (!l->slots) return;
    for (int i = 0; i < l->depth; i++) {
        slot *s = &l->slots[i];
        free(s->x);
        free(s->images);
        free(s->ok);
        free(s->msg);
        free(s->error);
    }
    free(l->slots);
    l->slots = NULL;
}

static void destroy(ft_loader *l)
{
    if (l->sync_ready) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->work_cv);
        pthread_cond_destroy(&l->ready_cv);
    }
    free_slots(l);
    free(l->cache);
    free(l->cached);
    free(l->scratch);
    free(l->plan);
    free(l);
}

static ft_status check_spec(const ft_input_spec *spec, ft_error *err)
{
    if (spec->channels != 1 && spec->channels != 3)
        return ft_error_set(err, FT_EINVAL, "loader: input channels must be 1 or 3, not %d",
                            spec->channels);
    if (spec->width <= 0 || spec->height <= 0)
        return ft_error_set(err, FT_EINVAL, "loader: invalid input size %dx%d", spec->width,
                            spec->height);
    for (int k = 0; k < spec->channels; k++)
        if (!(spec->std[k] != 0.0f) || !isfinite(spec->std[k]))
            return ft_error_set(err, FT_EINVAL, "loader: input std[%d] must be finite and non-zero",
                                k);
    return FT_OK;
}

static ft_status alloc_slots(ft_loader *l, ft_error *err)
{
    const size_t mb = (size_t)l->max_batch;
    if (l->isz > SIZE_MAX / sizeof(float) / mb / (size_t)l->depth)
        return ft_error_set(err, FT_EINVAL, "loader: %d slots of %d images of %zu floats overflow",
                            l->depth, l->max_batch, l->isz);
    l->slots = calloc((size_t)l->depth, sizeof *l->slots);
    if (!l->slots)
        return ft_error_set(err, FT_ENOMEM, "out of memory for %d loader slots", l->depth);
    for (int i = 0; i < l->depth; i++) {
        slot *s = &l->slots[i];
        s->x = calloc(mb * l->isz, sizeof *s->x);
        s->images = calloc(mb, sizeof *s->images);
        s->ok = calloc(mb, sizeof *s->ok);
        s->msg = calloc(mb, FT_ERROR_MSG_MAX);
        s->error = calloc(mb, sizeof *s->error);
        if (!s->x || !s->images || !s->ok || !s->msg || !s->error)
            return ft_error_set(err, FT_ENOMEM,
                                "out of memory for %d loader slots of %d images (%zu floats each)",
                                l->depth, l->max_batch, l->isz);
    }
    return FT_OK;
}

/* The whole-dataset cache if cache_bytes covers it, else nothing. */
static ft_status alloc_cache(ft_loader *l, size_t cache_bytes, ft_error *err)
{
    const size_t n = (size_t)l->ds->n_images;
    if (n == 0 || l->isz > SIZE_MAX / sizeof(float) / n) return FT_OK;
    const size_t need = n * l->isz * sizeof(float);
    if (cache_bytes < need) return FT_OK;
    l->cache = malloc(need);
    l->cached = calloc(n, 1);
    if (!l->cache || !l->cached)
        return ft_error_set(err, FT_ENOMEM,
                            "out of memory for the %zu-byte image cache of %zu images (lower the "
                            "cache size to disable it)",
                            need, n);
    return FT_OK;
}

ft_status ft_loader_new(const ft_dataset *ds, const ft_input_spec *spec, int max_batch, int depth,
                        size_t cache_bytes, ft_loader **out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_loader_new: out is NULL");
    *out = NULL;
    if (!ds || !spec) return ft_error_set(err, FT_EINVAL, "ft_loader_new: dataset or spec is NULL");
    if (ds->n_images < 0 || (ds->n_images > 0 && !ds->paths))
        return ft_error_set(err, FT_EINVAL, "loader: the dataset has no image list");
    if (max_batch < 1)
        return ft_error_set(err, FT_EINVAL, "loader: max batch must be at least 1, not %d",
                            max_batch);
    if (depth < MIN_DEPTH)
        return ft_error_set(err, FT_EINVAL, "loader: depth must be at least %d, not %d", MIN_DEPTH,
                            depth);
    ft_status st = check_spec(spec, err);
    if (st) return st;

    ft_loader *l = calloc(1, sizeof *l);
    if (!l) return ft_error_set(err, FT_ENOMEM, "out of memory for the loader");
    l->ds = ds;
    l->spec = *spec;
    l->isz = (size_t)spec->channels * (size_t)spec->height * (size_t)spec->width;
    l->max_batch = max_batch;
    l->depth = depth;
    l->held = -1;
    if ((st = alloc_slots(l, err)) || (st = alloc_cache(l, cache_bytes, err))) {
        destroy(l);
        return st;
    }
    l->stats.cache_enabled = l->cache != NULL;
    l->scratch = malloc(l->isz * sizeof *l->scratch);
    if (!l->scratch) {
        destroy(l);
        return ft_error_set(err, FT_ENOMEM, "out of memory for the loader's scratch image");
    }
    if (pthread_mutex_init(&l->mu, NULL)) {
        destroy(l);
        return ft_error_set(err, FT_ENOMEM, "loader: cannot create a mutex");
    }
    if (pthread_cond_init(&l->work_cv, NULL)) {
        pthread_mutex_destroy(&l->mu);
        destroy(l);
        return ft_error_set(err, FT_ENOMEM, "loader: cannot create a condition variable");
    }
    if (pthread_cond_init(&l->ready_cv, NULL)) {
        pthread_cond_destroy(&l->work_cv);
        pthread_mutex_destroy(&l->mu);
        destroy(l);
        return ft_error_set(err, FT_ENOMEM, "loader: cannot create a condition variable");
    }
    l->sync_ready = 1;
    int rc = pthread_create(&l->thread, NULL, worker_main, l);
    if (rc) {
        destroy(l);
        return ft_error_set(err, FT_ENOMEM, "loader: cannot start the worker thread: %s",
                            strerror(rc));
    }
    l->thread_started = 1;
    *out = l;
    return FT_OK;
}

void ft_loader_free(ft_loader *l)
{
    if (!l) return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->quit = 1;
        pthread_cond_broadcast(&l->work_cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    destroy(l);
}

/* ---- the consumer ------------------------------------------------------------------ */

static ft_status check_augment(const ft_loader *l, const ft_augment *a, ft_error *err)
{
    const int side = l->spec.width < l->spec.height ? l->spec.width : l->spec.height;
    if (a->shift < 0 || a->shift >= side)
        return ft_error_set(err, FT_EINVAL,
                            "augment: shift %d must be in 0..%d (less than the %dx%d input)",
                            a->shift, side - 1, l->spec.width, l->spec.height);
    if (!(a->brightness >= 0.0f) || !isfinite(a->brightness))
        return ft_error_set(err, FT_EINVAL, "augment: brightness %g must be finite and >= 0",
                            (double)a->brightness);
    if (!(a->contrast >= 0.0f && a->contrast <= MAX_CONTRAST))
        return ft_error_set(err, FT_EINVAL, "augment: contrast %g must be in [0, %g]",
                            (double)a->contrast, (double)MAX_CONTRAST);
    if (!(a->zoom >= 0.0f && a->zoom <= FT_AUG_MAX_ZOOM))
        return ft_error_set(err, FT_EINVAL, "augment: zoom %g must be in [0, %g]", (double)a->zoom,
                            (double)FT_AUG_MAX_ZOOM);
    return FT_OK;
}

ft_status ft_loader_start(ft_loader *l, const int32_t *plan, int n, int batch,
                          const ft_augment *aug, uint64_t seed, ft_error *err)
{
    if (!l) return ft_error_set(err, FT_EINVAL, "ft_loader_start: loader is NULL");
    if (n < 0 || (n > 0 && !plan))
        return ft_error_set(err, FT_EINVAL, "loader: invalid plan (%d images%s)", n,
                            n > 0 ? ", NULL list" : "");
    if (batch < 1 || batch > l->max_batch)
        return ft_error_set(err, FT_EINVAL, "loader: batch %d out of range 1..%d", batch,
                            l->max_batch);
    for (int i = 0; i < n; i++)
        if (plan[i] < 0 || plan[i] >= l->ds->n_images)
            return ft_error_set(err, FT_EINVAL,
                                "loader: plan entry %d is image %d, outside the dataset's 0..%d", i,
                                (int)plan[i], l->ds->n_images - 1);
    ft_augment a = {0};
    if (aug) {
        ft_status st = check_augment(l, aug, err);
        if (st) return st;
        a = *aug;
    }
    int32_t *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (!copy) return ft_error_set(err, FT_ENOMEM, "out of memory for a plan of %d images", n);
    if (n > 0) memcpy(copy, plan, (size_t)n * sizeof *copy);

    pthread_mutex_lock(&l->mu);
    int32_t *old = l->plan;
    l->plan = copy;
    l->plan_n = n;
    l->batch = batch;
    l->n_batches = n / batch + (n % batch != 0);
    l->aug = a;
    l->augment = a.flip || a.shift > 0 || a.brightness > 0.0f || a.contrast > 0.0f || a.zoom > 0.0f;
    l->seed = seed;
    l->gen++;
    l->started = 1;
    l->next_fill = l->next_take = 0;
    l->held = -1;
    /* the slot being filled (if any) is the worker's: it sees the new generation and frees it */
    for (int i = 0; i < l->depth; i++)
        if (l->slots[i].state == SLOT_READY || l->slots[i].state == SLOT_HELD)
            l->slots[i].state = SLOT_FREE;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    free(old);
    return FT_OK;
}

static int batch_ready(const ft_loader *l, const slot *s)
{
    return s->state == SLOT_READY && s->gen == l->gen && s->index == l->next_take;
}

ft_status ft_loader_next(ft_loader *l, ft_loader_batch *b, ft_error *err)
{
    if (!l || !b) return ft_error_set(err, FT_EINVAL, "ft_loader_next: NULL argument");
    memset(b, 0, sizeof *b);
    pthread_mutex_lock(&l->mu);
    if (!l->started) {
        pthread_mutex_unlock(&l->mu);
        return ft_error_set(err, FT_EINVAL, "loader: ft_loader_next before any ft_loader_start");
    }
    if (l->held >= 0) { /* the previous batch is no longer needed */
        l->slots[l->held].state = SLOT_FREE;
        l->held = -1;
        pthread_cond_signal(&l->work_cv);
    }
    if (l->next_take >= l->n_batches) {
        b->index = l->n_batches;
        pthread_mutex_unlock(&l->mu);
        return FT_OK;
    }
    const int si = l->next_take % l->depth;
    slot *s = &l->slots[si];
    if (!batch_ready(l, s)) {
        const double t0 = now_seconds();
        while (!batch_ready(l, s)) pthread_cond_wait(&l->ready_cv, &l->mu);
        l->stats.wait_seconds += now_seconds() - t0;
    }
    s->state = SLOT_HELD;
    l->held = si;
    l->next_take++;
    l->stats.images += s->n;
    l->stats.cache_hits += s->hits;
    l->stats.failures += s->failures;
    b->x = s->x;
    b->images = s->images;
    b->ok = s->ok;
    b->error = s->error;
    b->n = s->n;
    b->index = s->index;
    pthread_mutex_unlock(&l->mu);
    return FT_OK;
}

void ft_loader_stats_get(ft_loader *l, ft_loader_stats *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    *s = l->stats;
    pthread_mutex_unlock(&l->mu);
}
