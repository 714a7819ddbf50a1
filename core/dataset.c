/* dataset.c — identity-folder datasets and identity-disjoint splits.
 *
 * Opening walks two levels of DIR with opendir/readdir: every non-hidden
 * sub-directory is an identity, every non-hidden regular file inside it whose
 * extension names a supported format is an image. Files at the top level
 * are not identities and are ignored; directories inside an identity are
 * ignored too (a dataset is exactly two levels deep). Both levels are sorted
 * with strverscmp ("natural" order: s2 before s10), so image numbering does
 * not depend on the file system's readdir order.
 *
 * Nothing is decoded here: the result is names only. All image paths live in
 * one growing text pool (paths[0] points to its start, the others into it),
 * so a listing of millions of files costs one allocation for the text and
 * one per array, not one per file; identity names are owned one by one.
 *
 * Splits and folds work on identity indices, never on images, so an
 * identity's images always land in one split. The shuffled orders come from
 * ft_rng_derive(seed, tag) with a tag per purpose (split, fold), so the same
 * seed always gives the same sets on every machine. Every returned set is
 * sorted ascending: sets compare and print the same whatever the shuffle.
 */
#define _GNU_SOURCE /* strverscmp */

#include "facetwin/dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rng.h"

#define SPLIT_RNG_TAG 0x53504c4954ull /* "SPLIT": the shuffled train/val/test permutation */
#define FOLD_RNG_TAG 0x464f4c44ull    /* "FOLD": the k-fold permutation */
#define MIN_TRAIN_IDS 2               /* a split must leave this many identities to train on */
#define MIN_FOLDS 2
#define POOL_INITIAL_BYTES 4096
#define LIST_INITIAL_CAP 16
#define ELLIPSIS "..."

static const char *const k_image_exts[] = {"pgm", "pnm", "ppm", "png", "jpg", "jpeg"};

/* ---- small growable containers -------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
} name_list;

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static ft_status name_list_push(name_list *l, const char *name, ft_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : LIST_INITIAL_CAP;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return ft_error_set(err, FT_ENOMEM, "out of memory listing %zu names", cap);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(name);
    if (!l->v[l->n]) return ft_error_set(err, FT_ENOMEM, "out of memory for the name '%s'", name);
    l->n++;
    return FT_OK;
}

static int natural_cmp(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

static void name_list_sort(name_list *l)
{
    if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, natural_cmp);
}

/* The image paths while listing: text in one buffer, each path an offset into it
 * (offsets, not pointers, because the buffer moves when it grows). */
typedef struct {
    char *text;
    size_t len, cap;
    size_t *off;
    int32_t *label;
    size_t n, ncap;
} path_pool;

static void path_pool_free(path_pool *p)
{
    free(p->text);
    free(p->off);
    free(p->label);
    memset(p, 0, sizeof *p);
}

/* Appends "a/b/c" (with the slash after a omitted when a already ends in one). */
static ft_status path_pool_add(path_pool *p, const char *a, const char *b, const char *c,
                               int32_t label, ft_error *err)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    int slash_a = !(la > 0 && a[la - 1] == '/');
    size_t need = la + (size_t)slash_a + lb + 1 + lc + 1;
    if (p->len + need > p->cap) {
        size_t cap = p->cap ? p->cap : POOL_INITIAL_BYTES;
        while (cap < p->len + need) cap *= 2;
        char *t = realloc(p->text, cap);
        if (!t)
            return ft_error_set(err, FT_ENOMEM, "out of memory for %zu bytes of file names", cap);
        p->text = t;
        p->cap = cap;
    }
    if (p->n == p->ncap) {
        size_t ncap = p->ncap ? p->ncap * 2 : LIST_INITIAL_CAP;
        size_t *off = realloc(p->off, ncap * sizeof *off);
        if (off) p->off = off;
        int32_t *lab = off ? realloc(p->label, ncap * sizeof *lab) : NULL;
        if (!off || !lab)
            return ft_error_set(err, FT_ENOMEM, "out of memory listing %zu images", ncap);
        p->label = lab;
        p->ncap = ncap;
    }
    char *d = p->text + p->len;
    p->off[p->n] = p->len;
    p->label[p->n] = label;
    p->n++;
    memcpy(d, a, la);
    d += la;
    if (slash_a) *d++ = '/';
    memcpy(d, b, lb);
    d += lb;
    *d++ = '/';
    memcpy(d, c, lc);
    d += lc;
    *d++ = '\0';
    p->len += need;
    return FT_OK;
}

