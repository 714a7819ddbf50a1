/* bench_bare_mhd.c — the HTTP ceiling facetwind is compared with: a bare
 * libmicrohttpd server that reads the whole request body (the same multipart
 * verify body the benchmark sends the daemon) and answers every request with
 * one fixed JSON object. It starts MHD exactly as server/server.c does — the
 * same flags (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC),
 * the same thread pool size (--threads, default: cores, facetwind's default),
 * the same per-connection memory limit — so the difference in req/s between
 * this and the daemon's cache-hit verify is what the daemon adds per request
 * (routing, multipart parsing, SHA-256, cache lookup, JSON, metrics, request
 * id), not libmicrohttpd or the loopback.
 *
 *   bench_bare_mhd [--listen-port P (default 0 = any)] [--threads N]
 *
 * Like facetwind it prints "listening on 127.0.0.1:PORT" on stderr when ready,
 * and it stops on SIGTERM / SIGINT (then it prints the requests and body bytes
 * it served).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/runtime.h"

#define FT_BENCH_NAME "bench_bare_mhd"
#include "bench_util.h"

#define FT_BM_CONN_MEMORY (256 * 1024)   /* = FTD_CONN_MEMORY in server/server.c */
#define FT_BM_CONNECTION_LIMIT 1024      /* = facetwind's default max_connections */
#define FT_BM_TIMEOUT_S 30               /* = facetwind's default timeout_s */
#define FT_BM_MAX_THREADS 256
#define FT_BM_REPLY "{\"model\":\"bare-mhd\",\"distance\":0.5,\"same\":false}"

static struct MHD_Response *g_reply;
static atomic_ullong g_requests, g_body_bytes;
static atomic_uint g_body_xor; /* keeps the byte loop from being optimised away */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    static int first_call_marker;
    if (!*con_cls) { /* headers only: wait for the body */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size) { /* read it: count the bytes and look at them, as a parser must */
        unsigned char acc = 0;
        for (size_t i = 0; i < *upload_size; i++) acc ^= (unsigned char)upload[i];
        atomic_fetch_add(&g_body_bytes, *upload_size);
        atomic_fetch_xor(&g_body_xor, acc);
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&g_requests, 1);
    return MHD_queue_response(conn, MHD_HTTP_OK, g_reply);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_bare_mhd [--listen-port P] [--threads N (default: cores)]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int port = 0, threads = ft_cpu_count();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--listen-port")) port = (int)bench_long_arg(a, v, 0, 65535);
        else if (!strcmp(a, "--threads")) threads = (int)bench_long_arg(a, v, 1, FT_BM_MAX_THREADS);
        else usage();
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* as facetwind: the workers never take them */
    signal(SIGPIPE, SIG_IGN);

    g_reply = MHD_create_response_from_buffer(strlen(FT_BM_REPLY), (void *)FT_BM_REPLY, MHD_RESPMEM_PERSISTENT);
    if (!g_reply || MHD_add_response_header(g_reply, "Content-Type", "application/json") != MHD_YES)
        die("creating the reply", NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL,
                                            NULL, on_request, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)FT_BM_CONNECTION_LIMIT,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FT_BM_TIMEOUT_S,
                                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FT_BM_CONN_MEMORY,
                                            MHD_OPTION_END);
    if (!d) die("starting libmicrohttpd (port in use?)", NULL);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, FT_BENCH_NAME ": %d threads, fixed %zu-byte JSON reply\n", threads, strlen(FT_BM_REPLY));
    fprintf(stderr, "listening on 127.0.0.1:%d\n", info ? (int)info->port : port);
    fflush(stderr);
    int sig = 0;
    while (sigwait(&sigs, &sig)) {
    }
    MHD_stop_daemon(d);
    MHD_destroy_response(g_reply);
    fprintf(stderr, FT_BENCH_NAME ": stopped after %llu requests, %llu body bytes\n",
            (unsigned long long)atomic_load(&g_requests), (unsigned long long)atomic_load(&g_body_bytes));
    return 0;
}
