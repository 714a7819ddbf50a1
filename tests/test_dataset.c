/* test_dataset.c — identity-folder listing, splits, folds and identity sets.
 *
 * Each test builds its own small tree under ft_test_tmpdir(): identity
 * folders of tiny PGM files written here (nothing is decoded by the dataset,
 * but the files are real images), plus the things a real folder collects —
 * a notes file, a hidden file, a hidden folder, an identity folder with no
 * image, a stray file at the top. Splits and folds are checked as partitions:
 * every identity in exactly one set, sets ascending, sizes as asked. The last
 * test opens the shared ORL folder when it is there.
 */
#include "ft_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facetwin/dataset.h"

#define PATH_CAP 4096
#define PGM_SIDE 4
#define MANY_IDS 10 /* identities p1..p10 of the split tree */
#define ORL_IDS 40
#define ORL_PER_ID 10

/* ---- helpers -------------------------------------------------------------------- */

/* A PGM_SIDE x PGM_SIDE grey image of one value (any name: content is not sniffed here). */
static void make_pgm(const char *root, const char *rel, int value)
{
    uint8_t pix[PGM_SIDE * PGM_SIDE];
    memset(pix, value, sizeof pix);
    ft_test_write_pgm(root, rel, PGM_SIDE, PGM_SIDE, pix, sizeof pix);
}

static void make_text(const char *root, const char *rel)
{
    char p[PATH_CAP];
    ft_test_join(p, PATH_CAP, root, rel);
    assert_int_equal(ft_test_write_file(p, "notes\n", 6), 0);
}

/* s1 (3 images, natural order 1 2 10, a hidden file), s2 (upper-case and .png
 * extensions), s3 (only a text file), s4 (empty), s10 (an image and a text
 * file), a hidden .git folder and a README at the top. */
static void make_small_tree(const char *root)
{
    ft_test_mkdir(root, "s1");
    ft_test_mkdir(root, "s2");
    ft_test_mkdir(root, "s3");
    ft_test_mkdir(root, "s4");
    ft_test_mkdir(root, "s10");
    ft_test_mkdir(root, ".git");
    make_pgm(root, "s1/10.pgm", 1);
    make_pgm(root, "s1/2.pgm", 2);
    make_pgm(root, "s1/1.pgm", 3);
    make_pgm(root, "s1/.hidden.pgm", 4);
    make_pgm(root, "s2/b.png", 5);
    make_pgm(root, "s2/a.PGM", 6);
    make_text(root, "s3/readme.txt");
    make_pgm(root, "s10/1.JPEG", 7);
    make_text(root, "s10/notes.txt");
    make_pgm(root, ".git/x.pgm", 8);
    make_text(root, "README.md");
}

/* p1..p10, identity i holding 1 + i % 3 images. */
static void make_many_tree(const char *root)
{
    char rel[64];
    for (int i = 1; i <= MANY_IDS; i++) {
        snprintf(rel, sizeof rel, "p%d", i);
        ft_test_mkdir(root, rel);
        for (int k = 0; k < 1 + i % 3; k++) {
            snprintf(rel, sizeof rel, "p%d/%d.pgm", i, k);
            make_pgm(root, rel, i * 10 + k);
        }
    }
}

static void open_ok(const char *root, ft_dataset *ds)
{
    ft_error err = {0};
    assert_status(ft_dataset_open(root, ds, &err), FT_OK, &err);
}

static void assert_path(const ft_dataset *ds, int i, const char *root, const char *rel)
{
    char want[PATH_CAP];
    ft_test_join(want, PATH_CAP, root, rel);
    assert_string_equal(ds->paths[i], want);
}

static void assert_ascending(const ft_idset *s)
{
    for (int i = 1; i < s->n; i++) assert_true(s->ids[i - 1] < s->ids[i]);
}

/* The sets together hold every identity 0..n_ids-1 exactly once, each ascending. */
static void assert_partition(int n_ids, const ft_idset *const *sets, int n_sets)
{
    int *seen = calloc((size_t)n_ids, sizeof *seen);
    assert_non_null(seen);
    for (int k = 0; k < n_sets; k++) {
        assert_ascending(sets[k]);
        for (int i = 0; i < sets[k]->n; i++) {
            int id = sets[k]->ids[i];
            assert_in_range(id, 0, n_ids - 1);
            if (seen[id]) print_message("identity %d is in two sets\n", id);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
        }
    }
    for (int i = 0; i < n_ids; i++) assert_int_equal(seen[i], 1);
    free(seen);
}

