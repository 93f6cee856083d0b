/* linux.seccomp: built with libseccomp at create (so bad names fail early), loaded just
 * before execve. */
#ifndef CORACLE_SECCOMP_H
#define CORACLE_SECCOMP_H
#include "error.h"
#include "json.h"

/* Builds the filter; *ctx stays NULL when the spec has none. */
int seccomp_build(const struct json *spec, void **ctx, struct cerr *e);
int seccomp_load_filter(void *ctx, struct cerr *e);
void seccomp_free(void *ctx);
#endif
