/* test_image.c — decoding (PNG, JPEG, PNM), resizing, conversion and the
 * bytes -> encoder input path.
 *
 * Every test image is made here at run time: PNG with libpng's encoder, JPEG
 * with libjpeg's, PNM by hand, all in memory, so the suite needs no binary
 * fixtures and each image's exact content is visible in the test. Lossless
 * formats are compared exactly; JPEG within JPEG_TOL of flat colour blocks
 * aligned to the 16x16 MCU grid (so chroma subsampling does not blur them).
 * Failure paths (truncation at many lengths, corrupt bytes, headers declaring
 * 100000x100000 pixels) must return the right status with a clear message;
 * under -DFT_SANITIZE=ON they also prove there is no crash and no leak.
 * The last tests decode the real files in the shared datasets, skipping with
 * a message when a dataset is missing.
 */
#include "ft_test.h"

#include <glob.h>
#include <stdio.h> /* before jpeglib.h */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "facetwin/image.h"

#define JPEG_TOL 12      /* max abs difference on flat JPEG blocks */
#define JPEG_QUALITY 95
#define HUGE_SIDE 100000 /* 100000 x 100000 = 10^10 pixels */
#define JPEG_HUGE_SIDE 60000 /* JPEG sides are 16-bit (max 65535) */
#define FLOAT_TOL 1e-6

/* ---- helpers -------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} membuf;

static void mb_append(membuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void mb_free(membuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}


static ft_status decode(const membuf *b, ft_image *img, ft_error *err)
{
    return ft_image_decode(b->p, b->n, NULL, img, err);
}

static void assert_decodes_to(const membuf *b, int w, int h, int c, const uint8_t *want)
{
    ft_image img;
    ft_error err = {0};
    assert_status(decode(b, &img, &err), FT_OK, &err);
    assert_int_equal(img.w, w);
    assert_int_equal(img.h, h);
    assert_int_equal(img.c, c);
    assert_memory_equal(img.data, want, (size_t)w * h * c);
    ft_image_free(&img);
}

static void assert_pixel_near(const ft_image *img, int x, int y, int r, int g, int b)
{
    const uint8_t *p = img->data + ((size_t)y * img->w + x) * img->c;
    int want[3] = {r, g, b};
    for (int k = 0; k < img->c; k++) {
        int d = abs((int)p[k] - want[k]);
        if (d > JPEG_TOL)
            print_message("pixel (%d,%d)[%d] = %d, want %d +- %d\n", x, y, k, p[k], want[k],
                          JPEG_TOL);
        assert_true(d <= JPEG_TOL);
    }
}

/* -- PNG encoder (libpng, into memory) -- */

typedef struct {
    int w, h, color, depth, interlace;
    const png_color *palette;
    int npalette;
    const uint8_t *trns; /* palette alpha values */
    int ntrns;
    const png_color_16 *trans_color; /* grey/RGB tRNS colour */
} png_params;

static void png_mem_write(png_structp png, png_bytep d, size_t n)
{
    mb_append(png_get_io_ptr(png), d, n);
}

static void png_mem_flush(png_structp png) { (void)png; }

static void png_encode_rows(png_structp png, png_infop info, const png_params *p,
                            const uint8_t *pix, membuf *out)
{
    png_set_write_fn(png, out, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)p->w, (png_uint_32)p->h, p->depth, p->color, p->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (p->palette) png_set_PLTE(png, info, p->palette, p->npalette);
    if (p->trns) png_set_tRNS(png, info, p->trns, p->ntrns, NULL);
    if (p->trans_color) png_set_tRNS(png, info, NULL, 0, p->trans_color);
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep *rows = malloc((size_t)p->h * sizeof *rows);
    assert_non_null(rows);
    for (int y = 0; y < p->h; y++) rows[y] = (png_bytep)pix + (size_t)y * rowbytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
}

/* pix holds rows packed as PNG stores them (16-bit samples big-endian). */
static membuf png_encode(const png_params *p, const uint8_t *pix)
{
    membuf out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng could not encode the test image");
    png_encode_rows(png, info, p, pix, &out);
    png_destroy_write_struct(&png, &info);
    return out;
}

/* -- JPEG encoder (libjpeg, into memory) -- */

typedef struct {
    int w, h, components;
    J_COLOR_SPACE in_space;
    J_COLOR_SPACE jpeg_space; /* JCS_UNKNOWN: libjpeg's default for in_space */
    int adobe;                /* -1 default, 0 no Adobe marker, 1 Adobe marker */
    int progressive;
    const uint8_t *app1; /* an APP1 payload to write (EXIF), or NULL */
    size_t app1_len;
} jpeg_params;

static void jpeg_test_error_exit(j_common_ptr cinfo)
{
    char msg[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, msg);
    fail_msg("libjpeg could not encode the test image: %s", msg);
}

static membuf jpeg_encode(const jpeg_params *p, const uint8_t *pix)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    e.error_exit = jpeg_test_error_exit;
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &mem, &len);
    c.image_width = (JDIMENSION)p->w;
    c.image_height = (JDIMENSION)p->h;
    c.input_components = p->components;
    c.in_color_space = p->in_space;
    jpeg_set_defaults(&c);
    if (p->jpeg_space != JCS_UNKNOWN) jpeg_set_colorspace(&c, p->jpeg_space);
    if (p->adobe >= 0) c.write_Adobe_marker = (boolean)p->adobe;
    jpeg_set_quality(&c, JPEG_QUALITY, TRUE);
    if (p->progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (p->app1) jpeg_write_marker(&c, JPEG_APP0 + 1, p->app1, (unsigned)p->app1_len);
    const size_t stride = (size_t)p->w * (size_t)p->components;
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)pix + (size_t)c.next_scanline * stride;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    membuf out = {mem, len, len};
    return out;
}

/* w x h RGB image: background, with filled rectangles [x0,x1) x [y0,y1). */
static uint8_t *rgb_canvas(int w, int h, const uint8_t bg[3])
{
    uint8_t *pix = malloc((size_t)w * h * 3);
    assert_non_null(pix);
    for (int i = 0; i < w * h; i++) memcpy(pix + 3 * i, bg, 3);
    return pix;
}

static void rgb_fill(uint8_t *pix, int w, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) memcpy(pix + 3 * ((size_t)y * w + x), col, 3);
}

static const uint8_t k_red[3] = {255, 0, 0}, k_green[3] = {0, 255, 0}, k_blue[3] = {0, 0, 255};

/* A small valid JPEG used as a base for truncation and corruption. */
static membuf jpeg_sample(void)
{
    enum { W = 48, H = 32 };
    uint8_t *pix = rgb_canvas(W, H, k_blue);
    rgb_fill(pix, W, 0, 0, 16, 16, k_red);
    rgb_fill(pix, W, 32, 16, 48, 32, k_green);
    jpeg_params p = {W, H, 3, JCS_RGB, JCS_UNKNOWN, -1, 0, NULL, 0};
    membuf b = jpeg_encode(&p, pix);
    free(pix);
    return b;
}