static void assert_ids(const ft_idset *s, const int *want, int n)
{
    assert_int_equal(s->n, n);
    for (int i = 0; i < n; i++) assert_int_equal(s->ids[i], want[i]);
}

static int same_set(const ft_idset *a, const ft_idset *b)
{
    return a->n == b->n &&
           (a->n == 0 || memcmp(a->ids, b->ids, (size_t)a->n * sizeof *a->ids) == 0);
}

/* ---- listing ------------------------------------------------------------------------ */

static void test_open_small_tree(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_small_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);

    assert_string_equal(ds.root, root);
    assert_int_equal(ds.n_ids, 3);
    assert_string_equal(ds.id_names[0], "s1");
    assert_string_equal(ds.id_names[1], "s2");
    assert_string_equal(ds.id_names[2], "s10"); /* natural order: s2 before s10 */
    assert_int_equal(ds.n_images, 6);
    const int start[4] = {0, 3, 5, 6};
    for (int i = 0; i <= 3; i++) assert_int_equal(ds.id_start[i], start[i]);
    assert_path(&ds, 0, root, "s1/1.pgm");
    assert_path(&ds, 1, root, "s1/2.pgm");
    assert_path(&ds, 2, root, "s1/10.pgm");
    assert_path(&ds, 3, root, "s2/a.PGM");
    assert_path(&ds, 4, root, "s2/b.png");
    assert_path(&ds, 5, root, "s10/1.JPEG");
    const int32_t label[6] = {0, 0, 0, 1, 1, 2};
    for (int i = 0; i < 6; i++) assert_int_equal(ds.label[i], label[i]);
    assert_int_equal(ds.n_skipped, 2); /* s3/readme.txt, s10/notes.txt */
    assert_string_equal(ds.skipped_example, "s3/readme.txt");
    assert_int_equal(ds.n_empty_ids, 2); /* s3, s4 */

    ft_dataset_free(&ds);
    ft_dataset_free(&ds); /* safe twice: the struct is zeroed */
    ft_test_rmtree(root);
}

static void test_open_trailing_slash(void **state)
{
    (void)state;
    char root[PATH_CAP], slashed[PATH_CAP + 1];
    ft_test_tmpdir(root, sizeof root);
    make_small_tree(root);
    int r = snprintf(slashed, sizeof slashed, "%s/", root);
    assert_true(r > 0 && r < (int)sizeof slashed);
    ft_dataset ds;
    open_ok(slashed, &ds);
    assert_string_equal(ds.root, slashed);
    assert_path(&ds, 0, root, "s1/1.pgm"); /* no "//" */
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

static void test_open_errors(void **state)
{
    (void)state;
    char root[PATH_CAP], p[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    ft_dataset ds;
    ft_error err = {0};

    ft_test_join(p, PATH_CAP, root, "missing");
    assert_status(ft_dataset_open(p, &ds, &err), FT_EIO, &err);
    assert_msg_has(&err, p);
    assert_null(ds.paths);

    make_text(root, "file.pgm"); /* a file, not a directory */
    ft_test_join(p, PATH_CAP, root, "file.pgm");
    assert_status(ft_dataset_open(p, &ds, &err), FT_EINVAL, &err);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "not a directory");

    /* images at the top but no identity folder */
    ft_test_mkdir(root, "flat");
    make_pgm(root, "flat/1.pgm", 1);
    ft_test_mkdir(root, "flat/.hidden");
    ft_test_join(p, PATH_CAP, root, "flat");
    assert_status(ft_dataset_open(p, &ds, &err), FT_EINVAL, &err);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "no identity sub-directory");

    /* identity folders with only non-image files */
    ft_test_mkdir(root, "noimg");
    ft_test_mkdir(root, "noimg/a");
    ft_test_mkdir(root, "noimg/b");
    make_text(root, "noimg/a/x.txt");
    make_text(root, "noimg/a/y.gif");
    ft_test_join(p, PATH_CAP, root, "noimg");
    assert_status(ft_dataset_open(p, &ds, &err), FT_EINVAL, &err);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "no image file");

    assert_status(ft_dataset_open("", &ds, &err), FT_EINVAL, &err);
    assert_status(ft_dataset_open(NULL, &ds, &err), FT_EINVAL, &err);
    ft_test_rmtree(root);
}

