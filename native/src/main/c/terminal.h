/* Terminals for containers and execs. The pty is made inside the container (its own devpts,
 * so ttyname works there) and its master travels to the shim over a unix socket
 * (SCM_RIGHTS) in a message "pty". */
#ifndef CORACLE_TERMINAL_H
#define CORACLE_TERMINAL_H
#include <sys/types.h>
#include "error.h"

/* In the container, after pivot_root or setns into its mount namespace: opens /dev/ptmx,
 * sends the master on sock, and returns the slave in *slave. */
int terminal_make(int sock, int *slave, struct cerr *e);
/* recv on sock; a passed descriptor, if any, lands in *fd. */
ssize_t terminal_recv(int sock, char *buf, size_t len, int *fd);
#endif
