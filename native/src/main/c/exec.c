#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cgroup.h"
#include "container.h"
#include "namespaces.h"
#include "process.h"
#include "seccomp.h"
#include "terminal.h"

struct exec_args {
	const char *state, *process, *exit_file, *resize_fifo;
	bool tty;
};

static void write_exit(const char *file, const char *json)
{
	if (!file)
		return;
	struct cerr e;
	if (write_file_atomic(file, json, strlen(json), true, &e) < 0)
		fprintf(stderr, "coracle-shim exec: %s\n", e.msg);
}

/* bad_command: the command itself could not be run (not found, not executable), not the host. */
static int give_up(const struct exec_args *a, const char *msg, bool bad_command)
{
	char json[1400], esc[1200];
	size_t n = 0;
	for (const char *s = msg; *s && n + 2 < sizeof esc; s++) {
		if (*s == '"' || *s == '\\')
			esc[n++] = '\\';
		esc[n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	}
	esc[n] = '\0';
	snprintf(json, sizeof json, "{\"error\":\"%s\",\"class\":\"%s\"}\n", esc,
		 cerr_class_name(bad_command ? CERR_INVALID : CERR_INTERNAL));
	write_exit(a->exit_file, json);
	fprintf(stderr, "coracle-shim exec: %s\n", msg);
	return 126;
}

static _Noreturn void exec_child(struct process *p, void *seccomp, const struct ns_plan *ns, const char *state,
				 int pty_sock, int errfd, pid_t parent)
{
	struct cerr e;
	char path[PATH_MAX];
	int rc = -1;
	snprintf(path, sizeof path, "%s/cgroups", state);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		fail(&e, errno, "prctl(PR_SET_PDEATHSIG)");
		goto out;
	}
	if (cgroup_join_saved(path, &e) < 0 || ns_join(ns, true, &e) < 0)
		goto out;
	int slave = -1;
	if (pty_sock >= 0 && terminal_make(pty_sock, &slave, &e) < 0)
		goto out;
	if (slave >= 0) {
		if (setsid() < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0 ||
		    ioctl(0, TIOCSCTTY, 0) < 0) {
			fail(&e, errno, "set up the terminal");
			goto out;
		}
	}
	if (process_rlimits(p, &e) < 0 || (rc = process_locate(p, &e)) < 0 || (rc = process_switch_user(p, seccomp, &e)) < 0)
		goto out;
	/* The uid switch cleared the parent-death signal: set it again. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		fail(&e, errno, "prctl(PR_SET_PDEATHSIG)");
		goto out;
	}
	(void)parent; /* getppid() is 0 across a PID namespace: no race check possible here */
	rc = process_exec(p, seccomp, &e);
out:;
	/* One write (atomic on a pipe): 'C' when the command is at fault, 'E' otherwise, then the message. */
	char report[sizeof e.msg + 1];
	report[0] = rc == PROCESS_BAD_COMMAND ? 'C' : 'E';
	memcpy(report + 1, e.msg, strlen(e.msg) + 1);
	if (write_all(errfd, report, strlen(report)) < 0)
		_exit(126);
	_exit(126);
}

static int parse_args(int argc, char **argv, struct exec_args *a)
{
	memset(a, 0, sizeof *a);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			a->state = argv[++i];
		else if (strcmp(argv[i], "--process") == 0 && i + 1 < argc)
			a->process = argv[++i];
		else if (strcmp(argv[i], "--exit-file") == 0 && i + 1 < argc)
			a->exit_file = argv[++i];
		else if (strcmp(argv[i], "--resize-fifo") == 0 && i + 1 < argc)
			a->resize_fifo = argv[++i];
		else if (strcmp(argv[i], "--tty") == 0)
			a->tty = true;
		else {
			fprintf(stderr, "coracle-shim exec: unknown or incomplete argument '%s'\n", argv[i]);
			return -1;
		}
	}
	if (!a->state || !a->process) {
		fprintf(stderr, "coracle-shim exec: --state and --process are required\n");
		return -1;
	}
	return 0;
}

/* One direction of the terminal relay: bytes read from one fd wait here until the other takes
 * them, so the loop never blocks on a side that does not read (and still hears SIGTERM). */
struct relay {
	char buf[65536];
	size_t off, len;
	bool eof;
};

