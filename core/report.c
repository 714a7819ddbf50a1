/* report.c — the evaluation report: one self-contained HTML page with inline SVG.
 *
 * The page is built in memory, then written in one go. A growable string
 * buffer (sbuf) collects it; every append goes through sb_put, which sets a
 * sticky out-of-memory flag instead of failing loudly, so the drawing code
 * reads as a straight list of appends and the one check happens at the end
 * (FT_ENOMEM). A report is at most a few hundred KiB (the ROC polyline is
 * thinned to the pixel grid, the histogram has a fixed number of bins), so
 * holding it in memory costs nothing and keeps the write atomic and simple:
 * "<path>.tmp.<pid>" in the destination directory, write, fsync, close,
 * rename over <path>, fsync of the directory — the same recipe as
 * checkpoint.c, which keeps its own helper static; this file has a small
 * static copy for whole buffers. A failed write removes the temp file.
 *
 * Self-contained means: no <script>, no external URL of any kind (the page
 * contains no "http:", no "//" and no "src="; inline SVG in HTML5 needs no
 * xmlns), no web font (a system font stack in the inline <style>). Every
 * string that comes from outside (title, model id, data description,
 * threshold rule) goes through sb_esc, which escapes & < > " ' and drops
 * ASCII control characters.
 *
 * Charts. Each chart is an <svg> with a fixed viewBox (CH_W x CH_H, scaled to
 * the page width by CSS) inside a <figure> with a <figcaption>. A `frame`
 * maps data coordinates to pixels (linear, or log10 on x for the ROC);
 * coordinates are printed with one decimal and numbers with %.4g. Nothing
 * that is not finite is ever printed into a coordinate: NaN/inf distances
 * are left out of the histogram and ROC (the caption says how many), NaN
 * history values leave a gap in their series, and table figures print "n/a".
 *   hist    same- and different-person distance counts over HIST_BINS shared
 *           bins spanning [min, max] of the finite distances; each bar
 *           carries data-kind and data-count so tests (and curious readers)
 *           can check the counts; the applied threshold is a dashed line.
 *   roc     TAR against FAR, FAR on a log axis from max(1e-3, 1/negatives)
 *           to 1. The curve sweeps the sorted distances with the strict rule
 *           d < t (a group of equal distances is accepted at once, as in
 *           metrics.c); points left of the axis are drawn on its edge. The
 *           calibration ROC (threshold, far, frr rows) is a dashed second
 *           curve; a marker shows the applied threshold's (FAR, 1 - FRR).
 *   curves  per-epoch train loss and validation loss (left axis) and
 *           validation accuracy (right axis, 0..1) from the history JSON;
 *           a missing or unreadable history gives a short note instead, not
 *           an error: a report is still worth having without it.
 */
#include "facetwin/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "facetwin/calibration.h"

#define SB_INITIAL (64 * 1024)    /* first buffer size; a typical page fits */
#define NUM_MAX 48                /* room for one formatted number */
#define DEFAULT_TITLE "facetwin evaluation report"
#define NO_HISTORY_TEXT "no training history in this model"

/* chart geometry (SVG user units; CSS scales the whole svg to the page width) */
#define CH_W 880
#define CH_H 340
#define CH_NOTE_H 90                   /* height of a chart that only holds a note */
#define CH_ML 66                       /* left margin: y tick labels + axis title */
#define CH_MR 66                       /* right margin: the right axis of "curves" */
#define CH_MT 34                       /* top margin: the legend */
#define CH_MB 54                       /* bottom margin: x tick labels + axis title */
#define TICK_LEN 5
#define TICK_TARGET_X 8                /* about this many ticks on a linear x axis */
#define TICK_TARGET_Y 5
#define LEGEND_Y 14                    /* centre line of the legend, in the top margin */
#define LEGEND_KEY_W 24                /* the colour key before each label */
#define LEGEND_CHAR_W 6.6              /* estimated width of one 12px character */
#define LEGEND_GAP 22                  /* space between legend entries */
#define MARKER_R 5
#define POINT_R 2.5
#define POINT_MARKERS_MAX 60           /* series longer than this get no dot per point */

#define HIST_BINS 40
#define HIST_HEADROOM 1.12             /* y axis reaches past the tallest bar (room for the label) */
#define ROC_FAR_FLOOR 1e-3             /* the ROC's FAR axis starts here ... */
#define ROC_FAR_LEFT_MAX 1e-1          /* ... or at 1/negatives, but never right of this */
#define LOG_MINOR_STEPS 9              /* minor grid lines 2..9 in each decade */
#define ACC_TICK 0.2                   /* right-axis (accuracy) tick step */

