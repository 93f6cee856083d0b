#include "control.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int make_addr(const char *path, struct sockaddr_un *addr, struct cerr *e)
{
	memset(addr, 0, sizeof *addr);
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof addr->sun_path)
		return fail(e, ENAMETOOLONG, "socket path %s (at most %zu bytes)", path, sizeof addr->sun_path - 1);
	strcpy(addr->sun_path, path);
	return 0;
}

int control_listen(const char *path, struct cerr *e)
{
	struct sockaddr_un addr;
	if (make_addr(path, &addr, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(e, errno, "socket");
	if (unlink(path) < 0 && errno != ENOENT) {
		close(fd);
		return fail(e, errno, "unlink %s", path);
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
		int err = errno;
		close(fd);
		return fail(e, err, "bind %s", path);
	}
	return fd;
}

int control_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	while (n + 1 < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t got = read(fd, buf + n, 1);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return (int)n + 1;
		}
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int control_read_body(int fd, char *buf, size_t len, int timeout_ms)
{
	/* One deadline for the whole body: a client trickling bytes cannot hold the monitor longer. */
	int64_t deadline = mono_ms() + timeout_ms;
	size_t n = 0;
	while (n < len) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t got = read(fd, buf + n, len - n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		n += (size_t)got;
	}
	return 0;
}

void control_reply(int fd, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	for (char *p = line; p < line + n - 1; p++)
		if (*p == '\n')
			*p = ' ';
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		fprintf(stderr, "coracle-shim: control reply: %s\n", strerror(errno));
}

int control_call(const char *path, const char *request, const char *body, size_t body_len, char *reply, size_t len,
		 int timeout_ms, struct cerr *e)
{
	struct sockaddr_un addr;
	if (make_addr(path, &addr, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(e, errno, "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		int err = errno;
		close(fd);
		return fail(e, err, "connect %s", path);
	}
	char line[512];
	int n = snprintf(line, sizeof line, "%s\n", request);
	if (n >= (int)sizeof line) {
		close(fd);
		return fail(e, E2BIG, "request '%.40s...'", request);
	}
	if (write_all(fd, line, (size_t)n) < 0 || (body_len > 0 && write_all(fd, body, body_len) < 0)) {
		int err = errno;
		close(fd);
		return fail(e, err, "send to %s", path);
	}
	int r = control_read_line(fd, reply, len, timeout_ms);
	close(fd);
	if (r <= 0)
		return fail(e, r < 0 ? ETIMEDOUT : ECONNRESET, "no reply from %s", path);
	return 0;
}
