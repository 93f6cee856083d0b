#include "attach.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "control.h"

void attach_init(struct attach *a)
{
	a->listen_fd = -1;
	a->n = 0;
}

int attach_listen(struct attach *a, const char *state_dir, struct cerr *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/attach.sock", state_dir);
	a->listen_fd = control_listen(path, e);
	return a->listen_fd < 0 ? -1 : 0;
}

void attach_accept(struct attach *a)
{
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (a->n == ATTACH_MAX) {
		close(fd);
		return;
	}
	a->fds[a->n++] = fd;
}

static void drop(struct attach *a, int idx)
{
	close(a->fds[idx]);
	a->fds[idx] = a->fds[--a->n];
}

void attach_broadcast(struct attach *a, int stream, const char *data, size_t n)
{
	unsigned char head[5] = {(unsigned char)stream, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n};
	for (int i = a->n - 1; i >= 0; i--) {
		struct iovec iov[2] = {{head, 5}, {(void *)data, n}};
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
		ssize_t w = sendmsg(a->fds[i], &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN)
			drop(a, i);
		else if (w >= 0 && (size_t)w < n + 5)
			drop(a, i); /* a torn frame cannot be recovered: drop the client */
	}
}

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 2000) <= 0)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int attach_read(struct attach *a, int idx, int in_fd, int *rows, int *cols)
{
	int fd = a->fds[idx];
	unsigned char head[5];
	if (read_full(fd, head, 5) < 0) {
		drop(a, idx);
		return -1;
	}
	uint32_t len = (uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4];
	if (len > 1 << 20) {
		drop(a, idx);
		return -1;
	}
	char *buf = malloc(len + 1);
	if (!buf || read_full(fd, buf, len) < 0) {
		free(buf);
		drop(a, idx);
		return -1;
	}
	buf[len] = '\0';
	if (head[0] == ATTACH_STDIN && in_fd >= 0 && write_all(in_fd, buf, len) < 0)
		fprintf(stderr, "coracle-shim: write stdin: %s\n", strerror(errno));
	if (head[0] == ATTACH_RESIZE && sscanf(buf, "%d %d", rows, cols) != 2)
		head[0] = 255;
	free(buf);
	return head[0];
}
