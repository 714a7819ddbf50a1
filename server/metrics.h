/* metrics.h — the numbers /metrics exposes in the Prometheus text format (0.0.4).
 *
 * Counters and histograms live in fixed arrays indexed by route and status class, updated
 * with C11 atomics (no lock on the request path). Families:
 *   facetwind_requests_total{route,code}          counter (code = the exact HTTP status)
 *   facetwind_request_duration_seconds{route}     histogram
 *   facetwind_decode_seconds                      histogram (image decode + resize)
 *   facetwind_encoder_seconds                     histogram (encoder forward)
 *   facetwind_cache_{hits,misses,evictions}_total counters (read from the cache's stats)
 *   facetwind_cache_entries, facetwind_cache_bytes gauges
 *   facetwind_gallery_faces, facetwind_gallery_subjects gauges (current model's faces)
 *   facetwind_in_flight_requests                  gauge
 *   facetwind_model_reloads_total{result}         counter (ok|failed)
 *   facetwind_overload_rejections_total           counter
 * Histogram buckets (seconds): 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 +Inf.
 */
#ifndef FACETWIN_SERVER_METRICS_H
#define FACETWIN_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

/* Routes known to the metrics (index into the arrays). FT_ROUTE_OTHER covers 404s. */
typedef enum {
    FT_ROUTE_VERIFY, FT_ROUTE_ENROLL, FT_ROUTE_IDENTIFY, FT_ROUTE_EMBED,
    FT_ROUTE_SUBJECTS, FT_ROUTE_SUBJECT, FT_ROUTE_SUBJECT_DELETE, FT_ROUTE_FACE_DELETE,
    FT_ROUTE_MODEL, FT_ROUTE_RELOAD, FT_ROUTE_HEALTHZ, FT_ROUTE_READYZ, FT_ROUTE_METRICS,
    FT_ROUTE_OTHER, FT_ROUTE_COUNT
} ft_route_id;

const char *ft_route_label(ft_route_id r);   /* "verify", "subjects", ... "other" */

void ft_metrics_init(void);
void ft_metrics_request(ft_route_id r, int http_status, double seconds);
void ft_metrics_decode(double seconds);
void ft_metrics_encoder(double seconds);
void ft_metrics_inflight(int delta);
int64_t ft_metrics_inflight_now(void);
void ft_metrics_reload(int ok);
void ft_metrics_overload(void);

/* Writes the exposition text into a malloc'd NUL-terminated buffer (caller frees); gauges
 * whose values live elsewhere are passed in. NULL on OOM. */
typedef struct {
    ft_cache_stats cache;
    int64_t gallery_faces, gallery_subjects;
} ft_metrics_gauges;
char *ft_metrics_render(const ft_metrics_gauges *g, size_t *len);

#endif
