/* coracle-pause: PID 1 of a pod. Holds the pod's namespaces open, reaps every zombie
 * that is reparented to it, and exits 0 on SIGTERM or SIGINT.
 *
 * Usage:
 *   coracle-pause                 run as the pause process in the current namespaces
 *   coracle-pause --version
 *   coracle-pause --unshare net,ipc,uts[,pid] [--hostname NAME] [--pidfile FILE]
 *                 [--uid-map C:H:S[,...] --gid-map C:H:S[,...]]
 *       Launch mode, for a multi-threaded caller (the JVM) that cannot unshare itself.
 *       Creates the listed namespaces (also: mnt, cgroup), sets NAME as the hostname in the
 *       new UTS namespace, and starts the pause process detached (own session, stdio on
 *       /dev/null). With pid, the pause is forked after unshare so it is PID 1 of the new
 *       PID namespace. When the pause is ready (namespaces built, signals set up) the
 *       launcher writes its PID (as seen from the caller's PID namespace) to FILE
 *       atomically, prints it on stdout followed by a newline, and exits 0. On failure
 *       it prints "coracle-pause: <call>: <errno text>" on stderr, exits 1, and leaves no
 *       process behind. The caller then bind-mounts /proc/<pid>/ns/<kind> as it needs.
 *       With --uid-map and --gid-map (a pod with user namespaces), the pause first creates a user
 *       namespace, the launcher (root on the host) writes its uid_map and gid_map, the pause becomes
 *       root there (uid and gid 0, no supplementary groups), and only then creates the other
 *       namespaces, so they belong to that user namespace (CNI still configures the network from
 *       the host). The maps are range-checked here again (idmap.c) before anything is created.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include "idmap.h"

static void on_signal(int sig)
{
	(void)sig; /* Never runs: the signals are blocked and taken by sigwait. A handler
	            * makes SIGTERM deliverable to the init of a PID namespace. */
}

static int pause_loop(void)
{
	for (;;) {
		sigset_t set;
		int sig;
		if (sigemptyset(&set) < 0 || sigaddset(&set, SIGTERM) < 0 || sigaddset(&set, SIGINT) < 0 ||
		    sigaddset(&set, SIGCHLD) < 0)
			return 1;
		int rc = sigwait(&set, &sig);
		if (rc != 0) {
			fprintf(stderr, "coracle-pause: sigwait: %s\n", strerror(rc));
			return 1;
		}
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
		/* SIGCHLD: reap everything that has exited; several may be pending behind one signal. */
		for (;;) {
			pid_t pid = waitpid(-1, NULL, WNOHANG);
			if (pid > 0)
				continue;
			if (pid < 0 && errno != ECHILD) {
				fprintf(stderr, "coracle-pause: waitpid: %s\n", strerror(errno));
				return 1;
			}
			break;
		}
	}
}

/* Block the signals we wait for, so they queue until sigwait: no handler races. */
static int block_signals(void)
{
	sigset_t set;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	if (sigemptyset(&set) < 0 || sigaddset(&set, SIGTERM) < 0 || sigaddset(&set, SIGINT) < 0 ||
	    sigaddset(&set, SIGCHLD) < 0) {
		fprintf(stderr, "coracle-pause: sigaddset: %s\n", strerror(errno));
		return -1;
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		fprintf(stderr, "coracle-pause: sigprocmask: %s\n", strerror(errno));
		return -1;
	}
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
		fprintf(stderr, "coracle-pause: sigaction: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int parse_namespaces(const char *list, int *flags)
{
	char buf[256];
	if (strlen(list) >= sizeof buf)
		return -1;
	strcpy(buf, list);
	*flags = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "net") == 0)
			*flags |= CLONE_NEWNET;
		else if (strcmp(tok, "ipc") == 0)
			*flags |= CLONE_NEWIPC;
		else if (strcmp(tok, "uts") == 0)
			*flags |= CLONE_NEWUTS;
		else if (strcmp(tok, "pid") == 0)
			*flags |= CLONE_NEWPID;
		else if (strcmp(tok, "mnt") == 0)
			*flags |= CLONE_NEWNS;
		else if (strcmp(tok, "cgroup") == 0)
			*flags |= CLONE_NEWCGROUP;
		else {
			fprintf(stderr, "coracle-pause: --unshare: unknown namespace '%s'\n", tok);
			return -1;
		}
	}
	return 0;
}