/* ---- listing ------------------------------------------------------------------- */

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof k_image_exts / sizeof k_image_exts[0]; i++)
        if (strcasecmp(dot + 1, k_image_exts[i]) == 0) return 1;
    return 0;
}

/* Directory (1), other (0) for the entry; symbolic links are followed. An entry
 * that cannot be examined (dangling link) counts as a file: if it looks like an
 * image, loading it later reports the real error with its name. */
static int entry_is_dir(DIR *dp, const struct dirent *e)
{
    if (e->d_type == DT_DIR) return 1;
    if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK) return 0;
    struct stat st;
    if (fstatat(dirfd(dp), e->d_name, &st, 0) != 0) return 0;
    return S_ISDIR(st.st_mode);
}

/* Non-hidden entries of path that are directories (want_dirs) or not, in natural order. */
static ft_status list_dir(const char *path, int want_dirs, name_list *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    DIR *dp = opendir(path);
    if (!dp)
        return ft_error_set(err, FT_EIO, "%s: cannot read the directory: %s", path,
                            strerror(errno));
    ft_status st = FT_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(dp);
        if (!e) {
            if (errno)
                st = ft_error_set(err, FT_EIO, "%s: cannot read the directory: %s", path,
                                  strerror(errno));
            break;
        }
        if (e->d_name[0] == '.') continue; /* hidden, "." and ".." */
        if (entry_is_dir(dp, e) != want_dirs) continue;
        if ((st = name_list_push(out, e->d_name, err)) != FT_OK) break;
    }
    closedir(dp);
    if (st) {
        name_list_free(out);
        return st;
    }
    name_list_sort(out);
    return FT_OK;
}

static char *join2(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = !(la > 0 && a[la - 1] == '/');
    char *s = malloc(la + (size_t)slash + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    if (slash) s[la] = '/';
    memcpy(s + la + slash, b, lb + 1);
    return s;
}

/* Lists the images of identity `name` (index label) into pool; counts skipped files. */
static ft_status list_identity(const char *root, const char *name, int32_t label, path_pool *pool,
                               ft_dataset *ds, ft_error *err)
{
    char *dir = join2(root, name);
    if (!dir) return ft_error_set(err, FT_ENOMEM, "out of memory for the path of %s", name);
    name_list files;
    ft_status st = list_dir(dir, 0, &files, err);
    free(dir);
    if (st) return st;
    for (size_t i = 0; i < files.n && !st; i++) {
        const char *f = files.v[i];
        if (!is_image_name(f)) {
            if (ds->n_skipped++ == 0)
                snprintf(ds->skipped_example, sizeof ds->skipped_example, "%s/%s", name, f);
            continue;
        }
        if (pool->n >= (size_t)FT_DATASET_MAX_IMAGES)
            st = ft_error_set(err, FT_ETOOBIG, "%s: more than %d images, the listing limit", root,
                              FT_DATASET_MAX_IMAGES);
        else
            st = path_pool_add(pool, root, name, f, label, err);
    }
    name_list_free(&files);
    return st;
}

void ft_dataset_free(ft_dataset *ds)
{
    if (!ds) return;
    free(ds->root);
    if (ds->id_names)
        for (int i = 0; i < ds->n_ids; i++) free(ds->id_names[i]);
    free(ds->id_names);
    free(ds->id_start);
    if (ds->paths && ds->n_images > 0) free(ds->paths[0]); /* the text pool */
    free(ds->paths);
    free(ds->label);
    memset(ds, 0, sizeof *ds);
}

ft_status ft_dataset_open(const char *dir, ft_dataset *out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_dataset_open: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir || !*dir) return ft_error_set(err, FT_EINVAL, "dataset: no directory given");

    struct stat sb;
    if (stat(dir, &sb) != 0)
        return ft_error_set(err, FT_EIO, "%s: cannot open the dataset directory: %s", dir,
                            strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ft_error_set(err, FT_EINVAL,
                            "%s: not a directory (expected DIR/<identity>/<images>)", dir);

    name_list ids = {0};
    path_pool pool = {0};
    ft_status st = list_dir(dir, 1, &ids, err);
    if (st) return st;
    if (ids.n == 0) {
        name_list_free(&ids);
        return ft_error_set(err, FT_EINVAL,
                            "%s: no identity sub-directory (expected DIR/<identity>/<images>)",
                            dir);
    }
    out->root = strdup(dir);
    out->id_names = calloc(ids.n, sizeof *out->id_names);
    out->id_start = malloc((ids.n + 1) * sizeof *out->id_start);
    if (!out->root || !out->id_names || !out->id_start) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory listing %zu identities of %s", ids.n, dir);
        goto fail;
    }

    /* Identities without images are dropped; the kept ones take over their names. */
    for (size_t i = 0; i < ids.n; i++) {
        size_t before = pool.n;
        st = list_identity(dir, ids.v[i], (int32_t)out->n_ids, &pool, out, err);
        if (st) goto fail;
        if (pool.n == before) {
            out->n_empty_ids++;
            continue;
        }
        out->id_start[out->n_ids] = (int)before;
        out->id_names[out->n_ids++] = ids.v[i];
        ids.v[i] = NULL;
    }
    out->id_start[out->n_ids] = (int)pool.n;
    if (pool.n == 0) {
        st = ft_error_set(err, FT_EINVAL,
                          "%s: no image file (.pgm .pnm .ppm .png .jpg .jpeg) in its %zu identity "
                          "folders",
                          dir, ids.n);
        goto fail;
    }

    out->paths = malloc(pool.n * sizeof *out->paths);
    if (!out->paths) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory listing %zu images of %s", pool.n, dir);
        goto fail;
    }
    for (size_t i = 0; i < pool.n; i++) out->paths[i] = pool.text + pool.off[i];
    out->n_images = (int)pool.n;
    out->label = pool.label; /* ownership moves to the dataset */
    pool.label = NULL;
    pool.text = NULL; /* now owned through paths[0] */
    path_pool_free(&pool);
    name_list_free(&ids);
    return FT_OK;

