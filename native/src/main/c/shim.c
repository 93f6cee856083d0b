/* coracle-shim: creates one container from an OCI bundle and stays with it as its monitor.
 *
 *   coracle-shim create --bundle DIR --state DIR [--log FILE] [--stdin] [--runtime PATH] [--cgroup PATH]
 *       Loads DIR/config.json, forks the monitor (own session, stdio on /dev/null, its own
 *       diagnostics appended to <state>/shim.log) which builds the container and leaves it
 *       waiting for start. When the container is created the launcher prints its PID and
 *       exits 0; on failure it prints "coracle-shim: <what failed>" on stderr, exits 65
 *       (EX_DATAERR) when the request is at fault (the spec, an id, the command, a path in the
 *       image: class "invalid") and 1 when the host or the shim failed (class "internal"), and
 *       nothing is left behind (process, cgroup). The monitor keeps the container's stdio
 *       (pipes, or a pty with process.terminal), writes FILE in the CRI log format, serves
 *       <state>/ctl.sock (protocol in control.h) and <state>/attach.sock (attach.h), and
 *       writes <state>/exit.json when the container exits, then exits itself.
 *       With --runtime, an OCI runtime (runc, crun) creates and starts the container from the
 *       same bundle: the shim mounts the rootfs in a private mount namespace of its own, runs
 *       "PATH --root <state>/runtime create|start|delete <state dir name>", and monitors it as usual.
 *       Files in the state dir: state.json {"pid","shimPid","status","bundle","createdAt","startedAt"},
 *       cgroups (one directory per line), exit.json, shim.log, ctl.sock, attach.sock.
 *       How the bundle expresses the overlay rootfs: see mounts.h.
 *       With --restore PLAN, the container's process is not built: at start, CRIU restores it from
 *       a checkpoint as the monitor's child (restore.h; the rootfs is mounted as for --runtime), and
 *       the launcher prints 0 (no process yet).
 *       With --cgroup PATH (the pod's pause leaf) the monitor first leaves the daemon's cgroup
 *       for PATH (shimcgroup.h): killing the daemon's whole cgroup spares it and its container.
 *   coracle-shim exec --state DIR --process FILE [--exit-file FILE] [--tty [--resize-fifo FIFO]]
 *       Runs the OCI process object in FILE inside the running container (see exec.h).
 *   coracle-shim ctl --state DIR REQUEST...
 *       Sends one control request and prints the reply (for people and scripts); for
 *       "update", the resources JSON is read from stdin.
 *   coracle-shim cgroup --path PATH < resources.json
 *       Creates a cgroup no container owns (a pod's) in every hierarchy and writes the OCI
 *       linux.resources object read from stdin, with the same code as a container's.
 *   coracle-shim devices --cgroup DIR < resources.json
 *       Makes linux.resources.devices of the object read from stdin the device policy of an
 *       existing cgroup DIR under /sys/fs/cgroup (v1: a directory of the devices hierarchy;
 *       cgroup2: the eBPF program, replacing Coracle's earlier one), with the code a container's
 *       create and update use (devices.h). For tools and tests; exit 65 for bad rules, 1 else.
 *   coracle-shim dial --netns PATH --port N --socket UNIXPATH
 *       Connects to 127.0.0.1:N (else [::1]:N) in a network namespace and sends the connected
 *       socket to the daemon over UNIXPATH (see dial.h), for port forwarding.
 *   coracle-shim userns-probe DIR
 *       Whether pods with user namespaces run here (userns.h): a user namespace, an idmapped copy
 *       of DIR (on the file system of the layers) and an overlay over it, made and thrown away.
 *       Prints "ok" and exits 0, or prints the failing step and exits 1.
 *   coracle-shim userns-probe DIR --runtime PATH
 *       Whether the OCI runtime at PATH runs a pod's container in a user namespace: in DIR (new and
 *       empty; the caller removes it) a tiny container joining a user namespace by path, with the
 *       idmapped rootfs and binds Coracle makes for it, is run; "ok", or the runtime's reason, exit 1.
 *   coracle-shim probe
 *       Prints what this host can enforce as one JSON object: recursiveReadOnly (mount_setattr
 *       with AT_RECURSIVE works), lsms (the active LSMs, from securityfs or lsm_list_modules),
 *       lsmsFrom, apparmor (enabled), apparmorParser (installed), selinux (enforcing, permissive
 *       or disabled). Changes nothing on the host (the mount test runs in a private namespace).
 *   coracle-shim lsm-plan --process FILE --layout apparmor|shared
 *       Prints, one "PATH HEX-BYTES" line per write, what a container's process with the OCI
 *       process object in FILE would write before execve (lsm.h), for a kernel with
 *       /proc/thread-self/attr/apparmor/ (apparmor) or without (shared). Writes nothing.
 *   coracle-shim --version
 *       Prints "coracle-shim VERSION" (the build's, from make VERSION=...).
 * A bad command line is one line on stderr and exit 2, before anything is created.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "attach.h"
#include "cgroup.h"
#include "shimcgroup.h"
#include "container.h"
#include "devices.h"
#include "control.h"
#include "dial.h"
#include "exec.h"
#include "log.h"
#include "lsm.h"
#include "mounts.h"
#include "restore.h"
#include "selfexe.h"
#include "terminal.h"
#include "userns.h"

#define MAX_CLIENTS 32
#define CREATE_TIMEOUT_MS 60000
#define RESTORE_TIMEOUT_MS 300000

enum status { CREATED, RUNNING, STOPPED };
static const char *const status_names[] = {"created", "running", "stopped"};

struct monitor {
	const char *state_dir;
	const char *runtime; /* an OCI runtime (runc, crun) that runs the bundle; NULL: the shim itself */
	const char *own_cgroup; /* where the monitor goes from the daemon's cgroup; NULL: it stays */
	const char *restore_plan; /* --restore: CRIU restores the process at start (restore.h) */
	struct restore restore;
	struct container c;
	struct cgroup cg;
	pid_t pid;
	int sync;
	int out_fd, err_fd; /* read ends; the pty master serves as out_fd with a terminal */
	int in_fd;          /* stdin pipe's write end, or the pty master; -1 without stdin */
	int pty;
	bool has_log;
	struct log_file log;
	struct log_stream out, err;
	int ctl, sigfd;
	int clients[MAX_CLIENTS];
	bool waiting[MAX_CLIENTS];
	int nclients;
	struct attach attach;
	enum status status;
	int64_t created_ns, started_ns, finished_ns;
	int wstatus;
	bool exited;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void state_path(const struct monitor *m, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", m->state_dir, name);
}