static membuf png_sample(void)
{
    enum { W = 16, H = 16 };
    uint8_t pix[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) pix[i] = (uint8_t)(i * 7);
    png_params p = {W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    return png_encode(&p, pix);
}

static membuf bytes_of(const char *s, size_t n)
{
    membuf b = {0};
    mb_append(&b, s, n);
    return b;
}

/* ---- sniffing ------------------------------------------------------------------- */

static void test_sniff(void **state)
{
    (void)state;
    membuf png = png_sample(), jpg = jpeg_sample();
    assert_int_equal(ft_image_sniff(png.p, png.n), FT_FORMAT_PNG);
    assert_int_equal(ft_image_sniff(jpg.p, jpg.n), FT_FORMAT_JPEG);
    assert_int_equal(ft_image_sniff((const uint8_t *)"P5\n1 1\n255\n", 11), FT_FORMAT_PNM);
    assert_int_equal(ft_image_sniff((const uint8_t *)"P3#c\n", 5), FT_FORMAT_PNM);
    assert_int_equal(ft_image_sniff((const uint8_t *)"PK\3\4", 4), FT_FORMAT_UNKNOWN);
    assert_int_equal(ft_image_sniff(png.p, 4), FT_FORMAT_UNKNOWN); /* short signature */
    assert_int_equal(ft_image_sniff(NULL, 0), FT_FORMAT_UNKNOWN);
    assert_string_equal(ft_image_format_name(FT_FORMAT_PNG), "PNG");
    assert_string_equal(ft_image_format_name(FT_FORMAT_JPEG), "JPEG");
    assert_string_equal(ft_image_format_name(FT_FORMAT_PNM), "PNM");
    assert_string_equal(ft_image_format_name(FT_FORMAT_UNKNOWN), "unknown");
    mb_free(&png);
    mb_free(&jpg);
}

/* ---- PNG ------------------------------------------------------------------------ */

static void test_png_grey8(void **state)
{
    (void)state;
    uint8_t pix[5 * 3];
    for (int i = 0; i < 15; i++) pix[i] = (uint8_t)(i * 17);
    png_params p = {5, 3, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, pix);
    assert_decodes_to(&b, 5, 3, 1, pix);
    mb_free(&b);
}

static void test_png_grey_low_bit_depths(void **state)
{
    (void)state;
    /* 1-bit: 0/1 -> 0/255; 2-bit: v * 85; 4-bit: v * 17 (PNG scales to full range) */
    const uint8_t one_bit[2] = {0xA0, 0x00}; /* row 0: 1 0 1 0 ; row 1: 0 0 0 0 */
    const uint8_t want1[8] = {255, 0, 255, 0, 0, 0, 0, 0};
    png_params p = {4, 2, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, one_bit);
    assert_decodes_to(&b, 4, 2, 1, want1);
    mb_free(&b);

    const uint8_t two_bit[1] = {0x1B}; /* 0 1 2 3 */
    const uint8_t want2[4] = {0, 85, 170, 255};
    p.depth = 2;
    p.h = 1;
    b = png_encode(&p, two_bit);
    assert_decodes_to(&b, 4, 1, 1, want2);
    mb_free(&b);

    const uint8_t four_bit[2] = {0x0F, 0x7A}; /* 0 15 7 10 */
    const uint8_t want4[4] = {0, 255, 119, 170};
    p.depth = 4;
    b = png_encode(&p, four_bit);
    assert_decodes_to(&b, 4, 1, 1, want4);
    mb_free(&b);

    /* a transparent grey level (tRNS) does not add an alpha channel */
    const png_color_16 transparent = {0, 0, 0, 0, 7};
    p.trans_color = &transparent;
    b = png_encode(&p, four_bit);
    assert_decodes_to(&b, 4, 1, 1, want4);
    mb_free(&b);
}

static void test_png_rgb8(void **state)
{
    (void)state;
    uint8_t pix[7 * 4 * 3];
    for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 31 + 5);
    png_params p = {7, 4, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, pix);
    assert_decodes_to(&b, 7, 4, 3, pix);
    mb_free(&b);

    /* RGB with a transparent colour (tRNS): still plain RGB */
    const png_color_16 transparent = {0, 5, 36, 67, 0};
    p.trans_color = &transparent;
    b = png_encode(&p, pix);
    assert_decodes_to(&b, 7, 4, 3, pix);
    mb_free(&b);
}

static void test_png_rgb_interlaced(void **state)
{
    (void)state;
    uint8_t pix[13 * 9 * 3];
    for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 13 + 1);
    png_params p = {13, 9, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, pix);
    assert_decodes_to(&b, 13, 9, 3, pix);
    mb_free(&b);
}

static void test_png_rgba_alpha_dropped(void **state)
{
    (void)state;
    enum { W = 3, H = 2 };
    uint8_t rgba[W * H * 4], rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        for (int k = 0; k < 3; k++) rgb[3 * i + k] = rgba[4 * i + k] = (uint8_t)(40 * i + 9 * k);
        rgba[4 * i + 3] = (uint8_t)(i * 50); /* alpha 0 included: not composited */
    }
    png_params p = {W, H, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, rgba);
    assert_decodes_to(&b, W, H, 3, rgb);
    mb_free(&b);
}

static void test_png_grey_alpha(void **state)
{
    (void)state;
    const uint8_t ga[4 * 2] = {0, 255, 100, 0, 200, 128, 255, 7};
    const uint8_t want[4] = {0, 100, 200, 255};
    png_params p = {2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, ga);
    assert_decodes_to(&b, 2, 2, 1, want);
    mb_free(&b);

    /* 16-bit grey + alpha */
    const uint8_t ga16[2 * 4] = {0xff, 0xff, 0x00, 0x00, 0x80, 0x80, 0x12, 0x34};
    const uint8_t want16[2] = {255, 128};
    png_params p16 = {2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE,
                      NULL, 0, NULL, 0, NULL};
    b = png_encode(&p16, ga16);
    assert_decodes_to(&b, 2, 1, 1, want16);
    mb_free(&b);
}

