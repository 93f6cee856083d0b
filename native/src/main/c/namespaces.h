/* linux.namespaces: which to create, which to join by path. A user namespace is only joined (the
 * pod's, by path), never created; time namespaces are not supported; a mount namespace of its own
 * is required (the rootfs is mounted there). */
#ifndef CORACLE_NAMESPACES_H
#define CORACLE_NAMESPACES_H
#include "error.h"
#include "json.h"
#include <stdbool.h>

#define NS_KINDS 6

struct ns_plan {
	int clone_flags;     /* namespaces to create */
	int join_fd[NS_KINDS]; /* -1, or an open namespace file to setns into */
	int join_type[NS_KINDS];
	int pid_fd;          /* the PID namespace to join: setns before fork */
	int user_fd;         /* -1, or the user namespace to join (the pod's) */
};

/* Reads linux.namespaces and opens every path (a missing one fails here, naming it). */
int ns_plan_build(const struct json *spec, struct ns_plan *plan, struct cerr *e);
/* Opens the namespaces of a running process that differ from ours (for exec). */
int ns_plan_of_pid(int pid, struct ns_plan *plan, struct cerr *e);
/* setns into every namespace to join except pid; mount last, the user namespace (with_user) just
 * before it. */
int ns_join(const struct ns_plan *plan, bool with_user, struct cerr *e);
/* setns into the user namespace fd and become its root (uid and gid 0, no supplementary groups). */
int ns_enter_user(int fd, struct cerr *e);
void ns_plan_close(struct ns_plan *plan);
#endif