static void json_escape(const char *s, char *out, size_t len)
{
	size_t n = 0;
	for (; *s && n + 7 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20) {
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", ch);
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = '\0';
}

static void write_state(struct monitor *m)
{
	char path[PATH_MAX], bundle[PATH_MAX * 2], buf[PATH_MAX * 3];
	json_escape(m->c.bundle, bundle, sizeof bundle);
	int n = snprintf(buf, sizeof buf,
			 "{\"pid\":%d,\"shimPid\":%d,\"status\":\"%s\",\"bundle\":\"%s\",\"createdAt\":%" PRId64
			 ",\"startedAt\":%" PRId64 "}\n",
			 (int)m->pid, (int)getpid(), status_names[m->status], bundle, m->created_ns, m->started_ns);
	state_path(m, "state.json", path, sizeof path);
	struct cerr e;
	if (write_file_atomic(path, buf, (size_t)n, false, &e) < 0)
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
}

static int exit_record(const struct monitor *m, bool oom, char *buf, size_t len)
{
	int code = 0, sig = 0;
	if (WIFEXITED(m->wstatus))
		code = WEXITSTATUS(m->wstatus);
	else if (WIFSIGNALED(m->wstatus)) {
		sig = WTERMSIG(m->wstatus);
		code = 128 + sig;
	}
	return snprintf(buf, len,
			"{\"pid\":%d,\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"createdAt\":%" PRId64
			",\"startedAt\":%" PRId64 ",\"finishedAt\":%" PRId64 "}",
			(int)m->pid, code, sig, oom ? "true" : "false", m->created_ns, m->started_ns, m->finished_ns);
}

/* Sends every process of the container's cgroup (or just its first process) a signal. */
static void kill_all(struct monitor *m, int sig)
{
	if (m->cg.ndirs == 0) {
		if (!m->exited)
			kill_logged(m->pid, sig);
		return;
	}
	char path[600];
	snprintf(path, sizeof path, "%s/cgroup.procs", m->cg.dirs[0]);
	struct cerr e;
	char *procs = read_file(path, NULL, &e);
	if (!procs)
		return;
	char *save = NULL;
	for (char *line = strtok_r(procs, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long pid = strtol(line, NULL, 10);
		if (pid > 0 && kill((pid_t)pid, sig) < 0 && errno != ESRCH)
			fprintf(stderr, "coracle-shim: kill %ld: %s\n", pid, strerror(errno));
	}
	free(procs);
}

static void reap(struct monitor *m)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			break;
		if (p == m->pid && !m->exited) {
			m->exited = true;
			m->wstatus = st;
			m->finished_ns = now_ns();
			/* As runc's shim does when the init dies: what is left in the container's cgroup (a
			 * shared PID namespace keeps it alive) is killed now, so that its copies of the
			 * stdout/stderr pipes close and the drain below ends at once, not after its deadline. */
			kill_all(m, SIGKILL);
		}
	}
}

/* Runs "<runtime> --root <state>/runtime <args...> <id>" and waits; the container id is the state
 * dir's name. stdio: the fds for 0, 1, 2 (the container's own for create). Returns its exit status
 * (as waitpid gives it), or -1 with errno. */