static void test_png_palette(void **state)
{
    (void)state;
    const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    const uint8_t idx[2] = {0x1B, 0xE4}; /* 2-bit indices: 0 1 2 3 | 3 2 1 0 */
    const uint8_t want[8 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30,
                                 10, 20, 30, 0, 0, 255, 0, 255, 0, 255, 0, 0};
    png_params p = {4, 2, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, pal, 4, NULL, 0, NULL};
    membuf b = png_encode(&p, idx);
    assert_decodes_to(&b, 4, 2, 3, want);
    mb_free(&b);

    /* palette with transparency (tRNS): alpha is still dropped, c stays 3 */
    const uint8_t trns[2] = {0, 128};
    const uint8_t idx8[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    png_params pt = {4, 2, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, pal, 4, trns, 2, NULL};
    b = png_encode(&pt, idx8);
    assert_decodes_to(&b, 4, 2, 3, want);
    mb_free(&b);
}

static void test_png_16bit(void **state)
{
    (void)state;
    /* big-endian 16-bit samples; expected = round(v / 257) */
    const uint16_t v[6] = {0x0000, 0xffff, 0x8080, 0x1234, 0x7fff, 0x0101};
    uint8_t rows[12], want[6];
    for (int i = 0; i < 6; i++) {
        rows[2 * i] = (uint8_t)(v[i] >> 8);
        rows[2 * i + 1] = (uint8_t)v[i];
        want[i] = (uint8_t)((v[i] + 128) / 257);
    }
    png_params p = {2, 1, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    membuf b = png_encode(&p, rows);
    assert_decodes_to(&b, 2, 1, 3, want);
    mb_free(&b);

    png_params pg = {3, 2, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    b = png_encode(&pg, rows);
    assert_decodes_to(&b, 3, 2, 1, want);
    mb_free(&b);

    /* 16-bit RGBA: alpha dropped */
    uint8_t rgba[8];
    memcpy(rgba, rows, 6);
    rgba[6] = rgba[7] = 0;
    png_params pa = {1, 1, PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
    b = png_encode(&pa, rgba);
    assert_decodes_to(&b, 1, 1, 3, want);
    mb_free(&b);
}

/* ---- JPEG ----------------------------------------------------------------------- */

static void test_jpeg_grey(void **state)
{
    (void)state;
    enum { W = 32, H = 16 };
    uint8_t pix[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) pix[y * W + x] = x < 16 ? 50 : 200;
    jpeg_params p = {W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, -1, 0, NULL, 0};
    membuf b = jpeg_encode(&p, pix);
    ft_image img;
    ft_error err = {0};
    assert_status(decode(&b, &img, &err), FT_OK, &err);
    assert_int_equal(img.w, W);
    assert_int_equal(img.h, H);
    assert_int_equal(img.c, 1);
    assert_pixel_near(&img, 4, 8, 50, 0, 0);
    assert_pixel_near(&img, 28, 8, 200, 0, 0);
    ft_image_free(&img);
    mb_free(&b);
}

static void test_jpeg_rgb(void **state)
{
    (void)state;
    enum { W = 32, H = 32 };
    uint8_t *pix = rgb_canvas(W, H, k_blue);
    rgb_fill(pix, W, 0, 0, 16, 16, k_red);
    rgb_fill(pix, W, 16, 16, 32, 32, k_green);
    for (int progressive = 0; progressive <= 1; progressive++) {
        jpeg_params p = {W, H, 3, JCS_RGB, JCS_UNKNOWN, -1, progressive, NULL, 0};
        membuf b = jpeg_encode(&p, pix);
        ft_image img;
        ft_error err = {0};
        assert_status(decode(&b, &img, &err), FT_OK, &err);
        assert_int_equal(img.w, W);
        assert_int_equal(img.h, H);
        assert_int_equal(img.c, 3);
        assert_pixel_near(&img, 8, 8, 255, 0, 0);
        assert_pixel_near(&img, 24, 8, 0, 0, 255);
        assert_pixel_near(&img, 24, 24, 0, 255, 0);
        ft_image_free(&img);
        mb_free(&b);
    }
    free(pix);
}

/* CMYK with 4 flat 16x16 quadrants; values as the encoder receives them. */
static void check_cmyk(J_COLOR_SPACE jpeg_space, int adobe, int inverted)
{
    enum { W = 32, H = 32 };
    /* ink (0 = none, 255 = full): red = M + Y; black = K; white = none; cyan = C */
    const uint8_t ink[4][4] = {{0, 255, 255, 0}, {0, 0, 0, 255}, {0, 0, 0, 0}, {255, 0, 0, 0}};
    const uint8_t want[4][3] = {{255, 0, 0}, {0, 0, 0}, {255, 255, 255}, {0, 255, 255}};
    uint8_t *pix = malloc(W * H * 4);
    assert_non_null(pix);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int q = (y >= 16) * 2 + (x >= 16);
            for (int k = 0; k < 4; k++)
                pix[(y * W + x) * 4 + k] = inverted ? (uint8_t)(255 - ink[q][k]) : ink[q][k];
        }
    jpeg_params p = {W, H, 4, JCS_CMYK, jpeg_space, adobe, 0, NULL, 0};
    membuf b = jpeg_encode(&p, pix);
    ft_image img;
    ft_error err = {0};
    assert_status(decode(&b, &img, &err), FT_OK, &err);
    assert_int_equal(img.c, 3);
    assert_int_equal(img.w, W);
    for (int q = 0; q < 4; q++)
        assert_pixel_near(&img, 8 + 16 * (q % 2), 8 + 16 * (q / 2), want[q][0], want[q][1],
                          want[q][2]);
    ft_image_free(&img);
    mb_free(&b);
    free(pix);
}

static void test_jpeg_cmyk(void **state)
{
    (void)state;
    /* libjpeg writes an Adobe APP14 marker for CMYK by default; Adobe files
     * store inverted CMYK, so the encoder is fed inverted ink. */
    check_cmyk(JCS_CMYK, 1, 1);
    /* YCCK (Adobe transform 2), also inverted */
    check_cmyk(JCS_YCCK, 1, 1);
    /* no Adobe marker: plain CMYK, not inverted */
    check_cmyk(JCS_CMYK, 0, 0);
}

/* "Exif\0\0" + TIFF header + IFD0 holding a Make tag then Orientation. */
static size_t exif_block(uint8_t *out, int little, uint16_t orientation)
{
    membuf b = {0};
    mb_append(&b, "Exif\0\0", 6);
    uint8_t t[8 + 2 + 2 * 12 + 4];
    memset(t, 0, sizeof t);
    size_t i = 0;
#define PUT16(v) (little ? (t[i] = (uint8_t)(v), t[i + 1] = (uint8_t)((v) >> 8))   \
                         : (t[i] = (uint8_t)((v) >> 8), t[i + 1] = (uint8_t)(v)), i += 2)
#define PUT32(v) (little ? (PUT16((v) & 0xffff), PUT16((v) >> 16))                    \
                         : (PUT16((v) >> 16), PUT16((v) & 0xffff)))
    t[i++] = little ? 'I' : 'M';
    t[i++] = little ? 'I' : 'M';
    PUT16(42);
    PUT32(8u);   /* IFD0 right after the header */
    PUT16(2);    /* two entries */
    PUT16(0x010f); /* Make, ASCII, 4 bytes "abc\0" inline */
    PUT16(2);
    PUT32(4u);
    memcpy(t + i, "abc", 4);
    i += 4;
    PUT16(0x0112); /* Orientation, SHORT, 1 */
    PUT16(3);
    PUT32(1u);
    PUT16(orientation);
    PUT16(0);
    PUT32(0u); /* no next IFD */
#undef PUT16
#undef PUT32
    mb_append(&b, t, i);
    memcpy(out, b.p, b.n);
    size_t n = b.n;
    mb_free(&b);
    return n;
}

/* Corner of an w x h image: 0 TL, 1 TR, 2 BR, 3 BL -> centre of its 16x16 block. */
static void corner_block(int corner, int w, int h, int *x, int *y)
{
    *x = (corner == 1 || corner == 2) ? w - 8 : 8;
    *y = (corner >= 2) ? h - 8 : 8;
}

static void test_jpeg_exif_orientation(void **state)
{
    (void)state;
    enum { W = 64, H = 32, TL = 0, TR = 1, BR = 2, BL = 3 };
    /* input: red block at the top-left, green at the top-right, blue elsewhere */
    uint8_t *pix = rgb_canvas(W, H, k_blue);
    rgb_fill(pix, W, 0, 0, 16, 16, k_red);
    rgb_fill(pix, W, W - 16, 0, W, 16, k_green);
    /* where the input's TL (red) and TR (green) corners land, per orientation
     * (EXIF 2.3: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 CW,
     * 7 transverse, 8 rotate 90 CCW) */
    const int red_at[9] = {0, TL, TR, BR, BL, TL, TR, BR, BL};
    const int green_at[9] = {0, TR, TL, BL, BR, BL, BR, TR, TL};
    for (int o = 1; o <= 8; o++) {
        for (int little = 0; little <= 1; little++) {
            uint8_t app1[64];
            size_t n = exif_block(app1, little, (uint16_t)o);
            jpeg_params p = {W, H, 3, JCS_RGB, JCS_UNKNOWN, -1, 0, app1, n};
            membuf b = jpeg_encode(&p, pix);
            ft_image img;
            ft_error err = {0};
            assert_status(decode(&b, &img, &err), FT_OK, &err);
            const int swapped = o >= 5;
            assert_int_equal(img.w, swapped ? H : W);
            assert_int_equal(img.h, swapped ? W : H);
            int x, y;
            corner_block(red_at[o], img.w, img.h, &x, &y);
            assert_pixel_near(&img, x, y, 255, 0, 0);
            corner_block(green_at[o], img.w, img.h, &x, &y);
            assert_pixel_near(&img, x, y, 0, 255, 0);
            /* the other two corners are blue */
            for (int cnr = 0; cnr < 4; cnr++) {
                if (cnr == red_at[o] || cnr == green_at[o]) continue;
                corner_block(cnr, img.w, img.h, &x, &y);
                assert_pixel_near(&img, x, y, 0, 0, 255);
            }
            ft_image_free(&img);
            mb_free(&b);
        }
    }
    free(pix);
}

static void test_jpeg_exif_malformed(void **state)
{
    (void)state;
    /* byte offsets in exif_block(): "Exif\0\0", TIFF header, IFD0 count, Make, Orientation */
    enum { W = 32, H = 16, TIFF_AT = 6, IFD0_AT = TIFF_AT + 8, ORIENT_AT = IFD0_AT + 2 + 12 };
    uint8_t *pix = rgb_canvas(W, H, k_blue);
    uint8_t good[64];
    size_t n = exif_block(good, 1, 6);
    /* each variant must decode upright-as-stored (orientation ignored), never crash */
    for (int variant = 0; variant < 8; variant++) {
        uint8_t app1[64];
        size_t len = n;
        memcpy(app1, good, n);
        switch (variant) {
        case 0: memset(app1 + TIFF_AT + 4, 0xff, 4); break;    /* IFD0 offset far away */
        case 1: app1[IFD0_AT] = app1[IFD0_AT + 1] = 0xff; break; /* 65535 entries declared */
        case 2: len = ORIENT_AT + 6; break;                      /* orientation entry cut */
        case 3: app1[ORIENT_AT + 2] = 4; break;                  /* type LONG, not SHORT */
        case 4: app1[ORIENT_AT + 8] = 9; break;                  /* orientation 9 */
        case 5: app1[TIFF_AT] = 'I', app1[TIFF_AT + 1] = 'M'; break; /* bad byte order */
        case 6: len = TIFF_AT + 4; break;                        /* TIFF header cut */
        case 7: app1[0] = 'X'; break;                            /* not Exif */
        }
        jpeg_params p = {W, H, 3, JCS_RGB, JCS_UNKNOWN, -1, 0, app1, len};
        membuf b = jpeg_encode(&p, pix);
        ft_image img;
        ft_error err = {0};
        assert_status(decode(&b, &img, &err), FT_OK, &err);
        assert_int_equal(img.w, W);
        assert_int_equal(img.h, H);
        ft_image_free(&img);
        mb_free(&b);
    }
    free(pix);
}

/* ---- PNM ------------------------------------------------------------------------ */

static void test_pgm_p2_p5(void **state)
{
    (void)state;
    const uint8_t want[6] = {0, 1, 128, 200, 254, 255};
    const char p2[] = "P2\n# a comment\n3 2 # trailing comment\n255\n0 1 128\n200 254 255\n";
    membuf b = bytes_of(p2, sizeof p2 - 1);
    assert_decodes_to(&b, 3, 2, 1, want);
    mb_free(&b);

    const char p5h[] = "P5 3\t2\r\n255\n";
    membuf b5 = bytes_of(p5h, sizeof p5h - 1);
    mb_append(&b5, want, 6);
    assert_decodes_to(&b5, 3, 2, 1, want);
    mb_free(&b5);

    /* maxval 15: v * 255 / 15 = v * 17 */
    const char p2s[] = "P2 2 1 15 0 15";
    const uint8_t want15[2] = {0, 255};
    b = bytes_of(p2s, sizeof p2s - 1);
    assert_decodes_to(&b, 2, 1, 1, want15);
    mb_free(&b);
}

static void test_ppm_p3_p6(void **state)
{
    (void)state;
    const uint8_t want[2 * 3] = {255, 0, 0, 10, 20, 30};
    const char p3[] = "P3\n2 1\n255\n255 0 0   10 20 30\n";
    membuf b = bytes_of(p3, sizeof p3 - 1);
    assert_decodes_to(&b, 2, 1, 3, want);
    mb_free(&b);

    const char p6h[] = "P6\n2 1\n255\n";
    b = bytes_of(p6h, sizeof p6h - 1);
    mb_append(&b, want, sizeof want);
    mb_append(&b, "trailing data is ignored", 24);
    assert_decodes_to(&b, 2, 1, 3, want);
    mb_free(&b);
}

static void test_pnm_16bit(void **state)
{
    (void)state;
    /* P5 maxval 65535, big-endian: round(v * 255 / 65535) */
    const char h5[] = "P5\n3 1\n65535\n";
    const uint8_t raster[6] = {0x00, 0x00, 0xff, 0xff, 0x80, 0x00};
    const uint8_t want[3] = {0, 255, 128};
    membuf b = bytes_of(h5, sizeof h5 - 1);
    mb_append(&b, raster, sizeof raster);
    assert_decodes_to(&b, 3, 1, 1, want);
    mb_free(&b);

    /* P6 maxval 1000 (two bytes per sample): 0, 1000, 500 -> 0, 255, 128 (127.5 rounds up) */
    const char h6[] = "P6 1 1 1000\n";
    const uint8_t r6[6] = {0x00, 0x00, 0x03, 0xe8, 0x01, 0xf4};
    const uint8_t want6[3] = {0, 255, 128};
    b = bytes_of(h6, sizeof h6 - 1);
    mb_append(&b, r6, sizeof r6);
    assert_decodes_to(&b, 1, 1, 3, want6);
    mb_free(&b);

    /* P3 maxval 65535 */
    const char p3[] = "P3 1 1 65535 65535 0 32768";
    const uint8_t want3[3] = {255, 0, 128};
    b = bytes_of(p3, sizeof p3 - 1);
    assert_decodes_to(&b, 1, 1, 3, want3);
    mb_free(&b);
}

static void expect_decode_error(const char *data, size_t n, ft_status want, const char *needle)
{
    ft_image img;
    ft_error err = {0};
    ft_status st = ft_image_decode((const uint8_t *)data, n, NULL, &img, &err);
    assert_status(st, want, &err);
    assert_null(img.data);
    if (needle) assert_msg_has(&err, needle);
}

#define EXPECT_PNM_ERROR(lit, st, needle) expect_decode_error(lit, sizeof lit - 1, st, needle)

static void test_pnm_bad(void **state)
{
    (void)state;
    EXPECT_PNM_ERROR("P5\n3 x\n255\n", FT_EFORMAT, "height");
    EXPECT_PNM_ERROR("P5\n3a 2\n255\n", FT_EFORMAT, "width");
    EXPECT_PNM_ERROR("P5\n99999999999999999999 2\n255\n", FT_EFORMAT, "too large");
    EXPECT_PNM_ERROR("P5\n4294967296 1\n255\n", FT_EFORMAT, "too large");
    EXPECT_PNM_ERROR("P5\n1 1\n70000\n", FT_EFORMAT, "maxval");
    EXPECT_PNM_ERROR("P5\n1 1\n0\n\x00", FT_EFORMAT, "maxval");
    EXPECT_PNM_ERROR("P5\n0 4\n255\n", FT_EFORMAT, "empty");
    EXPECT_PNM_ERROR("P2\n2 1\n100\n50 101\n", FT_EFORMAT, "exceeds maxval");
    EXPECT_PNM_ERROR("P2\n2 1\n100\n50 -1\n", FT_EFORMAT, "sample");
    EXPECT_PNM_ERROR("P2\n2 1\n100\n50 99999999999\n", FT_EFORMAT, "sample");
    EXPECT_PNM_ERROR("P5 1 1 1000\n\x03\xe9", FT_EFORMAT, "exceeds maxval");
    EXPECT_PNM_ERROR("P4\n1 1\n\x80", FT_EUNSUPPORTED, "PBM");
    EXPECT_PNM_ERROR("P7\nWIDTH 1\n", FT_EUNSUPPORTED, "PAM");
}

/* ---- failure paths -------------------------------------------------------------- */

/* Every strict prefix of b at the given lengths must fail with FT_EFORMAT. */
static void check_truncations(const membuf *b, const size_t *lens, int nlens, const char *needle)
{
    for (int i = 0; i < nlens; i++) {
        size_t n = lens[i];
        assert_true(n < b->n);
        ft_image img;
        ft_error err = {0};
        ft_status st = ft_image_decode(b->p, n, NULL, &img, &err);
        if (st != FT_EFORMAT) print_message("cut at %zu of %zu bytes\n", n, b->n);
        assert_status(st, FT_EFORMAT, &err);
        assert_null(img.data);
        if (needle && n > 16) assert_msg_has(&err, needle);
    }
}

static void test_truncated_png(void **state)
{
    (void)state;
    membuf b = png_sample();
    const size_t lens[] = {8, 12, 20, 33, 40, b.n / 2, b.n - 20, b.n - 12, b.n - 4, b.n - 1};
    check_truncations(&b, lens, (int)(sizeof lens / sizeof lens[0]), "truncated PNG");
    /* every length, briefly: no crash, never success */
    for (size_t n = 1; n < b.n; n++) {
        ft_image img;
        ft_error err = {0};
        assert_int_not_equal(ft_image_decode(b.p, n, NULL, &img, &err), FT_OK);
    }
    mb_free(&b);
}

static void test_truncated_jpeg(void **state)
{
    (void)state;
    membuf b = jpeg_sample();
    const size_t lens[] = {3, 4, 10, 20, 100, b.n / 4, b.n / 2, 3 * b.n / 4, b.n - 2, b.n - 1};
    check_truncations(&b, lens, (int)(sizeof lens / sizeof lens[0]), "truncated JPEG");
    for (size_t n = 3; n < b.n; n += 7) {
        ft_image img;
        ft_error err = {0};
        assert_int_equal(ft_image_decode(b.p, n, NULL, &img, &err), FT_EFORMAT);
    }
    mb_free(&b);
}

static void test_truncated_pnm(void **state)
{
    (void)state;
    const char h[] = "P5\n4 4\n255\n";
    membuf b = bytes_of(h, sizeof h - 1);
    uint8_t raster[16] = {0};
    mb_append(&b, raster, sizeof raster);
    const size_t lens[] = {3, 4, 5, 6, 7, 10, 11, 12, 20, b.n - 1};
    check_truncations(&b, lens, (int)(sizeof lens / sizeof lens[0]), NULL);
    ft_image img;
    ft_error err = {0};
    assert_int_equal(ft_image_decode(b.p, b.n - 1, NULL, &img, &err), FT_EFORMAT);
    assert_msg_has(&err, "truncated PNM");
    mb_free(&b);

    const char p2[] = "P2 3 1 255 10 20 30";
    b = bytes_of(p2, sizeof p2 - 1);
    const size_t lens2[] = {3, 5, 7, 11, 14, 16, 17};
    check_truncations(&b, lens2, (int)(sizeof lens2 / sizeof lens2[0]), NULL);
    assert_int_equal(ft_image_decode(b.p, 17, NULL, &img, &err), FT_EFORMAT);
    assert_msg_has(&err, "truncated PNM");
    mb_free(&b);
}

/* Offset of the first PNG chunk of this type (its length field), or 0. */
static size_t png_chunk(const membuf *b, const char *type)
{
    for (size_t off = 8; off + 8 <= b->n;) {
        uint32_t len = (uint32_t)b->p[off] << 24 | (uint32_t)b->p[off + 1] << 16 |
                       (uint32_t)b->p[off + 2] << 8 | b->p[off + 3];
        if (memcmp(b->p + off + 4, type, 4) == 0) return off;
        off += 12 + (size_t)len;
    }
    return 0;
}

/* Offset of the first JPEG marker FF <m>, or 0. */
static size_t jpeg_marker(const membuf *b, uint8_t m)
{
    for (size_t i = 2; i + 1 < b->n; i++)
        if (b->p[i] == 0xff && b->p[i + 1] == m) return i;
    return 0;
}

static void test_corrupt_bytes(void **state)
{
    (void)state;
    ft_image img;
    ft_error err = {0};

    /* PNG: one flipped byte in IDAT data -> CRC error */
    membuf b = png_sample();
    size_t idat = png_chunk(&b, "IDAT");
    assert_true(idat > 0);
    b.p[idat + 8 + 5] ^= 0x55;
    assert_status(decode(&b, &img, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, "PNG");
    mb_free(&b);

    /* PNG: IHDR colour type 5 (invalid), CRC fixed so libpng checks the field */
    b = png_sample();
    b.p[8 + 8 + 9] = 5;
    uint32_t crc = (uint32_t)crc32(0L, b.p + 8 + 4, 4 + 13);
    for (int k = 0; k < 4; k++) b.p[8 + 8 + 13 + k] = (uint8_t)(crc >> (24 - 8 * k));
    assert_status(decode(&b, &img, &err), FT_EFORMAT, &err);
    mb_free(&b);

    /* JPEG: a restart marker in the middle of the entropy-coded data */
    b = jpeg_sample();
    size_t sos = jpeg_marker(&b, 0xda);
    assert_true(sos > 0);
    size_t mid = sos + (b.n - sos) / 2;
    b.p[mid] = 0xff;
    b.p[mid + 1] = 0xd3;
    assert_status(decode(&b, &img, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, "JPEG");
    mb_free(&b);

    /* JPEG: SOF declaring 0 components */
    b = jpeg_sample();
    size_t sof = jpeg_marker(&b, 0xc0);
    assert_true(sof > 0);
    b.p[sof + 9] = 0;
    assert_status(decode(&b, &img, &err), FT_EFORMAT, &err);
    mb_free(&b);

    /* JPEG: garbage right after SOI */
    const char junk[] = "\xff\xd8\xff\x01garbage garbage garbage garbage";
    expect_decode_error(junk, sizeof junk - 1, FT_EFORMAT, "JPEG");
}

static void test_empty_input(void **state)
{
    (void)state;
    ft_image img;
    ft_error err = {0};
    const uint8_t one = 0;
    assert_status(ft_image_decode(&one, 0, NULL, &img, &err), FT_EFORMAT, &err);
    assert_string_equal(err.msg, "empty file");
    assert_null(img.data);
    assert_status(ft_image_decode(NULL, 0, NULL, &img, &err), FT_EFORMAT, &err);
    assert_status(ft_image_decode(NULL, 5, NULL, &img, &err), FT_EINVAL, &err);
    assert_status(ft_image_decode(&one, 1, NULL, NULL, &err), FT_EINVAL, &err);
    /* err = NULL is allowed */
    assert_int_equal(ft_image_decode(&one, 0, NULL, &img, NULL), FT_EFORMAT);
}

static void test_unknown_format(void **state)
{
    (void)state;
    const char text[] = "hello, I am not an image\n";
    expect_decode_error(text, sizeof text - 1, FT_EUNSUPPORTED,
                        "unknown image format (not PNG, JPEG or PNM)");
    expect_decode_error("GIF89a", 6, FT_EUNSUPPORTED, "unknown image format");
    expect_decode_error("P", 1, FT_EUNSUPPORTED, "unknown image format");
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (24 - 8 * k));
}

/* A PNG chunk with a valid CRC (zlib crc32 over type + data). */
static void png_put_chunk(membuf *b, const char *type, const uint8_t *data, uint32_t len)
{
    uint8_t head[8], tail[4];
    put_be32(head, len);
    memcpy(head + 4, type, 4);
    mb_append(b, head, 8);
    if (len) mb_append(b, data, len);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, len);
    put_be32(tail, (uint32_t)crc);
    mb_append(b, tail, 4);
}

static void test_too_big(void **state)
{
    (void)state;
    ft_image img;
    ft_error err = {0};
    /* PNG: IHDR 100000 x 100000 RGB, then an empty IDAT and IEND, valid CRCs.
     * An attempted 30 GB allocation would abort under ASan; ETOOBIG proves
     * the cap fired on the header. */
    membuf b = {0};
    mb_append(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, HUGE_SIDE);
    put_be32(ihdr + 4, HUGE_SIDE);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = PNG_COLOR_TYPE_RGB;
    png_put_chunk(&b, "IHDR", ihdr, sizeof ihdr);
    png_put_chunk(&b, "IDAT", NULL, 0);
    png_put_chunk(&b, "IEND", NULL, 0);
    assert_status(decode(&b, &img, &err), FT_ETOOBIG, &err);
    assert_msg_has(&err, "image is 100000x100000 pixels, over the 40000000-pixel cap");
    assert_null(img.data);
    mb_free(&b);

    /* PNM */
    const char pgm[] = "P5\n100000 100000\n255\n";
    expect_decode_error(pgm, sizeof pgm - 1, FT_ETOOBIG, "100000x100000");
    const char ppm[] = "P3\n100000 100000\n255\n1 2 3";
    expect_decode_error(ppm, sizeof ppm - 1, FT_ETOOBIG, "100000x100000");

    /* JPEG: a real file with its SOF patched to 60000 x 60000 */
    b = jpeg_sample();
    size_t sof = jpeg_marker(&b, 0xc0);
    assert_true(sof > 0);
    b.p[sof + 5] = b.p[sof + 7] = (uint8_t)(JPEG_HUGE_SIDE >> 8);
    b.p[sof + 6] = b.p[sof + 8] = (uint8_t)(JPEG_HUGE_SIDE & 0xff);
    assert_status(decode(&b, &img, &err), FT_ETOOBIG, &err);
    assert_msg_has(&err, "60000x60000");
    mb_free(&b);

    /* a caller's cap: 16x16 = 256 pixels passes at 256, fails at 255, each format */
    membuf imgs[3] = {png_sample(), {0}, {0}};
    uint8_t g[16 * 16] = {0};
    jpeg_params jp = {16, 16, 1, JCS_GRAYSCALE, JCS_UNKNOWN, -1, 0, NULL, 0};
    imgs[1] = jpeg_encode(&jp, g);
    imgs[2] = bytes_of("P5 16 16 255\n", 13);
    mb_append(&imgs[2], g, sizeof g);
    for (int i = 0; i < 3; i++) {
        ft_decode_opts opts = {255};
        assert_status(ft_image_decode(imgs[i].p, imgs[i].n, &opts, &img, &err), FT_ETOOBIG, &err);
        assert_msg_has(&err, "over the 255-pixel cap");
        opts.max_pixels = 256;
        assert_status(ft_image_decode(imgs[i].p, imgs[i].n, &opts, &img, &err), FT_OK, &err);
        ft_image_free(&img);
        mb_free(&imgs[i]);
    }
}

/* ---- resize and convert ---------------------------------------------------------- */

static ft_image make_image(int w, int h, int c, const uint8_t *data)
{
    ft_image img = {w, h, c, malloc((size_t)w * h * c)};
    assert_non_null(img.data);
    memcpy(img.data, data, (size_t)w * h * c);
    return img;
}

static void assert_resized(const ft_image *in, int w, int h, const uint8_t *want)
{
    ft_image out;
    ft_error err = {0};
    assert_status(ft_image_resize(in, w, h, &out, &err), FT_OK, &err);
    assert_int_equal(out.w, w);
    assert_int_equal(out.h, h);
    assert_int_equal(out.c, in->c);
    assert_memory_equal(out.data, want, (size_t)w * h * in->c);
    ft_image_free(&out);
}

static void test_resize_shrink_area(void **state)
{
    (void)state;
    /* 4x4 -> 2x2: each output is the mean of a 2x2 block; 1.5 rounds half up to 2 */
    const uint8_t px[16] = {10, 20, 30, 40,    //
                            30, 40, 50, 60,    //
                            100, 100, 0, 1,    //
                            100, 100, 2, 3};
    const uint8_t want[4] = {25, 45, 100, 2};
    ft_image in = make_image(4, 4, 1, px);
    assert_resized(&in, 2, 2, want);
    ft_image_free(&in);

    /* 3 -> 2 with fractional coverage: out0 = (1 * 0 + 0.5 * 90) / 1.5 = 30,
     * out1 = (0.5 * 90 + 1 * 180) / 1.5 = 150 */
    const uint8_t row[3] = {0, 90, 180};
    const uint8_t want3[2] = {30, 150};
    in = make_image(3, 1, 1, row);
    assert_resized(&in, 2, 1, want3);
    ft_image_free(&in);

    /* RGB 2x1 -> 1x1: per-channel means */
    const uint8_t rgb[6] = {0, 100, 255, 10, 200, 255};
    const uint8_t want_rgb[3] = {5, 150, 255};
    in = make_image(2, 1, 3, rgb);
    assert_resized(&in, 1, 1, want_rgb);
    ft_image_free(&in);

    /* big reduction: 8x1 -> 1x1 is the mean of all eight */
    const uint8_t eight[8] = {0, 10, 20, 30, 40, 50, 60, 70}; /* mean 35 */
    const uint8_t want8[1] = {35};
    in = make_image(8, 1, 1, eight);
    assert_resized(&in, 1, 1, want8);
    ft_image_free(&in);
}

static void test_resize_enlarge_bilinear(void **state)
{
    (void)state;
    /* 2x2 -> 4x4, half-pixel centres: src = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
     * clamped at the edges -> per axis weights (1,0) (.75,.25) (.25,.75) (0,1) */
    const uint8_t px[4] = {0, 100, 100, 200};
    const uint8_t want[16] = {0, 25, 75, 100,     //
                              25, 50, 100, 125,   //
                              75, 100, 150, 175,  //
                              100, 125, 175, 200};
    ft_image in = make_image(2, 2, 1, px);
    assert_resized(&in, 4, 4, want);
    ft_image_free(&in);

    /* 1 pixel -> 3x2: a constant */
    const uint8_t one[3] = {7, 8, 9};
    const uint8_t want1[18] = {7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9};
    in = make_image(1, 1, 3, one);
    assert_resized(&in, 3, 2, want1);
    ft_image_free(&in);

    /* mixed: shrink x (4 -> 2, area), enlarge y (1 -> 2, bilinear = repeat) */
    const uint8_t row[4] = {10, 20, 30, 50};
    const uint8_t want_mix[4] = {15, 40, 15, 40};
    in = make_image(4, 1, 1, row);
    assert_resized(&in, 2, 2, want_mix);
    ft_image_free(&in);
}

static void test_resize_identity_and_errors(void **state)
{
    (void)state;
    const uint8_t px[3 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    ft_image in = make_image(3, 2, 3, px);
    assert_resized(&in, 3, 2, px);
    ft_image out;
    ft_error err = {0};
    assert_status(ft_image_resize(&in, 0, 2, &out, &err), FT_EINVAL, &err);
    assert_null(out.data);
    assert_status(ft_image_resize(&in, 2, -1, &out, &err), FT_EINVAL, &err);
    assert_status(ft_image_resize(&in, HUGE_SIDE, HUGE_SIDE, &out, &err), FT_ETOOBIG, &err);
    ft_image bad = {3, 2, 2, in.data};
    assert_status(ft_image_resize(&bad, 2, 2, &out, &err), FT_EINVAL, &err);
    ft_image_free(&in);
}

static void test_convert(void **state)
{
    (void)state;
    /* BT.601: round(0.299 R + 0.587 G + 0.114 B) */
    const uint8_t rgb[5 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30};
    const uint8_t want_grey[5] = {76, 150, 29, 255, 18};
    ft_image in = make_image(5, 1, 3, rgb), out;
    ft_error err = {0};
    assert_status(ft_image_convert(&in, 1, &out, &err), FT_OK, &err);
    assert_int_equal(out.c, 1);
    assert_int_equal(out.w, 5);
    assert_memory_equal(out.data, want_grey, 5);
    ft_image_free(&out);
    /* same channels: a copy */
    assert_status(ft_image_convert(&in, 3, &out, &err), FT_OK, &err);
    assert_memory_equal(out.data, rgb, sizeof rgb);
    assert_ptr_not_equal(out.data, in.data);
    ft_image_free(&out);
    assert_status(ft_image_convert(&in, 2, &out, &err), FT_EINVAL, &err);
    ft_image_free(&in);

    /* grey -> RGB replicates */
    const uint8_t grey[2] = {0, 77};
    const uint8_t want_rgb[6] = {0, 0, 0, 77, 77, 77};
    in = make_image(2, 1, 1, grey);
    assert_status(ft_image_convert(&in, 3, &out, &err), FT_OK, &err);
    assert_int_equal(out.c, 3);
    assert_memory_equal(out.data, want_rgb, 6);
    ft_image_free(&out);
    ft_image_free(&in);
}

/* ---- encoder input ----------------------------------------------------------------- */

static void assert_floats(const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++) {
        if (ft_test_relerr(got[i], want[i], 1.0) > FLOAT_TOL)
            print_message("value %d: got %.8g, want %.8g\n", i, got[i], want[i]);
        assert_true(ft_test_relerr(got[i], want[i], 1.0) <= FLOAT_TOL);
    }
}

static void test_to_input(void **state)
{
    (void)state;
    ft_error err = {0};
    /* grey, same size: (p / 255 - 0.5) / 0.25 */
    const uint8_t g[4] = {0, 51, 255, 102};
    ft_image img = make_image(2, 2, 1, g);
    ft_input_spec grey = {2, 2, 1, {0.5f, 0, 0}, {0.25f, 1, 1}};
    float out[12];
    const float want_g[4] = {-2.0f, -1.2f, 2.0f, -0.4f};
    assert_status(ft_image_to_input(&img, &grey, out, &err), FT_OK, &err);
    assert_floats(out, want_g, 4);
    ft_image_free(&img);

    /* RGB, planar CHW with per-channel mean/std */
    const uint8_t rgb[6] = {255, 0, 51, 0, 255, 102};
    img = make_image(2, 1, 3, rgb);
    ft_input_spec col = {2, 1, 3, {0.1f, 0.2f, 0.3f}, {0.5f, 1.0f, 2.0f}};
    const float want_c[6] = {1.8f, -0.2f,   /* R plane: (1 - .1) / .5, (0 - .1) / .5 */
                             -0.2f, 0.8f,   /* G plane */
                             -0.05f, 0.05f}; /* B plane: (.2 - .3) / 2, (.4 - .3) / 2 */
    assert_status(ft_image_to_input(&img, &col, out, &err), FT_OK, &err);
    assert_floats(out, want_c, 6);

    /* RGB image into a grey spec: luma 76 and 150, then normalised */
    const uint8_t rg[6] = {255, 0, 0, 0, 255, 0};
    memcpy(img.data, rg, 6);
    ft_input_spec g21 = {2, 1, 1, {0, 0, 0}, {1, 1, 1}};
    const float want_l[2] = {76.0f / 255.0f, 150.0f / 255.0f};
    assert_status(ft_image_to_input(&img, &g21, out, &err), FT_OK, &err);
    assert_floats(out, want_l, 2);
    ft_image_free(&img);

    /* grey 4x4 into a 2x2 RGB spec: area means replicated to 3 planes */
    const uint8_t px[16] = {10, 20, 30, 40, 30, 40, 50, 60, 100, 100, 0, 1, 100, 100, 2, 3};
    img = make_image(4, 4, 1, px);
    ft_input_spec rgb22 = {2, 2, 3, {0, 0, 0}, {1, 1, 1}};
    float want_r[12];
    const float means[4] = {25, 45, 100, 2};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++) want_r[k * 4 + i] = means[i] / 255.0f;
    assert_status(ft_image_to_input(&img, &rgb22, out, &err), FT_OK, &err);
    assert_floats(out, want_r, 12);

    /* invalid specs */
    ft_input_spec bad = rgb22;
    bad.channels = 2;
    assert_status(ft_image_to_input(&img, &bad, out, &err), FT_EINVAL, &err);
    bad = rgb22;
    bad.std[1] = 0;
    assert_status(ft_image_to_input(&img, &bad, out, &err), FT_EINVAL, &err);
    bad = rgb22;
    bad.width = 0;
    assert_status(ft_image_to_input(&img, &bad, out, &err), FT_EINVAL, &err);
    ft_image_free(&img);
}

