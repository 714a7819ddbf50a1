/* photo_cases.c — writes the bad-input matrix for photos (issue 9) into a test's temp dir.
 *
 *   photo_cases PHOTOS_DIR OUT_DIR
 *
 * PHOTOS_DIR is ../shared/datasets/photos (read-only, never copied into the repository: every
 * case is derived at test time). From people/obama/obama.jpg, "the known person", it writes
 * variants whose right answer is "the same face, the same embedding": a grey JPEG, a CMYK JPEG
 * (plain, no Adobe marker), an Adobe-inverted CMYK and an Adobe YCCK JPEG, 16-bit PNGs (grey and
 * RGB, with a low byte that differs from the high byte so a decoder keeping the wrong byte finds
 * nothing), RGBA PNGs (8- and 16-bit, alpha fading from opaque at the face to 0 at the corners:
 * facetwin drops alpha, so the stored colours are the photo), EXIF-rotated JPEGs (pixels stored
 * turned, APP1 Exif orientation 3, 6 or 8 saying how to show them upright; 8 in big-endian
 * TIFF), and a 40 MP JPEG (8000x5000 = exactly the default cap, the photo upscaled). Then the
 * cases whose right answer is a refusal or another count: the same 40 MP picture one column
 * wider (8001x5000, just over the cap), a 16x16 downscale, a gradient without a face, two
 * crops that cut the face at the left border (a quarter and half of it gone), and a collage of
 * six people photos (six faces).
 *
 * On stdout, one line per case for the test scripts: NAME W H [key=value ...] — the geometry
 * the scripts need to map boxes (huge: scale, dx, dy; cut: x0; collage: the tile order).
 *
 * Independent of the code under test: sources are read with libjpeg directly (not with
 * facetwin's decoder), pixels are moved here, and files are written with libjpeg / libpng.
 * Resampling is bilinear when enlarging and a box average when shrinking — nothing subtle: the
 * point is a realistic picture, not a reference resize.
 */
#include <png.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE and size_t */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#define JPEG_QUALITY 95          /* re-encoding must not move the embedding much */
#define HUGE_W 8000              /* 8000 x 5000 = 40,000,000 pixels: the default cap itself */
#define HUGE_H 5000
#define OVER_W (HUGE_W + 1)      /* one column more: 40,005,000 pixels, over the cap */
#define TINY_SIDE 16
#define NOFACE_W 640
#define NOFACE_H 480
#define CUT_QUARTER 0.25         /* the crops start this far across obama.jpg's face box */
#define CUT_HALF 0.50
#define OBAMA_FACE_X 374         /* the face box in people/obama/obama.jpg (SSD): x, width */
#define OBAMA_FACE_W 227
#define COLLAGE_COLS 3
#define COLLAGE_ROWS 2
#define COLLAGE_CELL_W 800
#define COLLAGE_CELL_H 1000
#define BACKGROUND 128           /* mid-grey fill around pasted pictures */
#define EXIF_TAG_ORIENTATION 0x0112
#define TIFF_TYPE_SHORT 3

typedef struct {
    int w, h, c; /* c = 1 or 3 */
    uint8_t *px;
} image;

static void die(const char *what, const char *path)
{
    fprintf(stderr, "photo_cases: %s: %s\n", path, what);
    exit(1);
}

static image new_image(int w, int h, int c, int fill)
{
    image im = {w, h, c, malloc((size_t)w * h * c)};
    if (!im.px) die("out of memory", "image");
    memset(im.px, fill, (size_t)w * h * c);
    return im;
}

/* ---- reading a source JPEG (RGB) with libjpeg ------------------------------------------------ */

static image read_jpeg(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr); /* exits on error: fine for a fixture generator */
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    image im = new_image((int)ci.output_width, (int)ci.output_height, 3, 0);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = im.px + (size_t)ci.output_scanline * im.w * 3;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    fclose(f);
    return im;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* A TIFF/EXIF APP1 body with one IFD0 entry, Orientation = o, in either byte order. */