static int run_runtime(const struct monitor *m, const char *const args[], const int stdio[3])
{
	char root[PATH_MAX];
	state_path(m, "runtime", root, sizeof root);
	const char *id = strrchr(m->state_dir, '/') ? strrchr(m->state_dir, '/') + 1 : m->state_dir;
	const char *argv[16] = {m->runtime, "--root", root};
	int n = 3;
	for (int i = 0; args[i] && n < 14; i++)
		argv[n++] = args[i];
	argv[n++] = id;
	argv[n] = NULL;
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int i = 0; i < 3; i++)
			if (stdio[i] >= 0 && dup2(stdio[i], i) < 0)
				_exit(126);
		execv(m->runtime, (char *const *)argv);
		fprintf(stderr, "coracle-shim: exec %s: %s\n", m->runtime, strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* What the spec promises every restored task: its own namespaces, no capability outside the
 * bounding set, no_new_privs and a seccomp filter when the spec sets them. */
static int restore_check(struct monitor *m, struct cerr *e)
{
	struct restore_limits lim = {
		.own_ns = m->c.ns.clone_flags | CLONE_NEWNS | (m->c.ns.pid_fd >= 0 ? CLONE_NEWPID : 0),
		.cap_bound = m->c.proc.caps.bounding,
		.no_new_privs = m->c.proc.no_new_privs,
		.seccomp = json_get(json_get(m->c.spec, "linux"), "seccomp") != NULL, /* built only in a child */
	};
	for (int i = 0; i < NS_KINDS; i++)
		if (m->c.ns.join_fd[i] >= 0)
			lim.own_ns |= m->c.ns.join_type[i];
	struct stat mnt_self;
	if (stat("/proc/self/ns/mnt", &mnt_self) < 0)
		return fail(e, errno, "stat /proc/self/ns/mnt");
	return restore_verify(&m->restore, &m->cg, &lim, &mnt_self, e);
}

/* Every task in the container's cgroup (stopped ones too) killed; never by m->pid, not set yet. */
static void restore_kill_tasks(struct monitor *m)
{
	if (m->cg.ndirs > 0) {
		kill_all(m, SIGKILL);
		kill_all(m, SIGCONT);
	}
}

static void do_start(struct monitor *m, int client)
{
	if (m->status != CREATED || m->exited) {
		control_reply(client, "error the container is %s", m->exited ? "stopped" : status_names[m->status]);
		return;
	}
	if (m->restore_plan) {
		struct cerr e;
		pid_t pid = restore_run(&m->restore, &m->cg, m->state_dir, RESTORE_TIMEOUT_MS, &e);
		/* criu left the tasks stopped (--leave-stopped): none runs before all are checked. */
		if (pid > 0 && restore_check(m, &e) < 0) {
			restore_kill_tasks(m);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			pid = -1;
		} else if (pid > 0) {
			kill_all(m, SIGCONT);
		}
		restore_free(&m->restore);
		int st;
		if (pid > 0) {
			pid_t w = waitpid(pid, &st, WNOHANG);
			if (w == 0 || w == pid) {
				m->pid = pid;
				m->status = RUNNING;
				m->started_ns = now_ns();
				if (w == pid) { /* it exited already: its status is recorded now */
					m->exited = true;
					m->wstatus = st;
					m->finished_ns = now_ns();
				}
				write_state(m);
				control_reply(client, "ok");
				return;
			}
			kill_logged(pid, SIGKILL);
			fail(&e, errno, "the restored process %d is not the shim's child (criu without --restore-sibling?)",
			     (int)pid);
		}
		/* Nothing runs: what a failed or timed-out criu left in the cgroup is killed; the container
		 * stays created and can only be removed. */
		restore_kill_tasks(m);
		m->exited = true;
		m->finished_ns = now_ns();
		m->wstatus = 255 << 8;
		fprintf(stderr, "coracle-shim: start: %s\n", e.msg);
		control_reply(client, "error start: %s (see %s/shim.log)", e.msg, m->state_dir);
		return;
	}
	if (m->runtime) {
		static const char *const start[] = {"start", NULL};
		const int stdio[3] = {-1, -1, -1};
		int st = run_runtime(m, start, stdio);
		if (st == 0) {
			m->status = RUNNING;
			m->started_ns = now_ns();
			write_state(m); /* before the reply: the daemon reads "running" from it next */
			control_reply(client, "ok");
		} else {
			control_reply(client, "error start: %s start exited %d (see %s/shim.log)", m->runtime,
				      WIFEXITED(st) ? WEXITSTATUS(st) : -1, m->state_dir);
		}
		return;
	}
	if (send(m->sync, "s", 1, MSG_NOSIGNAL) < 0) {
		control_reply(client, "error the container process is gone: %s", strerror(errno));
		return;
	}
	/* EOF: execve succeeded and closed its end; a message: why it failed. */
	struct pollfd p = {.fd = m->sync, .events = POLLIN};
	int r;
	while ((r = poll(&p, 1, 10000)) < 0 && errno == EINTR)
		;
	char msg[1200];
	ssize_t n = r > 0 ? recv(m->sync, msg, sizeof msg - 1, 0) : -1;
	if (n == 0) {
		m->status = RUNNING;
		m->started_ns = now_ns();
		write_state(m);
		control_reply(client, "ok");
	} else if (n > 0) {
		msg[n] = '\0';
		enum cerr_class cls;
		const char *why = cerr_parse(msg, &cls);
		fprintf(stderr, "coracle-shim: start: %s\n", why);
		control_reply(client, "error start: %s", why);
	} else {
		control_reply(client, "error start: no word from the container process");
	}
	close(m->sync);
	m->sync = -1;
}

/* The first line of what a runtime wrote to fd and is ready now (its error message), or "". */
static void first_line_ready(int fd, char *why, size_t len)
{
	why[0] = '\0';
	int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	if (flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0) {
		ssize_t n = read(fd, why, len - 1);
		why[n > 0 ? n : 0] = '\0';
		why[strcspn(why, "\n")] = '\0';
	}
}

/* With an OCI runtime, the runtime owns its cgroup settings: "<runtime> update --resources FILE",
 * as containerd does, so that its own state keeps up. */
static int runtime_update(const struct monitor *m, const char *body, size_t len, struct cerr *e)
{
	char file[PATH_MAX];
	state_path(m, "resources.json", file, sizeof file);
	if (write_file_atomic(file, body, len, false, e) < 0)
		return -1;
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		unlink(file);
		return fail(e, errno, "pipe2");
	}
	const char *const args[] = {"update", "--resources", file, NULL};
	const int stdio[3] = {-1, -1, errp[1]};
	int st = run_runtime(m, args, stdio);
	int err = errno;
	close(errp[1]);
	unlink(file);
	char why[512];
	first_line_ready(errp[0], why, sizeof why);
	close(errp[0]);
	if (st < 0)
		return fail(e, err, "run %s update", m->runtime);
	if (st != 0)
		return fail(e, 0, "%s update exited %d: %s", m->runtime, WIFEXITED(st) ? WEXITSTATUS(st) : -1, why);
	return 0;
}

/* "update <n>" and n bytes of an OCI linux.resources object; false when the client must be
 * dropped (its framing is broken). */
static bool do_update(struct monitor *m, int client, const char *len_arg)
{
	char *end = NULL;
	long n = len_arg ? strtol(len_arg, &end, 10) : 0;
	if (!len_arg || end == len_arg || *end || n <= 0 || n > CONTROL_BODY_MAX) {
		control_reply(client, "error update: length '%s' is not in 1..%d", len_arg ? len_arg : "", CONTROL_BODY_MAX);
		return false;
	}
	char *body = malloc((size_t)n + 1);
	if (!body) {
		control_reply(client, "error update: out of memory");
		return false;
	}
	if (control_read_body(client, body, (size_t)n, 2000) < 0) {
		free(body);
		control_reply(client, "error update: fewer than %ld bytes of resources arrived", n);
		return false;
	}
	body[n] = '\0';
	struct cerr e;
	char perr[128];
	struct json *res = NULL;
	if (m->exited) {
		fail(&e, 0, "the container has exited");
	} else if (!(res = json_parse(body, (size_t)n, perr, sizeof perr))) {
		fail(&e, 0, "linux.resources: %s", perr);
	} else if (res->type != JSON_OBJECT) {
		fail(&e, 0, "linux.resources: not a JSON object");
	} else if (m->runtime ? runtime_update(m, body, (size_t)n, &e) == 0 : cgroup_update(&m->cg, res, &e) == 0) {
		e.msg[0] = '\0';
	}
	json_free(res);
	free(body);
	if (e.msg[0]) {
		fprintf(stderr, "coracle-shim: update: %s\n", e.msg);
		control_reply(client, "error %s", e.msg);
	} else {
		control_reply(client, "ok");
	}
	return true;
}

static void resize(int pty, int rows, int cols)
{
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	if (pty >= 0 && ioctl(pty, TIOCSWINSZ, &ws) < 0)
		fprintf(stderr, "coracle-shim: ioctl(TIOCSWINSZ): %s\n", strerror(errno));
}

/* Closes the container's stdin once what is buffered for it is written (now, when nothing is). */
static void close_stdin(struct monitor *m)
{
	m->attach.in_close = true;
	if (m->attach.in_len > 0)
		return;
	if (m->in_fd >= 0 && m->in_fd != m->pty) {
		close(m->in_fd);
		m->in_fd = -1;
	}
}

/* Writes buffered stdin as far as the container takes it, never waiting for it. */
static void flush_stdin(struct monitor *m)
{
	if (m->in_fd >= 0 && attach_flush_stdin(&m->attach, m->in_fd) < 0 && errno != EPIPE && errno != EIO)
		fprintf(stderr, "coracle-shim: write stdin: %s\n", strerror(errno));
	if (m->attach.in_len == 0 && m->attach.in_close)
		close_stdin(m);
}

