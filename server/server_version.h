/* server_version.h — the daemon's version string. */
#ifndef FACETWIN_SERVER_VERSION_H
#define FACETWIN_SERVER_VERSION_H
const char *ft_server_version(void);
#endif