/* ------------------------------------------------------------ the buffer ---- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom; /* sticky: an append failed; everything after it is dropped */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : SB_INITIAL;
        while (cap - b->len < n) {
            if (cap > (size_t)-1 / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1; /* only an encoding error can get here; treat as a failed append */
        return;
    }
    if ((size_t)n < sizeof small) {
        sb_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

/* Appends s HTML-escaped (text and attribute safe); NULL appends fallback. */
static void sb_esc(sbuf *b, const char *s, const char *fallback)
{
    if (!s || !*s) s = fallback;
    for (const char *run = s;; s++) {
        const char *rep = NULL;
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if (ch == '\0' || (ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f) rep = "";
        }
        if (!rep) continue;
        sb_put(b, run, (size_t)(s - run));
        if (ch == '\0') return;
        sb_puts(b, rep);
        run = s + 1;
    }
}

/* A figure with %.4g precision, or "n/a" when not finite. */
static const char *fmt_num(char buf[NUM_MAX], double v)
{
    if (!isfinite(v)) return "n/a";
    snprintf(buf, NUM_MAX, "%.4g", v);
    return buf;
}

static void sb_num(sbuf *b, double v)
{
    char buf[NUM_MAX];
    sb_puts(b, fmt_num(buf, v));
}

/* ------------------------------------------------------------ the frame ---- */

/* Data domain [x0,x1] x [y0,y1] drawn into the pixel box (left, top, w, h). */
typedef struct {
    double x0, x1, y0, y1;
    int log_x;
    double left, top, w, h;
} frame;

static frame frame_make(double x0, double x1, double y0, double y1, int log_x)
{
    return (frame){x0, x1, y0, y1, log_x, CH_ML, CH_MT, CH_W - CH_ML - CH_MR, CH_H - CH_MT - CH_MB};
}

static double fx(const frame *f, double x)
{
    if (f->log_x) return f->left + (log10(x) - log10(f->x0)) / (log10(f->x1) - log10(f->x0)) * f->w;
    return f->left + (x - f->x0) / (f->x1 - f->x0) * f->w;
}

static double fy(const frame *f, double y) { return f->top + f->h - (y - f->y0) / (f->y1 - f->y0) * f->h; }

/* 1, 2 or 5 times a power of ten, giving about `target` steps over span. */
static double nice_step(double span, int target)
{
    if (!(span > 0) || !isfinite(span)) return 1;
    double raw = span / target, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

/* k * step with float dust (1e-17 for 0) rounded away, for labels. */
static double tick_value(long k, double step)
{
    double v = (double)k * step;
    return fabs(v) < step * 1e-9 ? 0 : v;
}

static void svg_open(sbuf *b, const char *id, const char *label, int height)
{
    sb_printf(b, "<svg id=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n", id, CH_W, height,
              label);
}

/* A chart with nothing to plot: the svg (so its id exists) holding one line of text. */
static void svg_note(sbuf *b, const char *id, const char *text)
{
    svg_open(b, id, text, CH_NOTE_H);
    sb_printf(b, "<text class=\"note\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", CH_W / 2, CH_NOTE_H / 2);
    sb_esc(b, text, "");
    sb_puts(b, "</text>\n</svg>\n");
}

static void plot_border(sbuf *b, const frame *f)
{
    sb_printf(b, "<rect class=\"plot\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", f->left, f->top,
              f->w, f->h);
}

/* Vertical grid line, tick and label at data x. */
static void x_tick(sbuf *b, const frame *f, double x, const char *label, int major)
{
    double px = fx(f, x), bottom = f->top + f->h;
    sb_printf(b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", major ? "grid" : "minor",
              px, f->top, px, bottom);
    if (!label) {
        sb_puts(b, "\n");
        return;
    }
    sb_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px, bottom, px,
              bottom + TICK_LEN);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", px, bottom + TICK_LEN + 13,
              label);
}

/* Horizontal grid line, tick and label at data y; right = label on the right axis. */
static void y_tick(sbuf *b, const frame *f, double y, const char *label, int right, int grid)
{
    double py = fy(f, y), edge = right ? f->left + f->w : f->left;
    if (grid)
        sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", f->left, py,
                  f->left + f->w, py);
    sb_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", edge, py,
              right ? edge + TICK_LEN : edge - TICK_LEN, py);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
              right ? edge + TICK_LEN + 3 : edge - TICK_LEN - 3, py + 4, right ? "start" : "end", label);
}

/* Linear ticks over [lo, hi] at multiples of step (labels with %g). */
static void x_ticks_linear(sbuf *b, const frame *f, double step)
{
    for (long k = (long)ceil(f->x0 / step - 1e-9); tick_value(k, step) <= f->x1 + step * 1e-9; k++) {
        char lab[NUM_MAX];
        snprintf(lab, sizeof lab, "%g", tick_value(k, step));
        x_tick(b, f, tick_value(k, step), lab, 1);
    }
}