/* Handles one request; returns false when the client is gone. */
static bool handle_request(struct monitor *m, int idx)
{
	int client = m->clients[idx];
	char line[512];
	int n = control_read_line(client, line, sizeof line, 1000);
	if (n <= 0)
		return false;
	char *save = NULL, *cmd = strtok_r(line, " ", &save);
	char *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save);
	if (!cmd) {
		control_reply(client, "error empty request");
	} else if (strcmp(cmd, "state") == 0) {
		control_reply(client, "ok %s %d", m->exited ? "stopped" : status_names[m->status], (int)m->pid);
	} else if (strcmp(cmd, "start") == 0) {
		do_start(m, client);
	} else if (strcmp(cmd, "kill") == 0) {
		long sig = a1 ? strtol(a1, NULL, 10) : SIGTERM;
		if (sig <= 0 || sig >= 65) {
			control_reply(client, "error kill: bad signal '%s'", a1 ? a1 : "");
		} else if (m->pid <= 0) {
			/* A restore not started: no process, so the kill ends the container (exit 128+sig). */
			if (!m->exited) {
				m->exited = true;
				m->wstatus = (int)sig;
				m->finished_ns = now_ns();
				restore_free(&m->restore);
			}
			control_reply(client, "ok");
		} else if (a2 && strcmp(a2, "all") == 0) {
			kill_all(m, (int)sig);
			control_reply(client, "ok");
		} else if (!m->exited && kill(m->pid, (int)sig) < 0) {
			control_reply(client, "error kill %d: %s", (int)m->pid, strerror(errno));
		} else {
			control_reply(client, "ok");
		}
	} else if (strcmp(cmd, "reopen-log") == 0) {
		struct cerr e;
		if (m->has_log && log_reopen(&m->log, &e) < 0)
			control_reply(client, "error %s", e.msg);
		else
			control_reply(client, "ok");
	} else if (strcmp(cmd, "resize") == 0 && a1 && a2) {
		resize(m->pty, atoi(a1), atoi(a2));
		control_reply(client, "ok");
	} else if (strcmp(cmd, "close-stdin") == 0) {
		close_stdin(m);
		control_reply(client, "ok");
	} else if (strcmp(cmd, "update") == 0) {
		return do_update(m, client, a1);
	} else if (strcmp(cmd, "wait") == 0) {
		m->waiting[idx] = true; /* answered when the container has exited */
	} else {
		control_reply(client, "error unknown request '%s'", cmd);
	}
	return true;
}

static void drop_client(struct monitor *m, int idx)
{
	close(m->clients[idx]);
	m->clients[idx] = m->clients[m->nclients - 1];
	m->waiting[idx] = m->waiting[m->nclients - 1];
	m->nclients--;
}

static void on_output(struct monitor *m, int *fd, struct log_stream *s, int stream)
{
	char buf[16384]; /* small: this stack stays resident in every idle shim */
	ssize_t n = read(*fd, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* EOF, or EIO from a pty whose slave side is all closed */
		if (m->has_log)
			log_flush(&m->log, s);
		if (*fd != m->in_fd)
			close(*fd);
		*fd = -1;
		return;
	}
	if (m->has_log)
		log_write(&m->log, s, buf, (size_t)n);
	attach_broadcast(&m->attach, stream, buf, (size_t)n);
}

static _Noreturn void finish(struct monitor *m)
{
	trace("container exited");
	if (m->has_log) {
		log_flush(&m->log, &m->out);
		log_flush(&m->log, &m->err);
	}
	bool oom = m->cg.ndirs > 0 && cgroup_oom_killed(&m->cg);
	/* Leftovers (a shared PID namespace keeps them alive): kill, reap, then the cgroup, so
	 * that a caller woken by the exit record finds nothing left to clean. */
	kill_all(m, SIGKILL);
	for (int tries = 0; tries < 100; tries++) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0)
			break;
		if (p == 0) {
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	struct cerr e;
	trace("leftovers reaped");
	if (m->runtime) {
		static const char *const del[] = {"delete", "--force", NULL};
		const int stdio[3] = {-1, -1, -1};
		if (run_runtime(m, del, stdio) != 0)
			fprintf(stderr, "coracle-shim: %s delete failed\n", m->runtime);
	}
	if (cgroup_remove(&m->cg, &e) < 0)
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
	trace("cgroup removed");
	char rec[512], path[PATH_MAX];
	int n = exit_record(m, oom, rec, sizeof rec);
	state_path(m, "exit.json", path, sizeof path);
	rec[n] = '\n';
	if (write_file_atomic(path, rec, (size_t)n + 1, true, &e) < 0)
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
	rec[n] = '\0';
	m->status = STOPPED;
	write_state(m);
	static const char *const sockets[] = {"ctl.sock", "attach.sock"};
	for (size_t i = 0; i < 2; i++) {
		state_path(m, sockets[i], path, sizeof path);
		if (unlink(path) < 0 && errno != ENOENT)
			fprintf(stderr, "coracle-shim: unlink %s: %s\n", path, strerror(errno));
	}
	/* Waiters hear of the exit once exit.json is on disk. */
	for (int i = 0; i < m->nclients; i++)
		if (m->waiting[i])
			control_reply(m->clients[i], "ok %s", rec);
	/* Connections that queued up meanwhile still get an answer. */
	for (int fd; (fd = accept4(m->ctl, NULL, NULL, SOCK_CLOEXEC)) >= 0; close(fd)) {
		char line[512];
		if (control_read_line(fd, line, sizeof line, 100) <= 0)
			continue;
		if (strcmp(line, "wait") == 0)
			control_reply(fd, "ok %s", rec);
		else if (strcmp(line, "state") == 0)
			control_reply(fd, "ok stopped %d", (int)m->pid);
		else
			control_reply(fd, "error the container has exited");
	}
	trace("exit recorded");
	_exit(0);
}

