/* test_srv_gallery.c — the gallery store (server/gallery.h, server/gallery_sqlite.c).
 *
 * Every test gets a fresh temp directory and a "sqlite:DIR/g.db" URL (setup/teardown).
 * Covered: enroll/get/list pagination/delete subject/delete face (the last face takes
 * the subject), face ids never reused, idempotent replay and mismatch (and the response
 * built with the new face ids), model filtering in scan, list and counts, metadata kept
 * vs replaced, invalid ids/metadata/vectors rejected, migration from a v1 file made
 * here with raw sqlite3 calls (an independent copy of the v1 schema documented in
 * gallery_sqlite.c), newer-version, garbage and foreign files refused, a read-only store
 * (root drops to nobody in a child so chmod means something; skipped only if that is
 * impossible), 4 threads x 50 concurrent enrollments, data surviving close/reopen and a
 * SIGKILL right after an acknowledgement, deleted bytes gone from the files, and a timed
 * bulk load of 100k faces of dim 128 (the figure is printed, not asserted: sanitizer
 * builds are slow).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ft_test.h"
#include "gallery.h"

#define DIM 8
#define PATH_CAP 4096
#define NOBODY_ID 65534
#define N_THREADS 4
#define PER_THREAD 50
#define N_ACKS 25
#define BULK_FACES 100000
#define BULK_DIM 128
#define BULK_PER_SUBJECT 5
#define SKIP_EXIT 77

typedef struct {
    char dir[PATH_CAP];
    char path[PATH_CAP];
    char url[PATH_CAP + 16];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    ft_test_tmpdir(fx->dir, sizeof fx->dir);
    ft_test_join(fx->path, sizeof fx->path, fx->dir, "g.db");
    snprintf(fx->url, sizeof fx->url, "sqlite:%s", fx->path);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    ft_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ------------------------------------------------------------- helpers ---- */

static void make_vec(float *v, int dim, int seed)
{
    for (int i = 0; i < dim; i++) v[i] = (float)seed + 0.001f * (float)i - 0.5f;
}

static ft_gallery *open_ok(const fixture *fx)
{
    ft_gallery *g = NULL;
    ft_error err = {0};
    ft_status st = ft_gallery_open(fx->url, &g, &err);
    assert_status(st, FT_OK, &err);
    assert_non_null(g);
    return g;
}

/* Enrolls n vectors (seeds seed, seed+1, ...) for subject; returns the first face id. */
static int64_t enroll_n(ft_gallery *g, const char *subject, const char *model, const char *meta, int n, int seed)
{
    float *v = malloc((size_t)n * DIM * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < n; i++) make_vec(v + i * DIM, DIM, seed + i);
    ftg_enroll_req req = {.subject_id = subject, .metadata_json = meta, .model_id = model, .dim = DIM, .n = n,
                          .embeddings = v};
    ftg_enroll_res res = {0};
    ft_error err = {0};
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    assert_int_equal(res.n, n);
    assert_int_equal(res.replayed, 0);
    assert_null(res.response_json);
    for (int i = 1; i < n; i++) assert_true(res.face_ids[i] > res.face_ids[i - 1]);
    int64_t first = res.face_ids[0];
    ft_gallery_enroll_res_free(&res);
    free(v);
    return first;
}

static void assert_counts(ft_gallery *g, const char *model, int64_t subjects, int64_t faces, int64_t faces_model)
{
    int64_t s = -1, f = -1, m = -1;
    ft_error err = {0};
    assert_status(ft_gallery_counts(g, model, &s, &f, &m, &err), FT_OK, &err);
    assert_int_equal(s, subjects);
    assert_int_equal(f, faces);
    assert_int_equal(m, faces_model);
}

static int subject_exists(ft_gallery *g, const char *id)
{
    ftg_subject s;
    int found = -1;
    ft_error err = {0};
    assert_status(ft_gallery_get_subject(g, id, NULL, &s, &found, &err), FT_OK, &err);
    ft_gallery_subject_free(&s);
    return found;
}

/* Raw sqlite3 helpers for hand-made files. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) print_message("sqlite: %s\n", msg);
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return v;
}

static void raw_integrity_ok(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* ---------------------------------------------------------------- tests ---- */