static void test_input_from_bytes(void **state)
{
    (void)state;
    ft_error err = {0};
    const char pgm[] = "P5 2 1 255\n\x00\xff";
    ft_input_spec spec = {2, 1, 1, {0.5f, 0, 0}, {0.5f, 1, 1}};
    float out[2];
    const float want[2] = {-1.0f, 1.0f};
    assert_status(ft_input_from_bytes((const uint8_t *)pgm, sizeof pgm - 1, &spec, NULL, out, &err),
                  FT_OK, &err);
    assert_floats(out, want, 2);
    /* errors propagate: cap, format */
    ft_decode_opts tiny = {1};
    assert_status(
        ft_input_from_bytes((const uint8_t *)pgm, sizeof pgm - 1, &spec, &tiny, out, &err),
        FT_ETOOBIG, &err);
    assert_status(ft_input_from_bytes((const uint8_t *)pgm, sizeof pgm - 2, &spec, NULL, out, &err),
                  FT_EFORMAT, &err);
}

/* ---- files ------------------------------------------------------------------------ */

static void test_image_load(void **state)
{
    (void)state;
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    ft_image img;
    ft_error err = {0};

    membuf b = png_sample();
    snprintf(path, sizeof path, "%s/ok.png", dir);
    assert_int_equal(ft_test_write_file(path, b.p, b.n), 0);
    assert_status(ft_image_load(path, NULL, &img, &err), FT_OK, &err);
    assert_int_equal(img.w, 16);
    assert_int_equal(img.c, 3);
    ft_image_free(&img);
    /* ft_read_file reads it whole; a byte cap below its size is ETOOBIG */
    uint8_t *data;
    size_t n;
    assert_status(ft_read_file(path, b.n, &data, &n, &err), FT_OK, &err);
    assert_int_equal(n, b.n);
    assert_memory_equal(data, b.p, n);
    free(data);
    assert_status(ft_read_file(path, b.n - 1, &data, &n, &err), FT_ETOOBIG, &err);
    assert_msg_has(&err, path);
    assert_null(data);

    /* cut file: the message is "path: reason" */
    snprintf(path, sizeof path, "%s/cut.png", dir);
    assert_int_equal(ft_test_write_file(path, b.p, b.n / 2), 0);
    assert_status(ft_image_load(path, NULL, &img, &err), FT_EFORMAT, &err);
    char want[600];
    snprintf(want, sizeof want, "%s: truncated PNG data", path);
    assert_string_equal(err.msg, want);
    mb_free(&b);

    snprintf(path, sizeof path, "%s/empty.png", dir);
    assert_int_equal(ft_test_write_file(path, "", 0), 0);
    assert_status(ft_image_load(path, NULL, &img, &err), FT_EFORMAT, &err);
    snprintf(want, sizeof want, "%s: empty file", path);
    assert_string_equal(err.msg, want);

    snprintf(path, sizeof path, "%s/missing.png", dir);
    assert_status(ft_image_load(path, NULL, &img, &err), FT_EIO, &err);
    assert_msg_has(&err, path);
    assert_msg_has(&err, "No such file");
    assert_status(ft_image_load(dir, NULL, &img, &err), FT_EIO, &err);
    assert_msg_has(&err, dir);
    assert_null(img.data);
    ft_test_rmtree(dir);
}

