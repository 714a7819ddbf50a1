/* cli.h — shared pieces of the `facetwin` command (one file per subcommand).
 *
 * Exit codes (documented in README): 0 success, 1 error (one line on stderr
 * naming the file and the reason), 2 usage error, 130 interrupted (state saved).
 */
#ifndef FT_CLI_H
#define FT_CLI_H

#include "facetwin/idx.h"
#include "facetwin/status.h"
#include "facetwin/train.h"

#define FT_EXIT_OK 0
#define FT_EXIT_ERROR 1
#define FT_EXIT_USAGE 2
#define FT_EXIT_INTERRUPTED 130

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Prints "facetwin: <msg>" and returns the exit code for err. */
int cli_fail(const ft_error *err);
/* Prints "facetwin <cmd>: <msg> (see 'facetwin <cmd> --help')" and returns FT_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Strict number parsing for option values; 0 on success. */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

/* An IDX data argument: a directory holding train-/t10k-images-idx3-ubyte[.gz]
 * or a prefix P with P-images-idx3-ubyte[.gz]. which: "train" or "t10k".
 * Writes the resolved prefix into prefix (n bytes). */
ft_status cli_idx_prefix(const char *data, const char *which, char *prefix, size_t n, ft_error *err);

/* Prints o as one line of JSON on stdout and deletes it. */
struct cJSON;
void cli_print_json(struct cJSON *o);

/* Test-pair evaluation shared by `train` (final report) and `eval`. */
typedef struct {
    ft_pair_metrics m;
    double acc_at_user;   /* accuracy at the --threshold value (NAN if none) */
    float user_threshold;
} cli_eval_result;
ft_status cli_eval_pairs(ft_net *net, const ft_labelled *set, float threshold, float user_threshold,
                         uint64_t seed, cli_eval_result *r, ft_error *err);

#endif