static void test_enroll_get(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    assert_string_equal(ft_gallery_backend(g), "sqlite");
    assert_int_equal(ft_gallery_writable(g), 1);
    float v[3 * DIM];
    for (int i = 0; i < 3; i++) make_vec(v + i * DIM, DIM, 10 + i);
    v[1] = -0.0f;
    v[2] = 1e-40f; /* subnormal: stored bit-exact */
    ftg_enroll_req req = {.subject_id = "alice@example.com", .metadata_json = "{\"name\":\"Alice\"}",
                          .model_id = "m1", .dim = DIM, .n = 3, .embeddings = v};
    ftg_enroll_res res = {0};
    ft_error err = {0};
    int64_t before = (int64_t)time(NULL);
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    assert_int_equal(res.n, 3);
    assert_true(res.face_ids[0] > 0);

    ftg_subject s;
    int found = 0;
    assert_status(ft_gallery_get_subject(g, "alice@example.com", "m1", &s, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_string_equal(s.id, "alice@example.com");
    assert_string_equal(s.metadata_json, "{\"name\":\"Alice\"}");
    assert_true(s.created >= before && s.created <= (int64_t)time(NULL));
    assert_int_equal(s.n_faces, 3);
    assert_int_equal(s.n_faces_model, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.faces[i].face_id, res.face_ids[i]);
        assert_string_equal(s.faces[i].subject_id, "alice@example.com");
        assert_string_equal(s.faces[i].model_id, "m1");
        assert_int_equal(s.faces[i].dim, DIM);
        assert_memory_equal(s.faces[i].embedding, v + i * DIM, DIM * sizeof(float));
    }
    ft_gallery_subject_free(&s);
    assert_status(ft_gallery_get_subject(g, "alice@example.com", "other", &s, &found, &err), FT_OK, &err);
    assert_int_equal(s.n_faces_model, 0);
    ft_gallery_subject_free(&s);

    found = 1;
    assert_status(ft_gallery_get_subject(g, "bob", "m1", &s, &found, &err), FT_OK, &err);
    assert_int_equal(found, 0);
    ft_gallery_subject_free(&s);
    ft_gallery_enroll_res_free(&res);
    assert_counts(g, "m1", 1, 3, 3);
    ft_gallery_close(g);
}

static void test_list_pagination(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    const int n_subjects = 25;
    for (int i = n_subjects - 1; i >= 0; i--) { /* inserted in reverse: the order comes from the ids */
        char id[16];
        snprintf(id, sizeof id, "s%02d", i);
        enroll_n(g, id, "m1", NULL, 1 + i % 3, i * 10);
        if (i % 2) enroll_n(g, id, "m2", NULL, 1, i * 10 + 5);
    }
    char cursor[FTG_MAX_ID + 1] = "";
    int seen = 0, pages = 0;
    ft_error err = {0};
    do {
        ftg_page p;
        assert_status(ft_gallery_list(g, cursor, 10, "m2", &p, &err), FT_OK, &err);
        pages++;
        for (int k = 0; k < p.n; k++, seen++) {
            char want[16];
            snprintf(want, sizeof want, "s%02d", seen);
            assert_string_equal(p.items[k].id, want);
            assert_string_equal(p.items[k].metadata_json, "{}");
            assert_null(p.items[k].faces);
            assert_int_equal(p.items[k].n_faces, 1 + seen % 3 + seen % 2);
            assert_int_equal(p.items[k].n_faces_model, seen % 2);
        }
        snprintf(cursor, sizeof cursor, "%s", p.next_cursor);
        if (p.n < 10) assert_string_equal(p.next_cursor, "");
        ft_gallery_page_free(&p);
    } while (*cursor);
    assert_int_equal(seen, n_subjects);
    assert_int_equal(pages, 3);

    /* an exact multiple: the page that fills the limit says there is no more */
    ftg_page p;
    assert_status(ft_gallery_list(g, "s19", 5, NULL, &p, &err), FT_OK, &err);
    assert_int_equal(p.n, 5);
    assert_string_equal(p.items[0].id, "s20");
    assert_int_equal(p.items[0].n_faces_model, 0);
    assert_string_equal(p.next_cursor, "");
    ft_gallery_page_free(&p);
    assert_status(ft_gallery_list(g, NULL, 1000, "m1", &p, &err), FT_OK, &err);
    assert_int_equal(p.n, n_subjects);
    ft_gallery_page_free(&p);

    assert_status(ft_gallery_list(g, "", 0, NULL, &p, &err), FT_EINVAL, &err);
    assert_status(ft_gallery_list(g, "", 1001, NULL, &p, &err), FT_EINVAL, &err);
    assert_status(ft_gallery_list(g, "bad cursor", 10, NULL, &p, &err), FT_EINVAL, &err);
    ft_gallery_page_free(&p);
    ft_gallery_close(g);
}

static void test_delete_subject(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    int64_t first = enroll_n(g, "carol", "m1", NULL, 3, 100);
    enroll_n(g, "dave", "m1", NULL, 1, 200);
    float v[DIM];
    make_vec(v, DIM, 300);
    ftg_enroll_req req = {.subject_id = "carol", .model_id = "m2", .dim = DIM, .n = 1, .embeddings = v,
                          .idem_key = "k-carol", .fingerprint = "f1", .response_json = "{\"r\":1}"};
    ftg_enroll_res res = {0};
    ft_error err = {0};
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    int64_t keyed_face = res.face_ids[0];
    ft_gallery_enroll_res_free(&res);

    ftg_deleted d;
    int found = 0;
    assert_status(ft_gallery_delete_subject(g, "carol", &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_int_equal(d.subject_removed, 1);
    assert_int_equal(d.n, 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d.face_ids[i], first + i);
        assert_int_equal(d.faces[i].face_id, first + i);
        float want[DIM];
        make_vec(want, DIM, 100 + i);
        assert_memory_equal(d.faces[i].embedding, want, sizeof want);
    }
    assert_int_equal(d.face_ids[3], keyed_face);
    assert_string_equal(d.faces[3].model_id, "m2");
    ft_gallery_deleted_free(&d);
    assert_int_equal(subject_exists(g, "carol"), 0);
    assert_int_equal(subject_exists(g, "dave"), 1);
    assert_counts(g, "m1", 1, 1, 1);

    found = 1;
    assert_status(ft_gallery_delete_subject(g, "carol", &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 0);
    assert_int_equal(d.n, 0);
    ft_gallery_deleted_free(&d);

    /* the idempotency record went with the subject: the key is fresh again */
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    assert_int_equal(res.replayed, 0);
    assert_int_equal(res.n, 1);
    assert_true(res.face_ids[0] > keyed_face);
    ft_gallery_enroll_res_free(&res);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM idempotency"), 1);
    ft_gallery_close(g);
}

static void test_delete_face(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    int64_t a = enroll_n(g, "erin", "m1", "{\"x\":1}", 2, 1);
    int64_t other = enroll_n(g, "frank", "m1", NULL, 1, 9);
    ftg_deleted d;
    int found = 1;
    ft_error err = {0};

    /* a face of another subject, or no such face: not found, nothing removed */
    assert_status(ft_gallery_delete_face(g, "erin", other, &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 0);
    ft_gallery_deleted_free(&d);
    assert_status(ft_gallery_delete_face(g, "erin", 999999, &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 0);
    ft_gallery_deleted_free(&d);
    assert_counts(g, NULL, 2, 3, 0);

    assert_status(ft_gallery_delete_face(g, "erin", a + 1, &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_int_equal(d.subject_removed, 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.face_ids[0], a + 1);
    float want[DIM];
    make_vec(want, DIM, 2);
    assert_memory_equal(d.faces[0].embedding, want, sizeof want);
    ft_gallery_deleted_free(&d);
    assert_int_equal(subject_exists(g, "erin"), 1);

    /* the last face takes the subject with it */
    assert_status(ft_gallery_delete_face(g, "erin", a, &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_int_equal(d.subject_removed, 1);
    ft_gallery_deleted_free(&d);
    assert_int_equal(subject_exists(g, "erin"), 0);
    assert_counts(g, NULL, 1, 1, 0);

    /* ids are never reused, even the highest one after its deletion */
    assert_status(ft_gallery_delete_face(g, "frank", other, &d, &found, &err), FT_OK, &err);
    assert_int_equal(d.subject_removed, 1);
    ft_gallery_deleted_free(&d);
    assert_true(enroll_n(g, "erin", "m1", NULL, 1, 5) > other);
    ft_gallery_close(g);
    ft_gallery *g2 = open_ok(fx); /* ... also across a reopen */
    assert_true(enroll_n(g2, "gina", "m1", NULL, 1, 5) > other + 1);
    ft_gallery_close(g2);
}

static char *build_response(void *ctx, const char *subject_id, const int64_t *ids, int n)
{
    int *calls = ctx;
    (*calls)++;
    char *out = malloc(256);
    if (out) snprintf(out, 256, "{\"subject_id\":\"%s\",\"n\":%d,\"first\":%lld}", subject_id, n, (long long)ids[0]);
    return out;
}

static char *fail_response(void *ctx, const char *subject_id, const int64_t *ids, int n) { return NULL; }

static void test_idempotency(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    float v[2 * DIM];
    make_vec(v, DIM, 1);
    make_vec(v + DIM, DIM, 2);
    ftg_enroll_req req = {.subject_id = "hank", .model_id = "m1", .dim = DIM, .n = 2, .embeddings = v,
                          .idem_key = "key-1", .fingerprint = "aaaa", .response_json = "{\"stored\":true}"};
    ftg_enroll_res res = {0};
    ft_error err = {0};
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    assert_int_equal(res.replayed, 0);
    assert_int_equal(res.n, 2);
    assert_null(res.response_json);
    ft_gallery_enroll_res_free(&res);

    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    assert_int_equal(res.replayed, 1);
    assert_int_equal(res.n, 0);
    assert_null(res.face_ids);
    assert_string_equal(res.response_json, "{\"stored\":true}");
    ft_gallery_enroll_res_free(&res);
    assert_counts(g, "m1", 1, 2, 2);

    ftg_enroll_req other = req;
    other.fingerprint = "bbbb";
    assert_status(ft_gallery_enroll(g, &other, &res, &err), FT_EMISMATCH, &err);
    assert_msg_has(&err, "Idempotency-Key was used with a different request");
    assert_int_equal(res.n, 0);
    assert_null(res.response_json);
    ft_gallery_enroll_res_free(&res);
    assert_counts(g, "m1", 1, 2, 2);

    /* the response naming the new face ids, built inside the transaction, is what replays */
    int calls = 0;
    ftg_enroll_req built = req;
    built.idem_key = "key-2";
    built.response_json = NULL;
    built.make_response = build_response;
    built.make_response_ctx = &calls;
    assert_status(ft_gallery_enroll(g, &built, &res, &err), FT_OK, &err);
    char want[256];
    snprintf(want, sizeof want, "{\"subject_id\":\"hank\",\"n\":2,\"first\":%lld}", (long long)res.face_ids[0]);
    assert_string_equal(res.response_json, want);
    ft_gallery_enroll_res_free(&res);
    assert_status(ft_gallery_enroll(g, &built, &res, &err), FT_OK, &err);
    assert_int_equal(res.replayed, 1);
    assert_string_equal(res.response_json, want);
    assert_int_equal(calls, 1);
    ft_gallery_enroll_res_free(&res);

    /* a failing builder rolls everything back */
    built.idem_key = "key-3";
    built.make_response = fail_response;
    assert_status(ft_gallery_enroll(g, &built, &res, &err), FT_ENOMEM, &err);
    ft_gallery_enroll_res_free(&res);
    assert_counts(g, "m1", 1, 4, 4);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM idempotency"), 2);
    ft_gallery_close(g);
}

typedef struct {
    int n;
    int64_t last_id;
    int stop_after;
    int ordered;
} scan_ctx;

static int scan_cb(void *ctx, const ftg_face *f)
{
    scan_ctx *c = ctx;
    if (f->face_id <= c->last_id) c->ordered = 0;
    c->last_id = f->face_id;
    float want[DIM];
    make_vec(want, DIM, (int)strtol(f->subject_id + 1, NULL, 10));
    if (f->dim != DIM || memcmp(f->embedding, want, sizeof want) != 0) c->ordered = 0;
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static void test_model_filter(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        enroll_n(g, id, i % 3 == 0 ? "mB" : "mA", NULL, 1, i);
    }
    ft_error err = {0};
    scan_ctx c = {.ordered = 1};
    assert_status(ft_gallery_scan(g, "mA", scan_cb, &c, &err), FT_OK, &err);
    assert_int_equal(c.n, 8);
    assert_int_equal(c.ordered, 1);
    c = (scan_ctx){.ordered = 1};
    assert_status(ft_gallery_scan(g, "mB", scan_cb, &c, &err), FT_OK, &err);
    assert_int_equal(c.n, 4);
    c = (scan_ctx){.ordered = 1};
    assert_status(ft_gallery_scan(g, "none", scan_cb, &c, &err), FT_OK, &err);
    assert_int_equal(c.n, 0);
    c = (scan_ctx){.ordered = 1};
    assert_status(ft_gallery_scan(g, NULL, scan_cb, &c, &err), FT_OK, &err);
    assert_int_equal(c.n, 12);
    assert_int_equal(c.ordered, 1);
    c = (scan_ctx){.ordered = 1, .stop_after = 3};
    assert_status(ft_gallery_scan(g, "mA", scan_cb, &c, &err), FT_EINTERRUPTED, &err);
    assert_int_equal(c.n, 3);
    assert_counts(g, "mA", 12, 12, 8);
    assert_counts(g, "mB", 12, 12, 4);
    assert_counts(g, NULL, 12, 12, 0);
    /* a write right after a stopped scan: the scan left no transaction open */
    enroll_n(g, "s99", "mB", NULL, 1, 99);
    assert_counts(g, "mB", 13, 13, 5);
    ft_gallery_close(g);
}

static void test_metadata_keep_replace(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    ft_error err = {0};
    ftg_subject s;
    int found = 0;
    enroll_n(g, "ivy", "m1", NULL, 1, 1); /* a new subject without metadata gets {} */
    assert_status(ft_gallery_get_subject(g, "ivy", NULL, &s, &found, &err), FT_OK, &err);
    assert_string_equal(s.metadata_json, "{}");
    int64_t created = s.created;
    ft_gallery_subject_free(&s);

    enroll_n(g, "ivy", "m1", "{\"team\":\"red\"}", 1, 2); /* replaced */
    enroll_n(g, "ivy", "m1", NULL, 1, 3);                 /* kept */
    assert_status(ft_gallery_get_subject(g, "ivy", "m1", &s, &found, &err), FT_OK, &err);
    assert_string_equal(s.metadata_json, "{\"team\":\"red\"}");
    assert_int_equal(s.created, created);
    assert_int_equal(s.n_faces, 3);
    ft_gallery_subject_free(&s);
    enroll_n(g, "ivy", "m1", "{}", 1, 4); /* replaced by an empty object */
    assert_status(ft_gallery_get_subject(g, "ivy", "m1", &s, &found, &err), FT_OK, &err);
    assert_string_equal(s.metadata_json, "{}");
    ft_gallery_subject_free(&s);
    ft_gallery_close(g);
}

static void test_invalid_inputs(void **state)
{
    fixture *fx = *state;
    char max_id[FTG_MAX_ID + 2];
    memset(max_id, 'a', FTG_MAX_ID);
    max_id[FTG_MAX_ID] = '\0';
    assert_int_equal(ft_gallery_valid_id(max_id), 1);
    assert_int_equal(ft_gallery_valid_id("A-z_0.9:x@y"), 1);
    max_id[FTG_MAX_ID] = 'a';
    max_id[FTG_MAX_ID + 1] = '\0';
    assert_int_equal(ft_gallery_valid_id(max_id), 0);
    const char *bad_ids[] = {"", "a b", "a/b", "caf\xc3\xa9", "a\"b", "a\nb", "a%b", NULL};
    for (int i = 0; bad_ids[i]; i++) assert_int_equal(ft_gallery_valid_id(bad_ids[i]), 0);
    assert_int_equal(ft_gallery_valid_id(NULL), 0);

    ft_gallery *g = open_ok(fx);
    float v[DIM];
    make_vec(v, DIM, 1);
    const ftg_enroll_req good = {.subject_id = "ok", .model_id = "m1", .dim = DIM, .n = 1, .embeddings = v};
    ftg_enroll_res res = {0};
    ft_error err = {0};
    ftg_enroll_req r = good;
    r.subject_id = "a b";
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "subject id");
    r.subject_id = max_id;
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    const char *bad_meta[] = {"[]", "{", "{} x", "\"s\"", "", "null", "1", NULL};
    for (int i = 0; bad_meta[i]; i++) {
        r = good;
        r.metadata_json = bad_meta[i];
        assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
        assert_msg_has(&err, "metadata must be a JSON object");
    }
    r = good;
    r.dim = 0;
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    r.dim = 65537;
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    r = good;
    r.n = 0;
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    r = good;
    r.model_id = "";
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    r = good;
    r.idem_key = "k";
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err); /* no fingerprint */
    float nan_v[DIM];
    make_vec(nan_v, DIM, 1);
    nan_v[3] = NAN;
    r = good;
    r.embeddings = nan_v;
    assert_status(ft_gallery_enroll(g, &r, &res, &err), FT_EINVAL, &err);
    r = good;
    r.idem_key = "k";
    r.fingerprint = "f";
    r.response_json = "{}";
    assert_status(ft_gallery_enroll_bulk(g, &r, 1, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "request 0");
    ft_gallery_enroll_res_free(&res);
    assert_counts(g, NULL, 0, 0, 0); /* nothing was stored by any of them */

    ftg_subject s;
    ftg_deleted d;
    int found = 0;
    assert_status(ft_gallery_get_subject(g, "x/y", NULL, &s, &found, &err), FT_EINVAL, &err);
    assert_status(ft_gallery_delete_subject(g, "", &d, &found, &err), FT_EINVAL, &err);
    assert_status(ft_gallery_delete_face(g, "a b", 1, &d, &found, &err), FT_EINVAL, &err);
    ft_gallery_subject_free(&s);
    ft_gallery_deleted_free(&d);
    ft_gallery_close(g);

    ft_gallery *none = NULL;
    assert_status(ft_gallery_open("postgres:host=x", &none, &err), FT_EUNSUPPORTED, &err);
    assert_status(ft_gallery_open("sqlite:", &none, &err), FT_EINVAL, &err);
    assert_null(none);
}

/* The v1 schema as gallery_sqlite.c documents it, written independently here. */
static const char k_v1_schema[] =
    "CREATE TABLE subjects(id TEXT PRIMARY KEY NOT NULL, metadata TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE faces(face_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,"
    " model_id TEXT NOT NULL, dim INTEGER NOT NULL, created INTEGER NOT NULL, embedding BLOB NOT NULL);"
    "CREATE INDEX faces_subject ON faces(subject_id);"
    "PRAGMA user_version = 1;";

static void test_migration_from_v1(void **state)
{
    fixture *fx = *state;
    raw_exec(fx->path, k_v1_schema);
    float v[DIM];
    make_vec(v, DIM, 42);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO subjects VALUES('old', '{\"v\":1}', 1700000000)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO faces(face_id, subject_id, model_id, dim, created, embedding)"
                                            " VALUES(7, 'old', 'm1', ?1, 1700000000, ?2)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, DIM);
    sqlite3_bind_blob(st, 2, v, sizeof v, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    ft_gallery *g = open_ok(fx);
    ftg_subject s;
    int found = 0;
    ft_error err = {0};
    assert_status(ft_gallery_get_subject(g, "old", "m1", &s, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_string_equal(s.metadata_json, "{\"v\":1}");
    assert_int_equal(s.created, 1700000000);
    assert_int_equal(s.n_faces, 1);
    assert_int_equal(s.faces[0].face_id, 7);
    assert_memory_equal(s.faces[0].embedding, v, sizeof v);
    ft_gallery_subject_free(&s);
    /* the v2 parts work: idempotency and the probe row */
    ftg_enroll_req req = {.subject_id = "old", .model_id = "m1", .dim = DIM, .n = 1, .embeddings = v,
                          .idem_key = "k", .fingerprint = "f", .response_json = "{}"};
    ftg_enroll_res res = {0};
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    assert_true(res.face_ids[0] > 7);
    ft_gallery_enroll_res_free(&res);
    assert_int_equal(ft_gallery_writable(g), 1);
    ft_gallery_close(g);

    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), FTG_SCHEMA_VERSION);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'faces_model'"), 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM faces"), 2);
    raw_integrity_ok(fx->path);
    /* and a second open finds nothing to migrate */
    g = open_ok(fx);
    assert_counts(g, "m1", 1, 2, 2);
    ft_gallery_close(g);
}

static void test_newer_version_refused(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    enroll_n(g, "a", "m1", NULL, 1, 1);
    ft_gallery_close(g);
    raw_exec(fx->path, "PRAGMA user_version = 3;");
    ft_error err = {0};
    g = NULL;
    assert_status(ft_gallery_open(fx->url, &g, &err), FT_EVERSION, &err);
    assert_null(g);
    assert_msg_has(&err, "schema version 3 is newer than this build supports (2)");
    assert_msg_has(&err, fx->path);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3); /* untouched */
}

static void test_garbage_refused(void **state)
{
    fixture *fx = *state;
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)('a' + i % 26);
    assert_int_equal(ft_test_write_file(fx->path, junk, sizeof junk), 0);
    ft_gallery *g = NULL;
    ft_error err = {0};
    ft_status st = ft_gallery_open(fx->url, &g, &err);
    assert_true(st == FT_ECORRUPT || st == FT_EIO);
    assert_null(g);
    assert_msg_has(&err, "not an SQLite database");
    assert_msg_has(&err, fx->path);

    /* an SQLite file of some other application */
    char other[PATH_CAP];
    ft_test_join(other, sizeof other, fx->dir, "other.db");
    raw_exec(other, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
    char url[PATH_CAP + 32];
    snprintf(url, sizeof url, "sqlite:%s", other);
    assert_status(ft_gallery_open(url, &g, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, "not a facetwin gallery");
    raw_exec(other, "PRAGMA application_id = 1234;");
    assert_status(ft_gallery_open(url, &g, &err), FT_EFORMAT, &err);

    /* a directory that does not exist */
    snprintf(url, sizeof url, "sqlite:%s/missing/g.db", fx->dir);
    assert_status(ft_gallery_open(url, &g, &err), FT_EIO, &err);
    assert_msg_has(&err, "missing/g.db");
    assert_null(g);
}

/* The read-only checks, run in a child (exit code = number of the first failed check).
 * Either way (read-only file, or writable file in a read-only directory) the store opens
 * for reading and every write fails; SQLite builds could also refuse the open in the
 * read-only directory (no room for -wal/-shm): then the message must name the path. */
static int read_only_child(const fixture *fx, int dir_only)
{
    if (geteuid() == 0 && (setgid(NOBODY_ID) != 0 || setuid(NOBODY_ID) != 0)) return SKIP_EXIT;
    char probe[PATH_CAP + 16];
    snprintf(probe, sizeof probe, "%s/probe", fx->dir);
    int fd = dir_only ? open(probe, O_WRONLY | O_CREAT, 0644) : open(fx->path, O_WRONLY);
    if (fd >= 0) { /* chmod means nothing to us */
        close(fd);
        return SKIP_EXIT;
    }
    ft_gallery *g = NULL;
    ft_error err = {0};
    ft_status st = ft_gallery_open(fx->url, &g, &err);
    if (dir_only && st == FT_EIO && strstr(err.msg, fx->path)) return 0;
    if (st != FT_OK) {
        fprintf(stderr, "read-only open: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    float v[DIM];
    make_vec(v, DIM, 1);
    ftg_enroll_req req = {.subject_id = "new", .model_id = "m1", .dim = DIM, .n = 1, .embeddings = v};
    ftg_enroll_res res = {0};
    ftg_subject s;
    int found = 0;
    if (ft_gallery_writable(g) != 0) rc = 2;
    else if (ft_gallery_enroll(g, &req, &res, &err) != FT_EIO) rc = 3;
    else if (strchr(err.msg, '/')) rc = 4; /* no paths after open */
    else if (ft_gallery_get_subject(g, "kept", NULL, &s, &found, &err) != FT_OK || !found) rc = 5;
    ft_gallery_subject_free(&s);
    ft_gallery_enroll_res_free(&res);
    ft_gallery_close(g);
    return rc;
}

/* Runs read_only_child in a fork; 1 if it ran, 0 if it had to skip. */
static int run_read_only_child(const fixture *fx, int dir_only)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(read_only_child(fx, dir_only));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == SKIP_EXIT) return 0;
    if (WEXITSTATUS(status) != 0) print_message("read-only check %d failed\n", WEXITSTATUS(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return 1;
}

static void test_read_only(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    enroll_n(g, "kept", "m1", NULL, 1, 1);
    ft_gallery_close(g);
    /* as root the child runs as nobody: give it the directory, so only the mode bits stop it */
    const int root = geteuid() == 0;
    if (root) {
        assert_int_equal(chown(fx->dir, NOBODY_ID, NOBODY_ID), 0);
        assert_int_equal(chown(fx->path, NOBODY_ID, NOBODY_ID), 0);
    }
    assert_int_equal(chmod(fx->path, 0444), 0); /* a read-only file in a writable directory */
    int ran = run_read_only_child(fx, 0);
    assert_int_equal(chmod(fx->path, 0644), 0); /* a writable file in a read-only directory */
    assert_int_equal(chmod(fx->dir, 0555), 0);
    ran += run_read_only_child(fx, 1);
    assert_int_equal(chmod(fx->dir, 0700), 0);
    /* SQLite gives -wal/-shm the database file's mode: the read-only children left 0444 ones */
    const char *const sidecars[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
        char side[PATH_CAP + 8];
        snprintf(side, sizeof side, "%s%s", fx->path, sidecars[i]);
        if (access(side, F_OK) == 0) assert_int_equal(chmod(side, 0644), 0);
    }
    if (root) {
        assert_int_equal(chown(fx->dir, 0, 0), 0);
        assert_int_equal(chown(fx->path, 0, 0), 0);
    }
    if (ran < 2) print_message("read-only checks: %d of 2 skipped (mode bits do not bind this user)\n", 2 - ran);
    g = open_ok(fx); /* writable again */
    assert_int_equal(ft_gallery_writable(g), 1);
    ft_gallery_close(g);
}

typedef struct {
    ft_gallery *g;
    int thread;
    int64_t ids[PER_THREAD];
    ft_status st;
} worker;

static void *enroll_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD && w->st == FT_OK; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", w->thread, i);
        float v[DIM];
        make_vec(v, DIM, w->thread * 1000 + i);
        ftg_enroll_req req = {.subject_id = id, .model_id = "m1", .dim = DIM, .n = 1, .embeddings = v};
        if (i % 2) { /* half of them with keys: the lookup path runs concurrently too */
            req.idem_key = id;
            req.fingerprint = "fp";
            req.response_json = "{}";
        }
        ftg_enroll_res res = {0};
        ft_error err = {0};
        w->st = ft_gallery_enroll(w->g, &req, &res, &err);
        if (w->st == FT_OK) w->ids[i] = res.face_ids[0];
        ft_gallery_enroll_res_free(&res);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_concurrent_enroll(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    worker w[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        w[t] = (worker){.g = g, .thread = t, .st = FT_OK};
        assert_int_equal(pthread_create(&th[t], NULL, enroll_worker, &w[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    int64_t all[N_THREADS * PER_THREAD];
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(w[t].st, FT_OK);
        memcpy(all + t * PER_THREAD, w[t].ids, sizeof w[t].ids);
    }
    qsort(all, N_THREADS * PER_THREAD, sizeof all[0], cmp_i64);
    for (int i = 1; i < N_THREADS * PER_THREAD; i++) assert_true(all[i] > all[i - 1]);
    assert_counts(g, "m1", N_THREADS * PER_THREAD, N_THREADS * PER_THREAD, N_THREADS * PER_THREAD);
    ftg_subject s;
    int found = 0;
    ft_error err = {0};
    assert_status(ft_gallery_get_subject(g, "t3-49", "m1", &s, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_int_equal(s.faces[0].face_id, w[3].ids[49]);
    ft_gallery_subject_free(&s);
    ft_gallery_close(g);
}

static void test_reopen_survives(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    int64_t a = enroll_n(g, "p1", "m1", "{\"k\":[1,2]}", 2, 5);
    enroll_n(g, "p2", "m2", NULL, 1, 6);
    ft_gallery_close(g);
    g = open_ok(fx);
    assert_counts(g, "m1", 2, 3, 2);
    ftg_subject s;
    int found = 0;
    ft_error err = {0};
    assert_status(ft_gallery_get_subject(g, "p1", "m1", &s, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    assert_string_equal(s.metadata_json, "{\"k\":[1,2]}");
    assert_int_equal(s.faces[1].face_id, a + 1);
    float want[DIM];
    make_vec(want, DIM, 6);
    assert_memory_equal(s.faces[1].embedding, want, sizeof want);
    ft_gallery_subject_free(&s);
    ft_gallery_close(g);
    raw_integrity_ok(fx->path);
}

typedef struct {
    int32_t seq;
    int64_t face_id;
} ack;

/* The child: enrolls k0, k1, ... and acknowledges each one on fd after it returned. */
static void kill_child(const fixture *fx, int fd)
{
    ft_gallery *g = NULL;
    if (ft_gallery_open(fx->url, &g, NULL) != FT_OK) _exit(2);
    for (int32_t i = 0;; i++) {
        char id[32];
        snprintf(id, sizeof id, "k%d", i);
        float v[DIM];
        make_vec(v, DIM, i);
        ftg_enroll_req req = {.subject_id = id, .model_id = "m1", .dim = DIM, .n = 1, .embeddings = v};
        ftg_enroll_res res = {0};
        if (ft_gallery_enroll(g, &req, &res, NULL) != FT_OK) _exit(3);
        ack a = {i, res.face_ids[0]};
        ft_gallery_enroll_res_free(&res);
        if (write(fd, &a, sizeof a) != (ssize_t)sizeof a) _exit(4);
    }
}

static void test_kill9_after_ack(void **state)
{
    fixture *fx = *state;
    ft_gallery_close(open_ok(fx)); /* the file exists before the child starts */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        kill_child(fx, fds[1]);
        _exit(1);
    }
    close(fds[1]);
    ack acks[N_ACKS];
    for (int i = 0; i < N_ACKS; i++) {
        size_t got = 0;
        while (got < sizeof acks[i]) {
            ssize_t r = read(fds[0], (char *)&acks[i] + got, sizeof acks[i] - got);
            if (r < 0 && errno == EINTR) continue;
            assert_true(r > 0);
            got += (size_t)r;
        }
    }
    assert_int_equal(kill(pid, SIGKILL), 0); /* right after the last ack: the child is mid-enroll */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);

    ft_gallery *g = open_ok(fx);
    for (int i = 0; i < N_ACKS; i++) {
        char id[32];
        snprintf(id, sizeof id, "k%d", acks[i].seq);
        ftg_subject s;
        int found = 0;
        ft_error err = {0};
        assert_status(ft_gallery_get_subject(g, id, "m1", &s, &found, &err), FT_OK, &err);
        assert_int_equal(found, 1);
        assert_int_equal(s.n_faces, 1);
        assert_int_equal(s.faces[0].face_id, acks[i].face_id);
        float want[DIM];
        make_vec(want, DIM, acks[i].seq);
        assert_memory_equal(s.faces[0].embedding, want, sizeof want);
        ft_gallery_subject_free(&s);
    }
    int64_t subjects = 0, faces = 0;
    ft_error err = {0};
    assert_status(ft_gallery_counts(g, NULL, &subjects, &faces, NULL, &err), FT_OK, &err);
    assert_true(faces >= N_ACKS && faces == subjects); /* at most the unacknowledged one more */
    ft_gallery_close(g);
    raw_integrity_ok(fx->path);
}

/* 1 if needle (n > 0 bytes) occurs in hay (memmem is a GNU extension). */
static int bytes_have(const char *hay, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (hay[i] == *(const char *)needle && memcmp(hay + i, needle, n) == 0) return 1;
    return 0;
}

/* 1 if needle occurs in the file at path (an absent file holds nothing). */
static int file_has(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(len > 0 ? (size_t)len : 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    int hit = bytes_have(buf, got, needle, n);
    free(buf);
    return hit;
}

static int store_has(const fixture *fx, const void *needle, size_t n)
{
    char wal[PATH_CAP + 8];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    return file_has(fx->path, needle, n) || file_has(wal, needle, n);
}

static void test_deletion_really_deletes(void **state)
{
    fixture *fx = *state;
    ft_gallery *g = open_ok(fx);
    float secret[DIM];
    for (int i = 0; i < DIM; i++) secret[i] = 1234.5678f + 7.0f * (float)i;
    const char *meta = "{\"note\":\"zebra-unicorn-42\"}";
    ftg_enroll_req req = {.subject_id = "victim", .metadata_json = meta, .model_id = "m1", .dim = DIM, .n = 1,
                          .embeddings = secret, .idem_key = "idem-marker-77", .fingerprint = "fp",
                          .response_json = "{\"resp\":\"reply-marker-99\"}"};
    ftg_enroll_res res = {0};
    ft_error err = {0};
    assert_status(ft_gallery_enroll(g, &req, &res, &err), FT_OK, &err);
    ft_gallery_enroll_res_free(&res);
    enroll_n(g, "bystander", "m1", NULL, 1, 3);
    assert_true(store_has(fx, secret, sizeof secret));
    assert_true(store_has(fx, "zebra-unicorn-42", 16));

    ftg_deleted d;
    int found = 0;
    assert_status(ft_gallery_delete_subject(g, "victim", &d, &found, &err), FT_OK, &err);
    assert_int_equal(found, 1);
    ft_gallery_deleted_free(&d);
    /* while the store is still open: neither the file nor the WAL keeps them */
    assert_false(store_has(fx, secret, sizeof secret));
    assert_false(store_has(fx, "zebra-unicorn-42", 16));
    assert_false(store_has(fx, "reply-marker-99", 15));
    assert_false(store_has(fx, "idem-marker-77", 14));
    assert_int_equal(subject_exists(g, "bystander"), 1);
    ft_gallery_close(g);
}

static void test_bulk_load(void **state)
{
    fixture *fx = *state;
    const int n_req = BULK_FACES / BULK_PER_SUBJECT;
    float *v = malloc((size_t)BULK_FACES * BULK_DIM * sizeof *v);
    ftg_enroll_req *reqs = calloc((size_t)n_req, sizeof *reqs);
    char (*ids)[16] = malloc((size_t)n_req * sizeof *ids);
    assert_non_null(v);
    assert_non_null(reqs);
    assert_non_null(ids);
    for (size_t i = 0; i < (size_t)BULK_FACES * BULK_DIM; i++) v[i] = (float)(i % 9973) * 1e-4f;
    for (int r = 0; r < n_req; r++) {
        snprintf(ids[r], sizeof ids[r], "b%06d", r);
        reqs[r] = (ftg_enroll_req){.subject_id = ids[r], .model_id = "bench", .dim = BULK_DIM,
                                   .n = BULK_PER_SUBJECT,
                                   .embeddings = v + (size_t)r * BULK_PER_SUBJECT * BULK_DIM};
    }
    ft_gallery *g = open_ok(fx);
    ft_error err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_status(ft_gallery_enroll_bulk(g, reqs, n_req, &err), FT_OK, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    print_message("bulk load: %d faces of dim %d (%d subjects) in %.2f s = %.0f faces/s\n", BULK_FACES, BULK_DIM,
                  n_req, s, BULK_FACES / s);
    assert_counts(g, "bench", n_req, BULK_FACES, BULK_FACES);
    ftg_subject sub;
    int found = 0;
    assert_status(ft_gallery_get_subject(g, "b012345", "bench", &sub, &found, &err), FT_OK, &err);
    assert_int_equal(sub.n_faces, BULK_PER_SUBJECT);
    assert_memory_equal(sub.faces[2].embedding, v + ((size_t)12345 * BULK_PER_SUBJECT + 2) * BULK_DIM,
                        BULK_DIM * sizeof(float));
    ft_gallery_subject_free(&sub);
    ft_gallery_close(g);

    /* an invalid request anywhere stores nothing */
    g = open_ok(fx);
    reqs[n_req - 1].dim = 0;
    assert_status(ft_gallery_enroll_bulk(g, reqs, 2, &err), FT_OK, &err); /* upserts two existing subjects */
    assert_status(ft_gallery_enroll_bulk(g, reqs, n_req, &err), FT_EINVAL, &err);
    assert_counts(g, "bench", n_req, BULK_FACES + 2 * BULK_PER_SUBJECT, BULK_FACES + 2 * BULK_PER_SUBJECT);
    ft_gallery_close(g);
    free(ids);
    free(reqs);
    free(v);
}

static void test_free_is_safe(void **state)
{
    ftg_enroll_res r = {0};
    ftg_subject s = {0};
    ftg_page p = {0};
    ftg_deleted d = {0};
    ft_gallery_enroll_res_free(&r);
    ft_gallery_subject_free(&s);
    ft_gallery_page_free(&p);
    ft_gallery_deleted_free(&d);
    ft_gallery_enroll_res_free(NULL);
    ft_gallery_subject_free(NULL);
    ft_gallery_page_free(NULL);
    ft_gallery_deleted_free(NULL);
    ft_gallery_close(NULL);
    assert_int_equal(ft_gallery_writable(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_enroll_get),
        TEST(test_list_pagination),
        TEST(test_delete_subject),
        TEST(test_delete_face),
        TEST(test_idempotency),
        TEST(test_model_filter),
        TEST(test_metadata_keep_replace),
        TEST(test_invalid_inputs),
        TEST(test_migration_from_v1),
        TEST(test_newer_version_refused),
        TEST(test_garbage_refused),
        TEST(test_read_only),
        TEST(test_concurrent_enroll),
        TEST(test_reopen_survives),
        TEST(test_kill9_after_ack),
        TEST(test_deletion_really_deletes),
        TEST(test_bulk_load),
        TEST(test_free_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