/* ---- real data -------------------------------------------------------------------- */

static void test_orl_pgm(void **state)
{
    (void)state;
    char path[1024];
    if (!ft_test_dataset("orl/s1/1.pgm", path, sizeof path)) skip();
    ft_image img;
    ft_error err = {0};
    assert_status(ft_image_load(path, NULL, &img, &err), FT_OK, &err);
    assert_int_equal(img.w, 92);
    assert_int_equal(img.h, 112);
    assert_int_equal(img.c, 1);
    ft_image_free(&img);
}

static void load_first(const char *pattern_rel, int want_w, int want_h)
{
    char root[1024], pattern[1200];
    if (!ft_test_dataset("photos", root, sizeof root)) skip();
    snprintf(pattern, sizeof pattern, "%s/%s", root, pattern_rel);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        globfree(&g);
        print_message("SKIP: no file matches %s\n", pattern);
        skip();
    }
    ft_image img;
    ft_error err = {0};
    assert_status(ft_image_load(g.gl_pathv[0], NULL, &img, &err), FT_OK, &err);
    assert_int_equal(img.c, 3);
    assert_true(img.w > 0 && img.h > 0);
    if (want_w) assert_int_equal(img.w, want_w);
    if (want_h) assert_int_equal(img.h, want_h);
    ft_image_free(&img);
    globfree(&g);
}