/* ---- splits and folds --------------------------------------------------------------------- */

static void test_split_ordered(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_many_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);
    assert_int_equal(ds.n_ids, MANY_IDS);
    assert_string_equal(ds.id_names[9], "p10");

    ft_idset tr, va, te;
    ft_error err = {0};
    assert_status(ft_dataset_split(&ds, 2, 3, FT_SPLIT_ORDERED, 99, &tr, &va, &te, &err), FT_OK,
                  &err);
    const int want_tr[5] = {0, 1, 2, 3, 4}, want_va[2] = {5, 6}, want_te[3] = {7, 8, 9};
    assert_ids(&tr, want_tr, 5);
    assert_ids(&va, want_va, 2);
    assert_ids(&te, want_te, 3); /* exactly the last three */
    ft_idset_free(&tr);
    ft_idset_free(&va);
    ft_idset_free(&te);

    /* no validation: val may be NULL */
    assert_status(ft_dataset_split(&ds, 0, 3, FT_SPLIT_ORDERED, 0, &tr, NULL, &te, &err), FT_OK,
                  &err);
    assert_int_equal(tr.n, 7);
    assert_ids(&te, want_te, 3);
    const ft_idset *parts[2] = {&tr, &te};
    assert_partition(ds.n_ids, parts, 2);
    ft_idset_free(&tr);
    ft_idset_free(&te);
    ft_idset_free(&te); /* safe twice */

    /* everything to training */
    assert_status(ft_dataset_split(&ds, 0, 0, FT_SPLIT_ORDERED, 0, &tr, NULL, NULL, &err), FT_OK,
                  &err);
    assert_int_equal(tr.n, MANY_IDS);
    ft_idset_free(&tr);
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

static void test_split_shuffled(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_many_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);
    ft_error err = {0};
    ft_idset a[3], b[3], c[3];
    assert_status(ft_dataset_split(&ds, 2, 3, FT_SPLIT_SHUFFLED, 7, &a[0], &a[1], &a[2], &err),
                  FT_OK, &err);
    assert_status(ft_dataset_split(&ds, 2, 3, FT_SPLIT_SHUFFLED, 7, &b[0], &b[1], &b[2], &err),
                  FT_OK, &err);
    assert_status(ft_dataset_split(&ds, 2, 3, FT_SPLIT_SHUFFLED, 8, &c[0], &c[1], &c[2], &err),
                  FT_OK, &err);
    int differs = 0;
    for (int k = 0; k < 3; k++) {
        assert_true(same_set(&a[k], &b[k])); /* same seed, same split */
        differs |= !same_set(&a[k], &c[k]);
    }
    assert_true(differs); /* another seed, another split */
    assert_int_equal(a[0].n, 5);
    assert_int_equal(a[1].n, 2);
    assert_int_equal(a[2].n, 3);
    const ft_idset *pa[3] = {&a[0], &a[1], &a[2]}, *pc[3] = {&c[0], &c[1], &c[2]};
    assert_partition(ds.n_ids, pa, 3);
    assert_partition(ds.n_ids, pc, 3);
    for (int k = 0; k < 3; k++) {
        ft_idset_free(&a[k]);
        ft_idset_free(&b[k]);
        ft_idset_free(&c[k]);
    }
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