static void y_ticks_linear(sbuf *b, const frame *f, double step, int right, int grid)
{
    for (long k = (long)ceil(f->y0 / step - 1e-9); tick_value(k, step) <= f->y1 + step * 1e-9; k++) {
        char lab[NUM_MAX];
        snprintf(lab, sizeof lab, "%g", tick_value(k, step));
        y_tick(b, f, tick_value(k, step), lab, right, grid);
    }
}

static void x_title(sbuf *b, const frame *f, const char *text)
{
    sb_printf(b, "<text class=\"title\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
              f->left + f->w / 2, CH_H - 10, text);
}

static void y_title(sbuf *b, const frame *f, const char *text, int right)
{
    double x = right ? CH_W - 14 : 16, y = f->top + f->h / 2;
    sb_printf(b,
              "<text class=\"title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
              "transform=\"rotate(%d %.1f %.1f)\">%s</text>\n",
              x, y, right ? 90 : -90, x, y, text);
}

/* Legend rows: kind 'b' = filled box, 'l' = line, 'm' = marker dot. */
typedef struct {
    char kind;
    const char *cls, *label;
} legend_row;

/* One row of legend entries in the top margin, above the plot: it never hides data. */
static void legend(sbuf *b, const frame *f, const legend_row *rows, int n)
{
    double x = f->left, cy = LEGEND_Y;
    sb_puts(b, "<g class=\"legend\">");
    for (int i = 0; i < n; i++) {
        if (rows[i].kind == 'b')
            sb_printf(b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"10\"/>", rows[i].cls, x,
                      cy - 5, LEGEND_KEY_W);
        else if (rows[i].kind == 'm')
            sb_printf(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\"/>", rows[i].cls,
                      x + LEGEND_KEY_W / 2.0, cy, MARKER_R);
        else
            sb_printf(b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", rows[i].cls, x,
                      cy, x + LEGEND_KEY_W, cy);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", x + LEGEND_KEY_W + 6, cy + 4, rows[i].label);
        x += LEGEND_KEY_W + 6 + LEGEND_CHAR_W * (double)strlen(rows[i].label) + LEGEND_GAP;
    }
    sb_puts(b, "</g>\n");
}

/* Polyline builder: appends " x,y" points rounded to 0.1 px, dropping repeats
 * of the last point. With merge_runs (the ROC staircase), a point that extends
 * a horizontal or vertical run replaces the run's end instead of adding one:
 * the last point is held back (`pending`) until the next one shows whether it
 * is a corner. */
typedef struct {
    sbuf *b;
    int merge_runs;
    int written;               /* points printed */
    int has_pending;
    double wx, wy;             /* the last printed point */
    double px, py;             /* the held-back point */
} polyline;

static void poly_open(polyline *pl, sbuf *b, const char *cls, const char *series, int merge_runs)
{
    *pl = (polyline){.b = b, .merge_runs = merge_runs};
    sb_printf(b, "<polyline class=\"%s\" data-series=\"%s\" points=\"", cls, series);
}

static void poly_emit(polyline *pl, double x, double y)
{
    sb_printf(pl->b, "%s%.1f,%.1f", pl->written ? " " : "", x, y);
    pl->wx = x;
    pl->wy = y;
    pl->written++;
}

static void poly_point(polyline *pl, double x, double y)
{
    if (!isfinite(x) || !isfinite(y)) return;
    x = round(x * 10) / 10;
    y = round(y * 10) / 10;
    if (pl->has_pending && x == pl->px && y == pl->py) return;
    if (!pl->has_pending && pl->written && x == pl->wx && y == pl->wy) return;
    if (!pl->merge_runs) {
        poly_emit(pl, x, y);
        return;
    }
    if (pl->has_pending) {
        int run = pl->written && ((pl->wx == pl->px && pl->px == x) || (pl->wy == pl->py && pl->py == y));
        if (!run) poly_emit(pl, pl->px, pl->py);
    }
    pl->px = x;
    pl->py = y;
    pl->has_pending = 1;
}

static void poly_close(polyline *pl)
{
    if (pl->has_pending) poly_emit(pl, pl->px, pl->py);
    sb_puts(pl->b, "\"/>\n");
}

/* ------------------------------------------------------------ histogram ---- */