static void test_real_jpeg(void **state)
{
    (void)state;
    load_first("people/*/*.jpg", 0, 0);
}

static void test_real_png_32bit(void **state)
{
    (void)state;
    load_first("probes/*.png", 0, 0);
}

/* Every real photo decodes: the corrupt-data warnings made fatal must not fire
 * on ordinary camera and web files. */
static void test_all_real_photos(void **state)
{
    (void)state;
    char root[1024], pattern[1200];
    if (!ft_test_dataset("photos", root, sizeof root)) skip();
    const char *globs[2] = {"people/*/*", "probes/*"};
    int decoded = 0;
    for (int i = 0; i < 2; i++) {
        snprintf(pattern, sizeof pattern, "%s/%s", root, globs[i]);
        glob_t g;
        if (glob(pattern, 0, NULL, &g) != 0) {
            globfree(&g);
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            ft_image img;
            ft_error err = {0};
            ft_status st = ft_image_load(g.gl_pathv[k], NULL, &img, &err);
            if (st) print_message("%s\n", err.msg);
            assert_int_equal(st, FT_OK);
            assert_int_equal(img.c, 3);
            ft_image_free(&img);
            decoded++;
        }
        globfree(&g);
    }
    if (!decoded) skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_png_grey8),
        cmocka_unit_test(test_png_grey_low_bit_depths),
        cmocka_unit_test(test_png_rgb8),
        cmocka_unit_test(test_png_rgb_interlaced),
        cmocka_unit_test(test_png_rgba_alpha_dropped),
        cmocka_unit_test(test_png_grey_alpha),
        cmocka_unit_test(test_png_palette),
        cmocka_unit_test(test_png_16bit),
        cmocka_unit_test(test_jpeg_grey),
        cmocka_unit_test(test_jpeg_rgb),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_jpeg_exif_orientation),
        cmocka_unit_test(test_jpeg_exif_malformed),
        cmocka_unit_test(test_pgm_p2_p5),
        cmocka_unit_test(test_ppm_p3_p6),
        cmocka_unit_test(test_pnm_16bit),
        cmocka_unit_test(test_pnm_bad),
        cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_truncated_jpeg),
        cmocka_unit_test(test_truncated_pnm),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_unknown_format),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_resize_shrink_area),
        cmocka_unit_test(test_resize_enlarge_bilinear),
        cmocka_unit_test(test_resize_identity_and_errors),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_to_input),
        cmocka_unit_test(test_input_from_bytes),
        cmocka_unit_test(test_image_load),
        cmocka_unit_test(test_orl_pgm),
        cmocka_unit_test(test_real_jpeg),
        cmocka_unit_test(test_real_png_32bit),
        cmocka_unit_test(test_all_real_photos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