static void test_split_errors(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_many_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);
    ft_error err = {0};
    ft_idset tr, va, te;
    /* 10 - 5 - 4 = 1 left for training */
    assert_status(ft_dataset_split(&ds, 5, 4, FT_SPLIT_ORDERED, 0, &tr, &va, &te, &err), FT_EINVAL,
                  &err);
    assert_msg_has(&err, "10 identities");
    assert_msg_has(&err, "5 for validation");
    assert_msg_has(&err, "4 for test");
    assert_null(tr.ids);
    assert_null(va.ids);
    assert_null(te.ids);
    assert_status(ft_dataset_split(&ds, 0, 20, FT_SPLIT_SHUFFLED, 0, &tr, &va, &te, &err),
                  FT_EINVAL, &err);
    assert_status(ft_dataset_split(&ds, -1, 2, FT_SPLIT_ORDERED, 0, &tr, &va, &te, &err), FT_EINVAL,
                  &err);
    assert_status(ft_dataset_split(&ds, 1, 2, FT_SPLIT_ORDERED, 0, &tr, NULL, &te, &err), FT_EINVAL,
                  &err); /* asked for validation identities with nowhere to put them */
    /* exactly 2 left is fine */
    assert_status(ft_dataset_split(&ds, 4, 4, FT_SPLIT_ORDERED, 0, &tr, &va, &te, &err), FT_OK,
                  &err);
    assert_int_equal(tr.n, 2);
    ft_idset_free(&tr);
    ft_idset_free(&va);
    ft_idset_free(&te);

    assert_status(ft_dataset_fold(&ds, 1, 0, 0, &tr, &te, &err), FT_EINVAL, &err);
    assert_status(ft_dataset_fold(&ds, MANY_IDS + 1, 0, 0, &tr, &te, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "11 folds");
    assert_status(ft_dataset_fold(&ds, 3, 3, 0, &tr, &te, &err), FT_EINVAL, &err);
    assert_status(ft_dataset_fold(&ds, 3, -1, 0, &tr, &te, &err), FT_EINVAL, &err);
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

static void test_folds(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_many_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);
    ft_error err = {0};
    for (int k = 2; k <= MANY_IDS; k++) {
        ft_idset tests[MANY_IDS];
        const ft_idset *tp[MANY_IDS];
        int lo = MANY_IDS, hi = 0;
        for (int f = 0; f < k; f++) {
            ft_idset tr;
            assert_status(ft_dataset_fold(&ds, k, f, 5, &tr, &tests[f], &err), FT_OK, &err);
            const ft_idset *both[2] = {&tr, &tests[f]};
            assert_partition(ds.n_ids, both, 2);
            if (tests[f].n < lo) lo = tests[f].n;
            if (tests[f].n > hi) hi = tests[f].n;
            tp[f] = &tests[f];
            ft_idset_free(&tr);
        }
        assert_true(lo >= 1 && hi - lo <= 1); /* nearly equal folds */
        assert_partition(ds.n_ids, tp, k);  /* each identity tested in exactly one fold */

        /* the same seed gives the same folds */
        ft_idset tr, again;
        assert_status(ft_dataset_fold(&ds, k, 0, 5, &tr, &again, &err), FT_OK, &err);
        assert_true(same_set(&again, &tests[0]));
        ft_idset_free(&tr);
        ft_idset_free(&again);
        for (int f = 0; f < k; f++) ft_idset_free(&tests[f]);
    }
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

/* ---- identity sets ---------------------------------------------------------------------- */

static void test_find_ids(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_many_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);
    ft_error err = {0};
    ft_idset s;

    assert_status(ft_dataset_find_ids(&ds, " p10 , p3", &s, &err), FT_OK, &err);
    const int want[2] = {2, 9};
    assert_ids(&s, want, 2);
    ft_idset_free(&s);

    assert_status(ft_dataset_find_ids(&ds, "p3,nobody", &s, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "'nobody'");
    assert_null(s.ids);
    assert_status(ft_dataset_find_ids(&ds, "p1", &s, &err), FT_OK, &err);
    assert_int_equal(s.n, 1);
    ft_idset_free(&s);
    assert_status(ft_dataset_find_ids(&ds, "p", &s, &err), FT_EINVAL, &err); /* no prefix match */
    assert_msg_has(&err, "'p'");
    assert_status(ft_dataset_find_ids(&ds, "p3,,p4", &s, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "empty");
    assert_status(ft_dataset_find_ids(&ds, "p3,p4,", &s, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "empty");
    assert_status(ft_dataset_find_ids(&ds, "", &s, &err), FT_EINVAL, &err);
    assert_status(ft_dataset_find_ids(&ds, "p4, p4", &s, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "'p4'");
    assert_msg_has(&err, "twice");
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

static void test_complement_images_names(void **state)
{
    (void)state;
    char root[PATH_CAP];
    ft_test_tmpdir(root, sizeof root);
    make_many_tree(root);
    ft_dataset ds;
    open_ok(root, &ds);
    ft_error err = {0};
    ft_idset s, rest;
    assert_status(ft_dataset_find_ids(&ds, "p1,p3", &s, &err), FT_OK, &err);
    assert_status(ft_idset_complement(&ds, &s, &rest, &err), FT_OK, &err);
    assert_int_equal(rest.n, MANY_IDS - 2);
    const ft_idset *parts[2] = {&s, &rest};
    assert_partition(ds.n_ids, parts, 2);

    /* p1 holds 2 images (1 + 1 % 3), p3 holds 1 (1 + 3 % 3) */
    int32_t *images, *labels;
    int n;
    assert_status(ft_dataset_images(&ds, &s, &images, &labels, &n, &err), FT_OK, &err);
    assert_int_equal(n, 3);
    const int32_t want_img[3] = {ds.id_start[0], ds.id_start[0] + 1, ds.id_start[2]};
    const int32_t want_lab[3] = {0, 0, 2};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(images[i], want_img[i]);
        assert_int_equal(labels[i], want_lab[i]);
        assert_int_equal(ds.label[images[i]], labels[i]);
    }
    free(images);
    free(labels);

    /* every image of the complement, none of s */
    assert_status(ft_dataset_images(&ds, &rest, &images, &labels, &n, &err), FT_OK, &err);
    assert_int_equal(n, ds.n_images - 3);
    for (int i = 0; i < n; i++) {
        assert_true(labels[i] != 0 && labels[i] != 2);
        if (i > 0) assert_true(images[i - 1] < images[i]);
    }
    free(images);
    free(labels);

    char buf[64];
    ft_idset_names(&ds, &s, buf, sizeof buf);
    assert_string_equal(buf, "p1,p3");
    ft_idset_names(&ds, &rest, buf, sizeof buf);
    assert_string_equal(buf, "p2,p4,p5,p6,p7,p8,p9,p10");
    ft_idset_names(&ds, &rest, buf, 16); /* 15 characters and the NUL */
    assert_string_equal(buf, "p2,p4,p5,p6,...");
    ft_idset_names(&ds, &rest, buf, 3);
    assert_true(strlen(buf) <= 2);

    ft_idset empty = {0};
    ft_idset_names(&ds, &empty, buf, sizeof buf);
    assert_string_equal(buf, "");
    assert_status(ft_dataset_images(&ds, &empty, &images, &labels, &n, &err), FT_OK, &err);
    assert_int_equal(n, 0);
    free(images);
    free(labels);

    ft_idset_free(&rest);
    int bad_id = MANY_IDS;
    ft_idset bad = {1, &bad_id};
    assert_status(ft_idset_complement(&ds, &bad, &rest, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "out of range");
    assert_null(rest.ids);
    ft_idset_free(&s);
    ft_dataset_free(&ds);
    ft_test_rmtree(root);
}

/* ---- the real ORL folder ------------------------------------------------------------------ */

static void test_orl(void **state)
{
    (void)state;
    char root[PATH_CAP];
    if (!ft_test_dataset("orl", root, sizeof root)) skip();
    ft_dataset ds;
    open_ok(root, &ds);
    assert_int_equal(ds.n_ids, ORL_IDS);
    assert_int_equal(ds.n_images, ORL_IDS * ORL_PER_ID);
    assert_int_equal(ds.n_empty_ids, 0);
    for (int i = 0; i < ORL_IDS; i++) {
        char name[16], rel[64];
        snprintf(name, sizeof name, "s%d", i + 1);
        assert_string_equal(ds.id_names[i], name);
        assert_int_equal(ds.id_start[i + 1] - ds.id_start[i], ORL_PER_ID);
        for (int k = 0; k < ORL_PER_ID; k++) {
            snprintf(rel, sizeof rel, "s%d/%d.pgm", i + 1, k + 1); /* 1..10, natural order */
            assert_path(&ds, ds.id_start[i] + k, root, rel);
        }
    }
    /* the reference's split: first 37 train, last 3 test */
    ft_idset tr, te;
    ft_error err = {0};
    assert_status(ft_dataset_split(&ds, 0, 3, FT_SPLIT_ORDERED, 0, &tr, NULL, &te, &err), FT_OK,
                  &err);
    char buf[64];
    ft_idset_names(&ds, &te, buf, sizeof buf);
    assert_string_equal(buf, "s38,s39,s40");
    assert_int_equal(tr.n, 37);
    ft_idset_free(&tr);
    ft_idset_free(&te);
    ft_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_small_tree),
        cmocka_unit_test(test_open_trailing_slash),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_split_ordered),
        cmocka_unit_test(test_split_shuffled),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_folds),
        cmocka_unit_test(test_find_ids),
        cmocka_unit_test(test_complement_images_names),
        cmocka_unit_test(test_orl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