static ft_status chart_histogram(sbuf *b, const ft_report *r)
{
    double lo = INFINITY, hi = -INFINITY;
    int skipped = 0, shown[2] = {0, 0};
    for (int i = 0; i < r->n; i++) {
        if (!isfinite(r->dist[i])) {
            skipped++;
            continue;
        }
        lo = fmin(lo, r->dist[i]);
        hi = fmax(hi, r->dist[i]);
    }
    sb_puts(b, "<figure>\n");
    if (!(lo <= hi)) {
        svg_note(b, "hist", "no finite pair distances to show");
        sb_puts(b, "<figcaption>Distance histogram: no data.</figcaption>\n</figure>\n");
        return FT_OK;
    }
    if (hi == lo) { /* one distinct value: give the single bin some width */
        lo -= 0.5;
        hi += 0.5;
    }
    double bw = (hi - lo) / HIST_BINS;
    int counts[2][HIST_BINS] = {{0}}; /* [0] different, [1] same */
    for (int i = 0; i < r->n; i++) {
        if (!isfinite(r->dist[i])) continue;
        int k = (int)((r->dist[i] - lo) / bw);
        k = k < 0 ? 0 : k >= HIST_BINS ? HIST_BINS - 1 : k;
        counts[r->same[i] != 0][k]++;
        shown[r->same[i] != 0]++;
    }
    int cmax = 1;
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < HIST_BINS; k++) cmax = counts[s][k] > cmax ? counts[s][k] : cmax;

    /* the x domain also covers the threshold, so its line is always visible */
    double thr = r->m->threshold, x0 = lo, x1 = hi;
    if (isfinite(thr)) {
        x0 = fmin(x0, thr);
        x1 = fmax(x1, thr);
    }
    double ystep = nice_step(cmax, TICK_TARGET_Y);
    ystep = ystep < 1 ? 1 : ystep;
    frame f = frame_make(x0, x1, 0, ceil(cmax * HIST_HEADROOM / ystep) * ystep, 0);

    svg_open(b, "hist", "histogram of same-person and different-person pair distances", CH_H);
    x_ticks_linear(b, &f, nice_step(x1 - x0, TICK_TARGET_X));
    y_ticks_linear(b, &f, ystep, 0, 1);
    static const char *const kind[2] = {"diff", "same"};
    for (int s = 1; s >= 0; s--) { /* same first, different drawn over it */
        sb_printf(b, "<g class=\"bars\" data-kind=\"%s\">\n", kind[s]);
        for (int k = 0; k < HIST_BINS; k++) {
            if (!counts[s][k]) continue;
            double xa = fx(&f, lo + k * bw), xb = fx(&f, lo + (k + 1) * bw), yt = fy(&f, counts[s][k]);
            sb_printf(b,
                      "<rect class=\"%s\" data-kind=\"%s\" data-count=\"%d\" data-bin=\"%d\" x=\"%.1f\" "
                      "y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%s, bin %d: %d</title></rect>\n",
                      kind[s], kind[s], counts[s][k], k, xa, yt, xb - xa, f.top + f.h - yt,
                      s ? "same person" : "different people", k, counts[s][k]);
        }
        sb_puts(b, "</g>\n");
    }
    plot_border(b, &f);
    if (isfinite(thr)) {
        double px = fx(&f, thr);
        int right_half = px > f.left + f.w * 0.75;
        sb_printf(b,
                  "<line id=\"hist-threshold\" class=\"threshold\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                  "y2=\"%.1f\"/>\n",
                  px, f.top, px, f.top + f.h);
        sb_printf(b, "<text class=\"threshold-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">threshold %.3g</text>\n",
                  right_half ? px - 5 : px + 5, f.top + 14, right_half ? "end" : "start", thr);
    }
    const legend_row rows[] = {{'b', "same", "same person"}, {'b', "diff", "different people"},
                               {'l', "threshold", "applied threshold"}};
    legend(b, &f, rows, 3);
    x_title(b, &f, "distance");
    y_title(b, &f, "pairs", 0);
    sb_puts(b, "</svg>\n<figcaption>Distances of the evaluated pairs: ");
    sb_printf(b, "%d same-person, %d different-person, in %d bins of width %.3g from %.4g to %.4g. ", shown[1],
              shown[0], HIST_BINS, bw, lo, hi);
    sb_puts(b, "A pair is accepted as the same person when its distance is below the threshold (dashed).");
    if (skipped) sb_printf(b, " %d non-finite distance%s left out.", skipped, skipped == 1 ? "" : "s");
    sb_puts(b, "</figcaption>\n</figure>\n");
    return FT_OK;
}

/* ------------------------------------------------------------------ ROC ---- */

typedef struct {
    double far, tar;
} roc_pt;

static int cmp_roc_pt(const void *a, const void *b)
{
    const roc_pt *p = a, *q = b;
    if (p->far != q->far) return (p->far > q->far) - (p->far < q->far);
    return (p->tar > q->tar) - (p->tar < q->tar);
}

/* Clamps FAR into the visible log axis (0 and tiny FARs sit on the left edge). */
static double far_on_axis(const frame *f, double far) { return far < f->x0 ? f->x0 : far > f->x1 ? f->x1 : far; }

/* The evaluated pairs' curve: the ROC of the finite distances (ft_roc_compute:
 * accept d < t, t swept upward through the sorted distances). */
