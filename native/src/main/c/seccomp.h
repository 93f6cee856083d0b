/* linux.seccomp: built with libseccomp in the container process before it pivots, loaded by
 * process.c: before the user switch and capability drop (while CAP_SYS_ADMIN allows a filter
 * without no_new_privs), or right before execve when process.noNewPrivileges is set. Loading
 * never sets no_new_privs itself (SCMP_FLTATR_CTL_NNP is 0). */
#ifndef CORACLE_SECCOMP_H
#define CORACLE_SECCOMP_H
#include "error.h"
#include "json.h"

/* Builds the filter; *ctx stays NULL when the spec has none. */
int seccomp_build(const struct json *spec, void **ctx, struct cerr *e);
int seccomp_load_filter(void *ctx, struct cerr *e);
void seccomp_free(void *ctx);
#endif