/* Reads what is readable into the buffer's free room; sets eof at EOF or error. */
static void relay_fill(struct relay *r, int from)
{
	if (r->off > 0 && r->off == r->len)
		r->off = r->len = 0;
	if (r->len == sizeof r->buf && r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	ssize_t n = read(from, r->buf + r->len, sizeof r->buf - r->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		r->eof = true;
	else
		r->len += (size_t)n;
}

/* Writes what the other side takes: at most PIPE_BUF at a time, which a pipe or socket that
 * polled writable takes without blocking (the pty master is non-blocking anyway). */
static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool relay_flush(struct relay *r, int to)
{
	size_t n = r->len - r->off < PIPE_BUF ? r->len - r->off : PIPE_BUF;
	if (n == 0)
		return true;
	ssize_t w = write(to, r->buf + r->off, n);
	if (w < 0)
		return errno == EINTR || errno == EAGAIN;
	r->off += (size_t)w;
	return true;
}

/* At the end: what is buffered and what is left in the terminal (a background process may keep
 * it open: no waiting for more), written while the caller takes it, for at most a second. */
static void drain(struct relay *r, int master, bool more)
{
	int64_t end = monotonic_ms() + 1000;
	for (;;) {
		if (r->len == r->off) {
			if (!more)
				return;
			r->off = r->len = 0;
			ssize_t n = read(master, r->buf, sizeof r->buf);
			if (n <= 0)
				return; /* EAGAIN (nothing left), EIO (closed) or EOF */
			r->len = (size_t)n;
		}
		struct pollfd pf = {.fd = 1, .events = POLLOUT};
		int64_t left = end - monotonic_ms();
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0 || !relay_flush(r, 1) || (pf.revents & (POLLERR | POLLHUP)))
			return;
	}
}

static void apply_resize(int fifo, int master)
{
	char buf[256];
	ssize_t n = read(fifo, buf, sizeof buf - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* The last complete line wins. */
	int rows = -1, cols = -1;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%d %d", &rows, &cols) != 2)
			rows = -1;
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	if (rows > 0 && cols > 0 && ioctl(master, TIOCSWINSZ, &ws) < 0)
		fprintf(stderr, "coracle-shim exec: ioctl(TIOCSWINSZ): %s\n", strerror(errno));
}

int cmd_exec(int argc, char **argv)
{
	struct exec_args a;
	if (parse_args(argc, argv, &a) < 0)
		return 2;
	struct cerr e;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/state.json", a.state);
	struct json *state = json_read_file(path, &e);
	if (!state)
		return give_up(&a, e.msg, false);
	const struct json *pidj = json_get(state, "pid");
	const char *status = json_get_str(state, "status"), *bundle = json_get_str(state, "bundle");
	if (!pidj || !pidj->is_integer || !bundle || !status)
		return give_up(&a, "state.json: pid, status or bundle missing", false);
	if (strcmp(status, "running") != 0) {
		snprintf(path, sizeof path, "the container is %s, not running", status);
		return give_up(&a, path, false);
	}
	int pid = (int)pidj->integer;
	snprintf(path, sizeof path, "%s/config.json", bundle);
	struct json *spec = json_read_file(path, &e);
	struct json *procj = spec ? json_read_file(a.process, &e) : NULL;
	struct process p;
	void *seccomp = NULL;
	struct ns_plan ns;
	if (!procj || process_parse(procj, &p, &e) < 0 || seccomp_build(spec, &seccomp, &e) < 0 ||
	    ns_plan_of_pid(pid, &ns, &e) < 0)
		return give_up(&a, e.msg, false);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return give_up(&a, "prctl(PR_SET_CHILD_SUBREAPER) failed", false);
	static const int waited[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, 0}, pipe_sig[] = {SIGPIPE, 0};
	sigset_t set, old;
	int sigfd;
	if (block_signals(waited, &set, &old, &e) < 0 || set_signals(pipe_sig, SIG_IGN, &e) < 0)
		return give_up(&a, e.msg, false);
	if ((sigfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		fail(&e, errno, "signalfd");
		return give_up(&a, e.msg, false);
	}
	int master = -1, pty_pair[2] = {-1, -1};
	if (a.tty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pty_pair) < 0) {
		fail(&e, errno, "socketpair");
		return give_up(&a, e.msg, false);
	}
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0)
		return give_up(&a, "pipe2 failed", false);
	if (ns.pid_fd >= 0 && setns(ns.pid_fd, CLONE_NEWPID) < 0) {
		fail(&e, errno, "setns pid of %d", pid);
		return give_up(&a, e.msg, false);
	}
	pid_t self = getpid();
	pid_t child = fork();
	if (child < 0)
		return give_up(&a, "fork failed", false);
	if (child == 0) {
		close(errp[0]);
		if (sigprocmask(SIG_SETMASK, &old, NULL) < 0 || set_signals(pipe_sig, SIG_DFL, &e) < 0) {
			if (write_all(errp[1], "restore the signal mask failed", 30) < 0)
				_exit(126);
			_exit(126);
		}
		if (pty_pair[0] >= 0)
			close(pty_pair[0]);
		exec_child(&p, seccomp, &ns, a.state, pty_pair[1], errp[1], self);
	}
	close(errp[1]);
	if (a.tty) {
		/* The child sends the pty master (or fails and reports on errp). */
		char msg[8];
		close(pty_pair[1]);
		ssize_t got = terminal_recv(pty_pair[0], msg, sizeof msg, &master);
		close(pty_pair[0]);
		if (got != 3 || master < 0)
			master = -1;
	}
	char msg[1100];
	ssize_t n;
	while ((n = read(errp[0], msg, sizeof msg - 1)) < 0 && errno == EINTR)
		;
	close(errp[0]);
	if (n > 0) {
		msg[n] = '\0';
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		return give_up(&a, msg + 1, msg[0] == 'C');
	}
	bool in_open = master >= 0, out_open = master >= 0;
	if (master >= 0 && fcntl(master, F_SETFL, O_NONBLOCK) < 0)
		fprintf(stderr, "coracle-shim exec: fcntl(O_NONBLOCK) on the pty master: %s\n", strerror(errno));
	static struct relay in, out; /* zeroed, and untouched (not resident) until a terminal is used */
	/* Terminal size changes: lines "<rows> <cols>" written to the FIFO by the caller. */
	int resize = -1;
	if (master >= 0 && a.resize_fifo &&
	    (resize = open(a.resize_fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		fprintf(stderr, "coracle-shim exec: open %s: %s\n", a.resize_fifo, strerror(errno));
	for (;;) {
		/* Read a side only while its buffer has room; wait for the other side to take it. */
		bool in_room = in.len < sizeof in.buf || in.off > 0, out_room = out.len < sizeof out.buf || out.off > 0;
		struct pollfd pf[6] = {{.fd = sigfd, .events = POLLIN},
				       {.fd = in_open && in_room ? 0 : -1, .events = POLLIN},
				       {.fd = out_open && out_room ? master : -1, .events = POLLIN},
				       {.fd = resize, .events = POLLIN},
				       {.fd = master >= 0 && in.len > in.off ? master : -1, .events = POLLOUT},
				       {.fd = out.len > out.off ? 1 : -1, .events = POLLOUT}};
		if (poll(pf, 6, -1) < 0 && errno != EINTR)
			return give_up(&a, "poll failed", false);
		if (pf[1].revents) {
			relay_fill(&in, 0);
			in_open = !in.eof;
		}
		if (pf[2].revents) {
			relay_fill(&out, master);
			out_open = !out.eof;
		}
		if (pf[4].revents && !relay_flush(&in, master))
			in.off = in.len = 0; /* the terminal is gone: nothing will take it */
		if (pf[5].revents && !relay_flush(&out, 1))
			out.off = out.len = 0; /* the caller stopped listening */
		if (pf[3].revents)
			apply_resize(resize, master);
		if (!pf[0].revents)
			continue;
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof si) != sizeof si)
			continue;
		if (si.ssi_signo != SIGCHLD) {
			kill_logged(child, SIGKILL);
			continue;
		}
		int st;
		pid_t r;
		while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
			if (r != child)
				continue;
			if (master >= 0)
				drain(&out, master, out_open); /* the rest of the terminal's output */
			int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			snprintf(msg, sizeof msg, "{\"exitCode\":%d,\"signal\":%d}\n", code,
				 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			write_exit(a.exit_file, msg);
			return code;
		}
	}
}
