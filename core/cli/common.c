/* common.c — helpers shared by the subcommands: errors, number parsing,
 * resolving IDX data arguments, and the test-pair evaluation. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "facetwin/metrics.h"

int cli_fail(const ft_error *err)
{
    fprintf(stderr, "facetwin: %s\n", err->msg);
    return err->code == FT_EINTERRUPTED ? FT_EXIT_INTERRUPTED : FT_EXIT_ERROR;
}

static volatile sig_atomic_t g_stop = 0;
static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

volatile sig_atomic_t *cli_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &g_stop;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "facetwin %s: %s (see 'facetwin %s --help')\n", cmd, msg, cmd);
    return FT_EXIT_USAGE;
}

int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_usage(cmd, "%s must be an integer from %ld to %ld (got '%s')", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        cli_usage(cmd, "%s must be a number from %g to %g (got '%s')", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

ft_status cli_idx_prefix(const char *data, const char *which, char *prefix, size_t n, ft_error *err)
{
    char probe[4200];
    struct stat st;
    if (stat(data, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(probe, sizeof probe, "%s/%s-images-idx3-ubyte.gz", data, which);
        int gz = exists(probe);
        snprintf(probe, sizeof probe, "%s/%s-images-idx3-ubyte", data, which);
        if (gz || exists(probe)) {
            snprintf(prefix, n, "%s/%s", data, which);
            return FT_OK;
        }
        return ft_error_set(err, FT_EINVAL,
                            "%s: no %s-images-idx3-ubyte[.gz] in this directory (an IDX dataset such as MNIST "
                            "is expected; identity-folder datasets are not supported by this build)",
                            data, which);
    }
    snprintf(probe, sizeof probe, "%s-images-idx3-ubyte.gz", data);
    int gz = exists(probe);
    snprintf(probe, sizeof probe, "%s-images-idx3-ubyte", data);
    if (gz || exists(probe)) {
        snprintf(prefix, n, "%s", data);
        return FT_OK;
    }
    return ft_error_set(err, FT_EIO, "%s: no such directory or IDX prefix (expected %s-images-idx3-ubyte[.gz])",
                        data, data);
}

ft_status cli_eval_pairs(ft_net *net, const ft_labelled *set, float threshold, uint64_t seed, cli_pairs_eval *r,
                         ft_error *err)
{
    memset(r, 0, sizeof *r);
    ft_pair *pairs = NULL;
    int np = 0;
    ft_status st = ft_pairs_keras(set->label, set->n, seed, &pairs, &np, err);
    if (st) return st;
    r->n = np;
    r->dist = malloc((size_t)np * sizeof(float));
    r->same = malloc((size_t)np);
    if (!r->dist || !r->same) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    if ((st = ft_pair_distances(net, set, pairs, np, 1.0f, r->dist, NULL, err))) goto done;
    for (int i = 0; i < np; i++) r->same[i] = pairs[i].same;
    st = ft_pair_metrics_compute(r->dist, r->same, np, threshold, &r->m, err);
done:
    free(pairs);
    if (st) cli_pairs_eval_free(r);
    return st;
}

cJSON *cli_train_json(const char *model, const ft_train_result *res, int val_details)
{
    const ft_calibration *c = &res->calibration;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddNumberToObject(j, "epochs", res->epochs_done);
    cJSON_AddNumberToObject(j, "seconds", res->seconds);
    cJSON_AddNumberToObject(j, "pairs_per_sec", res->pairs_per_sec);
    cJSON_AddNumberToObject(j, "train_loss", res->final_train_loss);
    if (isfinite(res->best_val_loss)) {
        cJSON_AddNumberToObject(j, "best_val_loss", res->best_val_loss);
        cJSON_AddNumberToObject(j, "best_epoch", res->best_epoch + 1);
    }
    cJSON *cj = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddStringToObject(cj, "rule", ft_calib_rule_name(c->rule));
    cJSON_AddNumberToObject(cj, "threshold", c->threshold);
    if (val_details && c->val_pairs) {
        cJSON_AddNumberToObject(cj, "val_pairs", c->val_pairs);
        cJSON_AddNumberToObject(cj, "val_eer", c->eer);
    }
    return j;
}