static size_t exif_orientation(uint8_t *b, int o, int big_endian)
{
    static const uint8_t id[6] = {'E', 'x', 'i', 'f', 0, 0};
    memcpy(b, id, sizeof id);
    uint8_t *t = b + sizeof id;
    size_t n = 0;
#define PUT16(v) do { unsigned v_ = (v); if (big_endian) { t[n++] = (uint8_t)(v_ >> 8); t[n++] = (uint8_t)v_; } \
                      else { t[n++] = (uint8_t)v_; t[n++] = (uint8_t)(v_ >> 8); } } while (0)
#define PUT32(v) do { uint32_t w_ = (v); if (big_endian) { PUT16(w_ >> 16); PUT16(w_ & 0xffff); } \
                      else { PUT16(w_ & 0xffff); PUT16(w_ >> 16); } } while (0)
    t[n++] = big_endian ? 'M' : 'I';
    t[n++] = big_endian ? 'M' : 'I';
    PUT16(42);
    PUT32(8); /* IFD0 right after the header */
    PUT16(1); /* one entry */
    PUT16(EXIF_TAG_ORIENTATION);
    PUT16(TIFF_TYPE_SHORT);
    PUT32(1);
    PUT16((unsigned)o); /* a SHORT sits in the first two bytes of the value field */
    PUT16(0);
    PUT32(0); /* no next IFD */
#undef PUT32
#undef PUT16
    return sizeof id + n;
}

typedef enum { OUT_AS_IS, OUT_CMYK, OUT_CMYK_ADOBE, OUT_YCCK_ADOBE } jpeg_colour;

/* Writes im as JPEG; colour picks the CMYK variants (im must then be RGB); orientation > 1 adds
 * an Exif APP1 marker. */
static void write_jpeg(const char *path, const image *im, jpeg_colour colour, int orientation, int exif_big_endian)
{
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot create", path);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)im->w;
    ci.image_height = (JDIMENSION)im->h;
    const int cmyk = colour != OUT_AS_IS;
    ci.input_components = cmyk ? 4 : im->c;
    ci.in_color_space = cmyk ? JCS_CMYK : im->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, JPEG_QUALITY, TRUE);
    if (colour == OUT_YCCK_ADOBE) jpeg_set_colorspace(&ci, JCS_YCCK);
    /* libjpeg writes an Adobe APP14 marker for CMYK/YCCK; a plain CMYK file has none */
    ci.write_Adobe_marker = colour != OUT_CMYK;
    if (orientation > 1) ci.write_JFIF_header = FALSE; /* camera files: Exif, no JFIF */
    jpeg_start_compress(&ci, TRUE);
    if (orientation > 1) {
        uint8_t exif[64];
        size_t n = exif_orientation(exif, orientation, exif_big_endian);
        jpeg_write_marker(&ci, JPEG_APP0 + 1, exif, (unsigned)n);
    }
    uint8_t *row4 = malloc((size_t)im->w * 4);
    if (!row4) die("out of memory", path);
    while (ci.next_scanline < ci.image_height) {
        const uint8_t *src = im->px + (size_t)ci.next_scanline * im->w * im->c;
        JSAMPROW row = (JSAMPROW)src;
        if (cmyk) {
            for (int x = 0; x < im->w; x++) {
                /* naive separation: K = 1 - max(R, G, B), C = (1 - R - K) / (1 - K), ... */
                const int r = src[3 * x], g = src[3 * x + 1], b = src[3 * x + 2];
                const int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
                const int k = 255 - mx;
                int v[4];
                for (int j = 0; j < 3; j++) {
                    const int s = src[3 * x + j];
                    v[j] = mx ? ((mx - s) * 255 + mx / 2) / mx : 0;
                }
                v[3] = k;
                /* Adobe software stores CMYK inverted (0 = full ink) */
                for (int j = 0; j < 4; j++) row4[4 * x + j] = (uint8_t)(colour == OUT_CMYK ? v[j] : 255 - v[j]);
            }
            row = row4;
        }
        jpeg_write_scanlines(&ci, &row, 1);
    }
    free(row4);
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    if (fclose(f)) die("write failed", path);
}

/* Writes im as PNG of `depth` bits (8 or 16), with an alpha channel if with_alpha: alpha is 255
 * inside an ellipse around (ax, ay) and falls to 0 at the corners. At 16 bits the low byte is a
 * pattern unrelated to the high byte. */
