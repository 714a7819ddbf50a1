/* server.h — starting and stopping the HTTP listener (libmicrohttpd). */
#ifndef FACETWIN_SERVER_SERVER_H
#define FACETWIN_SERVER_SERVER_H

#include "http.h"

/* Starts listening on cfg->listen (refusing a non-loopback address without API keys unless
 * insecure_no_auth); s->port gets the bound port. */
ft_status ftd_server_start(ftd_server *s, ft_error *err);
/* Stops accepting new connections (graceful shutdown, step 1). */
void ftd_server_quiesce(ftd_server *s);
/* Stops the daemon and its threads (step 2). */
void ftd_server_stop(ftd_server *s);

#endif