static _Noreturn void loop(struct monitor *m)
{
	int64_t drain_deadline = -1;
	for (;;) {
		struct pollfd p[8 + MAX_CLIENTS + ATTACH_MAX];
		int np = 0;
		p[np++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = m->ctl, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = m->out_fd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = m->err_fd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = m->attach.listen_fd, .events = POLLIN};
		int first_client = np;
		for (int i = 0; i < m->nclients; i++)
			p[np++] = (struct pollfd){.fd = m->clients[i], .events = POLLIN};
		/* Attach clients are read only while their stdin data has room (backpressure). */
		int first_attach = np;
		bool can_read = attach_can_read(&m->attach);
		for (int i = 0; i < m->attach.n; i++)
			p[np++] = (struct pollfd){.fd = can_read ? m->attach.clients[i].fd : -1, .events = POLLIN};
		int in = np;
		p[np++] = (struct pollfd){.fd = m->attach.in_len > 0 ? m->in_fd : -1, .events = POLLOUT};
		int timeout = -1;
		if (m->exited) {
			if (drain_deadline < 0)
				drain_deadline = mono_ms() + 1000;
			if ((m->out_fd < 0 && m->err_fd < 0) || mono_ms() >= drain_deadline)
				finish(m);
			timeout = (int)(drain_deadline - mono_ms());
		}
		int r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "coracle-shim: poll: %s\n", strerror(errno));
			sleep(1);
			continue;
		}
		if (r <= 0)
			continue;
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(m->sigfd, &si, sizeof si) == sizeof si)
				;
			reap(m);
		}
		if (p[2].revents)
			on_output(m, &m->out_fd, &m->out, ATTACH_STDOUT);
		if (p[3].revents)
			on_output(m, &m->err_fd, &m->err, ATTACH_STDERR);
		/* Clients: from the highest index, since dropping one moves the last into its slot. */
		for (int i = m->nclients - 1; i >= 0; i--)
			if (p[first_client + i].revents && !handle_request(m, i))
				drop_client(m, i);
		for (int i = m->attach.n - 1; i >= 0; i--)
			if (p[first_attach + i].revents) {
				int rows, cols;
				int what = attach_read(&m->attach, i, m->in_fd >= 0, &rows, &cols);
				if (what == ATTACH_RESIZE)
					resize(m->pty, rows, cols);
				else if (what == ATTACH_CLOSE_STDIN)
					close_stdin(m);
			}
		if (p[in].revents || m->attach.in_len > 0)
			flush_stdin(m);
		if (p[1].revents) {
			int fd = accept4(m->ctl, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && m->nclients == MAX_CLIENTS)
				close(fd);
			else if (fd >= 0) {
				m->waiting[m->nclients] = false;
				m->clients[m->nclients++] = fd;
			}
		}
		if (p[4].revents)
			attach_accept(&m->attach);
	}
}

/* Sets the container's oom_score_adj. Lowering it below the shim's own needs
 * CAP_SYS_RESOURCE, which root here may lack: then keep the lowest value allowed. */
static void set_oom_score_adj(struct monitor *m)
{
	const struct json *v = json_get(json_get(m->c.spec, "process"), "oomScoreAdj");
	if (!v || !v->is_integer)
		return;
	char path[64], val[32];
	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)m->pid);
	snprintf(val, sizeof val, "%" PRId64, v->integer);
	struct cerr e;
	if (write_file(path, val, &e) == 0)
		return;
	char *cur = read_file("/proc/self/oom_score_adj", NULL, &e);
	fprintf(stderr, "coracle-shim: process.oomScoreAdj %s refused (no CAP_SYS_RESOURCE?): clamped to %s",
		val, cur ? cur : "the inherited value\n");
	if (cur && write_file(path, cur, &e) < 0)
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
	free(cur);
}

