/* A container whose process is restored by CRIU from a checkpoint instead of built from the
 * bundle (CRI-O's restore of a checkpoint archive; coracle-shim create --restore PLAN).
 *
 * The daemon writes the plan, one item a line:
 *   criu PATH        the criu executable (absolute)
 *   fd N PATH        PATH (a namespace file the daemon names) opened read-only as fd N (6..31)
 *   arg ARG          one argument of "criu restore ..." (in order; at most RESTORE_MAX_ARGS)
 * When the container is started, criu runs as a child of the monitor, inside the container's
 * cgroups, with the container's stdin, stdout and stderr (the monitor's pipes) as fds 3, 4 and 5,
 * and "--pidfile <state>/restore.pid" added. With --restore-detached --restore-sibling the
 * restored tree's root becomes the monitor's own child, so the monitor waits for it, pumps its
 * output into the CRI log and records its exit exactly as for a container it built. */
#ifndef CORACLE_RESTORE_H
#define CORACLE_RESTORE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "cgroup.h"
#include "error.h"

#define RESTORE_MAX_ARGS 256
#define RESTORE_MAX_OPENS 8
#define RESTORE_PLAN_MAX (256 * 1024)
#define RESTORE_NS_KINDS 6 /* net, ipc, uts, pid, mnt, cgroup */
#define RESTORE_MAX_TASKS 4096

struct restore {
	char *text; /* the plan file; argv and paths point into it */
	const char *criu;
	const char *argv[RESTORE_MAX_ARGS + 4];
	int nargs;
	int open_fd[RESTORE_MAX_OPENS];
	const char *open_path[RESTORE_MAX_OPENS];
	int nopens;
	int stdio[3]; /* the container's ends of its stdio; -1 once handed over */
	struct stat host_ns[RESTORE_NS_KINDS]; /* the monitor's own namespaces when the plan was read */
};

/* What every restored task must (not) hold, from the new container's spec: criu takes the tasks'
 * namespaces, credentials, capabilities and seccomp from the archive's images, not from the spec. */
struct restore_limits {
	int own_ns;         /* CLONE_NEW* kinds the spec gives the container: never the host's there */
	uint64_t cap_bound; /* no task holds a capability (any set) outside this */
	bool no_new_privs;  /* every task has NoNewPrivs */
	bool seccomp;       /* every task runs under a seccomp filter */
};

/* Reads and checks the plan (a malformed one is the request's fault: class invalid), and notes the
 * caller's namespaces (the host's: call before leaving any). */
int restore_load(const char *file, struct restore *r, struct cerr *e);
/* Runs criu restore (bounded by timeout_ms) and returns the restored root's host PID; on failure
 * -1 with criu's exit status in e (its log is where the plan's --log-file/--work-dir put it). */
pid_t restore_run(struct restore *r, const struct cgroup *cg, const char *state_dir, int timeout_ms,
		  struct cerr *e);
/* With criu's --leave-stopped: checks every task of the container's cgroup (each thread) against
 * the limits, before anything restored runs. 0 when all comply; -1 naming the first that does not
 * (the caller kills the cgroup's tasks). mnt is also never the monitor's private copy (mnt_self). */
int restore_verify(const struct restore *r, const struct cgroup *cg, const struct restore_limits *lim,
		   const struct stat *mnt_self, struct cerr *e);
/* Closes the container's stdio ends and frees the plan. */
void restore_free(struct restore *r);
#endif
