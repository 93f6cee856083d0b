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
#include <sys/types.h>
#include "cgroup.h"
#include "error.h"

#define RESTORE_MAX_ARGS 256
#define RESTORE_MAX_OPENS 8
#define RESTORE_PLAN_MAX (256 * 1024)

struct restore {
	char *text; /* the plan file; argv and paths point into it */
	const char *criu;
	const char *argv[RESTORE_MAX_ARGS + 4];
	int nargs;
	int open_fd[RESTORE_MAX_OPENS];
	const char *open_path[RESTORE_MAX_OPENS];
	int nopens;
	int stdio[3]; /* the container's ends of its stdio; -1 once handed over */
};

/* Reads and checks the plan (a malformed one is the request's fault: class invalid). */
int restore_load(const char *file, struct restore *r, struct cerr *e);
/* Runs criu restore (bounded by timeout_ms) and returns the restored root's host PID; on failure
 * -1 with criu's exit status in e (its log is where the plan's --log-file/--work-dir put it). */
pid_t restore_run(struct restore *r, const struct cgroup *cg, const char *state_dir, int timeout_ms,
		  struct cerr *e);
/* Closes the container's stdio ends and frees the plan. */
void restore_free(struct restore *r);
#endif