static ft_status roc_eval_curve(sbuf *b, const frame *f, const ft_report *r, int *n_finite)
{
    float *d = malloc((size_t)(r->n ? r->n : 1) * sizeof *d);
    uint8_t *s = malloc((size_t)(r->n ? r->n : 1));
    if (!d || !s) {
        free(d);
        free(s);
        return FT_ENOMEM;
    }
    int n = 0, P = 0;
    for (int i = 0; i < r->n; i++) {
        if (!isfinite(r->dist[i])) continue;
        d[n] = r->dist[i];
        s[n] = r->same[i] != 0;
        P += s[n++];
    }
    *n_finite = n;
    ft_status st = FT_OK;
    if (P && P < n) {
        ft_roc_point *roc;
        int n_roc;
        if ((st = ft_roc_compute(d, s, n, &roc, &n_roc, NULL)) == FT_OK) {
            polyline pl;
            poly_open(&pl, b, "roc-eval", "roc_eval", 1);
            for (int i = 0; i < n_roc; i++)
                poly_point(&pl, fx(f, far_on_axis(f, roc[i].far)), fy(f, 1.0 - (double)roc[i].frr));
            poly_close(&pl);
            free(roc);
        }
    }
    free(d);
    free(s);
    return st;
}

/* The calibration ROC rows (threshold, far, frr), sorted by FAR; non-finite rows skipped. */
static ft_status roc_val_curve(sbuf *b, const frame *f, const ft_report *r, int *drawn)
{
    *drawn = 0;
    if (!r->val_roc || r->n_val_roc <= 0) return FT_OK;
    roc_pt *pts = malloc((size_t)r->n_val_roc * sizeof *pts);
    if (!pts) return FT_ENOMEM;
    int n = 0;
    for (int i = 0; i < r->n_val_roc; i++) {
        double far = r->val_roc[3 * i + 1], frr = r->val_roc[3 * i + 2];
        if (isfinite(far) && isfinite(frr)) pts[n++] = (roc_pt){far, 1.0 - frr};
    }
    qsort(pts, (size_t)n, sizeof *pts, cmp_roc_pt);
    if (n) {
        polyline pl;
        poly_open(&pl, b, "roc-val", "roc_val", 0);
        for (int i = 0; i < n; i++) poly_point(&pl, fx(f, far_on_axis(f, pts[i].far)), fy(f, pts[i].tar));
        poly_close(&pl);
    }
    *drawn = n;
    free(pts);
    return FT_OK;
}

static ft_status chart_roc(sbuf *b, const ft_report *r)
{
    const ft_pair_metrics *m = r->m;
    sb_puts(b, "<figure>\n");
    if (m->positives <= 0 || m->negatives <= 0) {
        svg_note(b, "roc", "the ROC needs both same-person and different-person pairs");
        sb_puts(b, "<figcaption>ROC: no data.</figcaption>\n</figure>\n");
        return FT_OK;
    }
    double far_min = fmax(ROC_FAR_FLOOR, 1.0 / m->negatives);
    far_min = fmin(far_min, ROC_FAR_LEFT_MAX);
    frame f = frame_make(far_min, 1, 0, 1, 1);

    svg_open(b, "roc", "ROC curve: true accept rate against false accept rate", CH_H);
    for (int e = (int)floor(log10(far_min) + 1e-9); e <= 0; e++) {
        double decade = pow(10, e);
        if (decade >= far_min * (1 - 1e-9)) {
            char lab[NUM_MAX];
            snprintf(lab, sizeof lab, "%g", decade);
            x_tick(b, &f, decade, lab, 1);
        }
        for (int k = 2; k <= LOG_MINOR_STEPS && e < 0; k++)
            if (k * decade > far_min) x_tick(b, &f, k * decade, NULL, 0);
    }
    y_ticks_linear(b, &f, ACC_TICK, 0, 1);
    plot_border(b, &f);

    int n_val = 0, n_finite = 0;
    if (roc_val_curve(b, &f, r, &n_val) || roc_eval_curve(b, &f, r, &n_finite)) return FT_ENOMEM;

    double far = m->far, tar = 1.0 - m->frr;
    int marker = isfinite(far) && isfinite(tar);
    if (marker)
        sb_printf(b,
                  "<circle id=\"roc-threshold\" class=\"marker\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\">"
                  "<title>threshold %.4g: FAR %.4g, TAR %.4g</title></circle>\n",
                  fx(&f, far_on_axis(&f, far)), fy(&f, tar), MARKER_R, (double)m->threshold, far, tar);
    legend_row rows[3];
    int nr = 0;
    rows[nr++] = (legend_row){'l', "roc-eval", "evaluated pairs"};
    if (n_val) rows[nr++] = (legend_row){'l', "roc-val", "validation (calibration)"};
    if (marker) rows[nr++] = (legend_row){'m', "marker", "applied threshold"};
    legend(b, &f, rows, nr);
    x_title(b, &f, "false accept rate (FAR, log scale)");
    y_title(b, &f, "true accept rate (TAR)", 0);
    sb_puts(b, "</svg>\n<figcaption>ROC of the evaluated pairs (AUC ");
    sb_num(b, m->auc);
    sb_printf(b, "): the share of same-person pairs accepted against the share of different-person pairs "
                 "accepted as the threshold rises; FAR from %.4g (points further left are drawn on the edge) "
                 "to 1.",
              far_min);
    if (n_val) sb_printf(b, " Dashed: the validation ROC stored at calibration (%d points).", n_val);
    if (marker) {
        sb_printf(b, " The dot is the applied threshold %.4g: FAR ", (double)m->threshold);
        sb_num(b, far);
        sb_puts(b, ", TAR ");
        sb_num(b, tar);
        sb_puts(b, ".");
    }
    if (n_finite < r->n) sb_printf(b, " %d non-finite distance(s) left out.", r->n - n_finite);
    sb_puts(b, "</figcaption>\n</figure>\n");
    return FT_OK;
}