static void write_png(const char *path, const image *im, int depth, int with_alpha, double ax, double ay)
{
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot create", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!png || !info || setjmp(png_jmpbuf(png))) die("libpng failed", path);
    png_init_io(png, f);
    const int colour = im->c == 1 ? (with_alpha ? PNG_COLOR_TYPE_GRAY_ALPHA : PNG_COLOR_TYPE_GRAY)
                                  : (with_alpha ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, depth, colour, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1); /* speed: these files live for one test run */
    png_write_info(png, info);
    const int ch = im->c + (with_alpha ? 1 : 0), bytes = depth / 8;
    uint8_t *row = malloc((size_t)im->w * ch * bytes);
    if (!row) die("out of memory", path);
    const double rx = im->w * 0.5, ry = im->h * 0.5;
    for (int y = 0; y < im->h; y++) {
        for (int x = 0; x < im->w; x++) {
            int s[4];
            for (int k = 0; k < im->c; k++) s[k] = im->px[((size_t)y * im->w + x) * im->c + k];
            if (with_alpha) {
                const double dx = (x - ax) / rx, dy = (y - ay) / ry, d = dx * dx + dy * dy;
                s[im->c] = d < 0.25 ? 255 : d > 1.0 ? 0 : (int)(255 * (1.0 - d) / 0.75);
            }
            for (int k = 0; k < ch; k++) {
                uint8_t *o = row + ((size_t)x * ch + k) * bytes;
                o[0] = (uint8_t)s[k];
                if (bytes == 2) o[1] = (uint8_t)((x * 37 + y * 91 + k * 53) & 0xff); /* PNG is big-endian */
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    if (fclose(f)) die("write failed", path);
}

/* ---- pixels ----------------------------------------------------------------------------- */

static image to_grey(const image *im)
{
    image g = new_image(im->w, im->h, 1, 0);
    for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
        const uint8_t *p = im->px + 3 * i;
        g.px[i] = (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000); /* BT.601 luma */
    }
    return g;
}

/* The picture as stored in a file whose Exif orientation is o, so that a viewer applying the tag
 * shows `up` upright (EXIF 2.3, tag 0x0112). 3: turned 180; 6: the file's row 0 is the visual
 * right side (stored turned 90 counter-clockwise); 8: row 0 is the visual left side. */
static image stored_for_orientation(const image *up, int o)
{
    const int w = up->w, h = up->h, c = up->c;
    image s = o == 3 ? new_image(w, h, c, 0) : new_image(h, w, c, 0);
    for (int y = 0; y < s.h; y++)
        for (int x = 0; x < s.w; x++) {
            int ux, uy;
            if (o == 3) { ux = w - 1 - x; uy = h - 1 - y; }
            else if (o == 6) { ux = w - 1 - y; uy = x; }
            else { ux = y; uy = h - 1 - x; } /* 8 */
            memcpy(s.px + ((size_t)y * s.w + x) * c, up->px + ((size_t)uy * w + ux) * c, (size_t)c);
        }
    return s;
}

/* Pastes src resized to dw x dh at (ox, oy) of dst (bilinear up, box average down). */
static void paste_resized(image *dst, const image *src, int ox, int oy, int dw, int dh)
{
    const double sx = (double)src->w / dw, sy = (double)src->h / dh;
    const int c = src->c;
    for (int y = 0; y < dh; y++) {
        if (oy + y < 0 || oy + y >= dst->h) continue;
        for (int x = 0; x < dw; x++) {
            if (ox + x < 0 || ox + x >= dst->w) continue;
            uint8_t *d = dst->px + ((size_t)(oy + y) * dst->w + ox + x) * c;
            if (sx <= 1.0 && sy <= 1.0) { /* enlarging: bilinear, pixel centres aligned */
                double fx = (x + 0.5) * sx - 0.5, fy = (y + 0.5) * sy - 0.5;
                if (fx < 0) fx = 0;
                if (fy < 0) fy = 0;
                int x0 = (int)fx, y0 = (int)fy;
                const int x1 = x0 + 1 < src->w ? x0 + 1 : x0, y1 = y0 + 1 < src->h ? y0 + 1 : y0;
                const double ax = fx - x0, ay = fy - y0;
                for (int k = 0; k < c; k++) {
                    const double top = (1 - ax) * src->px[((size_t)y0 * src->w + x0) * c + k] +
                                       ax * src->px[((size_t)y0 * src->w + x1) * c + k];
                    const double bot = (1 - ax) * src->px[((size_t)y1 * src->w + x0) * c + k] +
                                       ax * src->px[((size_t)y1 * src->w + x1) * c + k];
                    d[k] = (uint8_t)((1 - ay) * top + ay * bot + 0.5);
                }
            } else { /* shrinking: average of the source pixels the target pixel covers */
                int x0 = (int)(x * sx), x1 = (int)((x + 1) * sx), y0 = (int)(y * sy), y1 = (int)((y + 1) * sy);
                if (x1 <= x0) x1 = x0 + 1;
                if (y1 <= y0) y1 = y0 + 1;
                for (int k = 0; k < c; k++) {
                    unsigned long sum = 0;
                    for (int v = y0; v < y1; v++)
                        for (int u = x0; u < x1; u++) sum += src->px[((size_t)v * src->w + u) * c + k];
                    d[k] = (uint8_t)((sum + (unsigned long)((x1 - x0) * (y1 - y0)) / 2) / (unsigned long)((x1 - x0) * (y1 - y0)));
                }
            }
        }
    }
}

static image crop(const image *im, int x0, int y0, int w, int h)
{
    image o = new_image(w, h, im->c, 0);
    for (int y = 0; y < h; y++)
        memcpy(o.px + (size_t)y * w * im->c, im->px + ((size_t)(y0 + y) * im->w + x0) * im->c, (size_t)w * im->c);
    return o;
}

/* ---- the cases ------------------------------------------------------------------------------- */

static char g_out[4096];

static const char *out_path(const char *name)
{
    static char p[8192];
    snprintf(p, sizeof p, "%s/%s", g_out, name);
    return p;
}

/* The photo upscaled to fill the height of a w x HUGE_H grey picture, centred. */
static void write_huge(const image *src, int w, const char *name)
{
    image big = new_image(w, HUGE_H, 3, BACKGROUND);
    const double scale = (double)HUGE_H / src->h;
    const int dw = (int)(src->w * scale + 0.5), dx = (w - dw) / 2;
    paste_resized(&big, src, dx, 0, dw, HUGE_H);
    write_jpeg(out_path(name), &big, OUT_AS_IS, 1, 0);
    printf("%s %d %d scale=%.6f dx=%d dy=0\n", name, w, HUGE_H, (double)dw / src->w, dx);
    free(big.px);
}

static const char *const k_collage[COLLAGE_COLS * COLLAGE_ROWS] = {
    "people/alex_lacamoire/img1.jpg", "people/biden/biden.jpg",      "people/obama/obama.jpg",
    "people/rose_leslie/img1.jpg",    "people/biden/biden2.jpg",     "people/obama/obama2.jpg",
};

static void write_collage(const char *photos)
{
    image col = new_image(COLLAGE_COLS * COLLAGE_CELL_W, COLLAGE_ROWS * COLLAGE_CELL_H, 3, BACKGROUND);
    printf("collage.jpg %d %d tiles=", col.w, col.h);
    for (int i = 0; i < COLLAGE_COLS * COLLAGE_ROWS; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", photos, k_collage[i]);
        image im = read_jpeg(p);
        double s = (double)COLLAGE_CELL_W / im.w;
        if (im.h * s > COLLAGE_CELL_H) s = (double)COLLAGE_CELL_H / im.h;
        const int dw = (int)(im.w * s), dh = (int)(im.h * s);
        paste_resized(&col, &im, (i % COLLAGE_COLS) * COLLAGE_CELL_W + (COLLAGE_CELL_W - dw) / 2,
                      (i / COLLAGE_COLS) * COLLAGE_CELL_H + (COLLAGE_CELL_H - dh) / 2, dw, dh);
        printf("%s%s", i ? "," : "", k_collage[i]);
        free(im.px);
    }
    printf("\n");
    write_jpeg(out_path("collage.jpg"), &col, OUT_AS_IS, 1, 0);
    free(col.px);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: photo_cases PHOTOS_DIR OUT_DIR\n");
        return 2;
    }
    snprintf(g_out, sizeof g_out, "%s", argv[2]);
    char p[8192];
    snprintf(p, sizeof p, "%s/people/obama/obama.jpg", argv[1]);
    image obama = read_jpeg(p);
    const double fx = OBAMA_FACE_X + OBAMA_FACE_W * 0.5, fy = obama.h * 0.25; /* alpha centre */

    image grey = to_grey(&obama);
    write_jpeg(out_path("grey.jpg"), &grey, OUT_AS_IS, 1, 0);
    printf("grey.jpg %d %d\n", grey.w, grey.h);
    write_jpeg(out_path("cmyk.jpg"), &obama, OUT_CMYK, 1, 0);
    write_jpeg(out_path("cmyk_adobe.jpg"), &obama, OUT_CMYK_ADOBE, 1, 0);
    write_jpeg(out_path("ycck_adobe.jpg"), &obama, OUT_YCCK_ADOBE, 1, 0);
    printf("cmyk.jpg %d %d\ncmyk_adobe.jpg %d %d\nycck_adobe.jpg %d %d\n", obama.w, obama.h, obama.w, obama.h,
           obama.w, obama.h);
    write_png(out_path("grey16.png"), &grey, 16, 0, 0, 0);
    write_png(out_path("rgb16.png"), &obama, 16, 0, 0, 0);
    write_png(out_path("rgba.png"), &obama, 8, 1, fx, fy);
    write_png(out_path("rgba16.png"), &obama, 16, 1, fx, fy);
    printf("grey16.png %d %d\nrgb16.png %d %d\nrgba.png %d %d\nrgba16.png %d %d\n", grey.w, grey.h, obama.w,
           obama.h, obama.w, obama.h, obama.w, obama.h);
    static const int k_orient[] = {3, 6, 8};
    for (size_t i = 0; i < sizeof k_orient / sizeof *k_orient; i++) {
        image s = stored_for_orientation(&obama, k_orient[i]);
        char name[32];
        snprintf(name, sizeof name, "exif%d.jpg", k_orient[i]);
        write_jpeg(out_path(name), &s, OUT_AS_IS, k_orient[i], k_orient[i] == 8);
        printf("%s %d %d stored=%dx%d\n", name, obama.w, obama.h, s.w, s.h);
        free(s.px);
    }
    write_huge(&obama, HUGE_W, "huge.jpg");
    write_huge(&obama, OVER_W, "over.jpg");

    image tiny = new_image(TINY_SIDE, TINY_SIDE, 3, 0);
    paste_resized(&tiny, &obama, 0, 0, TINY_SIDE, TINY_SIDE);
    write_png(out_path("tiny16.png"), &tiny, 8, 0, 0, 0);
    printf("tiny16.png %d %d\n", TINY_SIDE, TINY_SIDE);

    image noface = new_image(NOFACE_W, NOFACE_H, 3, 0);
    for (int y = 0; y < NOFACE_H; y++)
        for (int x = 0; x < NOFACE_W; x++) {
            uint8_t *d = noface.px + ((size_t)y * NOFACE_W + x) * 3;
            d[0] = (uint8_t)(255 * x / NOFACE_W);
            d[1] = (uint8_t)(255 * y / NOFACE_H);
            d[2] = (uint8_t)(255 - 255 * x / NOFACE_W);
        }
    write_jpeg(out_path("noface.jpg"), &noface, OUT_AS_IS, 1, 0);
    printf("noface.jpg %d %d\n", NOFACE_W, NOFACE_H);

    const double k_cut[] = {CUT_QUARTER, CUT_HALF};
    for (size_t i = 0; i < sizeof k_cut / sizeof *k_cut; i++) {
        const int x0 = (int)(OBAMA_FACE_X + OBAMA_FACE_W * k_cut[i]);
        image cut = crop(&obama, x0, 0, obama.w - x0, obama.h);
        char name[32];
        snprintf(name, sizeof name, "cut%d.jpg", (int)(k_cut[i] * 100 + 0.5));
        write_jpeg(out_path(name), &cut, OUT_AS_IS, 1, 0);
        printf("%s %d %d x0=%d\n", name, cut.w, cut.h, x0);
        free(cut.px);
    }

    write_collage(argv[1]);
    free(obama.px);
    free(grey.px);
    free(tiny.px);
    free(noface.px);
    return 0;
}
