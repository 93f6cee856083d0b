/* A container described by an OCI bundle, and the code its first process runs between
 * clone and execve. */
#ifndef CORACLE_CONTAINER_H
#define CORACLE_CONTAINER_H
#include <limits.h>
#include "cgroup.h"
#include "error.h"
#include "json.h"
#include "namespaces.h"
#include "process.h"

struct container {
	struct json *spec;
	char bundle[PATH_MAX];
	char rootfs[PATH_MAX];
	struct process proc;
	void *seccomp;
	struct ns_plan ns;
};

/* Reads <bundle>/config.json and checks everything that can be checked on the host. */
int container_load(const char *bundle, struct container *c, struct cerr *e);
void container_free(struct container *c);
/* Parses a JSON file into a tree; errors name the file. */
struct json *json_read_file(const char *path, struct cerr *e);

/* The container's first process, in its new namespaces. Sends "ready" or "error <msg>" on
 * sync (a SOCK_SEQPACKET socket), waits for "start", execs; an execve failure is sent as
 * "error <msg>". It first moves itself into cg. stdio: the fds to install as 0, 1, 2.
 * Never returns. */
_Noreturn void container_child(struct container *c, const struct cgroup *cg, int sync, const int stdio[3]);
#endif