/* ------------------------------------------------------- training curves ---- */

enum { S_TRAIN, S_VAL, S_ACC, S_LR, S_COUNT };

typedef struct {
    int n;
    double *epoch;
    double *v[S_COUNT]; /* NAN where an epoch lacks the field */
} history;

static void history_free(history *h)
{
    free(h->epoch);
    for (int s = 0; s < S_COUNT; s++) free(h->v[s]);
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

/* Parses the history array; h->n = 0 when absent or unreadable (not an error). */
static ft_status history_parse(const char *json, history *h)
{
    memset(h, 0, sizeof *h);
    if (!json || !*json) return FT_OK;
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return FT_OK;
    }
    int cap = cJSON_GetArraySize(root);
    if (cap > 0) {
        h->epoch = malloc((size_t)cap * sizeof *h->epoch);
        for (int s = 0; s < S_COUNT; s++) h->v[s] = malloc((size_t)cap * sizeof *h->v[s]);
        int ok = h->epoch != NULL;
        for (int s = 0; s < S_COUNT; s++) ok = ok && h->v[s];
        if (!ok) {
            cJSON_Delete(root);
            history_free(h);
            return FT_ENOMEM;
        }
    }
    static const char *const keys[S_COUNT] = {"train_loss", "val_loss", "val_accuracy", "lr"};
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        double ep = json_num(it, "epoch");
        if (!isfinite(ep)) continue; /* an entry without an epoch cannot be placed */
        h->epoch[h->n] = ep;
        for (int s = 0; s < S_COUNT; s++) h->v[s][h->n] = json_num(it, keys[s]);
        h->n++;
    }
    cJSON_Delete(root);
    return FT_OK;
}

static int series_points(const history *h, int s)
{
    int k = 0;
    for (int i = 0; i < h->n; i++) k += isfinite(h->v[s][i]) != 0;
    return k;
}

static void draw_series(sbuf *b, const frame *f, const history *h, int s, const char *cls, const char *name)
{
    polyline pl;
    poly_open(&pl, b, cls, name, 0);
    for (int i = 0; i < h->n; i++)
        if (isfinite(h->v[s][i])) poly_point(&pl, fx(f, h->epoch[i]), fy(f, h->v[s][i]));
    poly_close(&pl);
    if (series_points(h, s) > POINT_MARKERS_MAX) return;
    for (int i = 0; i < h->n; i++)
        if (isfinite(h->v[s][i]))
            sb_printf(b, "<circle class=\"%s pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>\n", cls, fx(f, h->epoch[i]),
                      fy(f, h->v[s][i]), POINT_R);
}

