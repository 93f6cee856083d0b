#include "restore.h"
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *name;
	int flag;
} ns_kinds[RESTORE_NS_KINDS] = {
	{"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
	{"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},  {"cgroup", CLONE_NEWCGROUP},
};

static bool all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The value of an option criu turns into a host path or a key: the shapes the daemon writes, and
 * nothing else (a plan is the daemon's, but what it carries came from the archive). */
static bool value_ok(const char *opt, const char *v)
{
	if (strcmp(opt, "--images-dir") == 0 || strcmp(opt, "--work-dir") == 0 || strcmp(opt, "--root") == 0)
		return v[0] == '/';
	if (strcmp(opt, "--log-file") == 0)
		return v[0] && !strchr(v, '/');
	if (strcmp(opt, "--join-ns") == 0)
		return (strncmp(v, "ipc:/", 5) == 0 || strncmp(v, "uts:/", 5) == 0);
	if (strcmp(opt, "--inherit-fd") == 0) {
		const char *close = strstr(v, "]:");
		if (strncmp(v, "fd[", 3) != 0 || !close || !all_digits(v + 3, (size_t)(close - v - 3)))
			return false;
		long fd = strtol(v + 3, NULL, 10);
		const char *key = close + 2;
		size_t klen = strlen(key);
		return fd >= 3 && fd <= 31 &&
		       (strcmp(key, "extern-net") == 0 || strcmp(key, "extern-pid") == 0 ||
			(strncmp(key, "pipe:[", 6) == 0 && klen > 7 && key[klen - 1] == ']' && all_digits(key + 6, klen - 7)));
	}
	if (strcmp(opt, "--external") == 0) {
		const char *close = strstr(v, "]:");
		return strncmp(v, "mnt[/", 5) == 0 && close && !memchr(v + 4, ']', (size_t)(close - v - 4)) &&
		       close[2] == '/';
	}
	return false;
}

static int check_args(const char *file, const struct restore *r, struct cerr *e)
{
	static const char *const flags[] = {"--restore-detached", "--restore-sibling", "--leave-stopped",
					    "--manage-cgroups=ignore", "--tcp-established", "--ext-unix-sk",
					    "--file-locks", "-v4", NULL};
	static const char *const valued[] = {"--images-dir", "--work-dir", "--root", "--log-file",
					     "--join-ns", "--inherit-fd", "--external", NULL};
	if (r->nargs < 2 || strcmp(r->argv[1], "restore") != 0)
		return refuse(e, 0, "restore plan %s: the first argument is not restore", file);
	for (int i = 2; i < r->nargs; i++) {
		bool known = false;
		for (int f = 0; flags[f] && !known; f++)
			known = strcmp(r->argv[i], flags[f]) == 0;
		for (int v = 0; valued[v] && !known; v++) {
			if (strcmp(r->argv[i], valued[v]) != 0)
				continue;
			if (i + 1 >= r->nargs || !value_ok(valued[v], r->argv[i + 1]))
				return refuse(e, 0, "restore plan %s: %s '%.80s': not a value of the expected shape", file,
					      valued[v], i + 1 < r->nargs ? r->argv[i + 1] : "");
			known = true;
			i++;
		}
		if (!known)
			return refuse(e, 0, "restore plan %s: criu argument '%.80s' is not one a restore takes", file, r->argv[i]);
	}
	return 0;
}

int restore_load(const char *file, struct restore *r, struct cerr *e)
{
	memset(r, 0, sizeof *r);
	r->stdio[0] = r->stdio[1] = r->stdio[2] = -1;
	for (int i = 0; i < RESTORE_NS_KINDS; i++) {
		char ns[64];
		snprintf(ns, sizeof ns, "/proc/self/ns/%s", ns_kinds[i].name);
		if (stat(ns, &r->host_ns[i]) < 0)
			return fail(e, errno, "stat %s", ns);
	}
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
	return check_args(file, r, e);
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
	/* criu itself in the pod's network namespace (the plan's netns fd): whatever its images leave in
	 * "criu's own" namespace (sockets, the network lock's rules) is the pod's, never the host's. */
	for (int i = 0; i < r->nopens; i++)
		if (setns(r->open_fd[i], CLONE_NEWNET) < 0 && errno != EINVAL) {
			fprintf(stderr, "coracle-shim: restore: setns fd %d: %s\n", r->open_fd[i], strerror(errno));
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

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The hex value after "Key:\t" in a /proc status text; false when absent or malformed. */
static bool status_hex(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(p + klen + 1, &end, 16);
			if (errno || end == p + klen + 1)
				return false;
			*out = v;
			return true;
		}
	}
	return false;
}

static int verify_task(const struct restore *r, long pid, long tid, const struct restore_limits *lim,
		       const struct stat *mnt_self, struct cerr *e)
{
	char path[128];
	for (int i = 0; i < RESTORE_NS_KINDS; i++) {
		struct stat st;
		snprintf(path, sizeof path, "/proc/%ld/task/%ld/ns/%s", pid, tid, ns_kinds[i].name);
		if (stat(path, &st) < 0)
			return errno == ENOENT ? 0 : fail(e, errno, "stat %s", path); /* ENOENT: gone */
		bool own = (lim->own_ns & ns_kinds[i].flag) != 0;
		if ((own && same_file(&st, &r->host_ns[i])) ||
		    (ns_kinds[i].flag == CLONE_NEWNS && mnt_self && same_file(&st, mnt_self)))
			return refuse(e, 0, "restored task %ld is in the host's %s namespace (the checkpoint's images put it"
				      " there; the container's spec gives it its own): refused", tid, ns_kinds[i].name);
	}
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/status", pid, tid);
	struct cerr ignored;
	char *text = read_file_max(path, 64 * 1024, NULL, &ignored);
	if (!text)
		return 0; /* gone */
	static const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	uint64_t v = 0;
	int rc = 0;
	for (size_t i = 0; i < sizeof sets / sizeof *sets && rc == 0; i++) {
		if (!status_hex(text, sets[i], &v))
			rc = fail(e, 0, "%s: no %s", path, sets[i]);
		else if (v & ~lim->cap_bound)
			rc = refuse(e, 0, "restored task %ld holds capabilities %#" PRIx64 " (%s) outside the container's"
				    " bounding set %#" PRIx64 ": refused", tid, v, sets[i], lim->cap_bound);
	}
	if (rc == 0 && lim->no_new_privs && (!status_hex(text, "NoNewPrivs", &v) || v != 1))
		rc = refuse(e, 0, "restored task %ld runs without no_new_privs, which the container's spec sets: refused", tid);
	if (rc == 0 && lim->seccomp && (!status_hex(text, "Seccomp", &v) || v != 2))
		rc = refuse(e, 0, "restored task %ld runs without a seccomp filter, which the container's spec sets: refused", tid);
	free(text);
	return rc;
}

int restore_verify(const struct restore *r, const struct cgroup *cg, const struct restore_limits *lim,
		   const struct stat *mnt_self, struct cerr *e)
{
	if (cg->ndirs == 0)
		return refuse(e, 0, "a restored container needs a cgroup (its tasks are found there)");
	char path[600];
	snprintf(path, sizeof path, "%s/cgroup.procs", cg->dirs[0]);
	char *procs = read_file_max(path, RESTORE_MAX_TASKS * 12, NULL, e);
	if (!procs)
		return -1;
	int rc = 0, tasks = 0;
	char *save = NULL;
	for (char *line = strtok_r(procs, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		char *end = NULL;
		long pid = strtol(line, &end, 10);
		if (end == line || *end || pid <= 0) {
			rc = fail(e, 0, "%s: bad line '%.20s'", path, line);
			break;
		}
		char dir[64];
		snprintf(dir, sizeof dir, "/proc/%ld/task", pid);
		DIR *d = opendir(dir);
		if (!d) {
			if (errno != ENOENT)
				rc = fail(e, errno, "opendir %s", dir);
			continue;
		}
		for (struct dirent *de; rc == 0 && (de = readdir(d));) {
			long tid = strtol(de->d_name, &end, 10);
			if (end == de->d_name || *end || tid <= 0)
				continue;
			if (++tasks > RESTORE_MAX_TASKS)
				rc = refuse(e, 0, "more than %d restored tasks", RESTORE_MAX_TASKS);
			else
				rc = verify_task(r, pid, tid, lim, mnt_self, e);
		}
		closedir(d);
	}
	free(procs);
	return rc;
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