fail:
    path_pool_free(&pool);
    name_list_free(&ids);
    ft_dataset_free(out);
    return st;
}

/* ---- identity sets -------------------------------------------------------------- */

void ft_idset_free(ft_idset *s)
{
    if (!s) return;
    free(s->ids);
    memset(s, 0, sizeof *s);
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* out = the n identity indices perm[0..n), sorted ascending. */
static ft_status idset_from(const uint32_t *perm, int n, ft_idset *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return FT_OK;
    out->ids = malloc((size_t)n * sizeof *out->ids);
    if (!out->ids)
        return ft_error_set(err, FT_ENOMEM, "out of memory for a set of %d identities", n);
    for (int i = 0; i < n; i++) out->ids[i] = (int)perm[i];
    qsort(out->ids, (size_t)n, sizeof *out->ids, int_cmp);
    out->n = n;
    return FT_OK;
}

/* The identity indices 0..n-1, shuffled with ft_rng_derive(seed, tag) when shuffle is set. */
static uint32_t *identity_order(int n, int shuffle, uint64_t seed, uint64_t tag, ft_error *err)
{
    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) {
        ft_error_set(err, FT_ENOMEM, "out of memory ordering %d identities", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
    if (shuffle) {
        ft_rng r = ft_rng_derive(seed, tag);
        ft_rng_shuffle_u32(&r, perm, (size_t)n);
    }
    return perm;
}

ft_status ft_dataset_split(const ft_dataset *ds, int n_val, int n_test, ft_split_order order,
                           uint64_t seed, ft_idset *train, ft_idset *val, ft_idset *test,
                           ft_error *err)
{
    if (train) memset(train, 0, sizeof *train);
    if (val) memset(val, 0, sizeof *val);
    if (test) memset(test, 0, sizeof *test);
    if (!ds || !train) return ft_error_set(err, FT_EINVAL, "split: dataset or train set is NULL");
    if (order != FT_SPLIT_SHUFFLED && order != FT_SPLIT_ORDERED)
        return ft_error_set(err, FT_EINVAL, "split: unknown order %d", (int)order);
    if (n_val < 0 || n_test < 0)
        return ft_error_set(err, FT_EINVAL,
                            "split: negative identity count (validation %d, test %d)", n_val,
                            n_test);
    if ((n_val > 0 && !val) || (n_test > 0 && !test))
        return ft_error_set(err, FT_EINVAL, "split: %s set asked for but its output is NULL",
                            n_val > 0 && !val ? "validation" : "test");
    long long n_train = (long long)ds->n_ids - n_val - n_test;
    if (n_train < MIN_TRAIN_IDS)
        return ft_error_set(err, FT_EINVAL,
                            "split: the dataset has %d identities; %d for validation and %d for "
                            "test leave %lld for training (at least %d needed)",
                            ds->n_ids, n_val, n_test, n_train < 0 ? 0 : n_train, MIN_TRAIN_IDS);

    uint32_t *perm =
        identity_order(ds->n_ids, order == FT_SPLIT_SHUFFLED, seed, SPLIT_RNG_TAG, err);
    if (!perm) return FT_ENOMEM;
    int nt = (int)n_train;
    ft_status st = idset_from(perm, nt, train, err);
    if (!st && val) st = idset_from(perm + nt, n_val, val, err);
    if (!st && test) st = idset_from(perm + nt + n_val, n_test, test, err);
    free(perm);
    if (st) {
        ft_idset_free(train);
        ft_idset_free(val);
        ft_idset_free(test);
    }
    return st;
}

ft_status ft_dataset_fold(const ft_dataset *ds, int k, int fold, uint64_t seed, ft_idset *train,
                          ft_idset *test, ft_error *err)
{
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    if (!ds || !train || !test)
        return ft_error_set(err, FT_EINVAL, "fold: dataset or output set is NULL");
    if (k < MIN_FOLDS || k > ds->n_ids)
        return ft_error_set(err, FT_EINVAL,
                            "fold: %d folds asked of %d identities (need %d <= k <= identities)", k,
                            ds->n_ids, MIN_FOLDS);
    if (fold < 0 || fold >= k)
        return ft_error_set(err, FT_EINVAL, "fold: fold %d out of range 0..%d", fold, k - 1);

    uint32_t *perm = identity_order(ds->n_ids, 1, seed, FOLD_RNG_TAG, err);
    if (!perm) return FT_ENOMEM;
    /* fold f is perm[f*n/k, (f+1)*n/k): sizes floor(n/k) or ceil(n/k) */
    long long n = ds->n_ids;
    int lo = (int)(fold * n / k), hi = (int)((fold + 1) * n / k);
    ft_status st = idset_from(perm + lo, hi - lo, test, err);
    if (!st) {
        /* the rest: move the test block to the end, then take the front */
        uint32_t *rest = perm;
        memmove(rest + lo, perm + hi, (size_t)(ds->n_ids - hi) * sizeof *perm);
        st = idset_from(rest, ds->n_ids - (hi - lo), train, err);
    }
    free(perm);
    if (st) {
        ft_idset_free(train);
        ft_idset_free(test);
    }
    return st;
}

static int find_name(const ft_dataset *ds, const char *name, size_t len)
{
    for (int i = 0; i < ds->n_ids; i++)
        if (strncmp(ds->id_names[i], name, len) == 0 && ds->id_names[i][len] == '\0') return i;
    return -1;
}

ft_status ft_dataset_find_ids(const ft_dataset *ds, const char *names, ft_idset *out,
                              ft_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!ds || !names || !out)
        return ft_error_set(err, FT_EINVAL, "find identities: NULL argument");
    uint8_t *seen = calloc(ds->n_ids > 0 ? (size_t)ds->n_ids : 1, 1);
    int *ids = malloc((strlen(names) / 2 + 1) * sizeof *ids); /* at most one name per 2 chars */
    if (!seen || !ids) {
        free(seen);
        free(ids);
        return ft_error_set(err, FT_ENOMEM, "out of memory parsing the identity list");
    }
    ft_status st = FT_OK;
    int n = 0;
    const char *p = names;
    for (int item = 1;; item++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        int len = (int)(b - a);
        if (len == 0) {
            st = ft_error_set(err, FT_EINVAL, "identity list '%s': item %d is empty", names, item);
            break;
        }
        int id = find_name(ds, a, (size_t)len);
        if (id < 0) {
            st = ft_error_set(err, FT_EINVAL, "unknown identity '%.*s' (not a folder of %s)", len,
                              a, ds->root ? ds->root : "the dataset");
            break;
        }
        if (seen[id]) {
            st = ft_error_set(err, FT_EINVAL, "identity '%.*s' is listed twice", len, a);
            break;
        }
        seen[id] = 1;
        ids[n++] = id;
        if (*end == '\0') break;
        p = end + 1;
    }
    free(seen);
    if (st) {
        free(ids);
        return st;
    }
    qsort(ids, (size_t)n, sizeof *ids, int_cmp);
    out->ids = ids;
    out->n = n;
    return FT_OK;
}

/* mark[i] = 1 for each identity of s; FT_EINVAL if s names one outside ds. */
static ft_status mark_ids(const ft_dataset *ds, const ft_idset *s, uint8_t **mark, ft_error *err)
{
    *mark = calloc(ds->n_ids > 0 ? (size_t)ds->n_ids : 1, 1);
    if (!*mark) return ft_error_set(err, FT_ENOMEM, "out of memory for %d identities", ds->n_ids);
    for (int i = 0; i < s->n; i++) {
        if (s->ids[i] < 0 || s->ids[i] >= ds->n_ids) {
            free(*mark);
            *mark = NULL;
            return ft_error_set(err, FT_EINVAL, "identity index %d out of range 0..%d", s->ids[i],
                                ds->n_ids - 1);
        }
        (*mark)[s->ids[i]] = 1;
    }
    return FT_OK;
}

ft_status ft_idset_complement(const ft_dataset *ds, const ft_idset *s, ft_idset *out, ft_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!ds || !s || !out) return ft_error_set(err, FT_EINVAL, "complement: NULL argument");
    uint8_t *mark;
    ft_status st = mark_ids(ds, s, &mark, err);
    if (st) return st;
    int n = 0;
    for (int i = 0; i < ds->n_ids; i++) n += !mark[i];
    if (n > 0) {
        out->ids = malloc((size_t)n * sizeof *out->ids);
        if (!out->ids) {
            free(mark);
            return ft_error_set(err, FT_ENOMEM, "out of memory for a set of %d identities", n);
        }
        for (int i = 0, j = 0; i < ds->n_ids; i++)
            if (!mark[i]) out->ids[j++] = i;
    }
    out->n = n;
    free(mark);
    return FT_OK;
}