/* Tells the launcher how create went; -1 when it is gone (its caller gave up). */
static int report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int report(int fd, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write_all(fd, line, (size_t)n) < 0) {
		fprintf(stderr, "coracle-shim: report to the launcher: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int open_stdio(struct monitor *m, bool want_stdin, int child_stdio[3], struct cerr *e)
{
	if (m->c.proc.terminal) {
		/* The container makes its pty in its own devpts and sends us the master. */
		if ((child_stdio[0] = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			return fail(e, errno, "open /dev/null");
		child_stdio[1] = child_stdio[2] = child_stdio[0];
		return 0;
	}
	int out[2], err[2], in[2] = {-1, -1};
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return fail(e, errno, "pipe2");
	if (want_stdin) {
		/* The monitor's end never blocks it: a container that does not read its stdin only
		 * fills the attach buffer. */
		if (pipe2(in, O_CLOEXEC) < 0 || fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)
			return fail(e, errno, "pipe2");
	} else if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		return fail(e, errno, "open /dev/null");
	}
	m->out_fd = out[0];
	m->err_fd = err[0];
	m->in_fd = in[1];
	child_stdio[0] = in[0];
	child_stdio[1] = out[1];
	child_stdio[2] = err[1];
	return 0;
}

/* Create failed or nobody waits for it: kill the container process, remove its cgroups and
 * the state files, tell the launcher why (if it still listens), exit. */
static _Noreturn void abandon(struct monitor *m, int status, const struct cerr *why)
{
	struct cerr e;
	char path[PATH_MAX];
	if (m->pid > 0) {
		kill_logged(m->pid, SIGKILL);
		while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (cgroup_remove(&m->cg, &e) < 0)
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
	static const char *const files[] = {"ctl.sock", "attach.sock", "state.json", "cgroups"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		state_path(m, files[i], path, sizeof path);
		if (unlink(path) < 0 && errno != ENOENT)
			fprintf(stderr, "coracle-shim: unlink %s: %s\n", path, strerror(errno));
	}
	fprintf(stderr, "coracle-shim: create: %s\n", why->msg);
	report(status, "error %s %s", cerr_class_name(why->cls), why->msg);
	_exit(1);
}

/* Waits (bounded: a container stuck in a hung mount is given up) for the container process
 * to say "ready", taking its pty master on the way. */
static int await_ready(struct monitor *m, struct cerr *e)
{
	char msg[1200];
	for (;;) {
		struct pollfd pf = {.fd = m->sync, .events = POLLIN};
		int r;
		while ((r = poll(&pf, 1, CREATE_TIMEOUT_MS)) < 0 && errno == EINTR)
			;
		if (r < 0)
			return fail(e, errno, "poll for the container process");
		if (r == 0)
			return fail(e, ETIMEDOUT, "waiting for the container process to be built");
		ssize_t n = terminal_recv(m->sync, msg, sizeof msg - 1, &m->pty);
		if (n < 0)
			return fail(e, errno, "recv from the container process");
		if (n == 0)
			return fail(e, 0, "the container process died while being created");
		if (n == 3 && memcmp(msg, "pty", 3) == 0 && m->pty >= 0) {
			m->out_fd = m->in_fd = m->pty;
			if (fcntl(m->pty, F_SETFL, O_NONBLOCK) < 0)
				return fail(e, errno, "fcntl(O_NONBLOCK) on the pty master");
			const struct json *size = json_get(json_get(m->c.spec, "process"), "consoleSize");
			const struct json *h = json_get(size, "height"), *w = json_get(size, "width");
			if (h && w && h->is_integer && w->is_integer && h->integer > 0 && h->integer <= 65535 &&
			    w->integer > 0 && w->integer <= 65535)
				resize(m->pty, (int)h->integer, (int)w->integer);
			continue;
		}
		if (n == 5 && memcmp(msg, "ready", 5) == 0)
			return 0;
		msg[n] = '\0';
		enum cerr_class cls;
		const char *why = cerr_parse(msg, &cls);
		return cls == CERR_INVALID ? refuse(e, 0, "%.1000s", why) : fail(e, 0, "%.1000s", why);
	}
}

/* With an OCI runtime: the rootfs is mounted in a private mount namespace of the monitor's own
 * (never on the host), then "<runtime> create" makes the container with the container's stdio;
 * its init process becomes the monitor's child (the monitor is a subreaper). */
static int runtime_create(struct monitor *m, const int child_stdio[3], struct cerr *e)
{
	if (unshare(CLONE_NEWNS) < 0)
		return fail(e, errno, "unshare(CLONE_NEWNS) for %s", m->runtime);
	/* The runtime copies this namespace: its propagation is what volumes can get (rslave, rshared). */
	if (rootfs_propagate(m->c.spec, m->c.rootfs, e) < 0)
		return -1;
	/* In the pod's user namespace (joined by the runtime, by path): the rootfs over idmapped layers
	 * and idmapped copies of the bind sources are made here, as the host's root, for the runtime. */
	if (m->c.ns.user_fd >= 0 ? userns_check_joined(m->c.spec, m->c.ns.user_fd, e) < 0 ||
					   runtime_premount_userns(m->c.spec, m->c.bundle, m->c.rootfs, m->c.ns.user_fd, e) < 0
				 : rootfs_mount(m->c.spec, m->c.rootfs, e) < 0)
		return -1;
	char pidfile[PATH_MAX];
	state_path(m, "runtime.pid", pidfile, sizeof pidfile);
	const char *const create[] = {"create", "--bundle", m->c.bundle, "--pid-file", pidfile, NULL};
	int st = run_runtime(m, create, child_stdio);
	if (st != 0) {
		/* The runtime's own message went to the container's stderr: take it from there. */
		char why[512];
		first_line_ready(m->err_fd, why, sizeof why);
		return fail(e, 0, "%s create exited %d: %s", m->runtime, WIFEXITED(st) ? WEXITSTATUS(st) : -1, why);
	}
	FILE *f = fopen(pidfile, "re");
	int pid = 0;
	if (!f)
		return fail(e, errno, "open %s", pidfile);
	int got = fscanf(f, "%d", &pid);
	fclose(f);
	if (got != 1 || pid <= 0)
		return fail(e, 0, "%s: no PID", pidfile);
	m->pid = pid;
	return 0;
}

/* The monitor: builds the container, reports to the launcher on status, then serves. */
static _Noreturn void monitor_run(struct monitor *m, const char *log_path, bool want_stdin, int status)
{
	struct cerr e;
	char path[PATH_MAX];
	int child_stdio[3] = {-1, -1, -1};
	m->out.name = "stdout";
	m->err.name = "stderr";
	m->out_fd = m->err_fd = m->in_fd = m->pty = m->sync = -1;
	attach_init(&m->attach);
	if (setsid() < 0) {
		report(status, "setsid: %s", strerror(errno));
		_exit(1);
	}
	state_path(m, "shim.log", path, sizeof path);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int diag = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (null < 0 || diag < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(diag, 2) < 0) {
		report(status, "open %s: %s", path, strerror(errno));
		_exit(1);
	}
	close(null);
	close(diag);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		report(status, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
		_exit(1);
	}
	/* The monitor outlives whoever started it: it ignores the usual termination signals. */
	static const int quit_signals[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, 0}, chld[] = {SIGCHLD, 0};
	sigset_t set, old;
	if (set_signals(quit_signals, SIG_IGN, &e) < 0 || block_signals(chld, &set, &old, &e) < 0) {
		report(status, "error %s %s", cerr_class_name(e.cls), e.msg);
		_exit(1);
	}
	if ((m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		report(status, "signalfd: %s", strerror(errno));
		_exit(1);
	}
	if (log_path) {
		if (log_open(&m->log, log_path, &e) < 0) {
			report(status, "error %s %s", cerr_class_name(e.cls), e.msg);
			_exit(1);
		}
		m->has_log = true;
	}
	trace("monitor started");
	if (m->own_cgroup && shim_cgroup_enter(m->own_cgroup, &e) < 0) {
		report(status, "error %s %s", cerr_class_name(e.cls), e.msg);
		_exit(1);
	}
	if (cgroup_setup(m->c.spec, &m->cg, &e) < 0) {
		report(status, "error %s %s", cerr_class_name(e.cls), e.msg);
		_exit(1);
	}
	if (m->restore_plan) {
		/* As for a runtime: the rootfs in a private mount namespace of the monitor, which criu's
		 * --root names; criu builds the container's own mount namespace from its images. */
		m->created_ns = now_ns();
		if (restore_load(m->restore_plan, &m->restore, &e) < 0 || open_stdio(m, want_stdin, child_stdio, &e) < 0 ||
		    (unshare(CLONE_NEWNS) < 0 && fail(&e, errno, "unshare(CLONE_NEWNS) for criu restore")) ||
		    rootfs_propagate(m->c.spec, m->c.rootfs, &e) < 0 || rootfs_mount(m->c.spec, m->c.rootfs, &e) < 0 ||
		    cgroup_apply_devices(m->c.spec, &m->cg, &e) < 0) /* before criu: its restore runs confined */
			abandon(m, status, &e);
		for (int i = 0; i < 3; i++)
			m->restore.stdio[i] = child_stdio[i];
		trace("restore prepared");
		goto created;
	}
	if (m->runtime) {
		if (open_stdio(m, want_stdin, child_stdio, &e) < 0)
			abandon(m, status, &e);
		m->created_ns = now_ns();
		if (runtime_create(m, child_stdio, &e) < 0)
			abandon(m, status, &e);
		for (int i = 0; i < 3; i++)
			if (child_stdio[i] >= 0 && (i == 0 || child_stdio[i] != child_stdio[i - 1]))
				close(child_stdio[i]);
		set_oom_score_adj(m);
		trace("created by the runtime");
		goto created;
	}
	int pair[2];
	if (open_stdio(m, want_stdin, child_stdio, &e) < 0 ||
	    (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0 && fail(&e, errno, "socketpair")) ||
	    (m->c.ns.pid_fd >= 0 && setns(m->c.ns.pid_fd, CLONE_NEWPID) < 0 && fail(&e, errno, "setns pid")))
		abandon(m, status, &e);
	trace("cgroup ready");
	m->created_ns = now_ns();
	/* A fork that can create namespaces: the child is PID 1 of a new PID namespace.
	 * A new cgroup namespace waits until the child is in its cgroup (container.c). */
	/* With a user namespace, the child unshares its mount namespace once inside it (container.c). */
	int flags = m->c.ns.clone_flags & ~CLONE_NEWCGROUP & ~(m->c.ns.user_fd >= 0 ? CLONE_NEWNS : 0);
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | flags, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		fail(&e, errno, "clone");
		abandon(m, status, &e);
	}
	if (pid == 0) {
		close(pair[0]);
		close(status);
		if (sigprocmask(SIG_SETMASK, &old, NULL) < 0 || set_signals(quit_signals, SIG_DFL, &e) < 0) {
			fprintf(stderr, "coracle-shim: restore signals: %s\n", e.msg);
			_exit(1);
		}
		container_child(&m->c, &m->cg, pair[1], child_stdio);
	}
	m->pid = pid;
	m->sync = pair[0];
	close(pair[1]);
	for (int i = 0; i < 3; i++)
		if (child_stdio[i] >= 0 && (i == 0 || child_stdio[i] != child_stdio[i - 1]))
			close(child_stdio[i]);
	trace("cloned");
	set_oom_score_adj(m);
	/* The child joins its cgroup itself (cgroup_enter_self); device rules come once its
	 * devices exist. */
	if (await_ready(m, &e) < 0 || cgroup_apply_devices(m->c.spec, &m->cg, &e) < 0)
		abandon(m, status, &e);
	trace("container ready");
created:
	state_path(m, "ctl.sock", path, sizeof path);
	if ((m->ctl = control_listen(path, &e)) < 0 || attach_listen(&m->attach, m->state_dir, &e) < 0)
		abandon(m, status, &e);
	state_path(m, "cgroups", path, sizeof path);
	if (cgroup_save(&m->cg, path, &e) < 0)
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
	write_state(m);
	if (report(status, "ok %d", (int)m->pid) < 0) {
		fail(&e, EPIPE, "the launcher is gone (its caller gave up): container removed");
		abandon(m, status, &e);
	}
	close(status);
	container_free(&m->c); /* the spec is not needed any more: keep the idle shim small */
	trace("reported");
	loop(m);
}

static int cmd_create(int argc, char **argv)
{
	const char *bundle = NULL, *state = NULL, *log = NULL, *runtime = NULL, *own_cgroup = NULL, *restore = NULL;
	bool want_stdin = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--bundle") == 0 && i + 1 < argc)
			bundle = argv[++i];
		else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			state = argv[++i];
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
			log = argv[++i];
		else if (strcmp(argv[i], "--stdin") == 0)
			want_stdin = true;
		else if (strcmp(argv[i], "--runtime") == 0 && i + 1 < argc)
			runtime = argv[++i];
		else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc)
			own_cgroup = argv[++i];
		else if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc)
			restore = argv[++i];
		else {
			fprintf(stderr, "coracle-shim: create: unknown or incomplete argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!bundle || !state) {
		fprintf(stderr, "coracle-shim: create: --bundle and --state are required\n");
		return 2;
	}
	if (restore && (restore[0] != '/' || runtime)) {
		fprintf(stderr, "coracle-shim: create: --restore %s: not an absolute path, or with --runtime\n", restore);
		return 2;
	}
	if (runtime && runtime[0] != '/') {
		fprintf(stderr, "coracle-shim: create: --runtime %s: not an absolute path\n", runtime);
		return 2;
	}
	/* Zeroed pages straight from the kernel: the log buffers in it stay untouched (and out of
	 * the idle shim's RSS) until output arrives. */
	struct monitor *mp = mmap(NULL, sizeof *mp, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mp == MAP_FAILED) {
		fprintf(stderr, "coracle-shim: mmap: %s\n", strerror(errno));
		return 1;
	}
	struct monitor *m = mp;
	struct cerr e;
	char state_abs[PATH_MAX];
	if (mkdir_p(state, &e) < 0 || (!realpath(state, state_abs) && fail(&e, errno, "realpath %s", state))) {
		fprintf(stderr, "coracle-shim: state dir: %s\n", e.msg);
		return 1;
	}
	m->state_dir = state_abs;
	m->runtime = runtime;
	m->own_cgroup = own_cgroup;
	m->restore_plan = restore;
	trace("launcher started");
	if (container_load(bundle, &m->c, &e) < 0) {
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
		return cerr_exit_status(e.cls);
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "coracle-shim: pipe2: %s\n", strerror(errno));
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "coracle-shim: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		close(p[0]);
		monitor_run(m, log, want_stdin, p[1]);
	}
	close(p[1]);
	char line[1200];
	int n = control_read_line(p[0], line, sizeof line, -1);
	if (n > 3 && strncmp(line, "ok ", 3) == 0) {
		printf("%s\n", line + 3);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	enum cerr_class cls = CERR_INTERNAL;
	fprintf(stderr, "coracle-shim: %s\n", n > 0 ? cerr_parse(line, &cls) : "the monitor died while creating the container");
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	return cerr_exit_status(cls);
}

/* A linux.resources JSON from stdin (ctl update, cgroup): 1..CONTROL_BODY_MAX bytes, NUL-terminated. */
static char resources_in[CONTROL_BODY_MAX + 2];

static int read_resources(size_t *len)
{
	size_t n = 0;
	for (ssize_t got; n < sizeof resources_in - 1 && (got = read(0, resources_in + n, sizeof resources_in - 1 - n)) != 0;) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "coracle-shim: read stdin: %s\n", strerror(errno));
			return -1;
		}
		n += (size_t)got;
	}
	resources_in[n] = '\0';
	if (n == 0 || n > CONTROL_BODY_MAX) {
		fprintf(stderr, "coracle-shim: the linux.resources JSON on stdin must be 1..%d bytes\n", CONTROL_BODY_MAX);
		return -1;
	}
	*len = n;
	return 0;
}

