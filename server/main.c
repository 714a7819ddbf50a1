/* main.c — facetwind: settings, start-up checks, the listener, signals, graceful shutdown.
 *
 * Start-up refuses to run, with one clear line and a documented exit code, when the model is
 * missing or corrupt (3), the store cannot be opened (4) or the keys file is bad (5). Signals
 * are blocked in every thread and taken here with sigwait: SIGHUP reloads the model (a failed
 * reload keeps the old one), SIGTERM/SIGINT stop accepting, wait up to shutdown_deadline_s
 * for in-flight requests, stop the workers and close the store.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "facetwin/runtime.h"
#include "server.h"
#include "server_version.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_MODEL = 3, EXIT_STORE = 4, EXIT_KEYS = 5 };

#define FTD_MAX_KEY_BYTES 4096

static int hash_key(void)
{
    char buf[FTD_MAX_KEY_BYTES + 2];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    if (n == 0 || n > FTD_MAX_KEY_BYTES) {
        fprintf(stderr, "facetwind hash-key: give the key (1..%d bytes) on stdin\n", FTD_MAX_KEY_BYTES);
        return EXIT_CONFIG;
    }
    char hex[65];
    ft_auth_hash_hex(buf, n, hex);
    printf("%s\n", hex);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "hash-key")) return hash_key();
    if (argc > 1 && !strcmp(argv[1], "--version")) { printf("%s\n", ft_server_version()); return EXIT_OK; }
    ftd_config cfg;
    ft_error err = {0};
    int help = 0, check = 0;
    if (ftd_config_load(&cfg, argc, argv, &help, &check, &err)) {
        fprintf(stderr, "facetwind: %s\n", err.msg);
        ftd_config_free(&cfg);
        return EXIT_CONFIG;
    }
    if (help) { ftd_config_usage(stdout); ftd_config_free(&cfg); return EXIT_OK; }

    /* every thread started from here on inherits the blocked set; main takes them with sigwait */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    ft_set_threads(1); /* one BLAS thread per request: the workers are the parallelism */
    ft_metrics_init();

    ftd_server s;
    memset(&s, 0, sizeof s);
    s.cfg = &cfg;
    int rc = EXIT_OK;
    if (*cfg.api_keys && ft_auth_load(cfg.api_keys, &s.auth, &err)) {
        fprintf(stderr, "facetwind: %s\n", err.msg);
        rc = EXIT_KEYS;
        goto done;
    }
    if (ft_gallery_open(cfg.store, &s.gallery, &err)) {
        fprintf(stderr, "facetwind: store: %s\n", err.msg);
        rc = EXIT_STORE;
        goto done;
    }
    int workers = cfg.threads > 0 ? cfg.threads : ft_cpu_count();
    if (ftd_engine_init(&s.eng, cfg.model, workers, ft_cpu_count(), (size_t)cfg.cache_mb << 20,
                        (uint64_t)cfg.max_pixels, s.gallery, &err)) {
        fprintf(stderr, "facetwind: model: %s\n", err.msg);
        rc = EXIT_MODEL;
        goto done_gallery;
    }
    if (check) {
        char *j = ftd_config_json(&cfg);
        int64_t faces = 0;
        ftd_index_counts(s.eng.cur->index, &faces, NULL);
        printf("%s\n", j ? j : "{}");
        free(j);
        fprintf(stderr, "facetwind: configuration OK: model %s, store %s (%lld faces for this model), %s\n",
                s.eng.cur->m->model_id, ft_gallery_backend(s.gallery), (long long)faces,
                s.auth ? "API keys loaded" : "no API keys (loopback only)");
        goto done_engine;
    }
    if (ftd_server_start(&s, &err)) {
        fprintf(stderr, "facetwind: %s\n", err.msg);
        rc = err.code == FT_EINVAL ? EXIT_CONFIG : EXIT_RUNTIME;
        goto done_engine;
    }
    {
        char host[256];
        const char *colon = strrchr(cfg.listen, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon - cfg.listen), cfg.listen);
        fprintf(stderr, "facetwind: serving model %s (%d workers), store %s, %s\n", s.eng.cur->m->model_id, workers,
                ft_gallery_backend(s.gallery), s.auth ? "API keys required" : "no API keys (loopback only)");
        fprintf(stderr, "listening on %s:%d\n", host, s.port);
        fflush(stderr);
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig)) continue;
        if (sig == SIGHUP) {
            char prev[128] = "";
            ft_error rerr = {0};
            if (ftd_engine_reload(&s.eng, prev, &rerr)) {
                ft_metrics_reload(0);
                fprintf(stderr, "facetwind: SIGHUP reload failed, still serving %s: %s\n", prev[0] ? prev : "the old model", rerr.msg);
            } else {
                ft_metrics_reload(1);
                fprintf(stderr, "facetwind: SIGHUP reloaded: %s -> %s\n", prev, s.eng.cur->m->model_id);
            }
            continue;
        }
        break;
    }
    fprintf(stderr, "facetwind: shutting down: no new connections, finishing in-flight requests\n");
    ftd_server_quiesce(&s);
    double deadline = ft_now() + cfg.shutdown_deadline_s;
    while (atomic_load(&s.inflight) > 0 && ft_now() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s.inflight) > 0)
        fprintf(stderr, "facetwind: %d request(s) still in flight at the deadline\n", atomic_load(&s.inflight));
    ftd_server_stop(&s);
done_engine:
    ftd_engine_destroy(&s.eng);
done_gallery:
    ft_gallery_close(s.gallery);
done:
    ft_auth_free(s.auth);
    ftd_config_free(&cfg);
    if (rc == EXIT_OK) fprintf(stderr, "facetwind: stopped\n");
    return rc;
}