/* Report to the launcher through fd: "<pid>\n" on success, else an error line. */
static void report(int fd, const char *msg)
{
	size_t len = strlen(msg);
	ssize_t n = write(fd, msg, len);
	(void)n; /* nothing more to do if the launcher is gone */
}

static void report_errno(int fd, const char *call)
{
	char msg[512];
	snprintf(msg, sizeof msg, "coracle-pause: %s: %s\n", call, strerror(errno));
	report(fd, msg);
}

static int write_pidfile(const char *path, const char *line)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		fprintf(stderr, "coracle-pause: --pidfile: path too long\n");
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "coracle-pause: open %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	size_t len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0) {
		fprintf(stderr, "coracle-pause: write %s: %s\n", tmp, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "coracle-pause: rename %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/* Runs in the detached child: builds the namespaces and becomes (or forks) the pause. */
struct userns_sync {
	bool on;
	int ready; /* child -> launcher: the user namespace exists */
	int go;    /* launcher -> child: its maps are written */
};

/* In the child: a new user namespace, wait for its maps, become its root. */
static int enter_new_userns(const struct userns_sync *u, int fd)
{
	if (unshare(CLONE_NEWUSER) < 0) {
		report_errno(fd, "unshare(CLONE_NEWUSER)");
		return -1;
	}
	char c = 'u';
	if (write(u->ready, &c, 1) != 1) {
		report_errno(fd, "write to the launcher");
		return -1;
	}
	ssize_t n;
	while ((n = read(u->go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1 || c != 'g')
		return -1; /* the launcher reported why */
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
		report_errno(fd, "become root in the user namespace (setgroups/setresgid/setresuid)");
		return -1;
	}
	return 0;
}

static int launch_child(int flags, const char *hostname, int fd, const struct userns_sync *u)
{
	if (setsid() < 0) {
		report_errno(fd, "setsid");
		return 1;
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0) {
		report_errno(fd, "open /dev/null");
		return 1;
	}
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) {
		report_errno(fd, "dup2");
		return 1;
	}
	if (u->on && enter_new_userns(u, fd) < 0)
		return 1;
	if (unshare(flags) < 0) {
		report_errno(fd, "unshare");
		return 1;
	}
	if (hostname && sethostname(hostname, strlen(hostname)) < 0) {
		report_errno(fd, "sethostname");
		return 1;
	}
	if (block_signals() < 0) {
		report_errno(fd, "sigprocmask");
		return 1;
	}
	char line[32];
	if (flags & CLONE_NEWPID) {
		/* unshare(CLONE_NEWPID) applies to children: the next fork is PID 1 there. */
		pid_t pause = fork();
		if (pause < 0) {
			report_errno(fd, "fork");
			return 1;
		}
		if (pause == 0) {
			close(fd);
			return pause_loop();
		}
		snprintf(line, sizeof line, "%d\n", (int)pause);
		report(fd, line);
		return 0; /* the pause is reparented to the host's init */
	}
	snprintf(line, sizeof line, "%d\n", (int)getpid());
	report(fd, line);
	close(fd);
	return pause_loop();
}

static int write_map(pid_t pid, const char *file, const struct idmap *m, size_t n)
{
	char path[64], text[IDMAP_MAX * 40];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	int len = idmap_format(m, n, text, sizeof text);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (len < 0 || fd < 0 || write(fd, text, (size_t)len) != len) {
		fprintf(stderr, "coracle-pause: write %s: %s\n", path, strerror(len < 0 ? E2BIG : errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

struct maps {
	struct idmap uid[IDMAP_MAX], gid[IDMAP_MAX];
	size_t nuid, ngid;
};

static int launch(int flags, const char *hostname, const char *pidfile, const struct maps *maps)
{
	if (hostname && !(flags & CLONE_NEWUTS)) {
		fprintf(stderr, "coracle-pause: --hostname needs a new uts namespace (--unshare uts)\n");
		return 1;
	}
	int p[2], ready[2] = {-1, -1}, go[2] = {-1, -1};
	if (pipe2(p, O_CLOEXEC) < 0 || (maps && (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0))) {
		fprintf(stderr, "coracle-pause: pipe2: %s\n", strerror(errno));
		return 1;
	}
	struct userns_sync u = {.on = maps != NULL, .ready = ready[1], .go = go[0]};
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "coracle-pause: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		close(p[0]);
		if (maps) {
			close(ready[0]);
			close(go[1]);
		}
		_exit(launch_child(flags, hostname, p[1], &u));
	}
	close(p[1]);
	if (maps) {
		close(ready[1]);
		close(go[0]);
		char c;
		ssize_t n;
		while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
			;
		close(ready[0]);
		/* Written by the launcher, root on the host: any range it checked, setgroups allowed. */
		if (n == 1 && write_map(child, "uid_map", maps->uid, maps->nuid) == 0 &&
		    write_map(child, "gid_map", maps->gid, maps->ngid) == 0) {
			c = 'g';
			if (write(go[1], &c, 1) != 1)
				fprintf(stderr, "coracle-pause: write to the pause: %s\n", strerror(errno));
		} else if (n == 1) {
			close(go[1]);
			close(p[0]);
			kill(child, SIGKILL);
			while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
				;
			return 1;
		}
		close(go[1]);
	}
	char buf[600];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof buf - 1)
			break;
	}
	buf[len] = '\0';
	close(p[0]);
	if (flags & CLONE_NEWPID) {
		/* The intermediate child exits once it has reported. */
		int status;
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
	}
	char *end = NULL;
	long pid = strtol(buf, &end, 10);
	if (len == 0 || pid <= 0 || *end != '\n') {
		fputs(len ? buf : "coracle-pause: the pause process died before it was ready\n", stderr);
		if (!(flags & CLONE_NEWPID) && kill(child, SIGKILL) == 0)
			waitpid(child, NULL, 0);
		return 1;
	}
	if (pidfile && write_pidfile(pidfile, buf) < 0) {
		if (kill((pid_t)pid, SIGKILL) < 0)
			fprintf(stderr, "coracle-pause: kill %ld: %s\n", pid, strerror(errno));
		return 1;
	}
	fputs(buf, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *unshare_list = NULL, *hostname = NULL, *pidfile = NULL, *uid_map = NULL, *gid_map = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			puts("coracle-pause");
			return 0;
		} else if (strcmp(argv[i], "--unshare") == 0 && i + 1 < argc) {
			unshare_list = argv[++i];
		} else if (strcmp(argv[i], "--hostname") == 0 && i + 1 < argc) {
			hostname = argv[++i];
		} else if (strcmp(argv[i], "--uid-map") == 0 && i + 1 < argc) {
			uid_map = argv[++i];
		} else if (strcmp(argv[i], "--gid-map") == 0 && i + 1 < argc) {
			gid_map = argv[++i];
		} else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
			pidfile = argv[++i];
		} else {
			fprintf(stderr, "coracle-pause: unknown or incomplete argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (unshare_list) {
		int flags;
		if (parse_namespaces(unshare_list, &flags) < 0)
			return 2;
		if (!uid_map != !gid_map) {
			fprintf(stderr, "coracle-pause: --uid-map and --gid-map go together\n");
			return 2;
		}
		static struct maps maps;
		char why[256];
		if (uid_map && idmap_parse(uid_map, maps.uid, &maps.nuid, why, sizeof why) < 0) {
			fprintf(stderr, "coracle-pause: --uid-map: %s\n", why);
			return 2;
		}
		if (gid_map && idmap_parse(gid_map, maps.gid, &maps.ngid, why, sizeof why) < 0) {
			fprintf(stderr, "coracle-pause: --gid-map: %s\n", why);
			return 2;
		}
		return launch(flags, hostname, pidfile, uid_map ? &maps : NULL);
	}
	if (hostname || pidfile || uid_map || gid_map) {
		fprintf(stderr, "coracle-pause: --hostname, --pidfile and the maps need --unshare\n");
		return 2;
	}
	if (block_signals() < 0)
		return 1;
	return pause_loop();
}
