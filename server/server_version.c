/* server_version.c — the daemon's version string (one place, used by --version and /v1/model). */
#include "server_version.h"

const char *ft_server_version(void) { return "facetwind 0.1.0"; }