/* coracle-shim cgroup --path PATH: creates a cgroup that no container owns (a pod's), with the
 * linux.resources JSON on stdin written as for a container; the directories stay. */
static int cmd_cgroup(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "--path") != 0) {
		fprintf(stderr, "usage: coracle-shim cgroup --path PATH < resources.json\n");
		return 2;
	}
	size_t len;
	if (read_resources(&len) < 0)
		return 1;
	char perr[128];
	struct json *res = json_parse(resources_in, len, perr, sizeof perr);
	if (!res || (res->type != JSON_OBJECT && res->type != JSON_NULL)) {
		fprintf(stderr, "coracle-shim: linux.resources: %s\n", res ? "not a JSON object" : perr);
		json_free(res);
		return 1;
	}
	static struct cgroup cg;
	struct cerr e;
	int rc = cgroup_create(argv[1], res->type == JSON_NULL ? NULL : res, &cg, &e);
	json_free(res);
	if (rc < 0) {
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
		return 1;
	}
	return 0;
}

/* coracle-shim devices --cgroup DIR: the device rules of the resources on stdin, applied to DIR. */
static int cmd_devices(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "--cgroup") != 0) {
		fprintf(stderr, "usage: coracle-shim devices --cgroup DIR < resources.json\n");
		return 2;
	}
	char dir[PATH_MAX];
	struct statfs fs;
	if (!realpath(argv[1], dir) || statfs(dir, &fs) < 0) {
		fprintf(stderr, "coracle-shim: devices: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bool v2 = fs.f_type == CGROUP2_SUPER_MAGIC;
	char allow[PATH_MAX + 16];
	snprintf(allow, sizeof allow, "%s/devices.allow", dir);
	if (strncmp(dir, "/sys/fs/cgroup/", 15) != 0 || (!v2 && (fs.f_type != CGROUP_SUPER_MAGIC || access(allow, F_OK) < 0))) {
		fprintf(stderr, "coracle-shim: devices: %s is neither a cgroup2 directory nor one of the v1 devices hierarchy\n", dir);
		return 2;
	}
	size_t len;
	if (read_resources(&len) < 0)
		return 1;
	char perr[128];
	struct json *res = json_parse(resources_in, len, perr, sizeof perr);
	if (!res || res->type != JSON_OBJECT) {
		fprintf(stderr, "coracle-shim: linux.resources: %s\n", res ? "not a JSON object" : perr);
		json_free(res);
		return 65;
	}
	static struct device_rule rules[DEVICE_RULES_MAX];
	size_t n;
	struct cerr e;
	int rc = device_rules_parse(json_get(res, "devices"), rules, &n, &e);
	json_free(res);
	if (rc == 0)
		rc = devices_apply(dir, v2, rules, n, &e);
	if (rc < 0) {
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
		return cerr_exit_status(e.cls);
	}
	return 0;
}

static int cmd_ctl(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[0], "--state") != 0) {
		fprintf(stderr, "usage: coracle-shim ctl --state DIR REQUEST...\n");
		return 2;
	}
	char request[512] = "", path[PATH_MAX], reply[2048];
	for (int i = 2; i < argc; i++)
		snprintf(request + strlen(request), sizeof request - strlen(request), "%s%s", i > 2 ? " " : "", argv[i]);
	snprintf(path, sizeof path, "%s/ctl.sock", argv[1]);
	struct cerr e;
	size_t body_len = 0;
	if (strcmp(request, "update") == 0) {
		if (read_resources(&body_len) < 0)
			return 1;
		snprintf(request, sizeof request, "update %zu", body_len);
	}
	if (control_call(path, request, resources_in, body_len, reply, sizeof reply, 60000, &e) < 0) {
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
		return 1;
	}
	puts(reply);
	return strncmp(reply, "ok", 2) == 0 ? 0 : 1;
}