ft_status ft_dataset_images(const ft_dataset *ds, const ft_idset *s, int32_t **images,
                            int32_t **labels, int *n, ft_error *err)
{
    if (images) *images = NULL;
    if (labels) *labels = NULL;
    if (n) *n = 0;
    if (!ds || !s || !images || !labels || !n)
        return ft_error_set(err, FT_EINVAL, "dataset images: NULL argument");
    uint8_t *mark;
    ft_status st = mark_ids(ds, s, &mark, err);
    if (st) return st;
    int count = 0;
    for (int i = 0; i < ds->n_ids; i++)
        if (mark[i]) count += ds->id_start[i + 1] - ds->id_start[i];
    if (count > 0) {
        *images = malloc((size_t)count * sizeof **images);
        *labels = malloc((size_t)count * sizeof **labels);
        if (!*images || !*labels) {
            free(*images);
            free(*labels);
            *images = *labels = NULL;
            free(mark);
            return ft_error_set(err, FT_ENOMEM, "out of memory listing %d images", count);
        }
        /* identities in ascending order own ascending image ranges */
        int j = 0;
        for (int i = 0; i < ds->n_ids; i++) {
            if (!mark[i]) continue;
            for (int k = ds->id_start[i]; k < ds->id_start[i + 1]; k++, j++) {
                (*images)[j] = k;
                (*labels)[j] = i;
            }
        }
    }
    *n = count;
    free(mark);
    return FT_OK;
}

void ft_idset_names(const ft_dataset *ds, const ft_idset *s, char *buf, size_t n)
{
    if (!buf || n == 0) return;
    buf[0] = '\0';
    if (!ds || !s) return;
    size_t pos = 0;
    const size_t tail = 1 + strlen(ELLIPSIS); /* ",..." kept free while more names follow */
    for (int i = 0; i < s->n; i++) {
        int id = s->ids[i];
        const char *name = (id >= 0 && id < ds->n_ids) ? ds->id_names[id] : "?";
        size_t need = (i > 0) + strlen(name);
        size_t reserve = (i + 1 < s->n) ? tail : 0;
        if (pos + need + reserve + 1 > n) {
            /* no room: finish with "..." (after a comma when names precede), clipped to buf */
            snprintf(buf + pos, n - pos, "%s%s", pos > 0 ? "," : "", ELLIPSIS);
            return;
        }
        snprintf(buf + pos, n - pos, "%s%s", i > 0 ? "," : "", name);
        pos += need;
    }
}
