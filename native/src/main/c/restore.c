#include "restore.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int restore_load(const char *file, struct restore *r, struct cerr *e)
{
	memset(r, 0, sizeof *r);
	r->stdio[0] = r->stdio[1] = r->stdio[2] = -1;
	size_t len;
	if (!(r->text = read_file_max(file, RESTORE_PLAN_MAX, &len, e)))
		return -1;
	if (strlen(r->text) != len)
		return refuse(e, 0, "restore plan %s: NUL byte", file);
	r->argv[r->nargs++] = NULL; /* argv[0], the criu path, below */
	char *save = NULL;
	for (char *line = strtok_r(r->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "criu ", 5) == 0 && !r->criu) {
			r->criu = line + 5;
			if (r->criu[0] != '/')
				return refuse(e, 0, "restore plan %s: criu %s is not an absolute path", file, r->criu);
		} else if (strncmp(line, "arg ", 4) == 0) {
			if (r->nargs >= RESTORE_MAX_ARGS)
				return refuse(e, 0, "restore plan %s: more than %d arguments", file, RESTORE_MAX_ARGS);
			r->argv[r->nargs++] = line + 4;
		} else if (strncmp(line, "fd ", 3) == 0) {
			char *end = NULL;
			long fd = strtol(line + 3, &end, 10);
			if (end == line + 3 || *end != ' ' || fd < 6 || fd > 31 || end[1] != '/' ||
			    r->nopens >= RESTORE_MAX_OPENS)
				return refuse(e, 0, "restore plan %s: bad line '%.80s' (fd 6..31, absolute path)", file, line);
			for (int i = 0; i < r->nopens; i++)
				if (r->open_fd[i] == fd)
					return refuse(e, 0, "restore plan %s: fd %ld given twice", file, fd);
			r->open_fd[r->nopens] = (int)fd;
			r->open_path[r->nopens++] = end + 1;
		} else {
			return refuse(e, 0, "restore plan %s: unknown line '%.80s'", file, line);
		}
	}
	if (!r->criu)
		return refuse(e, 0, "restore plan %s: no criu line", file);
	r->argv[0] = r->criu;
	return 0;
}

/* In the child: fds 3..5 the container's stdio, the plan's files at their numbers, nothing else
 * open but 0..2 (the shim's /dev/null and shim.log). Returns only on failure. */
static void exec_criu(struct restore *r, const struct cgroup *cg, const char *pidfile)
{
	struct cerr e;
	sigset_t none;
	sigemptyset(&none);
	/* The monitor ignores these; criu must not inherit that (it stops its helpers with SIGTERM). */
	static const int ignored[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, 0};
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || set_signals(ignored, SIG_DFL, &e) < 0 ||
	    cgroup_enter_self(cg, &e) < 0) {
		fprintf(stderr, "coracle-shim: restore: %s\n", e.msg);
		return;
	}
	/* Everything first moved above the targets (64+), so that no dup2 overwrites a source. */
	int src[3 + RESTORE_MAX_OPENS], dst[3 + RESTORE_MAX_OPENS], n = 0;
	for (int i = 0; i < 3; i++, n++) {
		dst[n] = 3 + i;
		if ((src[n] = fcntl(r->stdio[i], F_DUPFD_CLOEXEC, 64)) < 0) {
			fprintf(stderr, "coracle-shim: restore: dup stdio %d: %s\n", i, strerror(errno));
			return;
		}
	}
	for (int i = 0; i < r->nopens; i++, n++) {
		int fd = open(r->open_path[i], O_RDONLY | O_CLOEXEC);
		dst[n] = r->open_fd[i];
		if (fd < 0 || (src[n] = fcntl(fd, F_DUPFD_CLOEXEC, 64)) < 0) {
			fprintf(stderr, "coracle-shim: restore: open %s: %s\n", r->open_path[i], strerror(errno));
			return;
		}
		close(fd);
	}
	for (int i = 0; i < n; i++)
		if (dup2(src[i], dst[i]) < 0) { /* the copy at dst has no FD_CLOEXEC: criu inherits it */
			fprintf(stderr, "coracle-shim: restore: dup2 %d: %s\n", dst[i], strerror(errno));
			return;
		}
	r->argv[r->nargs] = "--pidfile";
	r->argv[r->nargs + 1] = pidfile;
	r->argv[r->nargs + 2] = NULL;
	if (dup2(2, 1) < 0) /* criu's own output joins the shim's diagnostics */
		return;
	execv(r->criu, (char *const *)r->argv);
	fprintf(stderr, "coracle-shim: restore: exec %s: %s\n", r->criu, strerror(errno));
}

pid_t restore_run(struct restore *r, const struct cgroup *cg, const char *state_dir, int timeout_ms,
		  struct cerr *e)
{
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof pidfile, "%s/restore.pid", state_dir);
	if (unlink(pidfile) < 0 && errno != ENOENT)
		return fail(e, errno, "unlink %s", pidfile);
	pid_t child = fork();
	if (child < 0)
		return fail(e, errno, "fork for criu restore");
	if (child == 0) {
		exec_criu(r, cg, pidfile);
		_exit(127);
	}
	int st = 0;
	struct timespec tick = {0, 10 * 1000 * 1000};
	for (int waited = 0;; waited += 10) {
		pid_t w = waitpid(child, &st, WNOHANG);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR)
			return fail(e, errno, "wait for criu restore");
		if (waited >= timeout_ms) {
			kill_logged(child, SIGKILL);
			while (waitpid(child, &st, 0) < 0 && errno == EINTR)
				;
			return fail(e, ETIMEDOUT, "criu restore did not finish within %d s", timeout_ms / 1000);
		}
		nanosleep(&tick, NULL);
	}
	for (int i = 0; i < 3; i++) { /* the restored process holds its own copies now */
		if (r->stdio[i] >= 0 && (i == 0 || r->stdio[i] != r->stdio[i - 1]))
			close(r->stdio[i]);
		r->stdio[i] = -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail(e, 0, "criu restore exited %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	char *text = read_file_max(pidfile, 32, NULL, e);
	if (!text)
		return -1;
	char *end = NULL;
	long pid = strtol(text, &end, 10);
	free(text);
	if (end == NULL || pid <= 1 || pid > INT_MAX)
		return fail(e, 0, "%s: no PID", pidfile);
	return (pid_t)pid;
}

void restore_free(struct restore *r)
{
	for (int i = 0; i < 3; i++) {
		if (r->stdio[i] >= 0 && (i == 0 || r->stdio[i] != r->stdio[i - 1]))
			close(r->stdio[i]);
		r->stdio[i] = -1;
	}
	free(r->text);
	r->text = NULL;
}