static ft_status chart_curves(sbuf *b, const ft_report *r)
{
    history h;
    if (history_parse(r->history_json, &h)) return FT_ENOMEM;
    int has_val = series_points(&h, S_VAL) > 0, has_acc = series_points(&h, S_ACC) > 0;
    sb_puts(b, "<figure>\n");
    if (series_points(&h, S_TRAIN) + series_points(&h, S_VAL) + series_points(&h, S_ACC) == 0) {
        svg_note(b, "curves", NO_HISTORY_TEXT);
        sb_puts(b, "<figcaption>Training curves: " NO_HISTORY_TEXT ".</figcaption>\n</figure>\n");
        history_free(&h);
        return FT_OK;
    }
    double e0 = INFINITY, e1 = -INFINITY, lmin = 0, lmax = -INFINITY;
    for (int i = 0; i < h.n; i++) {
        e0 = fmin(e0, h.epoch[i]);
        e1 = fmax(e1, h.epoch[i]);
        for (int s = S_TRAIN; s <= S_VAL; s++)
            if (isfinite(h.v[s][i])) {
                lmin = fmin(lmin, h.v[s][i]);
                lmax = fmax(lmax, h.v[s][i]);
            }
    }
    if (e1 == e0) { /* one epoch: centre it */
        e0 -= 0.5;
        e1 += 0.5;
    }
    if (!(lmax > lmin)) lmax = lmin + 1; /* no loss at all, or all equal to 0 */
    double lstep = nice_step(lmax - lmin, TICK_TARGET_Y);
    double estep = nice_step(e1 - e0, TICK_TARGET_X);
    estep = estep < 1 ? 1 : estep;
    frame fl = frame_make(e0, e1, floor(lmin / lstep) * lstep, ceil(lmax / lstep) * lstep, 0);
    frame fa = frame_make(e0, e1, 0, 1, 0);

    svg_open(b, "curves", "training curves: loss and validation accuracy per epoch", CH_H);
    x_ticks_linear(b, &fl, estep);
    y_ticks_linear(b, &fl, lstep, 0, 1);
    if (has_acc) y_ticks_linear(b, &fa, ACC_TICK, 1, 0);
    plot_border(b, &fl);
    legend_row rows[3];
    int nr = 0;
    draw_series(b, &fl, &h, S_TRAIN, "train", "train_loss");
    rows[nr++] = (legend_row){'l', "train", "train loss"};
    if (has_val) {
        draw_series(b, &fl, &h, S_VAL, "val", "val_loss");
        rows[nr++] = (legend_row){'l', "val", "validation loss"};
    }
    if (has_acc) {
        draw_series(b, &fa, &h, S_ACC, "acc", "val_accuracy");
        rows[nr++] = (legend_row){'l', "acc", "validation accuracy (right)"};
    }
    legend(b, &fl, rows, nr);
    x_title(b, &fl, "epoch");
    y_title(b, &fl, "loss", 0);
    if (has_acc) y_title(b, &fa, "validation accuracy", 1);

    sb_printf(b, "</svg>\n<figcaption>Training history, %d epoch%s: loss per epoch (left axis)", h.n,
              h.n == 1 ? "" : "s");
    if (has_acc) sb_puts(b, " and validation accuracy (right axis, dashed)");
    sb_puts(b, ".");
    double lr_first = NAN, lr_last = NAN;
    for (int i = 0; i < h.n; i++)
        if (isfinite(h.v[S_LR][i])) {
            if (!isfinite(lr_first)) lr_first = h.v[S_LR][i];
            lr_last = h.v[S_LR][i];
        }
    if (isfinite(lr_first)) {
        sb_puts(b, " Learning rate ");
        sb_num(b, lr_first);
        if (lr_last != lr_first) {
            sb_puts(b, " at the start, ");
            sb_num(b, lr_last);
            sb_puts(b, " at the end");
        }
        sb_puts(b, ".");
    }
    sb_puts(b, "</figcaption>\n</figure>\n");
    history_free(&h);
    return FT_OK;
}

/* ---------------------------------------------------------------- page ---- */