static int cmd_lsm_plan(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[0], "--process") != 0 || strcmp(argv[2], "--layout") != 0 ||
	    (strcmp(argv[3], "apparmor") != 0 && strcmp(argv[3], "shared") != 0)) {
		fprintf(stderr, "usage: coracle-shim lsm-plan --process FILE --layout apparmor|shared\n");
		return 2;
	}
	struct cerr e;
	struct json *proc = json_read_file(argv[1], &e);
	struct lsm_write plan[2];
	size_t n = 0;
	int rc = !proc || lsm_check_process(proc, &e) < 0 ||
		 lsm_exec_plan(json_get_str(proc, "apparmorProfile"), json_get_str(proc, "selinuxLabel"),
			       strcmp(argv[3], "apparmor") == 0, plan, &n, &e) < 0;
	json_free(proc);
	if (rc) {
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
		return cerr_exit_status(e.cls);
	}
	for (size_t i = 0; i < n; i++) {
		printf("%s ", plan[i].path);
		for (size_t k = 0; k < plan[i].len; k++)
			printf("%02x", (unsigned char)plan[i].data[k]);
		putchar('\n');
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	/* The subcommands that enter a container's namespaces run from a sealed copy (selfexe.h). */
	bool enters = argc >= 2 && (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "exec") == 0 ||
				    strcmp(argv[1], "dial") == 0);
	struct cerr e;
	if (enters && self_exe_seal(argv, &e) < 0) {
		fprintf(stderr, "coracle-shim: %s\n", e.msg);
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return cmd_create(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "exec") == 0)
		return cmd_exec(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
		return cmd_ctl(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "dial") == 0)
		return cmd_dial(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "cgroup") == 0)
		return cmd_cgroup(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "devices") == 0)
		return cmd_devices(argc - 2, argv + 2);
	if (argc == 2 && strcmp(argv[1], "probe") == 0)
		return lsm_probe_print();
	if (argc >= 2 && strcmp(argv[1], "lsm-plan") == 0)
		return cmd_lsm_plan(argc - 2, argv + 2);
	if ((argc == 3 || (argc == 5 && strcmp(argv[3], "--runtime") == 0 && argv[4][0] == '/')) &&
	    strcmp(argv[1], "userns-probe") == 0) {
		if ((argc == 3 ? userns_probe(argv[2], &e) : userns_probe_runtime(argv[2], argv[4], &e)) < 0) {
			printf("%s\n", e.msg);
			return 1;
		}
		puts("ok");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		puts("coracle-shim " CORACLE_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: coracle-shim create|exec|ctl|dial|cgroup|devices|probe|lsm-plan|userns-probe ... (see the comment at the top of shim.c)\n");
	return 2;
}