static const char k_style[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;"
    "max-width:960px;margin:2rem auto;padding:0 1rem;color:#1a202c;background:#fff;line-height:1.45}\n"
    "h1{font-size:1.6rem;margin:0 0 1rem}h2{font-size:1.2rem;margin:2rem 0 .5rem}\n"
    "table{border-collapse:collapse;margin:.5rem 0 1rem}\n"
    "th,td{text-align:left;padding:.3rem .9rem .3rem 0;border-bottom:1px solid #e2e8f0;vertical-align:top}\n"
    "th{font-weight:600;color:#4a5568;white-space:nowrap}td{font-variant-numeric:tabular-nums}\n"
    ".aside{color:#718096}\n"
    "figure{margin:1.5rem 0}figcaption{color:#4a5568;font-size:.9rem;margin-top:.3rem}\n"
    "svg{display:block;width:100%;height:auto}\n"
    "svg text{font-size:12px;fill:#2d3748}svg text.title{font-size:13px;fill:#4a5568}\n"
    "svg text.note{font-size:15px;fill:#718096}\n"
    ".plot{fill:none;stroke:#a0aec0}.grid{stroke:#e2e8f0}.minor{stroke:#f1f4f8}.axis{stroke:#718096}\n"
    "rect.same{fill:#3182ce;fill-opacity:.5}rect.diff{fill:#dd6b20;fill-opacity:.5}\n"
    ".threshold{stroke:#1a202c;stroke-width:1.5;stroke-dasharray:6 4}\n"
    "svg text.threshold-label{fill:#1a202c;font-weight:600}\n"
    "polyline{fill:none;stroke-width:2;stroke-linejoin:round}.legend line{stroke-width:2}\n"
    ".roc-eval{stroke:#3182ce}.roc-val{stroke:#718096;stroke-dasharray:6 4}\n"
    ".marker{fill:#e53e3e;stroke:#fff;stroke-width:1.5}\n"
    ".train{stroke:#3182ce}.val{stroke:#dd6b20}.acc{stroke:#38a169;stroke-dasharray:6 4}\n"
    "circle.train{fill:#3182ce}circle.val{fill:#dd6b20}circle.acc{fill:#38a169}circle.pt{stroke:none}\n"
    "footer{color:#a0aec0;font-size:.8rem;margin:2rem 0}\n";

static void row_begin(sbuf *b, const char *label) { sb_printf(b, "<tr><th>%s</th><td>", label); }
static void row_end(sbuf *b) { sb_puts(b, "</td></tr>\n"); }

static void row_num(sbuf *b, const char *label, double v)
{
    row_begin(b, label);
    sb_num(b, v);
    row_end(b);
}

/* A figure "at threshold t". */
static void row_num_at(sbuf *b, const char *label, double v, double t, const char *aside)
{
    row_begin(b, label);
    sb_num(b, v);
    sb_puts(b, " <span class=\"aside\">at threshold ");
    sb_num(b, t);
    if (aside) sb_printf(b, " (%s)", aside);
    sb_puts(b, "</span>");
    row_end(b);
}

static void summary_table(sbuf *b, const ft_report *r)
{
    const ft_pair_metrics *m = r->m;
    sb_puts(b, "<table class=\"summary\">\n");
    row_begin(b, "Model");
    sb_esc(b, r->model_id, "n/a");
    row_end(b);
    row_begin(b, "Data");
    sb_esc(b, r->data_desc, "n/a");
    row_end(b);
    row_begin(b, "Pairs");
    sb_printf(b, "%d <span class=\"aside\">(%d same-person / %d different-person)</span>", m->pairs, m->positives,
              m->negatives);
    row_end(b);
    row_begin(b, "Threshold");
    sb_num(b, m->threshold);
    sb_puts(b, " <span class=\"aside\">(");
    sb_esc(b, r->threshold_rule, "rule not recorded");
    sb_puts(b, "; accepted when distance &lt; threshold)</span>");
    row_end(b);
    row_num(b, "Accuracy at threshold", m->accuracy);
    row_num(b, "FAR at threshold", m->far);
    row_num(b, "FRR at threshold", m->frr);
    row_num_at(b, "Best accuracy (oracle)", m->best_accuracy, m->best_threshold,
               "best threshold for these very pairs");
    row_num(b, "AUC", m->auc);
    row_num_at(b, "EER", m->eer, m->eer_threshold, NULL);
    row_num(b, "TAR @ FAR=1e-2", r->tar_at_far_1e2);
    row_num(b, "TAR @ FAR=1e-3", r->tar_at_far_1e3);
    sb_puts(b, "</table>\n");
}

static ft_status build_page(sbuf *b, const ft_report *r)
{
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    sb_esc(b, r->title, DEFAULT_TITLE);
    sb_puts(b, "</title>\n<style>\n");
    sb_puts(b, k_style);
    sb_puts(b, "</style>\n</head>\n<body>\n<h1>");
    sb_esc(b, r->title, DEFAULT_TITLE);
    sb_puts(b, "</h1>\n");
    summary_table(b, r);
    sb_puts(b, "<h2>Distances</h2>\n");
    if (chart_histogram(b, r)) return FT_ENOMEM;
    sb_puts(b, "<h2>ROC</h2>\n");
    if (chart_roc(b, r)) return FT_ENOMEM;
    sb_puts(b, "<h2>Training</h2>\n");
    if (chart_curves(b, r)) return FT_ENOMEM;
    sb_puts(b, "<footer>Written by facetwin eval. Accuracy, FAR and FRR are fractions of the pairs.</footer>\n"
               "</body>\n</html>\n");
    return b->oom ? FT_ENOMEM : FT_OK;
}

ft_status ft_report_write_html(const char *path, const ft_report *r, ft_error *err)
{
    if (!path || !r || !r->m) return ft_error_set(err, FT_EINVAL, "ft_report_write_html: NULL argument");
    if (r->n < 0 || (r->n > 0 && (!r->dist || !r->same)))
        return ft_error_set(err, FT_EINVAL, "%s: report needs %d distances and labels", path, r->n);
    if (r->n_val_roc < 0 || (r->n_val_roc > 0 && !r->val_roc))
        return ft_error_set(err, FT_EINVAL, "%s: report needs %d validation ROC rows", path, r->n_val_roc);
    sbuf b = {0};
    ft_status st = build_page(&b, r);
    ft_atomic_file af;
    if (st)
        st = ft_error_set(err, FT_ENOMEM, "%s: out of memory building the report", path);
    else if (!(st = ft_atomic_open(&af, path, err)))
        st = ft_atomic_commit(&af, ft_write_all(af.fd, b.p, b.len), err);
    free(b.p);
    return st;
}
